package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// hookCutWait is how long a test waits for a blocked hook call to be cut;
// the calls' own HookTimeout is a minute, so only the cut ends them sooner.
const hookCutWait = 10 * time.Second

// ctxEvents is an in-process handler whose calls block until their context
// ends, and report the cause. Connect blocks only for a ?block query.
type ctxEvents struct {
	entered chan string // the event whose call began
	causes  chan error  // why each blocked call ended
}

func newCtxEvents() *ctxEvents {
	return &ctxEvents{entered: make(chan string, 4), causes: make(chan error, 4)}
}

func (e *ctxEvents) block(ctx context.Context, event string) error {
	e.entered <- event
	<-ctx.Done()
	e.causes <- context.Cause(ctx)
	return ctx.Err()
}

func (e *ctxEvents) Connect(ctx context.Context, ev *ConnectEvent) (*ConnectResult, error) {
	if ev.Query.Get("block") == "" {
		return nil, nil
	}
	return nil, e.block(ctx, eventConnect)
}

func (e *ctxEvents) Message(ctx context.Context, _ *MessageEvent) (*MessageResult, error) {
	return nil, e.block(ctx, eventMessage)
}

func (e *ctxEvents) RPC(ctx context.Context, _ *RPCEvent) (*RPCResult, error) {
	return nil, e.block(ctx, eventRPC)
}

func (e *ctxEvents) Close(context.Context, *CloseEvent) {}

func (e *ctxEvents) waitEntered(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-e.entered:
		if got != want {
			t.Fatalf("%s hook called, want %s", got, want)
		}
	case <-time.After(hookCutWait):
		t.Fatalf("no %s hook call", want)
	}
}

func (e *ctxEvents) waitCut(t *testing.T, want error) {
	t.Helper()
	select {
	case got := <-e.causes:
		if !errors.Is(got, want) {
			t.Fatalf("hook call ended by %v, want %v", got, want)
		}
	case <-time.After(hookCutWait):
		t.Fatalf("hook call not cut within %s (want: %v)", hookCutWait, want)
	}
}

// runStoppable is startServer with a stop that shuts the server down and
// returns Run's error.
func runStoppable(t *testing.T, cfg Config) (s *Server, url string, stop func() error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	var once sync.Once
	var res error
	stop = func() error {
		once.Do(func() {
			cancel()
			res = <-done
		})
		return res
	}
	t.Cleanup(func() { _ = stop() })
	return s, "ws://" + ln.Addr().String() + "/ws", stop
}

// commands that reach a hook on the reader goroutine.
var hookCommands = []struct {
	event string
	cmd   string
}{
	{eventMessage, `{"op":"pub","room":"r","data":1,"id":1}`},
	{eventRPC, `{"op":"rpc","method":"m","id":1}`},
}

// TestHookContextEndsWhenClientLeaves: a message or rpc hook blocked on a
// slow application is cut as soon as its client disconnects, whether it
// just drops the socket or says goodbye with a close frame first.
func TestHookContextEndsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	leave := map[string]func(ws *websocket.Conn){
		"drop": func(ws *websocket.Conn) { _ = ws.NetConn().Close() },
		"close frame": func(ws *websocket.Conn) {
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
			_ = ws.NetConn().Close()
		},
	}
	for _, hc := range hookCommands {
		for how, leave := range leave {
			t.Run(hc.event+"/"+how, func(t *testing.T) {
				t.Parallel()
				ev := newCtxEvents()
				_, url := startServer(t, Config{Events: ev, HookTimeout: time.Minute})
				c := dial(t, url)
				if hc.event == eventMessage {
					mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
				}
				c.sendRaw(hc.cmd)
				ev.waitEntered(t, hc.event)
				leave(c.ws)
				ev.waitCut(t, errClientGone)
			})
		}
	}
}

// TestHookContextEndsAtShutdown: shutdown cuts the message, rpc and
// connect calls under way, and still returns cleanly.
func TestHookContextEndsAtShutdown(t *testing.T) {
	t.Parallel()
	for _, event := range []string{eventMessage, eventRPC, eventConnect} {
		t.Run(event, func(t *testing.T) {
			t.Parallel()
			ev := newCtxEvents()
			_, url, stop := runStoppable(t, Config{Events: ev, HookTimeout: time.Minute, ShutdownTimeout: time.Minute})
			switch event {
			case eventConnect:
				// The client stays, waiting for its welcome, until the
				// server drops it.
				left := make(chan struct{})
				t.Cleanup(func() { _ = stop(); <-left })
				go func() {
					defer close(left)
					ws, _, err := websocket.DefaultDialer.Dial(url+"?block=1", nil)
					if err != nil {
						return
					}
					defer ws.Close()
					_ = ws.SetReadDeadline(time.Now().Add(time.Minute))
					for err == nil {
						_, _, err = ws.ReadMessage()
					}
				}()
			default:
				c := dial(t, url)
				if event == eventMessage {
					mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
				}
				for _, hc := range hookCommands {
					if hc.event == event {
						c.sendRaw(hc.cmd)
					}
				}
			}
			ev.waitEntered(t, event)
			stopped := make(chan error, 1)
			go func() { stopped <- stop() }()
			ev.waitCut(t, errServerStopping)
			select {
			case err := <-stopped:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(hookCutWait):
				t.Fatal("shutdown did not return")
			}
		})
	}
}

// TestHookContextEndsOnKick: kicking a client cuts its hook call.
func TestHookContextEndsOnKick(t *testing.T) {
	t.Parallel()
	ev := newCtxEvents()
	s, url := startServer(t, Config{Events: ev, HookTimeout: time.Minute})
	c := dial(t, url)
	c.sendRaw(`{"op":"rpc","method":"m","id":1}`)
	ev.waitEntered(t, eventRPC)
	if err := s.Kick(c.welcome.Client, ""); err != nil {
		t.Fatal(err)
	}
	ev.waitCut(t, errConnClosed)
}

// TestHookCanceledIsNotATimeout: a call cut short counts as canceled, not
// as the application's timeout, and the log says why.
func TestHookCanceledIsNotATimeout(t *testing.T) {
	t.Parallel()
	s, err := New(Config{HookTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	parent, cancel := context.WithCancelCause(context.Background())
	cancel(errClientGone)
	err = s.callHook(parent, eventRPC, "c1", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, errClientGone) {
		t.Fatalf("callHook = %v, want the cause", err)
	}
	if f := s.Stats().Hooks.Failures; f[failCanceled] != 1 || f[failTimeout] != 0 {
		t.Fatalf("failures = %v, want one canceled", f)
	}
}

// TestHTTPHookCutWhenClientLeaves: the HTTP hook's request to a backend
// that hangs is cancelled when the client leaves, long before the hook
// timeout, and the hung backend does not open the circuit breaker.
func TestHTTPHookCutWhenClientLeaves(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 1)
	cut := make(chan struct{}, 1)
	b := newHookBackend(t, func(w http.ResponseWriter, r *http.Request, _ hookReq) {
		entered <- struct{}{}
		select {
		case <-r.Context().Done():
			cut <- struct{}{}
		case <-time.After(time.Minute):
		}
	})
	s, url := startServer(t, Config{HookRPCURL: b.URL, HookTimeout: time.Minute, HookBreakerFailures: 1})
	c := dial(t, url)
	c.sendRaw(`{"op":"rpc","method":"m","id":1}`)
	select {
	case <-entered:
	case <-time.After(hookCutWait):
		t.Fatal("the backend got no request")
	}
	_ = c.ws.NetConn().Close()
	select {
	case <-cut:
	case <-time.After(hookCutWait):
		t.Fatalf("the backend's request was not cancelled within %s", hookCutWait)
	}
	// A new client is served: the breaker did not count the cut call.
	d := dial(t, url)
	d.sendRaw(`{"op":"rpc","method":"m","id":1}`)
	select {
	case <-entered:
	case <-time.After(hookCutWait):
		t.Fatalf("the backend got no second request; hook stats %+v", s.Stats().Hooks)
	}
	_ = d.ws.NetConn().Close()
}
