package disk

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/rtsync/rtsync/server/store"
)

// The committer is one goroutine that owns the engine's writes. Appends
// join the open group and share its Commit; the committer takes the whole
// group, writes it as one batch with one sync, and while it does so the
// next group fills. Records that need no acknowledgement (trims, acks,
// delivered marks) ride at the head of the next batch, or go alone,
// unsynced, when nothing else is waiting.

type recOp uint8

const (
	recSet recOp = iota
	recDel
	recDelRange
)

// rec is a write nobody waits for.
type rec struct {
	op        recOp
	k, v, end []byte
}

// op is an append waiting in a group: a message when r is set, else a
// direct message for uid.
type op struct {
	r          *room
	uid        string
	seq        uint64
	ts         int64
	from, data []byte
	keep       bool
}

type group struct {
	ops   []op
	c     *store.Commit
	bytes int64
}

type queue struct {
	mu      sync.Mutex
	work    sync.Cond // the committer waits on it
	space   sync.Cond // appenders past the pending bound wait on it
	groups  []*group
	recs    []rec
	pending int64
	closing bool
}

func (q *queue) init() {
	q.work.L = &q.mu
	q.space.L = &q.mu
}

// waitSpace waits while more than max bytes are pending.
func (q *queue) waitSpace(max int64) {
	q.mu.Lock()
	for q.pending > max && !q.closing {
		q.space.Wait()
	}
	q.mu.Unlock()
}

// add puts o in the open group (its own group when alone is set) and
// returns the group's Commit.
func (q *queue) add(o op, size int64, alone bool) (*store.Commit, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return nil, store.ErrClosed
	}
	var g *group
	if n := len(q.groups); n > 0 && !alone {
		g = q.groups[n-1]
	} else {
		g = &group{c: store.NewCommit()}
		q.groups = append(q.groups, g)
	}
	g.ops = append(g.ops, o)
	g.bytes += size
	q.pending += size
	q.work.Signal()
	return g.c, nil
}

// addRec queues a record for the next batch.
func (q *queue) addRec(r ...rec) {
	q.mu.Lock()
	q.recs = append(q.recs, r...)
	q.mu.Unlock()
	q.work.Signal()
}

// take waits for work: the oldest group (nil when there are records
// only) and every queued record. ok is false once the queue is closed and
// empty.
func (q *queue) take() (g *group, recs []rec, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.groups) == 0 && len(q.recs) == 0 && !q.closing {
		q.work.Wait()
	}
	if len(q.groups) == 0 && len(q.recs) == 0 {
		return nil, nil, false
	}
	if len(q.groups) > 0 {
		g = q.groups[0]
		q.groups[0] = nil
		q.groups = q.groups[1:]
	}
	recs, q.recs = q.recs, nil
	return g, recs, true
}

// requeue puts records back at the head of the queue after a failed
// write, so that they keep their order before anything queued since.
func (q *queue) requeue(recs []rec) {
	if len(recs) == 0 {
		return
	}
	q.mu.Lock()
	q.recs = append(recs, q.recs...)
	q.mu.Unlock()
}

func (q *queue) finished(bytes int64) {
	q.mu.Lock()
	q.pending -= bytes
	q.mu.Unlock()
	q.space.Broadcast()
}

func (q *queue) close() {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	q.work.Broadcast()
	q.space.Broadcast()
}

func (s *Store) committer() {
	defer close(s.done)
	defer guard()()
	sweepDone := make(chan struct{})
	go s.sweeper(sweepDone)
	defer func() { close(s.stop); <-sweepDone }()
	for {
		g, recs, ok := s.q.take()
		if !ok {
			return
		}
		s.write(g, recs)
	}
}

func (s *Store) sweeper(done chan struct{}) {
	defer close(done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.Sweep(now)
		}
	}
}

// write commits g (when not nil) and recs as one batch, and reports.
func (s *Store) write(g *group, recs []rec) {
	start := time.Now()
	err := s.ensureEngine()
	if err == nil {
		err = s.commit(g, recs)
	}
	if err != nil {
		s.errors.Add(1)
		s.q.requeue(recs)
		if g != nil {
			s.fail(g, err)
		}
		return
	}
	if g != nil {
		s.apply(g)
		s.commits.Add(1)
		s.synced.Add(uint64(len(g.ops)))
		s.commitNanos.Add(uint64(time.Since(start)))
		s.q.finished(g.bytes)
		g.c.Finish(nil)
	}
}

func (s *Store) commit(g *group, recs []rec) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return fmt.Errorf("the store is not open")
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, r := range recs {
		switch r.op {
		case recSet:
			_ = b.Set(r.k, r.v, nil)
		case recDel:
			_ = b.Delete(r.k, nil)
		case recDelRange:
			_ = b.DeleteRange(r.k, r.end, nil)
		}
	}
	wo := pebble.NoSync
	if g != nil {
		// FsyncOff's log files ignore syncs, so a synced commit there
		// still returns once the batch is written to the system.
		wo = pebble.Sync
		var lastID uint64
		for i := range g.ops {
			o := &g.ops[i]
			if o.r == nil {
				_ = b.Set(seqKey(prefixKey(kindDirect, o.uid), o.seq), encodeMessage(o.ts, o.from, o.data), nil)
				lastID = o.seq
				continue
			}
			// A forgotten room's delete is already queued or done;
			// writing its messages now would bring them back.
			if o.r.isGone() {
				continue
			}
			if o.keep {
				_ = b.Set(seqKey(o.r.prefix, o.seq), encodeMessage(o.ts, o.from, o.data), nil)
			}
			if i+1 == len(g.ops) || g.ops[i+1].r != o.r {
				_ = b.Set(nameKey(kindRoom, o.r.name), encodeRoom(o.r.epoch, o.seq), nil)
			}
		}
		if lastID > 0 {
			_ = b.Set(lastIDKey, encodeUint(lastID), nil)
		}
	}
	return safely("write", func() error { return b.Commit(wo) })
}

// apply records a committed group in the in-memory summaries, then trims
// what the new messages pushed past the bounds.
func (s *Store) apply(g *group) {
	now := time.Now().UnixMilli()
	for i := range g.ops {
		o := &g.ops[i]
		if o.r == nil {
			s.applyDirect(o)
			continue
		}
		r := o.r
		r.mu.Lock()
		if o.keep && !r.gone {
			e := entry{seq: o.seq, ts: o.ts, size: int32(len(o.from) + len(o.data) + store.MessageOverhead)}
			r.hist.push(e)
			s.bytes.Add(int64(e.size))
			s.messages.Add(1)
		}
		if i+1 == len(g.ops) || g.ops[i+1].r != r {
			s.trimRoomLocked(r, now)
		}
		r.mu.Unlock()
	}
	s.evictOver()
}

// fail reports g's error: its messages are not stored, their seqs and ids
// are not given again.
func (s *Store) fail(g *group, err error) {
	for i := range g.ops {
		if o := &g.ops[i]; o.r == nil {
			s.inboxPending.Add(-int64(len(o.from) + len(o.data) + store.MessageOverhead))
		}
	}
	s.q.finished(g.bytes)
	hint := "free disk space; writes resume by themselves"
	if s.broken.Load() != nil {
		hint = "the store stopped writing; fix the disk and restart rtsync serve, acknowledged messages are safe"
	}
	g.c.Finish(fmt.Errorf("write to data directory %s: %v; %s: %w", s.dir, err, hint, store.ErrUnavailable))
}

// markBroken records that the engine cannot go on writing.
func (s *Store) markBroken(why string) {
	if s.broken.CompareAndSwap(nil, &why) && s.logf != nil {
		s.logf("store: data directory %s cannot be written: %s", s.dir, why)
	}
}

// ensureEngine returns nil when the engine can take the next write: it
// has not stopped on a failed write, and the disk holds more than the
// free-space floor.
//
// The engine cannot be trusted after a write it could not finish (it
// would end the process there; see engineLogger): the store then keeps
// serving reads from it and fails every write until the process restarts,
// when the engine recovers from its log as after a crash. The floor keeps
// an ordinary full disk from getting that far: past it writes fail, and
// resume by themselves once space is freed.
func (s *Store) ensureEngine() error {
	if why := s.broken.Load(); why != nil {
		return fmt.Errorf("an earlier write failed (%s)", *why)
	}
	return s.checkFree()
}

// checkFree fails when the disk holding the store has less free space
// than the floor. It asks the system at most every freeCheckEvery.
func (s *Store) checkFree() error {
	minFree := s.minFree.Load()
	if minFree <= 0 {
		return nil
	}
	now := time.Now()
	if now.Sub(s.freeAt) >= freeCheckEvery {
		s.freeAt = now
		free, err := freeBytes(s.dir)
		if err != nil {
			free = -1 // unknown: do not hold writes back
		}
		s.free = free
	}
	if s.free >= 0 && s.free < minFree {
		return fmt.Errorf("the disk holding it has %d MiB free, under the %d MiB rtsync keeps free", s.free>>20, minFree>>20)
	}
	return nil
}

// guarded are the goroutines where the engine's fatal errors panic, to be
// recovered by safely; elsewhere (the engine's own background work) they
// mark the store broken and let the engine return its error.
var guarded sync.Map

// guard marks the calling goroutine guarded until the returned func runs.
func guard() func() {
	id := goid()
	guarded.Store(id, struct{}{})
	return func() { guarded.Delete(id) }
}

func isGuarded() bool {
	_, ok := guarded.Load(goid())
	return ok
}

// goid returns the calling goroutine's id, from its stack header; only the
// rare fatal path and goroutine starts pay for it.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
