package loadtest

import "fmt"

// Read modes (Config.ReadMode): how the bench reads its connections.
//
// On the goroutine path each connection has a reader goroutine parked in
// gorilla's reader: every delivery costs a wake-up of that goroutine, a
// switch to it, and gorilla's buffered read and frame parsing. On the poll
// path (Linux: epoll) a few poller goroutines, one per core, wait for
// readable sockets, read each one without blocking into the poller's
// buffer and parse its frames in place (wsframe.go): a wake-up and a
// switch serve every socket that turned readable at once. A wss://
// connection is always read on the goroutine path (its bytes are TLS
// records), as is one the poller could not take.
const (
	ReadModeAuto      = "auto"
	ReadModePoll      = "poll"
	ReadModeGoroutine = "goroutine"
)

// defaultReadMode is the mode of a Config that names none or auto. The
// package's tests set it from RTSYNC_BENCH_READ_MODE, so they run on
// either path.
var defaultReadMode = ReadModeAuto

// normalizeReadMode checks ReadMode and sets it to the mode it resolves to.
func (c *Config) normalizeReadMode() error {
	mode := c.ReadMode
	if mode == "" || mode == ReadModeAuto {
		mode = defaultReadMode
	}
	switch mode {
	case ReadModeAuto:
		mode = ReadModeGoroutine
		if pollAvailable {
			mode = ReadModePoll
		}
	case ReadModePoll:
		if !pollAvailable {
			return fmt.Errorf("--read-mode poll: this system has no epoll, which the poll path needs; use --read-mode goroutine (or auto)")
		}
	case ReadModeGoroutine:
	default:
		return fmt.Errorf("unknown --read-mode %q: use auto, poll or goroutine", c.ReadMode)
	}
	c.ReadMode = mode
	return nil
}
