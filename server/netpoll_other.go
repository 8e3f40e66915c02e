//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package server

// pollerAvailable reports whether this system has a poller: not here, so
// every connection is read on the goroutine path.
const pollerAvailable = false

func openPollSys() (pollSys, error) { return nil, errNoPoller }
