package server

import (
	"net"
	"sync/atomic"
)

// frameListener wraps the TCP connections Server.accept admits in
// frameConn, whose WebSocket connections can be read on the poll path
// (wsin.go).
type frameListener struct {
	net.Listener
	s *Server
}

func (l frameListener) Accept() (net.Conn, error) {
	gc, other, err := l.s.accept(l.Listener)
	if gc != nil {
		return &frameConn{guardConn: gc}, nil
	}
	return other, err
}

// frameConn is a TCP connection Run accepted. Once its WebSocket reader is
// registered with the poller, Close deregisters it before the descriptor
// closes.
type frameConn struct {
	*guardConn
	closing atomic.Bool
	in      atomic.Pointer[wsIn] // registered with in.poller
}

func (c *frameConn) Close() error {
	c.closing.Store(true)
	if in := c.in.Swap(nil); in != nil {
		in.poller.remove(in)
	}
	return c.guardConn.Close()
}
