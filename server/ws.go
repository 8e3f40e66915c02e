package server

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Socket tuning. Small read buffers and pooled write buffers keep an idle
// connection cheap; see the package doc.
const (
	// readBufferSize is gorilla's read buffer, which it allocates in the
	// upgrade and which then goes unused: rtsync reads the frames.
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
	// hardLimitFactor: messages up to this many times the message size
	// limit are read and discarded with a too_large error; longer ones
	// close the connection (1009), since reading them costs too much.
	hardLimitFactor = 16
)

var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// wsTransport is a Transport over a WebSocket connection. gorilla upgrades
// the connection; rtsync reads the client's frames (wsin.go, wsread.go) and
// writes every server frame itself on the socket (wsframe.go), so a batch
// goes out as one frame in one write.
type wsTransport struct {
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

// serveWS upgrades the request and starts the connection's reader (on the
// poll path, or a goroutine of its own; wsin.go). Returning lets net/http
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
	// gorilla's part ends here: the client's frames are read by wsIn
	// (wsin.go), so its Conn, buffers and all, is left to the collector.
	_ = ws
	c := newConn(s, t)
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
	newWSIn(c, t).start(s.poller.Load())
}
