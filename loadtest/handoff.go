package loadtest

import (
	"bytes"
	"context"
	"net"
)

// handoffConn is a dialled socket as gorilla sees it while a connection
// sets up, for a connection the poll path will read. Until release it
// hands gorilla the HTTP response and then one frame at a time, never a
// byte past the end of the current one, and holds back what follows: once
// the set-up replies are read, gorilla's buffer is empty and everything
// the server sent since is in held, for the poll path to parse. A
// response other than 101 is passed on as it comes.
type handoffConn struct {
	net.Conn
	tcp *net.TCPConn

	buf   []byte // read from the socket, not yet handed on: buf[off:]
	off   int
	left  int // bytes of the current unit (response or frame) still to hand on
	phase int
}

const (
	phaseHTTP   = iota // handing on the HTTP response, up to its blank line
	phaseFrames        // a frame at a time
	phasePass          // as it comes (released, or not a WebSocket stream)
)

// maxResponseHead bounds the HTTP response head held while looking for its end.
const maxResponseHead = 64 << 10

type handoffKey struct{}

// wantHandoff marks a dial whose connection the poll path will read.
func wantHandoff(ctx context.Context) context.Context {
	return context.WithValue(ctx, handoffKey{}, true)
}

// wrapDial makes dial return a handoffConn for the dials wantHandoff marked.
func wrapDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil || ctx.Value(handoffKey{}) == nil {
			return nc, err
		}
		tcp, ok := nc.(*net.TCPConn)
		if !ok {
			return nc, nil
		}
		return &handoffConn{Conn: nc, tcp: tcp}, nil
	}
}

func (h *handoffConn) Read(p []byte) (int, error) {
	if h.phase == phasePass {
		if h.off < len(h.buf) {
			n := copy(p, h.buf[h.off:])
			h.off += n
			if h.off == len(h.buf) {
				h.buf, h.off = nil, 0
			}
			return n, nil
		}
		return h.Conn.Read(p)
	}
	for h.left == 0 {
		if h.bound() {
			break
		}
		if h.phase == phasePass {
			return h.Read(p)
		}
		if err := h.fill(); err != nil {
			if h.off < len(h.buf) {
				// Hand on what came; the next read meets the error again.
				h.phase = phasePass
				return h.Read(p)
			}
			return 0, err
		}
	}
	if h.off < len(h.buf) {
		n := copy(p[:min(len(p), h.left)], h.buf[h.off:])
		h.off += n
		h.left -= n
		if h.off == len(h.buf) {
			h.buf, h.off = h.buf[:0], 0
		}
		return n, nil
	}
	// Nothing held: the rest of this unit can go straight into p.
	n, err := h.Conn.Read(p[:min(len(p), h.left)])
	h.left -= n
	return n, err
}

// bound sets left to the length of the next unit when the held bytes
// show it; it may also switch to passing bytes on as they come.
func (h *handoffConn) bound() bool {
	held := h.buf[h.off:]
	switch h.phase {
	case phaseHTTP:
		i := bytes.Index(held, []byte("\r\n\r\n"))
		if i < 0 {
			if len(held) > maxResponseHead {
				h.phase = phasePass
			}
			return false
		}
		h.left = i + 4
		if bytes.HasPrefix(held, []byte("HTTP/1.1 101 ")) {
			h.phase = phaseFrames
		} else {
			h.phase = phasePass
		}
		return true
	case phaseFrames:
		hdr, size, ok := frameHeader(held)
		if !ok {
			return false
		}
		if size > maxMessage {
			h.phase = phasePass // gorilla reads it; the poll path never will
			return false
		}
		h.left = hdr + int(size)
		return true
	}
	return false
}

// fill reads more from the socket into buf.
func (h *handoffConn) fill() error {
	if h.off > 0 {
		h.buf = h.buf[:copy(h.buf, h.buf[h.off:])]
		h.off = 0
	}
	if len(h.buf) == cap(h.buf) {
		h.buf = append(h.buf, make([]byte, max(readBuffer, cap(h.buf)))...)[:len(h.buf)]
	}
	n, err := h.Conn.Read(h.buf[len(h.buf):cap(h.buf)])
	h.buf = h.buf[:len(h.buf)+n]
	if n > 0 {
		return nil
	}
	return err
}

// held is what the server sent after the last frame gorilla read.
func (h *handoffConn) held() []byte { return h.buf[h.off:] }

// take ends the hand-off for the poll path, which has read held: later
// reads (none should come) pass straight on.
func (h *handoffConn) take() {
	h.buf, h.off, h.left, h.phase = nil, 0, 0, phasePass
}

// release ends the hand-off for gorilla to go on reading: the held bytes
// come first.
func (h *handoffConn) release() { h.phase = phasePass }
