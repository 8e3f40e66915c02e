package server

import (
	"bufio"
	"net"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

// The welcome of a WebSocket connection goes out with the handshake
// response in one write, written by the goroutine that opens the
// connection: the response (101) is kept back by the socket (guardConn's
// hold, armed by holdingHijacker), and greet writes the welcome frame
// behind it. That saves the server a write and a hand-over to a writer,
// and the client a read, on every connect. TLS connections and other
// transports queue the welcome as any other event.

// greeter is a Transport that can write the welcome itself, at once.
type greeter interface {
	// greet writes obj as the connection's first frame and reports
	// whether it did; false leaves the welcome to be queued.
	greet(obj []byte) bool
}

// holdingHijacker is the upgrade's ResponseWriter: the connection it
// hijacks keeps back the handshake response for greet.
type holdingHijacker struct{ *hijackWriter }

func (h holdingHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := h.hijackWriter.Hijack()
	if err == nil {
		if fc, ok := h.w.raw.(*frameConn); ok {
			fc.armHold()
		}
	}
	return nc, brw, err
}

// greet writes the welcome frame, with the held handshake response ahead
// of it, under the frame writer's lock. A failed write closes the socket
// (the frame writer breaks) and still counts as done: the connection's
// reader sees it closed.
func (t *wsTransport) greet(obj []byte) bool {
	fc, ok := t.w.raw.(*frameConn)
	if !ok || fc.hold.Load() != holdHeld {
		return false
	}
	var buf [maxHeader + 512]byte
	frame := append(appendHeader(buf[:0], websocket.TextMessage, len(obj)), obj...)
	t.w.lock <- struct{}{}
	defer t.w.unlock()
	if t.w.closeSent || t.w.broken {
		return false
	}
	var deadline time.Time
	if t.wt > 0 {
		deadline = time.Now().Add(t.wt)
	}
	_ = t.w.writeLocked(frame, deadline)
	return true
}

// greet sends the welcome: written at once where the transport can, else
// queued.
func (c *conn) greet(w protocol.Welcome) {
	g, ok := c.t.(greeter)
	if !ok {
		c.send(w)
		return
	}
	b, err := protocol.Marshal(w)
	if err != nil {
		c.srv.log.Error("encode event", "client", c.id, "err", err)
		return
	}
	if !g.greet(b) {
		c.push(b, true)
		return
	}
	m := &c.srv.metrics
	m.bytesOut.Add(uint64(len(b)))
	m.frames.Add(1)
	m.objects.Add(1)
	c.msgsOut.Add(1)
}
