package redisbroker

import (
	"testing"

	"go.uber.org/goleak"
)

// Every broker a test starts is closed (or killed) by the test's end: no
// goroutine may outlive it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
