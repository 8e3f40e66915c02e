package soak

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Ledger keeps the books of "no acknowledged message lost": per room, the
// seqs the server acknowledged to a publisher, and per subscriber, the
// seqs it received. A subscriber that stayed, or that came back and
// re-joined with since, is owed every acknowledged seq after its first
// join; one that re-joined afresh is owed nothing in particular (what it
// missed while away is nobody's promise), so only its deliveries count.
//
// Each room has one lock over its acknowledged seqs and the state of its
// subscribers: a room's traffic is small, and one lock keeps the drain
// check (has everyone owed a seq got it?) exact.
type Ledger struct {
	rooms   []*roomBook
	pending atomic.Int64
	drained chan struct{}
	once    sync.Once
}

type roomBook struct {
	mu       sync.Mutex
	acked    seqSet
	nAcked   int64
	maxAcked uint64
	// epoch is the room's history generation as its first join saw it.
	epoch string
	// target is the last acknowledged seq when the drain began; zero
	// before.
	target uint64
	subs   []*Sub
}

// NewLedger keeps the books of rooms rooms, numbered from 0.
func NewLedger(rooms int) *Ledger {
	l := &Ledger{drained: make(chan struct{})}
	for range rooms {
		l.rooms = append(l.rooms, &roomBook{})
	}
	return l
}

// Acked records that the server answered a publish to room with seq.
func (l *Ledger) Acked(room int, seq uint64) {
	r := l.rooms[room]
	r.mu.Lock()
	if r.acked.add(seq) {
		r.nAcked++
		r.maxAcked = max(r.maxAcked, seq)
	}
	r.mu.Unlock()
}

// AckedSeqs returns the acknowledged seqs of room in ascending order.
func (l *Ledger) AckedSeqs(room int) []uint64 {
	r := l.rooms[room]
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acked.list()
}

// Sub is one subscriber's view of its room. Continuous subscribers (they
// stayed, or recovered with since after every absence) are owed every
// acknowledged seq after their first join.
type Sub struct {
	l          *Ledger
	r          *roomBook
	continuous bool

	// Under r.mu.
	joined     bool
	from       uint64 // owed the acknowledged seqs after this one
	last       uint64 // highest seq received
	epoch      string
	seen       seqSet
	received   int64
	dups       int64
	outOfOrder int64
	foreign    int64 // messages of another epoch
	waiting    bool  // counted in pending by the drain
}

// NewSub adds a subscriber of room.
func (l *Ledger) NewSub(room int, continuous bool) *Sub {
	r := l.rooms[room]
	s := &Sub{l: l, r: r, continuous: continuous}
	r.mu.Lock()
	r.subs = append(r.subs, s)
	r.mu.Unlock()
	return s
}

// Joined records a join reply: the room's last seq and epoch. The first
// join fixes what a continuous subscriber is owed; a later join of a
// subscriber that is not continuous starts afresh.
func (s *Sub) Joined(seq uint64, epoch string) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch == "" {
		r.epoch = epoch
	}
	if !s.joined || !s.continuous {
		s.from = seq
		s.epoch = epoch
		s.last = max(s.last, seq)
	}
	// A continuous subscriber's re-join leaves last alone: the replay of
	// what it missed, seqs up to this reply's, is still on its way.
	s.joined = true
}

// Position is where a recovering subscriber resumes: the last seq it
// received (or joined at) and its epoch.
func (s *Sub) Position() (uint64, string) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return s.last, s.epoch
}

// Message records a room message the subscriber received.
func (s *Sub) Message(seq uint64, epoch string) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	s.received++
	if s.epoch != "" && epoch != s.epoch {
		s.foreign++
		return
	}
	if !s.seen.add(seq) {
		s.dups++
		return
	}
	if seq < s.last {
		s.outOfOrder++
	}
	s.last = max(s.last, seq)
	if s.waiting && s.last >= r.target {
		s.waiting = false
		s.l.release()
	}
}

// Drain fixes each room's last acknowledged seq as the target every
// continuous subscriber must reach, and returns a channel closed when all
// have: call it once publishing has stopped.
func (l *Ledger) Drain() <-chan struct{} {
	// One count held for the loop itself, so rooms finishing before the
	// last is counted cannot close the channel early.
	l.pending.Add(1)
	for _, r := range l.rooms {
		r.mu.Lock()
		r.target = r.maxAcked
		for _, s := range r.subs {
			if s.continuous && s.joined && s.last < r.target {
				s.waiting = true
				l.pending.Add(1)
			}
		}
		r.mu.Unlock()
	}
	l.release()
	return l.drained
}

// Waiting is how many continuous subscribers the drain still waits for.
func (l *Ledger) Waiting() int64 { return max(l.pending.Load(), 0) }

func (l *Ledger) release() {
	if l.pending.Add(-1) == 0 {
		l.once.Do(func() { close(l.drained) })
	}
}

// Tally is the books' bottom line.
type Tally struct {
	// Acked counts the publishes the server acknowledged with a seq.
	Acked int64
	// Owed counts (subscriber, seq) pairs a continuous subscriber was
	// owed; Delivered those it received; Lost those it did not.
	Owed, Delivered, Lost int64
	// Received counts every message every subscriber received, owed or
	// not; Duplicates, OutOfOrder and Foreign (another epoch) should be 0.
	Received, Duplicates, OutOfOrder, Foreign int64
	// Unacked counts distinct messages subscribers received that no
	// publisher saw acknowledged (a publish whose reply was lost): not
	// an error, the message was taken.
	Unacked int64
	// Examples names a few lost messages, for the report.
	Examples []string
}

// Tally adds up the books. Call it after the load has stopped.
func (l *Ledger) Tally() Tally {
	var t Tally
	for ri, r := range l.rooms {
		r.mu.Lock()
		t.Acked += r.nAcked
		acked := r.acked.list()
		var unacked seqSet
		for _, s := range r.subs {
			t.Received += s.received
			t.Duplicates += s.dups
			t.OutOfOrder += s.outOfOrder
			t.Foreign += s.foreign
			for _, seq := range s.seen.list() {
				if !r.acked.has(seq) && unacked.add(seq) {
					t.Unacked++
				}
			}
			if !s.continuous || !s.joined {
				continue
			}
			for _, seq := range acked {
				if seq <= s.from {
					continue
				}
				t.Owed++
				if s.seen.has(seq) {
					t.Delivered++
					continue
				}
				t.Lost++
				if len(t.Examples) < 5 {
					t.Examples = append(t.Examples, fmt.Sprintf("room %d seq %d (subscriber joined at %d, last received %d)", ri, seq, s.from, s.last))
				}
			}
		}
		r.mu.Unlock()
	}
	return t
}

// seqSet is a set of seqs as a bitmap: a room's seqs are dense from 1.
type seqSet struct{ words []uint64 }

// add puts seq in the set and reports whether it was new.
func (s *seqSet) add(seq uint64) bool {
	w, b := seq/64, seq%64
	if w >= uint64(len(s.words)) {
		s.words = append(s.words, make([]uint64, int(w)-len(s.words)+1)...)
	}
	if s.words[w]&(1<<b) != 0 {
		return false
	}
	s.words[w] |= 1 << b
	return true
}

func (s *seqSet) has(seq uint64) bool {
	w, b := seq/64, seq%64
	return w < uint64(len(s.words)) && s.words[w]&(1<<b) != 0
}

// list returns the set's seqs in ascending order.
func (s *seqSet) list() []uint64 {
	var out []uint64
	for w, word := range s.words {
		for b := range uint64(64) {
			if word&(1<<b) != 0 {
				out = append(out, uint64(w)*64+b)
			}
		}
	}
	return out
}
