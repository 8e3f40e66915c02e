package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

func TestWelcomeHelloPing(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{Node: "n1", Version: "v9", HeartbeatInterval: 7 * time.Second})
	c := dial(t, url)
	w := c.welcome
	if w.Client == "" || w.Node != "n1" || w.Server != "v9" || w.Protocol != 1 || w.Heartbeat != 7000 {
		t.Fatalf("welcome = %+v", w)
	}
	r := mustOK(t, c.cmd(map[string]any{"op": "hello", "name": "Alice", "uid": "alice", "meta": map[string]any{"a": 1}}))
	if r.Client != w.Client || r.UID != "alice" || r.Name != "Alice" {
		t.Fatalf("hello reply = %+v", r)
	}
	if r := mustOK(t, c.cmd(map[string]any{"op": "ping"})); !r.Pong {
		t.Fatalf("ping reply = %+v", r)
	}
}

func TestPublishFanOut(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{})
	a, b := dial(t, url), dial(t, url)
	mustOK(t, a.cmd(map[string]any{"op": "hello", "name": "A", "uid": "ua"}))
	mustOK(t, a.cmd(map[string]any{"op": "join", "room": "r1"}))
	mustOK(t, b.cmd(map[string]any{"op": "join", "room": "r1"}))
	if e := a.expect(protocol.TypeJoin); e.Client != b.welcome.Client || e.Room != "r1" {
		t.Fatalf("presence join = %+v", e)
	}
	for i := 1; i <= 3; i++ {
		r := mustOK(t, a.cmd(map[string]any{"op": "pub", "room": "r1", "data": map[string]any{"n": i}}))
		if r.Seq != uint64(i) || r.Epoch == "" {
			t.Fatalf("pub reply %d = %+v", i, r)
		}
		m := b.expect(protocol.TypeMsg)
		if m.Seq != uint64(i) || m.From.Client != a.welcome.Client || m.From.UID != "ua" || m.From.Name != "A" || string(m.Data) != fmt.Sprintf(`{"n":%d}`, i) || m.TS == 0 {
			t.Fatalf("msg = %+v", m)
		}
		if echo := a.expect(protocol.TypeMsg); echo.Seq != uint64(i) {
			t.Fatalf("echo = %+v", echo)
		}
	}
	mustOK(t, a.cmd(map[string]any{"op": "pub", "room": "r1", "data": "quiet", "noecho": true}))
	b.expect(protocol.TypeMsg)
	a.quiet(100 * time.Millisecond)

	mustOK(t, b.cmd(map[string]any{"op": "leave", "room": "r1"}))
	if e := a.expect(protocol.TypeLeave); e.Client != b.welcome.Client {
		t.Fatalf("presence leave = %+v", e)
	}
	mustOK(t, a.cmd(map[string]any{"op": "pub", "room": "r1", "data": 1}))
	b.quiet(100 * time.Millisecond)
}

func TestPresenceAndLimit(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{PresenceMaxMembers: 2})
	a, b, c := dial(t, url), dial(t, url), dial(t, url)
	mustOK(t, a.cmd(map[string]any{"op": "hello", "name": "A", "uid": "ua", "meta": map[string]any{"k": "v"}}))
	mustOK(t, a.cmd(map[string]any{"op": "join", "room": "p"}))
	mustOK(t, b.cmd(map[string]any{"op": "join", "room": "p"}))
	a.expect(protocol.TypeJoin)
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "p"})) // third member: past the limit
	a.quiet(100 * time.Millisecond)
	r := mustOK(t, c.cmd(map[string]any{"op": "presence", "room": "p"}))
	if len(r.Members) != 3 {
		t.Fatalf("members = %+v", r.Members)
	}
	found := false
	for _, m := range r.Members {
		if m.Client == a.welcome.Client {
			found = m.UID == "ua" && m.Name == "A" && string(m.Meta) == `{"k":"v"}`
		}
	}
	if !found {
		t.Fatalf("member a missing or wrong in %+v", r.Members)
	}
	// Disconnecting clears presence.
	_ = c.ws.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := mustOK(t, a.cmd(map[string]any{"op": "presence", "room": "p"}))
		if len(r.Members) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence still %d members after disconnect", len(r.Members))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDirect(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{})
	a, b1, b2 := dial(t, url), dial(t, url), dial(t, url)
	mustOK(t, a.cmd(map[string]any{"op": "hello", "uid": "alice"}))
	mustOK(t, b1.cmd(map[string]any{"op": "hello", "uid": "bob"}))
	mustOK(t, b2.cmd(map[string]any{"op": "hello", "uid": "bob"}))

	r := mustOK(t, a.cmd(map[string]any{"op": "send", "to_uid": "bob", "data": "hi"}))
	if *r.Delivered != 2 {
		t.Fatalf("delivered = %d", *r.Delivered)
	}
	for _, b := range []*wsClient{b1, b2} {
		d := b.expect(protocol.TypeDirect)
		if d.From.UID != "alice" || string(d.Data) != `"hi"` {
			t.Fatalf("direct = %+v", d)
		}
	}
	mustOK(t, a.cmd(map[string]any{"op": "send", "to_client": b2.welcome.Client, "data": 2}))
	b2.expect(protocol.TypeDirect)
	b1.quiet(50 * time.Millisecond)

	// An offline uid's message is kept for it.
	r = mustOK(t, a.cmd(map[string]any{"op": "send", "to_uid": "nobody", "data": 1}))
	if *r.Delivered != 0 || !r.Stored || r.Inbox == 0 {
		t.Fatalf("send to an offline uid = %+v, want stored in its inbox", r)
	}
	mustErr(t, a.cmd(map[string]any{"op": "send", "to_client": "nope", "data": 1}), protocol.CodeNotFound)

	// A uid changed by hello moves the connection.
	mustOK(t, b1.cmd(map[string]any{"op": "hello", "uid": "carol"}))
	r = mustOK(t, a.cmd(map[string]any{"op": "send", "to_uid": "bob", "data": 3}))
	if *r.Delivered != 1 {
		t.Fatalf("after rebind delivered = %d", *r.Delivered)
	}
}

func TestHistoryPaging(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{HistorySize: 10})
	c := dial(t, url)
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "h"}))
	for i := 1; i <= 15; i++ {
		mustOK(t, c.cmd(map[string]any{"op": "pub", "room": "h", "data": i, "noecho": true}))
	}
	seqs := func(e protocol.Event) []uint64 {
		var out []uint64
		for _, m := range e.Messages {
			out = append(out, m.Seq)
		}
		return out
	}
	u := func(v uint64) *uint64 { return &v }
	tests := []struct {
		name  string
		cmd   map[string]any
		want  string
		more  bool
		check func(protocol.Event)
	}{
		{"newest", map[string]any{"limit": 3}, "[13 14 15]", true, nil},
		{"default limit keeps what is retained", map[string]any{}, "[6 7 8 9 10 11 12 13 14 15]", false, nil},
		{"since", map[string]any{"since": u(7), "limit": 3}, "[8 9 10]", true, nil},
		{"since near end", map[string]any{"since": u(13)}, "[14 15]", false, nil},
		{"since before retained", map[string]any{"since": u(1), "limit": 2}, "[6 7]", true, nil},
		{"before", map[string]any{"before": u(9), "limit": 2}, "[7 8]", true, nil},
		{"before oldest", map[string]any{"before": u(6)}, "[]", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := map[string]any{"op": "history", "room": "h"}
			for k, v := range tt.cmd {
				cmd[k] = v
			}
			r := mustOK(t, c.cmd(cmd))
			if got := fmt.Sprint(seqs(r)); got != tt.want || r.More != tt.more || r.Seq != 15 || r.Epoch == "" {
				t.Fatalf("got %s more=%v seq=%d, want %s more=%v", got, r.More, r.Seq, tt.want, tt.more)
			}
		})
	}
}

// TestJoinRecovery checks join with since replays exactly the missed
// messages before any live one, while another client keeps publishing.
func TestJoinRecovery(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{HistorySize: 100000, PublishRate: 1e6, PublishBurst: 1e6})
	pub := dial(t, url)
	mustOK(t, pub.cmd(map[string]any{"op": "join", "room": "rec"}))
	sub := dial(t, url)
	mustOK(t, sub.cmd(map[string]any{"op": "join", "room": "rec"}))
	// The room has no epoch before its first message; the messages
	// carry it.
	var epoch string

	// Publish a first batch, the subscriber reads part of it and leaves.
	for i := 0; i < 50; i++ {
		pub.sendRaw(`{"op":"pub","room":"rec","data":1,"noecho":true}`)
	}
	var last uint64
	for last < 20 {
		if e := sub.read(5 * time.Second); e.Type == protocol.TypeMsg {
			last, epoch = e.Seq, e.Epoch
		}
	}
	_ = sub.ws.Close()

	// Keep publishing while a new connection recovers.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if pub.ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"pub","room":"rec","data":2,"noecho":true}`)) != nil {
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	sub2 := dial(t, url)
	r := mustOK(t, sub2.cmd(map[string]any{"op": "join", "room": "rec", "since": last, "epoch": epoch}))
	if r.Recovered == nil || !*r.Recovered || r.Replayed == nil || *r.Replayed == 0 {
		t.Fatalf("join reply = %+v", r)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	<-done
	final := mustOK(t, pub.cmd(map[string]any{"op": "pub", "room": "rec", "data": 3, "noecho": true})).Seq
	next := last + 1
	for next <= final {
		e := sub2.read(5 * time.Second)
		if e.Type != protocol.TypeMsg {
			continue
		}
		if e.Seq != next {
			t.Fatalf("got seq %d, want %d (replayed %d, recovered from %d)", e.Seq, next, *r.Replayed, last)
		}
		next++
	}

	// A stale epoch is reported, not papered over.
	sub3 := dial(t, url)
	r = mustOK(t, sub3.cmd(map[string]any{"op": "join", "room": "rec", "since": 1, "epoch": "other"}))
	if r.Recovered == nil || *r.Recovered || *r.Replayed != 0 || r.Epoch != epoch {
		t.Fatalf("stale epoch reply = %+v", r)
	}
}

func TestRecoveryIncompleteWhenHistoryShort(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{HistorySize: 5})
	c := dial(t, url)
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "short"}))
	for range 12 {
		mustOK(t, c.cmd(map[string]any{"op": "pub", "room": "short", "data": 0, "noecho": true}))
	}
	d := dial(t, url)
	r := mustOK(t, d.cmd(map[string]any{"op": "join", "room": "short", "since": 2}))
	if *r.Recovered || *r.Replayed != 5 {
		t.Fatalf("reply = %+v", r)
	}
	for want := uint64(8); want <= 12; want++ {
		if m := d.expect(protocol.TypeMsg); m.Seq != want {
			t.Fatalf("replayed seq %d, want %d", m.Seq, want)
		}
	}
	r = mustOK(t, d.cmd(map[string]any{"op": "join", "room": "short", "since": 12}))
	if !*r.Recovered || *r.Replayed != 0 {
		t.Fatalf("up-to-date join = %+v", r)
	}
}

// TestBadInput sends every kind of bad input and checks each gets its
// documented answer while the connection, and a bystander, keep working.
func TestBadInput(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{MaxMessageSize: 1024, MaxRoomsPerConn: 2})
	bystander := dial(t, url)
	mustOK(t, bystander.cmd(map[string]any{"op": "join", "room": "calm"}))

	tests := []struct {
		name  string
		frame string
		// binary sends the frame as a binary message
		binary bool
		event  string // "error" event, or "reply"
		code   string
	}{
		{"malformed json", `{"op":"pub",`, false, protocol.TypeError, protocol.CodeBadJSON},
		{"not an object", `["op","ping"]`, false, protocol.TypeError, protocol.CodeBadJSON},
		{"plain text", `hello there`, false, protocol.TypeError, protocol.CodeBadJSON},
		{"unknown op", `{"op":"dance","id":1}`, false, protocol.TypeReply, protocol.CodeUnknownOp},
		{"missing op", `{"id":2}`, false, protocol.TypeReply, protocol.CodeBadRequest},
		{"wrong-typed field", `{"op":"join","room":5,"id":3}`, false, protocol.TypeReply, protocol.CodeBadRequest},
		{"wrong-typed since", `{"op":"join","room":"a","since":"x","id":4}`, false, protocol.TypeReply, protocol.CodeBadRequest},
		{"bad room", `{"op":"join","room":"has space","id":5}`, false, protocol.TypeReply, protocol.CodeBadRoom},
		{"empty room", `{"op":"join","room":"","id":6}`, false, protocol.TypeReply, protocol.CodeBadRoom},
		{"pub without data", `{"op":"pub","room":"calm","id":7}`, false, protocol.TypeReply, protocol.CodeBadRequest},
		{"pub not joined", `{"op":"pub","room":"calm","data":1,"id":8}`, false, protocol.TypeReply, protocol.CodeNotJoined},
		{"leave not joined", `{"op":"leave","room":"calm","id":9}`, false, protocol.TypeReply, protocol.CodeNotJoined},
		{"history not joined", `{"op":"history","room":"calm","id":10}`, false, protocol.TypeReply, protocol.CodeNotJoined},
		{"send without target", `{"op":"send","data":1,"id":11}`, false, protocol.TypeReply, protocol.CodeBadRequest},
		{"bad id", `{"op":"ping","id":{"a":1}}`, false, protocol.TypeReply, protocol.CodeBadRequest},
		{"binary frame", `{"op":"ping"}`, true, protocol.TypeError, protocol.CodeBadFrame},
		{"oversized frame", `{"op":"pub","room":"calm","data":"` + strings.Repeat("x", 2000) + `"}`, false, protocol.TypeError, protocol.CodeTooLarge},
		{"name too long", `{"op":"hello","name":"` + strings.Repeat("n", 65) + `","id":12}`, false, protocol.TypeReply, protocol.CodeBadRequest},
	}
	c := dial(t, url)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := websocket.TextMessage
			if tt.binary {
				typ = websocket.BinaryMessage
			}
			if err := c.ws.WriteMessage(typ, []byte(tt.frame)); err != nil {
				t.Fatal(err)
			}
			e := c.read(5 * time.Second)
			if e.Type != tt.event {
				t.Fatalf("got %+v, want a %s event", e, tt.event)
			}
			code := e.Code
			if e.Type == protocol.TypeReply {
				if e.OK || e.Error == nil {
					t.Fatalf("reply ok: %+v", e)
				}
				code = e.Error.Code
			}
			if code != tt.code {
				t.Fatalf("code %s, want %s (%+v)", code, tt.code, e)
			}
			// The connection still works after each.
			mustOK(t, c.cmd(map[string]any{"op": "ping"}))
		})
	}
	// Wrong-typed fields still get their id echoed.
	c.sendRaw(`{"op":"join","room":5,"id":"abc"}`)
	if e := c.expect(protocol.TypeReply); string(e.ID) != `"abc"` {
		t.Fatalf("id not echoed: %+v", e)
	}
	// Room limit.
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "a"}))
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "a"})) // again: idempotent
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "b"}))
	mustErr(t, c.cmd(map[string]any{"op": "join", "room": "c"}), protocol.CodeTooManyRooms)
	// Several commands in one frame, answered in order.
	c.sendRaw("{\"op\":\"ping\",\"id\":\"x1\"}\n\n{\"op\":\"ping\",\"id\":\"x2\"}\r\n")
	if e := c.expect(protocol.TypeReply); string(e.ID) != `"x1"` {
		t.Fatalf("first batched reply %+v", e)
	}
	if e := c.expect(protocol.TypeReply); string(e.ID) != `"x2"` {
		t.Fatalf("second batched reply %+v", e)
	}
	// The bystander saw none of it and still works.
	bystander.quiet(50 * time.Millisecond)
	mustOK(t, bystander.cmd(map[string]any{"op": "ping"}))
}

func TestHardLimitCloses(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{MaxMessageSize: 256})
	c := dial(t, url)
	c.sendRaw(strings.Repeat("x", 256*hardLimitFactor+1))
	if code := c.closeCode(5 * time.Second); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want %d", code, websocket.CloseMessageTooBig)
	}
}

func TestFloodRateLimited(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{PublishRate: 10, PublishBurst: 5})
	c := dial(t, url)
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "f"}))
	other := dial(t, url)
	mustOK(t, other.cmd(map[string]any{"op": "join", "room": "f"}))
	c.expect(protocol.TypeJoin)

	var frame strings.Builder
	for i := range 40 {
		fmt.Fprintf(&frame, `{"op":"pub","room":"f","data":%d,"noecho":true,"id":%d}`+"\n", i, i)
	}
	c.sendRaw(frame.String())
	ok, limited := 0, 0
	for ok+limited < 40 {
		e, err := c.tryRead(5 * time.Second)
		if err != nil {
			break
		}
		if e.Type != protocol.TypeReply {
			continue
		}
		if e.OK {
			ok++
		} else if e.Error.Code == protocol.CodeRateLimited {
			limited++
		}
	}
	// The burst passes; past it each pub is refused until, refused more
	// than burst times, the flooder is cut off.
	if ok < 5 || ok > 6 || limited != 6 {
		t.Fatalf("ok=%d limited=%d, want 5 accepted and 6 refused", ok, limited)
	}
	// Exactly the accepted ones were delivered.
	got := 0
	for {
		e, err := other.tryRead(200 * time.Millisecond)
		if err != nil {
			break
		}
		if e.Type == protocol.TypeMsg {
			got++
		}
	}
	if got != ok {
		t.Fatalf("delivered %d, accepted %d", got, ok)
	}
	// Refused more than burst times: the flooder is closed with 4009.
	if code := c.closeCode(5 * time.Second); code != protocol.CloseRateLimited {
		t.Fatalf("close code %d, want %d", code, protocol.CloseRateLimited)
	}
	mustOK(t, other.cmd(map[string]any{"op": "ping"}))
}

func TestServerFull(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{MaxConnections: 1})
	dial(t, url)
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_, _, err = ws.ReadMessage()
	if !websocket.IsCloseError(err, protocol.CloseServerFull) {
		t.Fatalf("got %v, want close %d", err, protocol.CloseServerFull)
	}
}

func TestHeartbeatClosesSilentClient(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{HeartbeatInterval: 100 * time.Millisecond})
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"join","room":"hb"}`)); err != nil {
		t.Fatal(err)
	}
	// Not reading means gorilla never answers the server's pings.
	time.Sleep(600 * time.Millisecond)
	for {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err = ws.ReadMessage(); err != nil {
			break
		}
	}
	if !websocket.IsCloseError(err, protocol.CloseNoHeartbeat) {
		t.Fatalf("got %v, want close %d", err, protocol.CloseNoHeartbeat)
	}
	waitEmpty(t, s)
	if r := s.hub.room("hb", false); r != nil && r.size() != 0 {
		t.Fatalf("silent client still in room")
	}
}

func TestHeartbeatKeepsLiveClient(t *testing.T) {
	t.Parallel()
	// 200 ms: a loaded test machine can stall a goroutine for the 100 ms
	// a 50 ms interval allows.
	_, url := startServer(t, Config{HeartbeatInterval: 200 * time.Millisecond})
	c := dial(t, url)
	// Reading lets gorilla answer pings; the client stays.
	if e, err := c.tryRead(1500 * time.Millisecond); err != errTimeout {
		t.Fatalf("got %+v %v, want a read timeout with the connection open", e, err)
	}
}

// waitEmpty waits until s has no connection left, on the hub's signal.
func waitEmpty(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !s.hub.waitEmpty(ctx) {
		t.Fatalf("%d connections still open after 5s", s.hub.count.Load())
	}
}

// waitFor polls cond: for figures that no signal announces (the stats
// sampler's, the writers' counters).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative conns", Config{MaxConnections: -1}, "max connections"},
		{"tiny message", Config{MaxMessageSize: 10}, "at least 256"},
		{"queue below message", Config{MaxMessageSize: 4096, SendQueueBytes: 1000}, "send queue"},
		{"negative rate", Config{PublishRate: -1}, "publish rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestStatsCount(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{})
	a, b := dial(t, url), dial(t, url)
	mustOK(t, a.cmd(map[string]any{"op": "join", "room": "s"}))
	mustOK(t, b.cmd(map[string]any{"op": "join", "room": "s"}))
	mustOK(t, a.cmd(map[string]any{"op": "pub", "room": "s", "data": 1}))
	b.expect(protocol.TypeMsg)
	st := s.Stats()
	if st.Connections != 2 || st.Rooms != 1 || st.Published != 1 || st.Deliveries != 2 {
		b, _ := json.Marshal(st)
		t.Fatalf("stats = %s", b)
	}
}

// TestSlowConsumer fills a never-reading client's queue over a real socket:
// it is closed with 4008 and the room keeps flowing for everyone else.
func TestSlowConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: fills a 1 MiB send queue; runs without -short")
	}
	t.Parallel()
	const queue = 1 << 20
	s, url := startServer(t, Config{SendQueueBytes: queue, PublishRate: 1e6, PublishBurst: 1e6, HistorySize: 10, WriteTimeout: 5 * time.Minute, WriteCoalesce: -1})
	slow, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.WriteMessage(websocket.TextMessage, []byte(`{"op":"join","room":"big"}`)); err != nil {
		t.Fatal(err)
	}
	pub := dial(t, url)
	mustOK(t, pub.cmd(map[string]any{"op": "join", "room": "big"}))
	fast := dial(t, url)
	mustOK(t, fast.cmd(map[string]any{"op": "join", "room": "big"}))

	// Far more than the socket buffers and the queue can hold.
	// Publishes wait for their reply, so a reading client keeps up.
	payload := strings.Repeat("x", 16<<10)
	const n = 1200
	got := 0
	for range n {
		mustOK(t, pub.cmd(map[string]any{"op": "pub", "room": "big", "noecho": true, "data": payload}))
		for {
			if e := fast.read(10 * time.Second); e.Type == protocol.TypeMsg {
				got++
				break
			}
		}
	}
	waitFor(t, func() bool { return s.Stats().SlowConsumers >= 1 })
	// Reading now drains what was in flight, then the close frame says why.
	var code int
	for {
		_ = slow.SetReadDeadline(time.Now().Add(15 * time.Second))
		if _, _, err = slow.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				code = ce.Code
			}
			break
		}
	}
	if code != protocol.CloseSlowConsumer {
		t.Fatalf("slow client ended with %v, want close %d", err, protocol.CloseSlowConsumer)
	}
	waitFor(t, func() bool { return s.Stats().Connections == 2 })
}

// TestShutdown checks Run's graceful shutdown: clients get 4012 after what
// was queued for them, and readiness turns off.
func TestShutdown(t *testing.T) {
	t.Parallel()
	s, err := New(Config{})
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
	url := "ws://" + ln.Addr().String() + "/ws"
	a, b := dial(t, url), dial(t, url)
	mustOK(t, a.cmd(map[string]any{"op": "join", "room": "x"}))
	mustOK(t, b.cmd(map[string]any{"op": "join", "room": "x"}))
	a.expect(protocol.TypeJoin)
	mustOK(t, b.cmd(map[string]any{"op": "pub", "room": "x", "data": "last words", "noecho": true}))
	cancel()
	if m := a.expect(protocol.TypeMsg); string(m.Data) != `"last words"` {
		t.Fatalf("msg = %+v", m)
	}
	for _, c := range []*wsClient{a, b} {
		if code := c.closeCode(5 * time.Second); code != protocol.CloseGoingAway {
			t.Fatalf("close code %d, want %d", code, protocol.CloseGoingAway)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

// TestCoalescing checks the write coalescing window with an absurd window
// so that nothing depends on timing: a message following a write waits,
// but a reply goes out at once and takes the waiting message with it,
// in order.
func TestCoalescing(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{WriteCoalesce: time.Hour})
	sub := dial(t, url)
	mustOK(t, sub.cmd(map[string]any{"op": "join", "room": "co"}))
	pub := dial(t, url)
	mustOK(t, pub.cmd(map[string]any{"op": "join", "room": "co"}))

	mustOK(t, pub.cmd(map[string]any{"op": "pub", "room": "co", "data": 1, "noecho": true}))
	// sub was written to (its join reply) moments ago, so this waits.
	sub.quiet(200 * time.Millisecond)
	// A reply flushes the queue: presence event, then the message, then the reply.
	sub.nextID++
	sub.sendRaw(`{"op":"ping","id":` + itoa(sub.nextID) + `}`)
	if e := sub.expect(protocol.TypeJoin); e.Client != pub.welcome.Client {
		t.Fatalf("presence = %+v", e)
	}
	if m := sub.expect(protocol.TypeMsg); m.Seq != 1 {
		t.Fatalf("msg = %+v", m)
	}
	if r := sub.expect(protocol.TypeReply); !r.Pong {
		t.Fatalf("reply = %+v", r)
	}
}

// TestRecoveryReplayBudget: a replay larger than the send queue (20 KB
// through 8 KB) streams from the store as the queue drains: the whole gap
// arrives, in order, and the client stays connected.
func TestRecoveryReplayBudget(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{MaxMessageSize: 1024, SendQueueBytes: 8 << 10, PublishRate: 1e6, PublishBurst: 1e6})
	pub := dial(t, url)
	mustOK(t, pub.cmd(map[string]any{"op": "join", "room": "big"}))
	for range 200 {
		mustOK(t, pub.cmd(map[string]any{"op": "pub", "room": "big", "data": strings.Repeat("y", 100), "noecho": true}))
	}
	sub := dial(t, url)
	r := mustOK(t, sub.cmd(map[string]any{"op": "join", "room": "big", "since": 0}))
	if !*r.Recovered || *r.Replayed != 200 || r.Truncated {
		t.Fatalf("reply = %+v, want a complete recovery of 200", r)
	}
	for want := uint64(1); want <= 200; want++ {
		if m := sub.expect(protocol.TypeMsg); m.Seq != want {
			t.Fatalf("replayed seq %d, want %d", m.Seq, want)
		}
	}
	mustOK(t, sub.cmd(map[string]any{"op": "ping"})) // still connected
	if n := s.Stats().SlowConsumers; n != 0 {
		t.Fatalf("%d slow consumers", n)
	}
}

// TestRecoveryOfForgottenEmptyRoom: a room with nothing ever published has
// no epoch yet; coming back to it with since 0, after it was dropped or
// while others published, counts as a complete recovery.
func TestRecoveryOfForgottenEmptyRoom(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{})
	c := dial(t, url)
	epoch := mustOK(t, c.cmd(map[string]any{"op": "join", "room": "empty"})).Epoch
	if epoch != "" {
		t.Fatalf("join of a room never published to gave epoch %q, want none yet", epoch)
	}
	mustOK(t, c.cmd(map[string]any{"op": "leave", "room": "empty"}))
	r := mustOK(t, c.cmd(map[string]any{"op": "join", "room": "empty", "since": 0, "epoch": epoch}))
	if !*r.Recovered || *r.Replayed != 0 {
		t.Fatalf("reply = %+v, want recovered with nothing replayed", r)
	}
	mustOK(t, c.cmd(map[string]any{"op": "leave", "room": "empty"}))
	if _, _, err := s.Publish("empty", json.RawMessage(`1`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	r = mustOK(t, c.cmd(map[string]any{"op": "join", "room": "empty", "since": 0}))
	if !*r.Recovered || *r.Replayed != 1 || r.Epoch == "" {
		t.Fatalf("reply = %+v, want the one message replayed, with its epoch", r)
	}
	if m := c.expect(protocol.TypeMsg); m.Seq != 1 || m.Epoch != r.Epoch {
		t.Fatalf("replayed %+v", m)
	}
}
