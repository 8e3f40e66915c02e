package loadtest

import "os"

// RTSYNC_BENCH_READ_MODE (auto, poll, goroutine) picks the read path of
// every run in this package's tests that names none, in the test process
// and in the workers it starts (the same binary): `make unit` runs the
// package once on each path.
func init() {
	if mode := os.Getenv("RTSYNC_BENCH_READ_MODE"); mode != "" {
		defaultReadMode = mode
	}
}
