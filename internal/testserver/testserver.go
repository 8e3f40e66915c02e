package testserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rtsync/rtsync/server"
)

// stopTimeout bounds how long Stop waits for the server to drain.
const stopTimeout = 10 * time.Second

// Server is one running server.
type Server struct {
	// Addr is the host:port it listens on.
	Addr string
	// Srv is the server itself, for its Go API (Stats, ops).
	Srv *server.Server

	t    testing.TB
	once sync.Once
	stop func()
}

// Start runs a server with cfg on a free port of 127.0.0.1 until the test
// ends. A nil Logger discards the server's logs.
func Start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return StartOn(t, ln, cfg)
}

// StartOn runs a server on ln, which it then owns: a test that restarts a
// server on the same address listens there again and calls StartOn.
func StartOn(t testing.TB, ln net.Listener, cfg server.Config) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	s := &Server{Addr: ln.Addr().String(), Srv: srv, t: t}
	s.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(stopTimeout):
			t.Errorf("server did not stop within %s", stopTimeout)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's WebSocket URL.
func (s *Server) URL() string { return "ws://" + s.Addr + "/ws" }

// HTTP is the server's HTTP base URL (API, health, web page).
func (s *Server) HTTP() string { return "http://" + s.Addr }

// Stop shuts the server down (clients are told to reconnect) and waits
// for it; later calls do nothing.
func (s *Server) Stop() { s.once.Do(s.stop) }
