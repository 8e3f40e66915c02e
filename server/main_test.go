package server

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when goroutines outlive them: a
// connection's reader or writer, a hook call, a timer's callback.
//
// RTSYNC_READ_MODE (auto, poll, goroutine) picks the read path of every
// server the tests start that names none or auto: make unit runs the
// package on each.
func TestMain(m *testing.M) {
	if mode := os.Getenv("RTSYNC_READ_MODE"); mode != "" {
		defaultReadMode = mode
	}
	goleak.VerifyTestMain(m)
}
