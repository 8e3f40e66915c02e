package client

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when goroutines outlive them: a
// connection's reader or writer, a hook call, a timer's callback.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
