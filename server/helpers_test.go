package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

// startServer runs a Server on a free loopback port until the test ends and
// returns it with its ws:// URL.
func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, runServer(t, s)
}

// runServer runs s on a free port of 127.0.0.1 until the test ends and
// returns its WebSocket URL.
func runServer(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server Run: %v", err)
		}
	})
	return "ws://" + ln.Addr().String() + "/ws"
}

// wsClient is a bare protocol client for tests: it sends raw objects and
// reads events one by one, splitting batched frames.
type wsClient struct {
	t       *testing.T
	ws      *websocket.Conn
	events  chan *protocol.Event // pointers: 64k slots cost 512 KB, not 29 MB
	err     chan error           // the read error that ended the reader
	pending []protocol.Event
	welcome protocol.Event
	nextID  int
}

func dial(t *testing.T, url string) *wsClient {
	t.Helper()
	c, err := dialHeader(t, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}

// dialHeader dials with extra upgrade headers (and whatever query url
// carries) and waits for the welcome. It returns the error instead of
// failing when the server refuses the upgrade or closes the connection
// before its welcome (a *websocket.CloseError then).
func dialHeader(t *testing.T, url string, h http.Header) (*wsClient, error) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w (HTTP %s)", err, resp.Status)
		}
		return nil, err
	}
	c := &wsClient{t: t, ws: ws, events: make(chan *protocol.Event, 1<<16), err: make(chan error, 1)}
	t.Cleanup(func() { _ = ws.Close() })
	go c.readLoop()
	e, err := c.tryRead(5 * time.Second)
	if err != nil {
		return nil, err
	}
	if e.Type != protocol.TypeWelcome {
		t.Fatalf("got %s event %+v, want welcome", e.Type, e)
	}
	c.welcome = e
	return c, nil
}

func (c *wsClient) sendRaw(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// cmd sends a command with a fresh id and returns its reply, collecting the
// events that arrive before it for later next calls.
func (c *wsClient) cmd(fields map[string]any) protocol.Event {
	c.t.Helper()
	c.nextID++
	fields["id"] = c.nextID
	b, _ := json.Marshal(fields)
	c.sendRaw(string(b))
	var skipped []protocol.Event
	for {
		e := c.read(5 * time.Second)
		if e.Type == protocol.TypeReply && string(e.ID) == itoa(c.nextID) {
			c.pending = append(skipped, c.pending...)
			return e
		}
		skipped = append(skipped, e)
	}
}

func (c *wsClient) read(d time.Duration) protocol.Event {
	c.t.Helper()
	e, err := c.tryRead(d)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return e
}

func (c *wsClient) tryRead(d time.Duration) (protocol.Event, error) {
	if len(c.pending) > 0 {
		e := c.pending[0]
		c.pending = c.pending[1:]
		return e, nil
	}
	select {
	case e := <-c.events:
		return *e, nil
	default:
	}
	select {
	case e := <-c.events:
		return *e, nil
	case err := <-c.err:
		c.err <- err
		// Deliver what was read before the error first.
		select {
		case e := <-c.events:
			return *e, nil
		default:
		}
		return protocol.Event{}, err
	case <-time.After(d):
		return protocol.Event{}, errTimeout
	}
}

var errTimeout = errors.New("timeout waiting for an event")

// readLoop reads frames, splits them and queues their events, so that a
// test's read timeout does not break the connection.
func (c *wsClient) readLoop() {
	for {
		typ, b, err := c.ws.ReadMessage()
		if err == nil && typ != websocket.TextMessage {
			err = errors.New("binary frame from server")
		}
		if err == nil {
			err = protocol.Split(b, func(obj []byte) error {
				if strings.ContainsRune(string(obj), '\n') {
					return errors.New("object with newline")
				}
				e, err := protocol.DecodeEvent(obj)
				if err == nil {
					c.events <- &e
				}
				return err
			})
		}
		if err != nil {
			c.err <- err
			return
		}
	}
}

// expect reads the next event and fails unless it has type typ.
func (c *wsClient) expect(typ string) protocol.Event {
	c.t.Helper()
	e := c.read(5 * time.Second)
	if e.Type != typ {
		c.t.Fatalf("got %s event %+v, want %s", e.Type, e, typ)
	}
	return e
}

// quiet fails if any event arrives within d.
func (c *wsClient) quiet(d time.Duration) {
	c.t.Helper()
	if e, err := c.tryRead(d); err == nil {
		c.t.Fatalf("unexpected event %+v", e)
	}
}

// closeCode reads until the server closes and returns the close code.
func (c *wsClient) closeCode(d time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_, err := c.tryRead(time.Until(deadline))
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			c.t.Fatalf("connection ended without a close frame: %v", err)
		}
	}
	c.t.Fatal("no close within", d)
	return 0
}

func mustOK(t *testing.T, e protocol.Event) protocol.Event {
	t.Helper()
	if !e.OK || e.Error != nil {
		t.Fatalf("reply not ok: %+v (error %v)", e, e.Error)
	}
	return e
}

func mustErr(t *testing.T, e protocol.Event, code string) {
	t.Helper()
	if e.OK || e.Error == nil || e.Error.Code != code {
		t.Fatalf("want error %s, got ok=%v error=%v", code, e.OK, e.Error)
	}
}
