package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

// The fuzz targets of this package attack a real server on loopback
// sockets: one server per fuzz target (per fuzzing worker process), shared
// by every input, so that an input that breaks the server for others is
// caught by the next check. fuzzWait bounds every wait of a check.
const fuzzWait = 10 * time.Second

// fuzzServer is a running server for a fuzz target.
type fuzzServer struct {
	s       *Server
	wsURL   string
	tcpAddr string
	httpURL string
}

// fuzzConfig is the configuration the fuzz targets start from: small
// history and no per-IP or rate limits that thousands of inputs from one
// address would trip, logs discarded.
func fuzzConfig() Config {
	cfg := DefaultConfig()
	cfg.HistorySize = 20
	cfg.MaxConnsPerIP = 1 << 20
	cfg.PublishRate, cfg.PublishBurst = 1e6, 1e6
	cfg.WriteCoalesce = 0
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

// startFuzzServer runs a server with the TCP transport on free loopback
// ports until tb ends.
func startFuzzServer(tb testing.TB, cfg Config) *fuzzServer {
	tb.Helper()
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.ServeTCP(tl)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("server Run: %v", err)
		}
	})
	return &fuzzServer{s: s, wsURL: "ws://" + ln.Addr().String() + "/ws", tcpAddr: tl.Addr().String(), httpURL: "http://" + ln.Addr().String()}
}

// fuzzObserver is a WebSocket member of some rooms that checks every frame
// the server sends it: valid UTF-8, one JSON event per line, each one a
// Go client can decode. What reaches it is what a browser in those rooms
// would get.
type fuzzObserver struct {
	tb    testing.TB
	url   string
	rooms []string

	ws      *websocket.Conn
	replies chan protocol.Event
	dead    chan struct{}
	nextID  int

	mu     sync.Mutex
	bad    string // the first invalid frame seen, with why
	client string // the connection's client id, from its welcome
}

func newFuzzObserver(tb testing.TB, url string, rooms ...string) *fuzzObserver {
	tb.Helper()
	o := &fuzzObserver{tb: tb, url: url, rooms: rooms}
	if err := o.connect(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = o.ws.Close() }) // the last one connect made
	return o
}

// connect dials and joins the rooms.
func (o *fuzzObserver) connect() error {
	if o.ws != nil {
		_ = o.ws.Close()
	}
	ws, _, err := websocket.DefaultDialer.Dial(o.url, nil)
	if err != nil {
		return fmt.Errorf("observer: dial %s: %w", o.url, err)
	}
	o.ws, o.replies, o.dead = ws, make(chan protocol.Event, 64), make(chan struct{})
	go o.read(ws, o.replies, o.dead)
	for _, room := range o.rooms {
		if e, err := o.call(map[string]any{"op": "join", "room": room}); err != nil || !e.OK {
			return fmt.Errorf("observer: join %s: %v %v", room, err, e.Error)
		}
	}
	return nil
}

func (o *fuzzObserver) read(ws *websocket.Conn, replies chan<- protocol.Event, dead chan<- struct{}) {
	defer close(dead)
	for {
		typ, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.TextMessage {
			o.fail("binary frame %q", b)
			continue
		}
		if !utf8.Valid(b) {
			o.fail("text frame is not valid UTF-8: %q", b)
			continue
		}
		_ = protocol.Split(b, func(obj []byte) error {
			e, err := protocol.DecodeEvent(obj)
			if err != nil {
				o.fail("event a Go client cannot decode (%v): %.300q", err, obj)
				return nil
			}
			if e.Type == protocol.TypeWelcome {
				o.mu.Lock()
				o.client = e.Client
				o.mu.Unlock()
			}
			if e.Type == protocol.TypeReply {
				select {
				case replies <- e:
				default:
				}
			}
			return nil
		})
	}
}

func (o *fuzzObserver) fail(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.bad == "" {
		o.bad = fmt.Sprintf(format, args...)
	}
}

// clientID is the observer's current client id.
func (o *fuzzObserver) clientID() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.client
}

var errObserverGone = errors.New("observer connection closed")

// call sends a command and waits for its reply.
func (o *fuzzObserver) call(cmd map[string]any) (protocol.Event, error) {
	o.nextID++
	id := o.nextID
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	if err := o.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return protocol.Event{}, errObserverGone
	}
	timeout := time.After(fuzzWait)
	for {
		select {
		case e := <-o.replies:
			if string(e.ID) == fmt.Sprint(id) {
				return e, nil
			}
		case <-o.dead:
			return protocol.Event{}, errObserverGone
		case <-timeout:
			return protocol.Event{}, fmt.Errorf("no reply to %s within %s", b, fuzzWait)
		}
	}
}

// check fails t if the server sent the observer anything invalid since the
// last check, or does not answer a ping and each room's history in time:
// the server keeps serving others whatever the input did. The history
// replies are checked too, since they nest stored data deepest.
func (o *fuzzObserver) check(t *testing.T) {
	t.Helper()
	cmds := []map[string]any{{"op": "ping"}}
	for _, room := range o.rooms {
		// Join again first: an input may have emptied the room (the API's
		// ungroup). Joining a room one is in is a no-op.
		cmds = append(cmds, map[string]any{"op": "join", "room": room},
			map[string]any{"op": "history", "room": room, "limit": 20})
	}
	for attempt := 0; ; attempt++ {
		err := o.ask(cmds)
		if errors.Is(err, errObserverGone) && attempt == 0 {
			// An input may legitimately end the observer (a kick through
			// the API); start another.
			<-o.dead
			if err := o.connect(); err != nil {
				t.Fatalf("server no longer accepts connections: %v", err)
			}
			continue
		}
		if err != nil {
			o.mu.Lock()
			bad := o.bad
			o.mu.Unlock()
			t.Fatalf("server stopped answering another client: %v (first invalid frame: %s)", err, bad)
		}
		break
	}
	o.mu.Lock()
	bad := o.bad
	o.bad = ""
	o.mu.Unlock()
	if bad != "" {
		t.Fatalf("another client in the room got: %s", bad)
	}
}

// ask sends each command in turn and fails unless each one succeeds.
func (o *fuzzObserver) ask(cmds []map[string]any) error {
	for _, cmd := range cmds {
		e, err := o.call(cmd)
		if err != nil {
			return err
		}
		if !e.OK {
			return fmt.Errorf("%v refused: %v", cmd["op"], e.Error)
		}
	}
	return nil
}
