package server

import (
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"time"

	"github.com/rtsync/rtsync/server/store"
)

// Global bounds (Config.MaxHistoryBytes, MaxRooms, MaxMemory): what the
// server does when one bites. Rooms are in hub.go, history in the store;
// memory here.

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
		evicted := 0
		if ev, ok := s.store.(store.Evicter); ok {
			evicted = ev.Evict(s.store.Stats().Bytes / 2)
		}
		// Give the memory back now rather than at the next GC: the
		// refusal lifts on what the heap holds.
		debug.FreeOSMemory()
		s.log.Warn("memory past --max-memory: refusing new connections (close 4011) and dropping the oldest half of the history", "heap_bytes", heapBytes, "max_memory", limit, "evicted", evicted)
	case heapBytes < limit-limit/10 && h.memHigh.Load():
		h.memHigh.Store(false)
		s.log.Info("memory back under --max-memory: accepting connections again", "heap_bytes", heapBytes, "max_memory", limit)
	}
}
