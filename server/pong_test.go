package server

import (
	"bytes"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestPongsKeepReadersShallow: idle clients that answer the server's
// heartbeat pings stay connected, and afterwards, on the poll path, no
// reader goroutine is left: each pong woke one, which re-armed the socket
// and ended.
//
// Not parallel: it reads every goroutine's stack, and another test's
// server would have readers of its own.
func TestPongsKeepReadersShallow(t *testing.T) {
	const interval = 300 * time.Millisecond
	s, url := startServer(t, Config{HeartbeatInterval: interval})
	const n = 8
	var pings atomic.Int64
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ws.Close() })
		ws.SetPingHandler(func(data string) error {
			pings.Add(1)
			return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		go func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		conns[i] = ws
	}
	// Three pings each, past the 2-interval silence limit: a pong taken
	// but not counted as life would have closed them.
	waitFor(t, func() bool { return pings.Load() >= 3*n })
	time.Sleep(interval / 2) // the last pongs reach the server
	if got := s.hub.count.Load(); got != n {
		t.Fatalf("%d connections after %d pings, want %d", got, pings.Load(), n)
	}
	// Counted rather than required absent: a reader of an earlier test's
	// server may still be on its way out.
	var stacks bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&stacks, 2); err != nil {
		t.Fatal(err)
	}
	inRead := 0
	for _, g := range bytes.Split(stacks.Bytes(), []byte("\n\n")) {
		if bytes.Contains(g, []byte("server.(*wsIn).")) {
			inRead++
		}
	}
	if s.cfg.ReadMode == ReadModePoll && inRead >= n/2 {
		t.Errorf("%d readers are left after only pongs arrived:\n%s", inRead, stacks.String())
	}
	// The stream is intact after the pongs: a command still gets its reply.
	if err := conns[0].WriteMessage(websocket.TextMessage, []byte(`{"op":"ping","id":1}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.Stats().MessagesIn == 1 })
}
