package server

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rtsync/rtsync/protocol"
)

// connectAs dials and binds uid with hello, returning the client and the
// offline messages handed over after the hello reply (n of them).
func connectAs(t *testing.T, url, uid string, n int) (*wsClient, []protocol.Event) {
	t.Helper()
	c := dial(t, url)
	mustOK(t, c.cmd(map[string]any{"op": "hello", "uid": uid}))
	var got []protocol.Event
	for range n {
		got = append(got, c.expect(protocol.TypeDirect))
	}
	return c, got
}

// TestOfflineDelivery: send to a uid with no connection is stored; the
// uid gets the messages in order when it next connects, each with its
// inbox id; those it did not ack come again, marked redelivered, and
// acked ones never.
func TestOfflineDelivery(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{})
	alice, _ := connectAs(t, url, "alice", 0)
	var ids []uint64
	for i := range 3 {
		r := mustOK(t, alice.cmd(map[string]any{"op": "send", "to_uid": "bob", "data": map[string]any{"n": i}}))
		if *r.Delivered != 0 || !r.Stored || r.Inbox == 0 {
			t.Fatalf("send %d to offline bob = %+v", i, r)
		}
		if len(ids) > 0 && r.Inbox <= ids[len(ids)-1] {
			t.Fatalf("inbox ids %v then %d, want increasing", ids, r.Inbox)
		}
		ids = append(ids, r.Inbox)
	}
	if st := s.Stats().Store; st.InboxMessages != 3 || st.InboxStored != 3 {
		t.Fatalf("store holds %d inbox messages (stored %d), want 3", st.InboxMessages, st.InboxStored)
	}

	bob, got := connectAs(t, url, "bob", 3)
	for i, d := range got {
		if d.Inbox != ids[i] || d.Redelivered || string(d.Data) != fmt.Sprintf(`{"n":%d}`, i) || d.From.UID != "alice" {
			t.Fatalf("offline message %d = %+v, want inbox %d from alice, first delivery", i, d, ids[i])
		}
	}
	// Bob is online now: a live message carries no inbox id.
	r := mustOK(t, alice.cmd(map[string]any{"op": "send", "to_uid": "bob", "data": "live"}))
	if *r.Delivered != 1 || r.Stored {
		t.Fatalf("send to online bob = %+v", r)
	}
	if d := bob.expect(protocol.TypeDirect); d.Inbox != 0 || string(d.Data) != `"live"` {
		t.Fatalf("live direct = %+v", d)
	}
	// Bob confirms the first only, then drops.
	if a := mustOK(t, bob.cmd(map[string]any{"op": "ack", "inbox": ids[0]})); a.Acked == nil || *a.Acked != 1 {
		t.Fatalf("ack reply = %+v, want acked 1", a)
	}
	_ = bob.ws.Close()

	bob2, got := connectAs(t, url, "bob", 2)
	for i, d := range got {
		if d.Inbox != ids[i+1] || !d.Redelivered {
			t.Fatalf("after reconnect, message %d = %+v, want inbox %d redelivered", i, d, ids[i+1])
		}
	}
	bob2.quiet(100 * time.Millisecond)
	if a := mustOK(t, bob2.cmd(map[string]any{"op": "ack", "inbox": ids[2]})); *a.Acked != 2 {
		t.Fatalf("ack reply = %+v, want acked 2", a)
	}
	_ = bob2.ws.Close()
	bob3, _ := connectAs(t, url, "bob", 0)
	bob3.quiet(150 * time.Millisecond)
	if st := s.Stats().Store; st.InboxMessages != 0 || st.InboxAcked != 3 || st.InboxDelivered != 5 {
		t.Fatalf("inbox %d messages, acked %d, delivered %d; want 0, 3, 5", st.InboxMessages, st.InboxAcked, st.InboxDelivered)
	}

	// ack needs an inbox id and a uid.
	mustErr(t, bob3.cmd(map[string]any{"op": "ack"}), protocol.CodeBadRequest)
	anon := dial(t, url)
	mustErr(t, anon.cmd(map[string]any{"op": "ack", "inbox": 1}), protocol.CodeBadRequest)
}

// TestOfflineDeliveryPages: an inbox larger than a page comes a page at a
// time, the next one after the client acks the last; the API's send to
// an offline uid is kept too; the per-uid cap drops the oldest.
func TestOfflineDeliveryPages(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{InboxMax: 150})
	for i := range 160 {
		res, err := s.SendToUID("carol", json.RawMessage(fmt.Sprint(i)))
		if err != nil || !res.Stored || res.Delivered != 0 {
			t.Fatalf("API send %d: %+v, %v", i, res, err)
		}
	}
	carol, page := connectAs(t, url, "carol", inboxPageLimit)
	// The cap kept the newest 150: 10 to 159.
	if first := string(page[0].Data); first != "10" {
		t.Fatalf("first offline message %s, want 10 (the 10 oldest dropped by the cap)", first)
	}
	carol.quiet(100 * time.Millisecond)
	mustOK(t, carol.cmd(map[string]any{"op": "ack", "inbox": page[len(page)-1].Inbox}))
	for i := range 50 {
		d := carol.expect(protocol.TypeDirect)
		if string(d.Data) != fmt.Sprint(110+i) {
			t.Fatalf("second page message %d = %s, want %d", i, d.Data, 110+i)
		}
	}
	if n := s.Stats().Store.InboxExpired; n != 10 {
		t.Fatalf("inbox_expired %d, want 10", n)
	}
}

// TestOfflineDeliveryOnBind: a uid bound through the server API gets its
// inbox then, after the bind.
func TestOfflineDeliveryOnBind(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{})
	if _, err := s.SendToUID("dave", json.RawMessage(`"waiting"`)); err != nil {
		t.Fatal(err)
	}
	c := dial(t, url)
	c.quiet(50 * time.Millisecond)
	if err := s.BindUID(c.welcome.Client, "dave"); err != nil {
		t.Fatal(err)
	}
	if d := c.expect(protocol.TypeDirect); string(d.Data) != `"waiting"` || d.Inbox == 0 || d.From.Client != ServerClientID {
		t.Fatalf("direct after bind = %+v", d)
	}
}

// TestRecoveryUnderLoad: a joiner recovering a gap of 5,000 messages
// through a 64 KB send queue while three publishers keep the room busy
// gets every seq once, in order, from 1 to the last, with no gap between
// the replay and the live messages.
func TestRecoveryUnderLoad(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{HistorySize: 20_000, SendQueueBytes: 64 << 10, PublishRate: 1e6, PublishBurst: 1e6})
	for i := range 5000 {
		if _, _, err := s.Publish("load", json.RawMessage(fmt.Sprint(i)), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{}, 3)
	for range 3 {
		p := dial(t, url)
		mustOK(t, p.cmd(map[string]any{"op": "join", "room": "load"}))
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if r := p.cmd(map[string]any{"op": "pub", "room": "load", "data": i, "noecho": true}); !r.OK {
					return
				}
			}
		}()
	}
	sub := dial(t, url)
	r := mustOK(t, sub.cmd(map[string]any{"op": "join", "room": "load", "since": 0}))
	if !*r.Recovered || r.Seq < 5000 {
		t.Fatalf("join reply = %+v", r)
	}
	next := uint64(1)
	for next <= r.Seq {
		if m := sub.expect(protocol.TypeMsg); m.Seq != next {
			t.Fatalf("got seq %d, want %d (head at join %d)", m.Seq, next, r.Seq)
		}
		next++
	}
	close(stop)
	for range 3 {
		<-done
	}
	last, _, err := s.Publish("load", json.RawMessage(`"last"`), PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for next <= last {
		if m := sub.expect(protocol.TypeMsg); m.Seq != next {
			t.Fatalf("got seq %d, want %d", m.Seq, next)
		}
		next++
	}
}
