package fakeserver

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

// readTimeout bounds every read in these tests, so a missing message fails
// the test instead of hanging it.
const readTimeout = 5 * time.Second

// client is a test WebSocket client that splits batched frames.
type client struct {
	t       testing.TB
	ws      *websocket.Conn
	pending [][]byte
}

func dial(t testing.TB, url string) *client {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	return &client{t: t, ws: ws}
}

// dialWelcomed dials and reads the welcome, so the server has numbered this
// connection before the next dial: the server numbers a connection after
// its upgrade returns, which a client can see before that happens.
func dialWelcomed(t testing.TB, url string) (*client, string) {
	t.Helper()
	c := dial(t, url)
	ev := c.next()
	if ev.Type != protocol.TypeWelcome {
		t.Fatalf("first event %+v, want a welcome", ev)
	}
	return c, ev.Client
}

func (c *client) write(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// nextRaw returns the next object (rtsync) or frame (raw) as bytes.
func (c *client) nextRaw(split bool) ([]byte, error) {
	for len(c.pending) == 0 {
		_ = c.ws.SetReadDeadline(time.Now().Add(readTimeout))
		_, frame, err := c.ws.ReadMessage()
		if err != nil {
			return nil, err
		}
		if !split {
			return frame, nil
		}
		_ = protocol.Split(frame, func(obj []byte) error {
			c.pending = append(c.pending, bytes.Clone(obj))
			return nil
		})
	}
	obj := c.pending[0]
	c.pending = c.pending[1:]
	return obj, nil
}

func (c *client) next() protocol.Event {
	c.t.Helper()
	obj, err := c.nextRaw(true)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	ev, err := protocol.DecodeEvent(obj)
	if err != nil {
		c.t.Fatalf("%v in %s", err, obj)
	}
	return ev
}

// reply reads up to the reply with id (as written in JSON), skipping
// whatever comes before it.
func (c *client) reply(id string) protocol.Event {
	c.t.Helper()
	for {
		ev := c.next()
		if ev.Type == protocol.TypeReply && string(ev.ID) == id {
			return ev
		}
	}
}

// seqs reads n msg events and returns their seqs in arrival order.
func (c *client) seqs(n int) []uint64 {
	c.t.Helper()
	var got []uint64
	for len(got) < n {
		if ev := c.next(); ev.Type == protocol.TypeMsg {
			got = append(got, ev.Seq)
		}
	}
	return got
}

func waitStats(t *testing.T, s *Server, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(readTimeout)
	for {
		st := s.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never matched: %+v", st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRawBroadcastReachesEveryone(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Protocol: ProtocolRaw})
	const n = 4
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = dial(t, s.URL())
	}
	if err := s.WaitReceivers(n, readTimeout); err != nil {
		t.Fatal(err)
	}
	cs[0].write(`anything, not even JSON`)
	for i, c := range cs {
		got, err := c.nextRaw(false)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if string(got) != "anything, not even JSON" {
			t.Errorf("client %d got %q", i, got)
		}
	}
	waitStats(t, s, func(st Stats) bool { return st.Deliveries == n })
	if st := s.Stats(); st.Published != 1 || st.ConnsAccepted != n {
		t.Errorf("stats %+v", st)
	}
}

func TestRawFaultsCountFrames(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Protocol: ProtocolRaw, Faults: Faults{DropEvery: 2}})
	a, b := dial(t, s.URL()), dial(t, s.URL())
	if err := s.WaitReceivers(2, readTimeout); err != nil {
		t.Fatal(err)
	}
	// Frames are numbered across all senders: 1 (a), 2 (b, dropped), 3 (a).
	a.write("one")
	waitStats(t, s, func(st Stats) bool { return st.Published == 1 })
	b.write("two")
	waitStats(t, s, func(st Stats) bool { return st.Published == 2 })
	a.write("three")
	for _, c := range []*client{a, b} {
		for _, want := range []string{"one", "three"} {
			got, err := c.nextRaw(false)
			if err != nil || string(got) != want {
				t.Fatalf("got %q, %v; want %q", got, err, want)
			}
		}
	}
	if st := s.Stats(); st.Dropped != 1 || st.DroppedDeliveries != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestRTSyncSession(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	a := dial(t, s.URL())

	// The welcome, byte for byte.
	obj, err := a.nextRaw(true)
	if err != nil {
		t.Fatal(err)
	}
	const welcome = `{"type":"welcome","client":"c1","node":"fake","server":"fakeserver","protocol":1,"heartbeat":25000}`
	if string(obj) != welcome {
		t.Fatalf("welcome\n got %s\nwant %s", obj, welcome)
	}

	a.write(`{"op":"hello","id":1,"uid":"ada","name":"Ada"}`)
	if r := a.reply("1"); !r.OK || r.Client != "c1" || r.UID != "ada" || r.Name != "Ada" {
		t.Errorf("hello reply %+v", r)
	}
	a.write(`{"op":"pub","id":2,"room":"lobby","data":1}`)
	if r := a.reply("2"); r.OK || r.Error.Code != protocol.CodeNotJoined {
		t.Errorf("pub before join: %+v", r)
	}
	a.write(`{"op":"join","id":3,"room":"lobby"}`)
	if r := a.reply("3"); !r.OK || r.Room != "lobby" || r.Seq != 0 || r.Epoch != "e1" {
		t.Errorf("join reply %+v", r)
	}

	// Echo: the publisher gets its own msg, and the reply.
	a.write(`{"op":"pub","id":"p1","room":"lobby","data":{"text":"hi"}}`)
	var msg, rep protocol.Event
	for msg.Type == "" || rep.Type == "" {
		switch ev := a.next(); ev.Type {
		case protocol.TypeMsg:
			msg = ev
		case protocol.TypeReply:
			rep = ev
		}
	}
	if !rep.OK || string(rep.ID) != `"p1"` || rep.Room != "lobby" || rep.Seq != 1 || rep.Epoch != "e1" {
		t.Errorf("pub reply %+v", rep)
	}
	if msg.Room != "lobby" || msg.Seq != 1 || msg.Epoch != "e1" || msg.TS == 0 ||
		*msg.From != (protocol.From{Client: "c1", UID: "ada", Name: "Ada"}) || string(msg.Data) != `{"text":"hi"}` {
		t.Errorf("msg %+v", msg)
	}

	b := dial(t, s.URL())
	if ev := b.next(); ev.Type != protocol.TypeWelcome || ev.Client != "c2" {
		t.Fatalf("b welcome %+v", ev)
	}
	// Several commands in one frame are handled in order.
	b.write("{\"op\":\"hello\",\"id\":1,\"uid\":\"bob\"}\n{\"op\":\"join\",\"id\":2,\"room\":\"lobby\"}")
	b.reply("1")
	if r := b.reply("2"); r.Seq != 1 {
		t.Errorf("join reply seq %d, want 1", r.Seq)
	}

	// noecho: b gets seq 2, a only its reply.
	a.write(`{"op":"pub","id":4,"room":"lobby","data":"x","noecho":true}`)
	a.write(`{"op":"ping","id":5}`)
	for {
		ev := a.next()
		if ev.Type == protocol.TypeMsg {
			t.Fatalf("noecho publisher got its msg %+v", ev)
		}
		if ev.Type == protocol.TypeReply && string(ev.ID) == "5" {
			if !ev.Pong {
				t.Errorf("ping reply %+v", ev)
			}
			break
		}
	}
	if got := b.seqs(1); got[0] != 2 {
		t.Errorf("b got seq %v, want 2", got)
	}

	// Direct messages.
	a.write(`{"op":"send","id":6,"to_uid":"bob","data":"psst"}`)
	if r := a.reply("6"); !r.OK || r.Delivered == nil || *r.Delivered != 1 {
		t.Errorf("send reply %+v", r)
	}
	if ev := b.next(); ev.Type != protocol.TypeDirect || ev.From.UID != "ada" || string(ev.Data) != `"psst"` || ev.TS == 0 {
		t.Errorf("direct %+v", ev)
	}
	a.write(`{"op":"send","id":7,"to_client":"c2","data":2}`)
	if r := a.reply("7"); !r.OK || *r.Delivered != 1 {
		t.Errorf("send to_client reply %+v", r)
	}
	if ev := b.next(); ev.Type != protocol.TypeDirect || string(ev.Data) != "2" {
		t.Errorf("direct %+v", ev)
	}

	// Failures.
	for _, tc := range []struct {
		name, cmd, code string
	}{
		{"offline uid", `{"op":"send","id":8,"to_uid":"carol","data":1}`, protocol.CodeOffline},
		{"unknown client", `{"op":"send","id":8,"to_client":"c99","data":1}`, protocol.CodeNotFound},
		{"unknown op", `{"op":"dance","id":8}`, protocol.CodeUnknownOp},
		{"unimplemented op", `{"op":"presence","id":8,"room":"lobby"}`, protocol.CodeUnknownOp},
		{"bad room", `{"op":"join","id":8,"room":"bad room"}`, protocol.CodeBadRoom},
		{"leave unjoined", `{"op":"leave","id":8,"room":"kitchen"}`, protocol.CodeNotJoined},
	} {
		a.write(tc.cmd)
		if r := a.reply("8"); r.OK || r.Error == nil || r.Error.Code != tc.code {
			t.Errorf("%s: reply %+v, want code %s", tc.name, r, tc.code)
		}
	}
	a.write(`{"op":`)
	if ev := a.next(); ev.Type != protocol.TypeError || ev.Code != protocol.CodeBadJSON {
		t.Errorf("bad json: %+v", ev)
	}

	// After leave, pub is refused again.
	a.write(`{"op":"leave","id":9,"room":"lobby"}`)
	if r := a.reply("9"); !r.OK || r.Room != "lobby" {
		t.Errorf("leave reply %+v", r)
	}
	a.write(`{"op":"pub","id":10,"room":"lobby","data":1}`)
	if r := a.reply("10"); r.OK || r.Error.Code != protocol.CodeNotJoined {
		t.Errorf("pub after leave: %+v", r)
	}

	st := waitStats(t, s, func(st Stats) bool { return st.Deliveries == 4 })
	if st.Published != 2 || st.Directs != 2 || st.ConnsAccepted != 2 {
		t.Errorf("stats %+v", st)
	}
}

// pubs is n pub commands for room in one frame, numbered from id 1.
func pubs(room string, n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"op":"pub","id":%d,"room":%q,"data":%d,"noecho":true}`+"\n", i, room, i)
	}
	return b.String()
}

func join(t *testing.T, c *client, room string) {
	t.Helper()
	c.write(`{"op":"join","id":"j","room":"` + room + `"}`)
	if r := c.reply(`"j"`); !r.OK {
		t.Fatalf("join: %+v", r)
	}
}

func seqRange(from, to uint64, skip ...uint64) []uint64 {
	var s []uint64
	for k := from; k <= to; k++ {
		if !slices.Contains(skip, k) {
			s = append(s, k)
		}
	}
	return s
}

func TestRTSyncFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults Faults
		want   []uint64
		stats  func(Stats) bool
	}{
		{
			name:   "drop every 10th",
			faults: Faults{DropEvery: 10},
			want:   seqRange(1, 30, 10, 20, 30),
			stats: func(s Stats) bool {
				return s.Dropped == 3 && s.DroppedDeliveries == 3 && s.Published == 30 && s.Deliveries == 27
			},
		},
		{
			name:   "duplicate every 10th",
			faults: Faults{DuplicateEvery: 10},
			want: slices.Concat(seqRange(1, 10), []uint64{10}, seqRange(11, 20), []uint64{20},
				seqRange(21, 30), []uint64{30}),
			stats: func(s Stats) bool {
				return s.Duplicated == 3 && s.DuplicateDeliveries == 3 && s.Deliveries == 33
			},
		},
		{
			name:   "reorder every 10th",
			faults: Faults{ReorderEvery: 10, ReorderHold: 50 * time.Millisecond},
			// 30 has no successor: it comes alone after ReorderHold.
			want: slices.Concat(seqRange(1, 9), []uint64{11, 10}, seqRange(12, 19), []uint64{21, 20},
				seqRange(22, 30)),
			stats: func(s Stats) bool {
				return s.Reordered == 2 && s.ReleasedByTimeout == 1 && s.Deliveries == 30
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, Options{Faults: tc.faults})
			pub, sub := dial(t, s.URL()), dial(t, s.URL())
			join(t, pub, "r")
			join(t, sub, "r")
			pub.write(pubs("r", 30))
			if r := pub.reply("30"); !r.OK || r.Seq != 30 {
				t.Fatalf("last pub reply %+v", r)
			}
			if got := sub.seqs(len(tc.want)); !slices.Equal(got, tc.want) {
				t.Errorf("seqs\n got %v\nwant %v", got, tc.want)
			}
			waitStats(t, s, tc.stats)
		})
	}
}

func TestDelayHitsOnlyTheChosenConnection(t *testing.T) {
	t.Parallel()
	const delay = 400 * time.Millisecond
	s := Start(t, Options{Faults: Faults{DelayConn: 1, Delay: delay}})
	pub, _ := dialWelcomed(t, s.URL())
	slow, slowID := dialWelcomed(t, s.URL())
	fast, _ := dialWelcomed(t, s.URL())
	// Receivers are numbered by first join: pub 0, slow 1, fast 2.
	join(t, pub, "r")
	join(t, slow, "r")
	join(t, fast, "r")
	if id, ok := s.DelayedClient(); !ok || id != slowID {
		t.Fatalf("DelayedClient = %q, %v; want %s", id, ok, slowID)
	}

	type arrival struct {
		seqs []uint64
		took time.Duration
	}
	read := func(c *client, out chan<- arrival, start time.Time) {
		var a arrival
		for len(a.seqs) < 5 {
			obj, err := c.nextRaw(true)
			if err != nil {
				break
			}
			if ev, err := protocol.DecodeEvent(obj); err == nil && ev.Type == protocol.TypeMsg {
				a.seqs = append(a.seqs, ev.Seq)
				if len(a.seqs) == 1 {
					a.took = time.Since(start)
				}
			}
		}
		out <- a
	}
	slowC, fastC := make(chan arrival, 1), make(chan arrival, 1)
	start := time.Now()
	go read(slow, slowC, start)
	go read(fast, fastC, start)
	pub.write(pubs("r", 5))
	sa, fa := <-slowC, <-fastC

	want := seqRange(1, 5)
	if !slices.Equal(sa.seqs, want) || !slices.Equal(fa.seqs, want) {
		t.Fatalf("seqs slow %v fast %v, want %v", sa.seqs, fa.seqs, want)
	}
	if sa.took < delay {
		t.Errorf("delayed connection got its first msg after %v, want ≥ %v", sa.took, delay)
	}
	// Generous: the other connection must merely not carry the delay.
	if fa.took >= delay {
		t.Errorf("undelayed connection got its first msg after %v, want < %v", fa.took, delay)
	}
	if st := s.Stats(); st.Delayed != 5 {
		t.Errorf("Delayed = %d, want 5", st.Delayed)
	}
}

func TestRejectAfterGives503(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Faults: Faults{RejectAfter: 2}})
	dial(t, s.URL())
	dial(t, s.URL())
	ws, resp, err := websocket.DefaultDialer.Dial(s.URL(), nil)
	if err == nil {
		_ = ws.Close()
		t.Fatal("third connection was accepted")
	}
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("err %v, resp %v; want a 503 handshake failure", err, resp)
	}
	_ = resp.Body.Close()
	waitStats(t, s, func(st Stats) bool { return st.ConnsAccepted == 2 && st.ConnsRefused == 1 })
}

func closeCode(t *testing.T, c *client) int {
	t.Helper()
	for {
		_, err := c.nextRaw(true)
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read ended with %v, want a close frame", err)
		}
		return ce.Code
	}
}

func TestCloseAfterWelcome(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Faults: Faults{CloseAfterWelcomeEvery: 2}})
	a, _ := dialWelcomed(t, s.URL())
	b, id := dialWelcomed(t, s.URL())
	if id != "c2" {
		t.Fatalf("b is %q, want c2", id)
	}
	if code := closeCode(t, b); code != 4008 {
		t.Errorf("close code %d, want 4008", code)
	}
	a.write(`{"op":"ping","id":1}`)
	a.reply("1")
	if st := s.Stats(); st.ConnsClosedAfterWelcome != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSlowConsumerIsClosed(t *testing.T) {
	t.Parallel()
	// Deliveries to the delayed connection wait in its queue, which makes
	// the overflow deterministic.
	s := Start(t, Options{QueueLimit: 5, Faults: Faults{DelayConn: 0, Delay: time.Hour}})
	slow, pub := dial(t, s.URL()), dial(t, s.URL())
	join(t, slow, "r")
	join(t, pub, "r")
	// One at a time: the limit counts replies too.
	for i := 1; i <= 10; i++ {
		pub.write(fmt.Sprintf(`{"op":"pub","id":%d,"room":"r","data":1,"noecho":true}`, i))
		pub.reply(fmt.Sprint(i))
	}
	if code := closeCode(t, slow); code != 4008 {
		t.Errorf("close code %d, want 4008", code)
	}
	if st := s.Stats(); st.SlowConsumers != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Protocol: "mqtt"},
		{QueueLimit: -1},
		{Faults: Faults{Delay: -time.Second}},
		{Faults: Faults{DropEvery: -1}},
	} {
		if s, err := New(o); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// TestCloseLeavesNothingRunning is not parallel: it counts goroutines.
func TestCloseLeavesNothingRunning(t *testing.T) {
	base := runtime.NumGoroutine()
	s, err := New(Options{Faults: Faults{DelayConn: 1, Delay: time.Hour, ReorderEvery: 2}})
	if err != nil {
		t.Fatal(err)
	}
	pub, slow := dial(t, s.URL()), dial(t, s.URL())
	join(t, pub, "r")
	join(t, slow, "r")
	// Leaves a delayed delivery in slow's queue and seq 2 held back.
	pub.write(pubs("r", 2))
	pub.reply("2")
	_ = s.Stats()
	start := time.Now()
	s.Close()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	_ = pub.ws.Close()
	_ = slow.ws.Close()
	deadline := time.Now().Add(readTimeout)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFloodCloseAfter: pubs past the limit are neither answered nor
// delivered, and the publisher is closed with 4009 after the hold.
func TestFloodCloseAfter(t *testing.T) {
	t.Parallel()
	const hold = 200 * time.Millisecond
	s := Start(t, Options{Faults: Faults{FloodCloseAfter: 3, FloodHold: hold}})
	pub, sub := dial(t, s.URL()), dial(t, s.URL())
	join(t, pub, "r")
	join(t, sub, "r")
	start := time.Now()
	pub.write(pubs("r", 5))
	pub.write(`{"op":"ping","id":"late"}`)
	var replies []string
	for {
		obj, err := pub.nextRaw(true)
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != protocol.CloseRateLimited {
				t.Fatalf("read ended with %v, want close 4009", err)
			}
			break
		}
		if ev, err := protocol.DecodeEvent(obj); err == nil && ev.Type == protocol.TypeReply {
			replies = append(replies, string(ev.ID))
		}
	}
	if d := time.Since(start); d < hold {
		t.Errorf("closed after %s, before the %s hold", d, hold)
	}
	if !slices.Equal(replies, []string{"1", "2", "3"}) {
		t.Errorf("replies %v, want only the first three pubs'", replies)
	}
	if got := sub.seqs(3); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("delivered %v", got)
	}
	waitStats(t, s, func(st Stats) bool { return st.FloodClosed == 1 && st.Published == 3 && st.Deliveries == 3 })
}
