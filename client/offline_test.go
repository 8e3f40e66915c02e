package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server"
	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/memory"
)

// sendOffline sends n direct messages {"n":i} to uid, who must be offline,
// and checks that each was stored with a growing inbox id.
func sendOffline(t *testing.T, from *client.Client, uid string, first, n int) {
	t.Helper()
	ctx := testCtx(t)
	var last uint64
	for i := first; i < first+n; i++ {
		r, err := from.SendToUID(ctx, uid, map[string]int{"n": i})
		if err != nil {
			t.Fatalf("SendToUID(%s) #%d: %v", uid, i, err)
		}
		if !r.Stored || r.Delivered != 0 || r.Inbox <= last {
			t.Fatalf("SendToUID(%s) #%d = %+v; want stored with an inbox id after %d", uid, i, r, last)
		}
		last = r.Inbox
	}
}

// expectOffline reads n offline direct messages and checks they are
// {"n":first} onwards, in order, with ascending inbox ids and the given
// redelivered flag. It returns the last inbox id.
func expectOffline(t *testing.T, c *client.Client, first, n int, redelivered bool) uint64 {
	t.Helper()
	var last uint64
	for i := first; i < first+n; i++ {
		ev := expect(t, c, fmt.Sprintf("offline message %d", i), kind(client.KindDirect))
		var got struct{ N int }
		_ = json.Unmarshal(ev.Wire.Data, &got)
		o := ev.Offline
		if o == nil || got.N != i || o.Inbox <= last || o.Redelivered != redelivered {
			t.Fatalf("direct %s (offline %+v); want message %d from the inbox after id %d, redelivered %t", ev.Wire.Data, o, i, last, redelivered)
		}
		last = o.Inbox
	}
	return last
}

// noInbox checks that c, just connected, was handed nothing from its
// inbox: a ping's reply follows whatever the server handed over when the
// uid was bound, so every offline message would be in the channel by now.
func noInbox(t *testing.T, c *client.Client) {
	t.Helper()
	if _, err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-c.Events():
			if ev.Kind == client.KindDirect {
				t.Fatalf("direct %s (offline %+v) after the inbox was acked", ev.Wire.Data, ev.Offline)
			}
		default:
			return
		}
	}
}

// waitInbox waits until the server holds want offline messages.
func waitInbox(t *testing.T, srv *server.Server, want int64) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got := srv.Stats().Store.InboxMessages
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server holds %d offline messages; want %d", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOfflineDirects: messages sent to an offline user arrive in order when
// it connects, two pages of them (the second comes only after the client's
// automatic ack of the first), and the acks empty the inbox.
func TestOfflineDirects(t *testing.T) {
	t.Parallel()
	srv, url, _ := startServerWith(t, nil)
	alice := dial(t, url, client.Options{Name: "alice", UID: "alice"})
	const total = 150 // the server hands over 100 at a time
	sendOffline(t, alice, "bob", 1, total)
	waitInbox(t, srv, total)

	bob := dial(t, url, client.Options{Name: "bob", UID: "bob"})
	expectOffline(t, bob, 1, total, false)
	waitInbox(t, srv, 0)
	if st := bob.Stats(); st.Offline != total || st.Directs != total || st.Duplicates != 0 {
		t.Errorf("Stats = %+v; want %d offline directs, no duplicates", st, total)
	}
	_ = bob.Close()

	// Nothing is handed out again; live messages carry no Offline.
	bob2 := dial(t, url, client.Options{Name: "bob", UID: "bob"})
	noInbox(t, bob2)
	if r, err := alice.SendToUID(testCtx(t), "bob", "live"); err != nil || r.Delivered != 1 || r.Stored {
		t.Fatalf("SendToUID to a live bob = %+v, %v; want delivered to 1, not stored", r, err)
	}
	if ev := expect(t, bob2, "live direct", kind(client.KindDirect)); ev.Offline != nil || string(ev.Wire.Data) != `"live"` {
		t.Fatalf("direct %s (offline %+v); want the live one", ev.Wire.Data, ev.Offline)
	}
}

// TestOfflineRedelivered: with NoAutoAck, a connection lost before the ack
// gets the messages again, marked redelivered, and the client hands them
// to the application; once acked they are gone for good. Close acks what
// auto-ack owes.
func TestOfflineRedelivered(t *testing.T) {
	t.Parallel()
	srv, url, _ := startServerWith(t, nil)
	alice := dial(t, url, client.Options{Name: "alice", UID: "alice"})
	sendOffline(t, alice, "bob", 1, 3)

	px := newProxy(t, url[len("ws://"):len(url)-len("/ws")])
	bob := dial(t, "ws://"+px.addr()+"/ws", client.Options{Name: "bob", UID: "bob", NoAutoAck: true, Backoff: fastBackoff})
	expectOffline(t, bob, 1, 3, false)
	px.sever()
	expect(t, bob, "reconnected", kind(client.KindConnected))
	last := expectOffline(t, bob, 1, 3, true)
	waitInbox(t, srv, 3)
	if n, err := bob.Ack(testCtx(t), last); err != nil || n != 3 {
		t.Fatalf("Ack(%d) = %d, %v; want 3 acked", last, n, err)
	}
	if _, err := bob.Ack(testCtx(t), 0); err == nil {
		t.Error("Ack(0) succeeded; want an error")
	}
	waitInbox(t, srv, 0)
	px.sever()
	expect(t, bob, "reconnected", kind(client.KindConnected))
	noInbox(t, bob)
	_ = bob.Close()

	// Close sends the ack auto-ack still owes before its close frame.
	sendOffline(t, alice, "carol", 1, 2)
	carol := dial(t, url, client.Options{Name: "carol", UID: "carol"})
	expectOffline(t, carol, 1, 2, false)
	_ = carol.Close()
	carol2 := dial(t, url, client.Options{Name: "carol", UID: "carol"})
	noInbox(t, carol2)
}

// TestOfflineDuplicatesDropped scripts a server that hands the inbox out
// again after the client acked it (the ack got lost with the connection):
// the client drops what it acked, acks again, and hands over only what is
// new.
func TestOfflineDuplicatesDropped(t *testing.T) {
	t.Parallel()
	direct := func(id int, redelivered bool) string {
		return fmt.Sprintf(`{"type":"direct","from":{"client":"x","uid":"alice"},"ts":1,"data":%d,"inbox":%d,"redelivered":%t}`, id, id, redelivered)
	}
	// The acks each connection got; a burst split by a slow scheduler may
	// cost two, so each connection reads until the one it must end with.
	acks := make([]chan []string, 2)
	for i := range acks {
		acks[i] = make(chan []string, 1)
	}
	srv := httptest.NewServer(upgradeThen(func(c *wsConn) {
		c.text(fmt.Sprintf(`{"type":"welcome","client":"c%d","uid":"bob","node":"fake","server":"test","protocol":1,"heartbeat":25000}`, c.n))
		last := uint64(3)
		if c.n == 1 {
			c.text(direct(1, false) + "\n" + direct(2, false) + "\n" + direct(3, false))
		} else {
			last = 4
			c.text(direct(1, true) + "\n" + direct(2, true) + "\n" + direct(3, true) + "\n" + direct(4, false))
		}
		var got []string
		for {
			cmd := c.readCommand(t)
			got = append(got, fmt.Sprintf("%s %d", cmd.Op, cmd.Inbox))
			if cmd.Op != protocol.OpAck || cmd.Inbox >= last {
				break
			}
		}
		if c.n <= len(acks) {
			acks[c.n-1] <- got
		}
		if c.n == 1 {
			c.close(protocol.CloseGoingAway) // before the ack's reply
		}
	}))
	t.Cleanup(srv.Close)
	c := dial(t, wsURL(srv), client.Options{Backoff: fastBackoff})
	var got []string
	for len(got) < 4 {
		ev := expect(t, c, "direct", kind(client.KindDirect))
		got = append(got, fmt.Sprintf("%s/%d/%t", ev.Wire.Data, ev.Offline.Inbox, ev.Offline.Redelivered))
	}
	if want := "[1/1/false 2/2/false 3/3/false 4/4/false]"; fmt.Sprint(got) != want {
		t.Errorf("directs = %v; want %v", got, want)
	}
	for i, want := range []string{"ack 3", "ack 4"} {
		if a := <-acks[i]; a[len(a)-1] != want {
			t.Errorf("connection %d got %q; want acks ending with %q", i+1, a, want)
		}
	}
	if st := c.Stats(); st.Duplicates != 3 || st.Offline != 4 {
		t.Errorf("Stats = %+v; want 3 duplicates, 4 offline", st)
	}
}

// TestServerPutRoomsRecovered: rooms the server API puts the client in are
// recovered after a reconnect like its own, also one in which it saw no
// message before the outage; a room the API takes it out of is not.
func TestServerPutRoomsRecovered(t *testing.T) {
	t.Parallel()
	srv, url, _ := startServerWith(t, nil)
	ctx := testCtx(t)
	pub := dial(t, url, client.Options{Name: "pub"})
	for _, room := range []string{"busy", "quiet", "gone"} {
		if _, err := pub.Join(ctx, room); err != nil {
			t.Fatal(err)
		}
		// History before the client comes, which a recovery must not
		// replay to it.
		if _, err := pub.Publish(ctx, room, "old"); err != nil {
			t.Fatal(err)
		}
	}
	px := newProxy(t, url[len("ws://"):len(url)-len("/ws")])
	sub := dial(t, "ws://"+px.addr()+"/ws", client.Options{Name: "sub", Backoff: fastBackoff})
	id := sub.Identity().Client
	for _, room := range []string{"busy", "quiet", "gone"} {
		if err := srv.JoinRoom(id, room); err != nil {
			t.Fatal(err)
		}
		expect(t, sub, "join event about itself in "+room, func(ev client.Event) bool {
			return ev.Kind == client.KindJoin && ev.Wire.Room == room && ev.Wire.Client == id
		})
	}
	if _, err := pub.Publish(ctx, "busy", "seen"); err != nil {
		t.Fatal(err)
	}
	if ev := expect(t, sub, "message", kind(client.KindMessage)); ev.Wire.Seq != 2 || ev.Wire.Room != "busy" {
		t.Fatalf("message %s #%d; want busy #2", ev.Wire.Room, ev.Wire.Seq)
	}
	if err := srv.LeaveRoom(id, "gone"); err != nil {
		t.Fatal(err)
	}
	expect(t, sub, "leave event about itself", func(ev client.Event) bool {
		return ev.Kind == client.KindLeave && ev.Wire.Room == "gone" && ev.Wire.Client == id
	})
	// The ping's reply follows the reply to the join the client sent to
	// learn quiet's seq.
	if _, err := sub.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	px.sever()
	expect(t, sub, "disconnected", kind(client.KindDisconnected))
	for _, room := range []string{"busy", "quiet", "gone"} {
		for range 2 {
			if _, err := pub.Publish(ctx, room, "missed"); err != nil {
				t.Fatal(err)
			}
		}
	}

	type got struct {
		room string
		seq  uint64
	}
	var msgs []got
	recovered := map[string]client.Recovered{}
	for len(msgs) < 4 || len(recovered) < 2 {
		ev := expect(t, sub, "recovery", func(ev client.Event) bool {
			return ev.Kind == client.KindMessage || ev.Kind == client.KindRecovered
		})
		if ev.Kind == client.KindRecovered {
			recovered[ev.Recovered.Room] = *ev.Recovered
			continue
		}
		msgs = append(msgs, got{ev.Wire.Room, ev.Wire.Seq})
	}
	for room, r := range recovered {
		if !r.Recovered || r.Replayed != 2 || r.Err != nil || r.MissedTo != 0 {
			t.Errorf("Recovered(%s) = %+v; want complete, 2 replayed", room, r)
		}
	}
	if _, ok := recovered["gone"]; ok || len(recovered) != 2 {
		t.Errorf("recovered %v; want busy and quiet only", recovered)
	}
	counts := map[string][]uint64{}
	for _, m := range msgs {
		counts[m.room] = append(counts[m.room], m.seq)
	}
	if fmt.Sprint(counts["busy"]) != "[3 4]" || fmt.Sprint(counts["quiet"]) != "[2 3]" || len(counts) != 2 {
		t.Errorf("messages after the reconnect = %v; want busy 3 4 and quiet 2 3", counts)
	}
}

// TestRoomsLearnedFromMessages scripts a server whose connect hook put the
// client in a room: it never joined, but the room's messages arrive, and
// the reconnect re-joins the room from the last seq seen.
func TestRoomsLearnedFromMessages(t *testing.T) {
	t.Parallel()
	joins := make(chan protocol.Command, 1)
	srv := httptest.NewServer(upgradeThen(func(c *wsConn) {
		c.welcome()
		if c.n == 1 {
			c.text(c.msg("hooked", "E1", 7) + "\n" + c.msg("hooked", "E1", 8))
			time.Sleep(20 * time.Millisecond)
			c.close(protocol.CloseGoingAway)
			return
		}
		cmd := c.readCommand(t)
		joins <- cmd
		c.text(`{"type":"reply","id":` + string(cmd.ID) + `,"ok":true,"room":"hooked","seq":9,"epoch":"E1","recovered":true,"replayed":1}` + "\n" + c.msg("hooked", "E1", 9))
	}))
	t.Cleanup(srv.Close)
	c := dial(t, wsURL(srv), client.Options{Backoff: fastBackoff})
	for _, want := range []uint64{7, 8, 9} {
		if ev := expect(t, c, "message", kind(client.KindMessage)); ev.Wire.Seq != want {
			t.Fatalf("seq %d; want %d", ev.Wire.Seq, want)
		}
	}
	j := <-joins
	if j.Op != protocol.OpJoin || j.Room != "hooked" || j.Since == nil || *j.Since != 8 || j.Epoch != "E1" {
		t.Errorf("after the reconnect the client sent %+v; want a join of hooked since 8 in E1", j)
	}
}

// failingStore is a memory store whose appends fail on demand: refused at
// once (store_unavailable) or failing to become durable (not_stored).
type failingStore struct {
	store.Store
	mode atomic.Value // "", "refuse" or "lose"
}

func (s *failingStore) Append(room string, ts int64, from, data []byte) (uint64, string, *store.Commit, error) {
	mode, _ := s.mode.Load().(string)
	if mode == "refuse" {
		return 0, "", nil, errors.New("store closing")
	}
	seq, epoch, c, err := s.Store.Append(room, ts, from, data)
	if err == nil && mode == "lose" {
		c = store.NewCommit()
		c.Finish(errors.New("disk full"))
	}
	return seq, epoch, c, err
}

// TestPublishStoreErrors: a message delivered but not stored returns its
// seq with a *NotStoredError that is also the server's *protocol.Error; a
// message the store refused returns store_unavailable and no seq.
func TestPublishStoreErrors(t *testing.T) {
	t.Parallel()
	fs := &failingStore{}
	_, url, _ := startServerWith(t, func(c *server.Config) {
		c.OpenStore = func(o store.Options) (store.Store, error) {
			fs.Store = memory.New(o)
			return fs, nil
		}
	})
	ctx := testCtx(t)
	pub := dial(t, url, client.Options{})
	sub := dial(t, url, client.Options{})
	for _, c := range []*client.Client{pub, sub} {
		if _, err := c.Join(ctx, "r"); err != nil {
			t.Fatal(err)
		}
	}
	fs.mode.Store("lose")
	seq, err := pub.Publish(ctx, "r", "unkept")
	var nse *client.NotStoredError
	if !errors.As(err, &nse) || nse.Seq != 1 || seq != 1 || nse.Room != "r" || wireCode(err) != protocol.CodeNotStored {
		t.Fatalf("Publish = %d, %v; want seq 1 with a *NotStoredError (code not_stored)", seq, err)
	}
	if ev := expect(t, sub, "the live copy", kind(client.KindMessage)); ev.Wire.Seq != 1 {
		t.Fatalf("sub got seq %d; want 1, delivered though not stored", ev.Wire.Seq)
	}
	fs.mode.Store("refuse")
	seq, err = pub.Publish(ctx, "r", "refused")
	if seq != 0 || wireCode(err) != protocol.CodeStoreUnavailable || errors.As(err, &nse) {
		t.Fatalf("Publish = %d, %v; want store_unavailable and no seq", seq, err)
	}
}
