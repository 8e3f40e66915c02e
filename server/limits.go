package server

import (
	"cmp"
	"container/heap"
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"time"
)

// Global bounds (Config.MaxHistoryBytes, MaxRooms, MaxMemory): what the
// server does when one bites. Rooms are in hub.go; history and memory
// here.

const (
	// limitLogEvery is the least time between two logs of one kind of
	// limit biting: under attack a limit bites thousands of times a
	// second, and the log must not become the next resource to run out.
	limitLogEvery = 10 * time.Second
	// memCheckInterval is how often the heap is compared with MaxMemory.
	memCheckInterval = time.Second
	// heapMetric is the heap's live and not yet swept objects: cheap to
	// read, no stop-the-world (unlike runtime.ReadMemStats).
	heapMetric = "/memory/classes/heap/objects:bytes"
)

// rateLog logs at most one line per key every limitLogEvery, counting
// the lines it held back.
type rateLog struct {
	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

func (l *rateLog) note(log *slog.Logger, key, msg string, args ...any) {
	l.noteLevel(log, slog.LevelWarn, key, msg, args...)
}

// noteLevel is note at another level.
func (l *rateLog) noteLevel(log *slog.Logger, level slog.Level, key, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	if l.last == nil {
		l.last, l.held = make(map[string]time.Time), make(map[string]int)
	}
	if now.Sub(l.last[key]) < limitLogEvery {
		l.held[key]++
		l.mu.Unlock()
		return
	}
	held := l.held[key]
	l.last[key], l.held[key] = now, 0
	l.mu.Unlock()
	if held > 0 {
		args = append(args, "similar_since_last_log", held)
	}
	log.Log(context.Background(), level, msg, args...)
}

// overHistory evicts history when the rooms together hold more than
// MaxHistoryBytes, down to nine tenths of it, so eviction runs once per
// tenth of the bound rather than on every publish. Called after a
// publish, with no lock held.
func (s *Server) overHistory() {
	limit := int64(s.cfg.MaxHistoryBytes)
	if s.hub.histBytes.Load() <= limit {
		return
	}
	if n := s.hub.evictHistory(limit - limit/10); n > 0 {
		s.hub.logLim.note(s.log, "history", "history past --max-history-bytes: evicted the oldest messages across rooms", "evicted", n, "max_history_bytes", limit)
	}
}

// roomAge is a room in the eviction heap, by when its oldest message
// was published.
type roomAge struct {
	r      *room
	oldest int64
}

type ageHeap []roomAge

func (h ageHeap) Len() int           { return len(h) }
func (h ageHeap) Less(i, j int) bool { return cmp.Less(h[i].oldest, h[j].oldest) }
func (h ageHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *ageHeap) Push(x any)        { *h = append(*h, x.(roomAge)) }
func (h *ageHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// evictHistory drops the oldest messages across all rooms, whichever
// room holds them, until the rooms hold at most target bytes, and returns
// how many went. The server keeps its newest history: a room published
// to a moment ago keeps its messages, one idle for hours loses them
// first, and publishing is never refused for history's sake. One caller
// at a time evicts; others return at once (0), their publish overshooting
// the bound by at most one message each until the evictor is done. Each
// room's lock is taken alone and briefly.
func (h *hub) evictHistory(target int64) int {
	if !h.evictMu.TryLock() {
		return 0
	}
	defer h.evictMu.Unlock()
	rooms := h.appendRooms(nil)
	ages := make(ageHeap, 0, len(rooms))
	for _, r := range rooms {
		r.mu.Lock()
		if r.hist.n > 0 {
			ages = append(ages, roomAge{r, r.hist.oldestTS()})
		}
		r.mu.Unlock()
	}
	heap.Init(&ages)
	n := 0
	var emptied []*room
	for h.histBytes.Load() > target && ages.Len() > 0 {
		a := heap.Pop(&ages).(roomAge)
		next := int64(1<<63 - 1)
		if ages.Len() > 0 {
			next = ages[0].oldest
		}
		r := a.r
		r.mu.Lock()
		for r.hist.n > 0 && r.hist.oldestTS() <= next && h.histBytes.Load() > target {
			r.hist.dropOldest()
			n++
		}
		if r.hist.n > 0 {
			heap.Push(&ages, roomAge{r, r.hist.oldestTS()})
		} else if len(r.members) == 0 {
			emptied = append(emptied, r)
		}
		r.mu.Unlock()
	}
	for _, r := range emptied {
		h.dropIfUnused(r)
	}
	h.srv.metrics.historyEvicted.Add(uint64(n))
	return n
}

// watchMemory compares the heap with MaxMemory every memCheckInterval
// until ctx ends.
func (s *Server) watchMemory(ctx context.Context) {
	if s.cfg.MaxMemory <= 0 || s.cfg.MaxMemory == math.MaxInt {
		return
	}
	tick := time.NewTicker(memCheckInterval)
	defer tick.Stop()
	sample := []rtmetrics.Sample{{Name: heapMetric}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rtmetrics.Read(sample)
		s.checkMemory(sample[0].Value.Uint64())
	}
}

// checkMemory sheds load when heap bytes pass MaxMemory: new connections
// are refused (hub.admit) and the oldest half of the history goes, the
// cheapest memory to give back (clients page it in again from nowhere,
// but nothing acknowledged is lost: it was delivered). It lifts the
// refusal once the heap is back under nine tenths of MaxMemory.
func (s *Server) checkMemory(heapBytes uint64) {
	limit := uint64(s.cfg.MaxMemory)
	h := s.hub
	switch {
	case heapBytes > limit:
		if h.memHigh.Swap(true) {
			h.logLim.note(s.log, "memory", "memory still past --max-memory: refusing new connections", "heap_bytes", heapBytes, "max_memory", limit, "refused", s.metrics.memoryRefused.Load())
			return
		}
		s.metrics.memoryShed.Add(1)
		evicted := h.evictHistory(h.histBytes.Load() / 2)
		// Give the memory back now rather than at the next GC: the
		// refusal lifts on what the heap holds.
		debug.FreeOSMemory()
		s.log.Warn("memory past --max-memory: refusing new connections (close 4011) and dropping the oldest half of the history", "heap_bytes", heapBytes, "max_memory", limit, "evicted", evicted)
	case heapBytes < limit-limit/10 && h.memHigh.Load():
		h.memHigh.Store(false)
		s.log.Info("memory back under --max-memory: accepting connections again", "heap_bytes", heapBytes, "max_memory", limit)
	}
}
