package tuitest

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Screen is the last frame a model drew, published from its Update so a
// test can wait for what the user would see. teatest's output stream
// cannot say that reliably: the renderer writes only the cells that
// changed.
type Screen struct {
	frame  atomic.Pointer[string]
	update chan struct{}
}

// NewScreen returns an empty Screen.
func NewScreen() *Screen { return &Screen{update: make(chan struct{}, 1)} }

// Show publishes frame, from the program's goroutine.
func (s *Screen) Show(frame string) {
	s.frame.Store(&frame)
	select {
	case s.update <- struct{}{}:
	default:
	}
}

// Text is the last frame shown, "" before any.
func (s *Screen) Text() string {
	if f := s.frame.Load(); f != nil {
		return *f
	}
	return ""
}

// WaitFor waits up to timeout, frame by frame, until cond holds, and
// fails the test naming what it waited for and showing the screen.
func (s *Screen) WaitFor(t *testing.T, what string, cond func() bool, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-s.update:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; screen:\n%s", what, s.Text())
		}
	}
}

// WaitText waits until the screen shows want.
func (s *Screen) WaitText(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	s.WaitFor(t, "the screen to show "+want, func() bool { return strings.Contains(s.Text(), want) }, timeout)
}
