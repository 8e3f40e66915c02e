package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server"
)

// waitTimeout bounds every wait for an event; generous for -race on a
// loaded machine, still far below the go test timeout.
const waitTimeout = 10 * time.Second

// startServer runs a real server on a loopback port and returns its
// WebSocket URL and a function that shuts it down (also run at cleanup).
func startServer(t *testing.T, mod func(*server.Config)) (string, func()) {
	t.Helper()
	_, url, stop := startServerWith(t, mod)
	return url, stop
}

// startServerWith is startServer that also returns the server, for tests
// that use its API or read its figures.
func startServerWith(t *testing.T, mod func(*server.Config)) (*server.Server, string, func()) {
	t.Helper()
	cfg := server.Config{
		Node:            "test-node",
		PublishRate:     1e6,
		PublishBurst:    1e6,
		ShutdownTimeout: 2 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("server Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("server did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return srv, "ws://" + ln.Addr().String() + "/ws", stop
}

// dial connects a client that is closed at cleanup.
func dial(t *testing.T, url string, opts client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// expect reads events until one matches, skipping the others.
func expect(t *testing.T, c *client.Client, what string, match func(client.Event) bool) client.Event {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %s", what)
			}
			if match(ev) {
				return ev
			}
		case <-timer.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func kind(k client.Kind) func(client.Event) bool {
	return func(ev client.Event) bool { return ev.Kind == k }
}

// quiet asserts that no event matching match arrives within d.
func quiet(t *testing.T, c *client.Client, d time.Duration, match func(client.Event) bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return
			}
			if match(ev) {
				t.Fatalf("unexpected event %v", ev)
			}
		case <-timer.C:
			return
		}
	}
}

// proxy forwards TCP connections to a target and can sever them all, to
// break a client's connection the way a network does.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	return newProxyOn(t, "127.0.0.1:0", target)
}

// newProxyOn is newProxy listening on addr: a proxy closed with down
// comes back on the same address.
func newProxyOn(t *testing.T, addr, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.sever()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = down.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
		}
		p.wg.Go(func() { pipe(up, down) })
		p.wg.Go(func() { pipe(down, up) })
	}
}

// down closes the listener and every connection, as a node that was
// killed: connecting to it is refused.
func (p *proxy) down() {
	_ = p.ln.Close()
	p.sever()
}

// sever closes every connection through the proxy; the listener stays, so
// clients can reconnect.
func (p *proxy) sever() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// wireCode returns the code of a *protocol.Error in err's chain, or "".
func wireCode(err error) string {
	var e *protocol.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
