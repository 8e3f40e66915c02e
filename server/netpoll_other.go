//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package server

import "errors"

// errNoPoller is newPoller's error where there is no poller.
var errNoPoller = errors.New("this system has neither epoll nor kqueue")

// pollerAvailable reports whether this system has a poller: not here, so
// every connection is read on the goroutine path.
const pollerAvailable = false

func openPollSys() (pollSys, error) { return nil, errNoPoller }
