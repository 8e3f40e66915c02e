package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
)

func TestDialWelcomeHello(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	c := dial(t, url, client.Options{Name: "ann", UID: "u-ann", Meta: map[string]any{"color": "red"}})

	ev := expect(t, c, "connected", kind(client.KindConnected))
	got := ev.Connected
	if got.Client == "" || got.Name != "ann" || got.UID != "u-ann" || got.Node != "test-node" || got.Reconnect {
		t.Fatalf("Connected = %+v; want a client id, name ann, uid u-ann, node test-node, first connection", got)
	}
	if got.Heartbeat <= 0 {
		t.Errorf("Connected.Heartbeat = %v; want the server's interval", got.Heartbeat)
	}
	if id := c.Identity(); id.Client != got.Client || id.Name != "ann" || id.Node != "test-node" {
		t.Errorf("Identity() = %+v; want it to match %+v", id, got)
	}

	id, err := c.Hello(testCtx(t), client.HelloOptions{Name: "annie"})
	if err != nil {
		t.Fatalf("Hello: %v", err)
	}
	if id.Name != "annie" || id.UID != "u-ann" || id.Client != got.Client {
		t.Errorf("Hello = %+v; want name annie, uid kept, same client", id)
	}
	if n := c.Identity().Name; n != "annie" {
		t.Errorf("Identity().Name = %q after Hello; want annie", n)
	}
	if _, err := c.Hello(testCtx(t), client.HelloOptions{Meta: []int{1}}); err == nil {
		t.Error("Hello with an array meta: want an error")
	}
}

func TestDialAnonymous(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	c := dial(t, strings.TrimPrefix(url, "ws://"), client.Options{}) // bare host:port/ws
	ev := expect(t, c, "connected", kind(client.KindConnected))
	if ev.Connected.Client == "" || ev.Connected.Name != "" {
		t.Fatalf("Connected = %+v; want an anonymous client with an id", ev.Connected)
	}
}

func TestJoinPublishReceive(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	ctx := testCtx(t)
	a := dial(t, url, client.Options{Name: "a"})
	b := dial(t, url, client.Options{Name: "b"})

	ja, err := a.Join(ctx, "lobby")
	if err != nil {
		t.Fatalf("a.Join: %v", err)
	}
	// A room nothing was ever published to has no epoch yet: its first
	// message gives it one.
	if ja.Room != "lobby" || ja.Epoch != "" || ja.Seq != 0 {
		t.Fatalf("a.Join = %+v; want room lobby, no epoch yet, seq 0", ja)
	}
	if _, err := b.Join(ctx, "lobby"); err != nil {
		t.Fatalf("b.Join: %v", err)
	}
	joinEv := expect(t, a, "b's join", kind(client.KindJoin))
	if joinEv.Wire.Room != "lobby" || joinEv.Wire.Name != "b" {
		t.Errorf("join event = %+v; want b in lobby", joinEv.Wire)
	}

	payloads := []struct {
		name string
		data any
		want string
	}{
		{"struct", map[string]string{"text": "hi <there>"}, `{"text":"hi <there>"}`},
		{"raw", json.RawMessage(`{ "n" : 1 }`), `{"n":1}`},
		{"bytes", []byte("[1, 2,\n 3]"), `[1,2,3]`},
		{"string", "plain text", `"plain text"`},
	}
	epoch := ja.Epoch // "" until the first message gives the room one
	for i, p := range payloads {
		seq, err := a.Publish(ctx, "lobby", p.data)
		if err != nil {
			t.Fatalf("%s: Publish: %v", p.name, err)
		}
		if seq != uint64(i+1) {
			t.Errorf("%s: Publish seq = %d; want %d", p.name, seq, i+1)
		}
		for who, c := range map[string]*client.Client{"a (echo)": a, "b": b} {
			ev := expect(t, c, p.name+" message", kind(client.KindMessage))
			m := ev.Message()
			if epoch == "" {
				epoch = m.Epoch
			}
			if m.Room != "lobby" || m.Seq != seq || m.Epoch != epoch || m.From.Name != "a" || string(m.Data) != p.want {
				t.Errorf("%s: %s got %+v data %s; want seq %d from a, data %s", p.name, who, m, m.Data, seq, p.want)
			}
			if m.TS == 0 || ev.Received.IsZero() {
				t.Errorf("%s: %s: message without ts or receive time", p.name, who)
			}
		}
	}

	// NoEcho: b gets it, a does not.
	seq, err := a.Publish(ctx, "lobby", 42, client.NoEcho())
	if err != nil {
		t.Fatalf("Publish NoEcho: %v", err)
	}
	if ev := expect(t, b, "noecho message", kind(client.KindMessage)); ev.Wire.Seq != seq {
		t.Errorf("b got seq %d; want %d", ev.Wire.Seq, seq)
	}
	quiet(t, a, 100*time.Millisecond, kind(client.KindMessage))

	if err := b.Leave(ctx, "lobby"); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if ev := expect(t, a, "b's leave", kind(client.KindLeave)); ev.Wire.Client != b.Identity().Client {
		t.Errorf("leave event for %q; want b (%q)", ev.Wire.Client, b.Identity().Client)
	}
	if rooms := b.Rooms(); len(rooms) != 0 {
		t.Errorf("b.Rooms() = %v after Leave; want none", rooms)
	}
	if st := a.Stats(); st.Messages != 4 || st.Commands < 6 || st.FramesIn == 0 {
		t.Errorf("a.Stats() = %+v; want 4 messages, >= 6 commands", st)
	}
}

func TestDirect(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	ctx := testCtx(t)
	a := dial(t, url, client.Options{Name: "a", UID: "alice"})
	b := dial(t, url, client.Options{Name: "b", UID: "bob"})
	b2 := dial(t, url, client.Options{Name: "b2", UID: "bob"})

	t.Run("by uid reaches every connection", func(t *testing.T) {
		r, err := a.SendToUID(ctx, "bob", map[string]string{"hi": "bob"})
		if err != nil || r.Delivered != 2 || r.Stored || r.Inbox != 0 {
			t.Fatalf("SendToUID = %+v, %v; want 2 deliveries, not stored", r, err)
		}
		for _, c := range []*client.Client{b, b2} {
			ev := expect(t, c, "direct", kind(client.KindDirect))
			if ev.Wire.From == nil || ev.Wire.From.UID != "alice" || string(ev.Wire.Data) != `{"hi":"bob"}` || ev.Offline != nil {
				t.Errorf("direct = %+v from %+v; want data from alice", ev.Wire, ev.Wire.From)
			}
		}
	})
	t.Run("by client id", func(t *testing.T) {
		n, err := b.SendToClient(ctx, a.Identity().Client, "pong")
		if err != nil || n != 1 {
			t.Fatalf("SendToClient = %d, %v; want 1", n, err)
		}
		ev := expect(t, a, "direct", kind(client.KindDirect))
		if ev.Wire.From.Client != b.Identity().Client || string(ev.Wire.Data) != `"pong"` {
			t.Errorf("direct = %+v; want \"pong\" from b", ev.Wire)
		}
	})
	errCases := []struct {
		name string
		send func() (int, error)
		code string
	}{
		{"unknown client", func() (int, error) { return a.SendToClient(ctx, "no-such-client", 1) }, protocol.CodeNotFound},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.send()
			if wireCode(err) != tc.code {
				t.Fatalf("err = %v; want a *protocol.Error with code %s", err, tc.code)
			}
		})
	}
}

func TestPresence(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	ctx := testCtx(t)
	a := dial(t, url, client.Options{Name: "a", Meta: json.RawMessage(`{"role":"admin"}`)})
	b := dial(t, url, client.Options{Name: "b", UID: "bob"})
	for _, c := range []*client.Client{a, b} {
		if _, err := c.Join(ctx, "room/1"); err != nil {
			t.Fatal(err)
		}
	}
	members, err := b.Presence(ctx, "room/1")
	if err != nil {
		t.Fatalf("Presence: %v", err)
	}
	byName := map[string]protocol.Member{}
	for _, m := range members {
		byName[m.Name] = m
	}
	if len(members) != 2 || byName["a"].Client != a.Identity().Client || byName["b"].UID != "bob" ||
		string(byName["a"].Meta) != `{"role":"admin"}` {
		t.Fatalf("Presence = %+v; want a (with meta) and b (uid bob)", members)
	}
}

func TestHistoryPaging(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	ctx := testCtx(t)
	c := dial(t, url, client.Options{})
	_, err := c.Join(ctx, "hist")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 25; i++ {
		if _, err := c.Publish(ctx, "hist", i); err != nil {
			t.Fatal(err)
		}
	}
	seq := func(n uint64) *uint64 { return &n }
	tests := []struct {
		name     string
		opts     client.HistoryOptions
		from, to uint64
		more     bool
	}{
		{"newest page", client.HistoryOptions{Limit: 10}, 16, 25, true},
		{"before 16", client.HistoryOptions{Before: 16, Limit: 10}, 6, 15, true},
		{"before 6", client.HistoryOptions{Before: 6, Limit: 10}, 1, 5, false},
		{"since 0", client.HistoryOptions{Since: seq(0), Limit: 10}, 1, 10, true},
		{"since 20", client.HistoryOptions{Since: seq(20), Limit: 10}, 21, 25, false},
		{"default limit", client.HistoryOptions{}, 1, 25, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := c.History(ctx, "hist", tc.opts)
			if err != nil {
				t.Fatalf("History: %v", err)
			}
			if h.Room != "hist" || h.Epoch == "" || h.Seq != 25 || h.More != tc.more {
				t.Errorf("History = room %s epoch %q seq %d more %t; want hist, an epoch, 25 %t", h.Room, h.Epoch, h.Seq, h.More, tc.more)
			}
			for _, m := range h.Messages {
				if m.Epoch != h.Epoch {
					t.Errorf("message %d of epoch %s in a page of epoch %s", m.Seq, m.Epoch, h.Epoch)
				}
			}
			var got []uint64
			for _, m := range h.Messages {
				got = append(got, m.Seq)
				if string(m.Data) != fmt.Sprint(m.Seq) || m.Room != "hist" {
					t.Errorf("message %d: data %s room %s; want data %d", m.Seq, m.Data, m.Room, m.Seq)
				}
			}
			if len(got) != int(tc.to-tc.from+1) || got[0] != tc.from || got[len(got)-1] != tc.to {
				t.Errorf("seqs = %v; want %d..%d ascending", got, tc.from, tc.to)
			}
		})
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	c := dial(t, url, client.Options{})
	rtt, err := c.Ping(testCtx(t))
	if err != nil || rtt <= 0 || rtt > time.Second {
		t.Fatalf("Ping = %v, %v; want a small positive rtt", rtt, err)
	}
}

func TestErrorReplies(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	ctx := testCtx(t)
	c := dial(t, url, client.Options{})
	if _, err := c.Join(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
		code string // empty: a client-side error, not a *protocol.Error
	}{
		{"publish to a room not joined", func() error { _, err := c.Publish(ctx, "elsewhere", 1); return err }, protocol.CodeNotJoined},
		{"join a bad room name", func() error { _, err := c.Join(ctx, "bad room!"); return err }, protocol.CodeBadRoom},
		{"join an empty room name", func() error { _, err := c.Join(ctx, ""); return err }, protocol.CodeBadRoom},
		{"leave a room not joined", func() error { return c.Leave(ctx, "elsewhere") }, protocol.CodeNotJoined},
		{"presence of a room not joined", func() error { _, err := c.Presence(ctx, "elsewhere"); return err }, protocol.CodeNotJoined},
		{"history over the limit", func() error {
			_, err := c.History(ctx, "mine", client.HistoryOptions{Limit: protocol.MaxHistoryLimit + 1})
			return err
		}, protocol.CodeBadRequest},
		{"hello with a control character", func() error {
			_, err := c.Hello(ctx, client.HelloOptions{Name: "a\x07b"})
			return err
		}, protocol.CodeBadRequest},
		{"publish invalid raw JSON", func() error { _, err := c.Publish(ctx, "mine", json.RawMessage(`{nope`)); return err }, ""},
		{"publish an unencodable value", func() error { _, err := c.Publish(ctx, "mine", make(chan int)); return err }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil {
				t.Fatal("no error")
			}
			if got := wireCode(err); got != tc.code {
				t.Fatalf("err = %v (code %q); want code %q", err, got, tc.code)
			}
		})
	}
	// The connection is still fine after all that.
	if _, err := c.Publish(ctx, "mine", "ok"); err != nil {
		t.Fatalf("Publish after errors: %v", err)
	}
}

func TestConcurrentPublish(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	ctx := testCtx(t)
	pub := dial(t, url, client.Options{})
	sub := dial(t, url, client.Options{})
	for _, c := range []*client.Client{pub, sub} {
		if _, err := c.Join(ctx, "busy"); err != nil {
			t.Fatal(err)
		}
	}
	const workers, each = 8, 50
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range each {
				seq, err := pub.Publish(ctx, "busy", i, client.NoEcho())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[seq] {
					t.Errorf("seq %d returned twice", seq)
				}
				seen[seq] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for want := uint64(1); want <= workers*each; want++ {
		ev := expect(t, sub, "message", kind(client.KindMessage))
		if ev.Wire.Seq != want {
			t.Fatalf("got seq %d; want %d", ev.Wire.Seq, want)
		}
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	// A port that was just free: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()

	notWS := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notWS.Close)
	silent := httptest.NewServer(upgradeThen(func(*wsConn) {})) // never welcomes; reads until the client gives up
	t.Cleanup(silent.Close)
	garbage := httptest.NewServer(upgradeThen(func(ws *wsConn) { ws.text(`{"type":"msg","room":"x"}`) }))
	t.Cleanup(garbage.Close)
	future := httptest.NewServer(upgradeThen(func(ws *wsConn) { ws.text(`{"type":"welcome","client":"c","protocol":99}`) }))
	t.Cleanup(future.Close)
	full := httptest.NewServer(upgradeThen(func(ws *wsConn) { ws.close(protocol.CloseServerFull) }))
	t.Cleanup(full.Close)

	tests := []struct {
		name string
		url  string
		opts client.Options
		want []string
	}{
		{"closed port", "ws://" + closed + "/ws", client.Options{}, []string{"dial ws://" + closed + "/ws", "connection refused", "rtsync serve"}},
		{"not a websocket endpoint", notWS.URL + "/ws", client.Options{}, []string{"404", "/ws"}},
		{"no welcome", silent.URL, client.Options{HandshakeTimeout: 200 * time.Millisecond}, []string{"no welcome within 200ms"}},
		{"not a welcome", garbage.URL, client.Options{}, []string{"instead of a welcome"}},
		{"newer protocol", future.URL, client.Options{}, []string{"protocol v99"}},
		{"server full", full.URL, client.Options{}, []string{"4011", "server full"}},
		{"bad scheme", "ftp://example.com/ws", client.Options{}, []string{`scheme "ftp"`}},
		{"empty url", "", client.Options{}, []string{"empty server URL"}},
		{"meta not an object", "ws://" + closed, client.Options{Meta: "x"}, []string{"meta must encode to a JSON object"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := client.Dial(testCtx(t), tc.url, tc.opts)
			if err == nil {
				_ = c.Close()
				t.Fatal("Dial succeeded; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestCloseIsFinal(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	c := dial(t, url, client.Options{})
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	for range c.Events() { // must be closed, so this ends
	}
	if _, err := c.Publish(testCtx(t), "x", 1); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Publish after Close: %v; want ErrClosed", err)
	}
	if c.Err() != nil || c.Connected() {
		t.Fatalf("after Close: Err() = %v, Connected() = %t; want nil, false", c.Err(), c.Connected())
	}
}

func TestOnEvent(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	ctx := testCtx(t)
	got := make(chan client.Event, 16)
	c := dial(t, url, client.Options{OnEvent: func(ev client.Event) { got <- ev }})
	if c.Events() != nil {
		t.Fatal("Events() is not nil with OnEvent set")
	}
	if _, err := c.Join(ctx, "cb"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "cb", "x"); err != nil {
		t.Fatal(err)
	}
	var kinds []client.Kind
	for ev := range got {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == client.KindMessage {
			break
		}
	}
	if len(kinds) != 2 || kinds[0] != client.KindConnected {
		t.Fatalf("events = %v; want connected, message", kinds)
	}
}
