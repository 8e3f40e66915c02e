package server

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// The tests here run in a synctest bubble, where time moves only when
// every goroutine is blocked: a wait that polls shows up as time passed
// after the condition it waits for became true, a wait on a signal as none.

// heldTransport is a Transport whose writes block until release is closed,
// like a socket whose peer reads slowly. It records what was written and
// whether Close came after it.
type heldTransport struct {
	release chan struct{}

	mu      sync.Mutex
	written int
	closed  bool
	// writtenAtClose is written when Close was called.
	writtenAtClose int
	closedAt       time.Time
}

func newHeldTransport() *heldTransport { return &heldTransport{release: make(chan struct{})} }

func (h *heldTransport) WriteBatch(objs [][]byte) error {
	<-h.release
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errTestClosed
	}
	h.written += len(objs)
	return nil
}
func (h *heldTransport) Ping() error { return nil }
func (h *heldTransport) Close(int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed, h.writtenAtClose, h.closedAt = true, h.written, time.Now()
	}
}
func (h *heldTransport) Kind() string       { return "held" }
func (h *heldTransport) RemoteAddr() string { return "held" }

func (h *heldTransport) state() (written, writtenAtClose int, closed bool, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.written, h.writtenAtClose, h.closed, h.closedAt
}

type testErr string

func (e testErr) Error() string { return string(e) }

const errTestClosed = testErr("closed")

// heldConn returns a registered connection over a new heldTransport with n
// objects queued, its writer blocked on the first.
func heldConn(t *testing.T, s *Server, n int) (*conn, *heldTransport) {
	t.Helper()
	ht := newHeldTransport()
	c := newConn(s, ht)
	if !s.hub.admit(c) || !s.hub.register(c) {
		t.Fatal("connection not admitted")
	}
	for range n {
		c.enqueue([]byte(`{"type":"event"}`))
	}
	synctest.Wait() // the writer took the first batch and blocks on it
	return c, ht
}

func newSignalServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.WriteCoalesce = -1
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Idle writers exit after writerIdle; the bubble ends once they did.
	t.Cleanup(func() { time.Sleep(2 * writerIdle) })
	return s
}

// TestDrainAndCloseFlushesThenCloses: what was queued before
// drainAndClose is written before the close, and the close follows the
// last write at once, not a poll period later.
func TestDrainAndCloseFlushesThenCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSignalServer(t, Config{})
		c, ht := heldConn(t, s, 1)
		for range 4 { // queued behind the blocked write
			c.enqueue([]byte(`{"type":"event"}`))
		}
		c.drainAndClose(4012)
		time.Sleep(300*time.Millisecond + time.Microsecond)
		released := time.Now()
		close(ht.release)
		synctest.Wait()
		written, atClose, closed, at := ht.state()
		if !closed || written != 5 || atClose != 5 {
			t.Fatalf("closed %v after %d of 5 objects written (%d in all)", closed, atClose, written)
		}
		if d := at.Sub(released); d != 0 {
			t.Fatalf("closed %v after the queue drained, want at once", d)
		}
	})
}

// TestDrainAndCloseBounded: a writer that never finishes holds the close
// for closeDrainWait, no longer.
func TestDrainAndCloseBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSignalServer(t, Config{})
		c, ht := heldConn(t, s, 1)
		start := time.Now()
		c.drainAndClose(4012)
		time.Sleep(closeDrainWait + time.Millisecond)
		_, _, closed, at := ht.state()
		if !closed || at.Sub(start) != closeDrainWait {
			t.Fatalf("closed %v after %v, want after %v", closed, at.Sub(start), closeDrainWait)
		}
		close(ht.release)
	})
}

// TestKickWaitsForDrainSignal: a kick closes as soon as the writer let go
// of the queue.
func TestKickWaitsForDrainSignal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSignalServer(t, Config{})
		c, ht := heldConn(t, s, 3)
		kicked := make(chan time.Time)
		go func() { c.kick(""); kicked <- time.Now() }()
		time.Sleep(200*time.Millisecond + time.Microsecond)
		released := time.Now()
		close(ht.release)
		if d := (<-kicked).Sub(released); d != 0 {
			t.Fatalf("kick returned %v after the queue drained, want at once", d)
		}
		if s.hub.count.Load() != 0 {
			t.Fatal("kicked connection still counted")
		}
		synctest.Wait()
		if written, atClose, closed, _ := ht.state(); !closed || atClose != 3 {
			t.Fatalf("closed %v after %d of 3 objects (%d in all)", closed, atClose, written)
		}
	})
}

// TestShutdownReturnsWhenLastClientGone: shutdown returns the moment the
// last client is gone, not a poll period later, and well inside its
// timeout.
func TestShutdownReturnsWhenLastClientGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSignalServer(t, Config{ShutdownTimeout: 10 * time.Second})
		_, slow := heldConn(t, s, 2)
		_, fast := heldConn(t, s, 1)
		close(fast.release)
		done := make(chan time.Time)
		go func() {
			_ = s.shutdown(&http.Server{})
			done <- time.Now()
		}()
		time.Sleep(700*time.Millisecond + time.Microsecond)
		released := time.Now()
		close(slow.release)
		if d := (<-done).Sub(released); d != 0 {
			t.Fatalf("shutdown returned %v after the last client left, want at once", d)
		}
		if _, atClose, closed, _ := slow.state(); !closed || atClose != 2 {
			t.Fatalf("slow client closed %v after %d of 2 objects", closed, atClose)
		}
	})
}

// TestCloseQueueWaitSignalled: closeQueue.wait returns as soon as the last
// close event was delivered.
func TestCloseQueueWaitSignalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &blockingEvents{release: make(chan struct{})}
		s := newSignalServer(t, Config{Events: h, HookTimeout: time.Minute})
		for range 3 {
			s.closes.push(&CloseEvent{Who: Who{Client: "x"}})
		}
		done := make(chan time.Time)
		go func() {
			s.closes.wait(context.Background())
			done <- time.Now()
		}()
		time.Sleep(400*time.Millisecond + time.Microsecond)
		released := time.Now()
		close(h.release)
		if d := (<-done).Sub(released); d != 0 {
			t.Fatalf("wait returned %v after the last close event, want at once", d)
		}
		if n := s.closes.len(); n != 0 {
			t.Fatalf("%d close events still queued", n)
		}
	})
}
