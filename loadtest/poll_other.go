//go:build !linux

package loadtest

import (
	"errors"
	"net"
	"syscall"
)

// pollAvailable reports whether this system has the poll read path: not
// here, so every connection is read on its own goroutine.
const pollAvailable = false

type poller struct{}

type pollConn struct{ p *poller }

func newPoller(*shard) (*poller, error) {
	return nil, errors.New("this system has no poll read path")
}

func (*poller) add(*benchConn, net.Conn, syscall.Conn, []byte) error {
	return errors.New("this system has no poll read path")
}

func (*poller) close(*pollConn) {}

func stopPollers([]*poller) {}
