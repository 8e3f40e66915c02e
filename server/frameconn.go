package server

import (
	"net"
	"sync/atomic"
)

// frameListener wraps the TCP connections Server.accept admits in
// frameConn, which lets an idle WebSocket connection park on the socket
// itself instead of inside gorilla's reader (see frameConn).
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

// frameConn is a TCP connection that, once framed is set (after the
// WebSocket handshake), never returns bytes past the end of the current
// WebSocket frame from one Read. gorilla's buffer then holds nothing
// beyond the frame it is reading, so once a message is handled, "no
// buffered data" and "socket not readable" mean the same thing, and the
// reader can wait on the socket (waitReadable) with a shallow stack.
//
// Only the reader goroutine calls Read; the header state needs no lock.
type frameConn struct {
	*guardConn
	framed atomic.Bool

	hdr     [14]byte
	hdrHave int
	payload uint64 // payload bytes left in the current frame
}

// headerLen returns the full header length given what is known of it, or 2
// while even the first two bytes are incomplete.
func (c *frameConn) headerLen() int {
	if c.hdrHave < 2 {
		return 2
	}
	n := 2
	switch c.hdr[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if c.hdr[1]&0x80 != 0 {
		n += 4 // mask key
	}
	return n
}

func (c *frameConn) Read(p []byte) (int, error) {
	if !c.framed.Load() || len(p) == 0 {
		return c.TCPConn.Read(p)
	}
	if c.payload > 0 {
		if uint64(len(p)) > c.payload {
			p = p[:c.payload]
		}
		n, err := c.TCPConn.Read(p)
		c.payload -= uint64(n)
		return n, err
	}
	want := c.headerLen() - c.hdrHave
	if len(p) > want {
		p = p[:want]
	}
	n, err := c.TCPConn.Read(p)
	copy(c.hdr[c.hdrHave:], p[:n])
	c.hdrHave += n
	if c.hdrHave >= 2 && c.hdrHave == c.headerLen() {
		switch l := c.hdr[1] & 0x7f; l {
		case 126:
			c.payload = uint64(c.hdr[2])<<8 | uint64(c.hdr[3])
		case 127:
			c.payload = 0
			for _, b := range c.hdr[2:10] {
				c.payload = c.payload<<8 | uint64(b)
			}
		default:
			c.payload = uint64(l)
		}
		c.hdrHave = 0
	}
	return n, err
}
