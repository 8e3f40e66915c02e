package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/internal/syncbuf"
	"github.com/rtsync/rtsync/protocol"
)

// startEmbed runs the example server on a free port until the test ends
// and returns its ws:// URL and its log.
func startEmbed(t *testing.T) (string, *syncbuf.Buffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, slog.New(slog.NewTextHandler(logs, nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "ws://" + ln.Addr().String() + "/ws", logs
}

// client is a minimal protocol client: one command at a time.
type client struct {
	t       *testing.T
	ws      *websocket.Conn
	welcome protocol.Event
	pending []protocol.Event
	id      int
}

func dial(t *testing.T, url string) (*client, error) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := &client{t: t, ws: ws}
	e, err := c.next()
	if err != nil {
		return nil, err
	}
	if e.Type != protocol.TypeWelcome {
		t.Fatalf("first event %+v, want welcome", e)
	}
	c.welcome = e
	return c, nil
}

func (c *client) next() (protocol.Event, error) {
	if len(c.pending) > 0 {
		e := c.pending[0]
		c.pending = c.pending[1:]
		return e, nil
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		return protocol.Event{}, err
	}
	err = protocol.Split(b, func(obj []byte) error {
		e, err := protocol.DecodeEvent(obj)
		c.pending = append(c.pending, e)
		return err
	})
	if err != nil {
		return protocol.Event{}, err
	}
	return c.next()
}

// expect returns the next event of type typ, skipping others.
func (c *client) expect(typ string) protocol.Event {
	c.t.Helper()
	for {
		e, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if e.Type == typ {
			return e
		}
	}
}

func (c *client) cmd(fields map[string]any) protocol.Event {
	c.t.Helper()
	c.id++
	fields["id"] = c.id
	b, _ := json.Marshal(fields)
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatal(err)
	}
	var other []protocol.Event
	for {
		e, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for reply: %v", err)
		}
		if e.Type == protocol.TypeReply {
			c.pending = append(other, c.pending...)
			return e
		}
		other = append(other, e)
	}
}

func TestEmbedRefusesWithoutUser(t *testing.T) {
	t.Parallel()
	url, _ := startEmbed(t)
	for _, q := range []string{"", "?user=", "?user=has%20space"} {
		_, err := dial(t, url+q)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != protocol.CloseForbidden || !strings.Contains(ce.Text, "?user=NAME") {
			t.Fatalf("dial %s: err = %v, want close 4003 saying to add ?user=NAME", q, err)
		}
	}
}

func TestEmbedChat(t *testing.T) {
	t.Parallel()
	url, logs := startEmbed(t)
	ann, err := dial(t, url+"?user=ann")
	if err != nil {
		t.Fatal(err)
	}
	if ann.welcome.UID != "ann" || ann.welcome.Name != "ann" {
		t.Fatalf("welcome = %+v, want uid and name ann", ann.welcome)
	}
	// The connect hook's rooms are joined just after the welcome goes
	// out; a reply to ann's first command proves she is in them, so she
	// sees bob arrive.
	if r := ann.cmd(map[string]any{"op": "presence", "room": "lobby"}); !r.OK || len(r.Members) != 1 {
		t.Fatalf("lobby presence before bob = %+v", r)
	}
	bob, err := dial(t, url+"?user=bob")
	if err != nil {
		t.Fatal(err)
	}
	if e := ann.expect(protocol.TypeJoin); e.UID != "bob" || e.Room != "lobby" {
		t.Fatalf("presence = %+v", e)
	}
	// Both are in the lobby, each alone in a personal room.
	r := ann.cmd(map[string]any{"op": "presence", "room": "lobby"})
	if !r.OK || len(r.Members) != 2 {
		t.Fatalf("lobby presence = %+v", r)
	}
	r = bob.cmd(map[string]any{"op": "presence", "room": "user:bob"})
	if !r.OK || len(r.Members) != 1 || r.Members[0].UID != "bob" {
		t.Fatalf("user:bob presence = %+v", r)
	}

	// Censored on the way through.
	if r := ann.cmd(map[string]any{"op": "pub", "room": "lobby", "data": map[string]any{"text": "Darn, hello", "mood": "ok"}, "noecho": true}); !r.OK {
		t.Fatalf("pub = %+v", r.Error)
	}
	m := bob.expect(protocol.TypeMsg)
	if string(m.Data) != `{"mood":"ok","text":"****, hello"}` || m.From.UID != "ann" {
		t.Fatalf("msg = %s from %+v", m.Data, m.From)
	}
	if r := ann.cmd(map[string]any{"op": "pub", "room": "lobby", "data": map[string]any{"text": "darning socks"}, "noecho": true}); !r.OK {
		t.Fatalf("pub = %+v", r.Error)
	}
	if m := bob.expect(protocol.TypeMsg); string(m.Data) != `{"text":"darning socks"}` {
		t.Fatalf("msg = %s, want it unchanged", m.Data)
	}
	if r := ann.cmd(map[string]any{"op": "pub", "room": "lobby", "data": 42}); r.OK || r.Error.Code != protocol.CodeForbidden {
		t.Fatalf("pub of a number = %+v, want forbidden", r)
	}

	// rpc
	r = ann.cmd(map[string]any{"op": "rpc", "method": "time"})
	var tm struct {
		UnixMS int64 `json:"unix_ms"`
	}
	if !r.OK || json.Unmarshal(r.Data, &tm) != nil || time.Since(time.UnixMilli(tm.UnixMS)).Abs() > time.Minute {
		t.Fatalf("rpc time = %+v (%s)", r, r.Data)
	}
	r = ann.cmd(map[string]any{"op": "rpc", "method": "whoami"})
	if !r.OK || !strings.Contains(string(r.Data), `"uid":"ann"`) || !strings.Contains(string(r.Data), `"since":`) {
		t.Fatalf("rpc whoami = %s", r.Data)
	}
	if r := ann.cmd(map[string]any{"op": "rpc", "method": "nope"}); r.OK || r.Error.Code != "unknown_method" {
		t.Fatalf("rpc nope = %+v", r)
	}

	// close
	_ = bob.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `msg=left client=`+bob.welcome.Client+` uid=bob code=1000 reason=bye`) {
		if time.Now().After(deadline) {
			t.Fatalf("no close logged for bob:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
