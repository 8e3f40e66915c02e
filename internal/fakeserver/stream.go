package fakeserver

import (
	"sync"
	"time"
)

// stream is an ordered flow of numbered messages and the connections that
// receive it: an rtsync room, or the whole server in raw mode. Its lock
// orders numbering, the fault decision and fan-out, so every member sees
// one order.
type stream struct {
	name string

	mu      sync.Mutex
	seq     uint64 // last number given (rtsync seq, raw frame count)
	members map[*conn]struct{}
	held    *message    // held back by ReorderEvery
	timer   *time.Timer // releases held after ReorderHold
	stopped bool        // the server is closing: hold nothing more
}

// message is one numbered message, encoded once for every receiver.
type message struct {
	k       uint64
	payload []byte
	sender  *conn
	noecho  bool
	dup     bool
}

func newStream(name string) *stream {
	return &stream{name: name, members: make(map[*conn]struct{})}
}

// publish applies the faults to m and fans it out. The caller holds st.mu
// and has numbered m.k.
func (s *Server) publish(st *stream, m *message) {
	f := &s.opts.Faults
	s.st.published.Add(1)
	drop := every(m.k, f.DropEvery)
	m.dup = !drop && every(m.k, f.DuplicateEvery)
	hold := !drop && st.held == nil && !st.stopped && every(m.k, f.ReorderEvery)
	switch {
	case drop:
		s.st.dropped.Add(1)
		s.st.droppedDeliveries.Add(uint64(st.receivers(m)))
	case hold:
		st.held = m
		st.timer = time.AfterFunc(f.ReorderHold, func() { s.releaseHeld(st, m) })
		return
	default:
		s.fanout(st, m)
	}
	if h := st.held; h != nil {
		st.held = nil
		st.timer.Stop()
		st.timer = nil
		if !drop {
			// Counted only when its successor really went out first.
			s.st.reordered.Add(1)
		}
		s.fanout(st, h)
	}
}

// releaseHeld delivers m alone when no successor came in time.
func (s *Server) releaseHeld(st *stream, m *message) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.held != m {
		return // released by its successor, or the server closed
	}
	st.held = nil
	st.timer = nil
	s.st.releasedByTimeout.Add(1)
	s.fanout(st, m)
}

// stopHold forgets a held message and its timer, for Close.
func (st *stream) stopHold() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stopped = true
	st.held = nil
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
}

func (s *Server) fanout(st *stream, m *message) {
	times := 1
	if m.dup {
		times = 2
		s.st.duplicated.Add(1)
		s.st.duplicateDeliveries.Add(uint64(st.receivers(m)))
	}
	for c := range st.members {
		if m.noecho && c == m.sender {
			continue
		}
		for range times {
			c.enqueue(m.payload, true)
		}
	}
}

// receivers is how many members m goes to.
func (st *stream) receivers(m *message) int {
	n := len(st.members)
	if m.noecho {
		if _, ok := st.members[m.sender]; ok {
			n--
		}
	}
	return n
}

func every(k uint64, n int) bool { return n > 0 && k%uint64(n) == 0 }

// publishRaw numbers a raw frame and broadcasts it to every receiver, the
// sender included.
func (s *Server) publishRaw(c *conn, frame []byte) {
	st := s.raw
	st.mu.Lock()
	defer st.mu.Unlock()
	st.seq++
	s.publish(st, &message{k: st.seq, payload: frame, sender: c})
}
