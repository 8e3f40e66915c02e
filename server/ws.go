package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

// Socket tuning. Small read buffers and pooled write buffers keep an idle
// connection cheap; see the package doc.
const (
	// readBufferSize is gorilla's per-connection read buffer. Frames larger
	// than it are read straight into the pooled frame buffer.
	readBufferSize = 256
	// writeBufferSize is the size of gorilla's pooled write buffers, which
	// it takes only to write a message: rtsync writes its own frames
	// (wsframe.go), so none is ever taken.
	writeBufferSize = 4096
	// controlTimeout bounds sending a ping or close frame.
	controlTimeout = time.Second
	// closeGrace is how long a closing connection waits for the peer's
	// close frame before the socket is dropped.
	closeGrace = time.Second
	// hardLimitFactor: frames up to this many times the message size limit
	// are read and discarded with a too_large error; longer ones close the
	// connection (1009), since reading them costs too much.
	hardLimitFactor = 16
)

var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// wsTransport is a Transport over a WebSocket connection. gorilla upgrades
// the connection and reads from it; rtsync writes every server frame itself
// on the socket (wsframe.go), so a batch goes out as one frame in one write.
type wsTransport struct {
	ws     *websocket.Conn
	w      frameWriter
	remote string
	wt     time.Duration

	closeOnce sync.Once
}

func (t *wsTransport) Kind() string { return "ws" }

func (t *wsTransport) watchHangup(hangup func()) (stop func()) {
	return watchSocketHangup(t.w.raw, hangup)
}
func (t *wsTransport) RemoteAddr() string { return t.remote }

func (t *wsTransport) WriteBatch(objs [][]byte) error { return t.w.writeBatch(objs) }

// Ping queues a ping frame and writes it now if no other frame is being
// written; otherwise the frame's writer sends it when done. It never waits
// for a write in progress.
func (t *wsTransport) Ping() error { return t.w.ping() }

func (t *wsTransport) Close(code int, reason string) {
	t.closeOnce.Do(func() {
		if code == 0 {
			_ = t.w.raw.Close()
			return
		}
		msg := websocket.FormatCloseMessage(code, closeReason(code, reason))
		// A writer blocked on a full socket holds the write lock until the
		// peer reads or the write watchdog drops the socket; wait as long
		// as a write may take, so a slow consumer that does read on learns
		// why it was cut off.
		if !t.w.writeClose(msg, t.wt) {
			_ = t.w.raw.Close()
			return
		}
		// Let the reader see the peer's close reply; then drop the socket
		// in case the peer never sends one.
		time.AfterFunc(closeGrace, func() { _ = t.w.raw.Close() })
	})
}

func (s *Server) upgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:  readBufferSize,
		WriteBufferSize: writeBufferSize,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     s.checkOrigin,
		// No permessage-deflate: the frame writer (wsframe.go) writes
		// uncompressed frames only, and a client that asks is answered
		// without the extension.
		EnableCompression: false,
	}
}

// serveWS upgrades the request and starts the connection's reader. The
// reader is a new goroutine rather than this one: returning lets net/http
// free the request, its 4 KiB read and write buffers and a deep stack, which
// would otherwise stay reachable for the connection's whole life (about
// 13 KiB per idle connection, measured).
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		http.Error(w, "server is shutting down; reconnect to another node", http.StatusServiceUnavailable)
		return
	}
	if !s.checkOrigin(r) {
		// Refused here rather than by the upgrader, to say why.
		s.metrics.rejected.Add(1)
		s.guards.originRefused.Add(1)
		s.log.Info("connection refused: origin not allowed", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"))
		http.Error(w, fmt.Sprintf("origin %.128q may not open a WebSocket on this server: only its own pages and the origins given with --allowed-origins may", r.Header.Get("Origin")), http.StatusForbidden)
		return
	}
	info := &connInfo{transport: "ws", remote: r.RemoteAddr, header: r.Header, rawQuery: r.URL.RawQuery, hasQuery: true, token: tokenFrom(r)}
	t := &wsTransport{remote: r.RemoteAddr, wt: s.cfg.WriteTimeout}
	ws, err := s.up.Upgrade(holdingHijacker{&hijackWriter{ResponseWriter: w, w: &t.w}}, r, nil)
	if err != nil {
		s.metrics.errors.Add(1)
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // Upgrade already answered with an HTTP error
	}
	t.ws = ws
	ws.SetReadLimit(int64(s.cfg.MaxMessageSize) * hardLimitFactor)
	c := newConn(s, t)
	ws.SetPongHandler(func(string) error { c.touch(); return nil })
	// The client's pings and closes are answered through the frame
	// writer's lock, as gorilla's default handlers would answer them.
	ws.SetPingHandler(func(p string) error { t.w.answerPing(p); return nil })
	ws.SetCloseHandler(t.w.answerClose)
	ok := s.open(c, info)
	if fc, isFC := t.w.raw.(*frameConn); isFC {
		// open wrote the welcome, or a close frame, behind the held
		// handshake response (greet.go); should it have written neither,
		// the response goes now.
		_ = fc.flushHeld()
	}
	if !ok {
		return
	}
	go s.readLoop(c, ws, t.w.raw)
}

// readLoop is the connection's reader. Where the socket allows (a
// frameConn on a Unix system) an idle connection parks in waitReadable,
// whose stack is shallow, on a goroutine that has not yet handled anything:
// after each frame it hands over to a fresh goroutine, which starts on the
// minimum stack, and exits. That halves an idle connection's stack (4 KiB
// to 2 KiB, measured); the spawn costs far less than the frame did. The
// pongs that answer the server's heartbeat pings are taken at the socket
// (waitReadable) without waking gorilla, whose read would otherwise park on
// the next frame with a deep stack until the client speaks again.
// Elsewhere it loops, parking inside gorilla's read.
func (s *Server) readLoop(c *conn, ws *websocket.Conn, raw net.Conn) {
	fc, _ := raw.(*frameConn)
	if fc != nil {
		fc.framed.Store(true)
	}
	s.readNext(c, ws, fc)
}

func (s *Server) readNext(c *conn, ws *websocket.Conn, fc *frameConn) {
	for {
		if fc != nil {
			ok, pong := waitReadable(fc)
			if pong {
				c.touch() // what the pong handler would do
				continue
			}
			if !ok {
				fc = nil
			}
		}
		if !s.readFrame(c, ws) {
			c.close(0, "")
			return
		}
		if fc != nil {
			go s.readNext(c, ws, fc)
			return
		}
	}
}

// readFrame reads and handles one frame; false means the connection ended.
func (s *Server) readFrame(c *conn, ws *websocket.Conn) bool {
	typ, rd, err := ws.NextReader()
	if err != nil {
		s.logClose(c, err)
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			c.peerClosed(ce.Code, ce.Text)
		}
		return false
	}
	c.touch()
	if typ != websocket.TextMessage {
		_, _ = io.Copy(io.Discard, rd)
		c.sendError(protocol.CodeBadFrame, "binary frames are not supported; send JSON in text frames")
		return true
	}
	bp := frameBufs.Get().(*[]byte)
	frame, tooLarge, err := readLimited(rd, (*bp)[:0], s.cfg.MaxMessageSize)
	if err != nil {
		frameBufs.Put(bp)
		s.logClose(c, err)
		return false
	}
	if tooLarge {
		c.sendError(protocol.CodeTooLarge, "frame is longer than the server's limit of "+itoa(s.cfg.MaxMessageSize)+" bytes")
	} else {
		c.handleFrame(frame)
	}
	if cap(frame) <= 64<<10 {
		*bp = frame[:0]
		frameBufs.Put(bp)
	}
	return true
}

// readLimited reads a frame into buf. Past limit bytes it discards the rest
// and reports tooLarge; gorilla's read limit stops truly huge frames.
func readLimited(r io.Reader, buf []byte, limit int) ([]byte, bool, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			_, err = io.Copy(io.Discard, r)
			return buf[:0], true, err
		}
		if errors.Is(err, io.EOF) {
			return buf, false, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
}

func (s *Server) logClose(c *conn, err error) {
	if errors.Is(err, websocket.ErrReadLimit) {
		s.log.Info("frame over hard limit, closing", "client", c.id, "remote", c.t.RemoteAddr())
		return
	}
	// The rest is debug: skip building the attributes (a few allocations
	// on every disconnect) when nobody reads them.
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		s.log.Debug("client closed", "client", c.id, "code", ce.Code, "reason", ce.Text)
	case errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrUnexpectedEOF):
		s.log.Debug("connection closed", "client", c.id)
	default:
		s.log.Debug("read failed", "client", c.id, "err", err)
	}
}
