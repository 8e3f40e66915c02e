package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rtsync/rtsync/internal/redistest"
	"github.com/rtsync/rtsync/internal/syncbuf"
	"github.com/rtsync/rtsync/server/broker"
	"github.com/rtsync/rtsync/server/store"
)

// Three nodes append to one room at once: every node sees every message,
// once, in seq order 1..N, with its parts.
func TestSeqOrderAcrossNodes(t *testing.T) {
	_, nodes := startNodes(t, 3)
	subscribeRoom(t, "r", nodes...)
	const per = 100
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			for k := range per {
				m := &broker.RoomMessage{Room: "r", TS: int64(1000 + k), From: fmt.Appendf(nil, `{"client":"%s"}`, n.node),
					Data: fmt.Appendf(nil, `"%d-%d"`, i, k), Origin: "o" + n.node, Exclude: []string{"x", "y:z"}, At: int64(k)}
				if err := n.AppendRoom(m); err != nil {
					t.Error(err)
					return
				}
				if m.Seq == 0 || m.Epoch == "" {
					t.Errorf("AppendRoom left seq %d epoch %q", m.Seq, m.Epoch)
				}
			}
		})
	}
	wg.Wait()
	const total = 3 * per
	want := make([]uint64, total)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	for _, n := range nodes {
		n.rec.waitFor(t, "all messages", func() bool { return len(n.rec.rooms["r"]) >= total })
		n.rec.mu.Lock()
		ms := slices.Clone(n.rec.rooms["r"])
		n.rec.mu.Unlock()
		if got := seqs(ms); !slices.Equal(got, want) {
			t.Errorf("node %s got seqs %v...; want 1..%d in order, once", n.node, got[:min(len(got), 20)], total)
		}
		m := ms[0]
		if m.Event != nil || m.TS < 1000 || !strings.HasPrefix(string(m.From), `{"client":`) || m.Epoch != ms[total-1].Epoch ||
			!strings.HasPrefix(m.Origin, "o") || !slices.Equal(m.Exclude, []string{"x", "y:z"}) || m.Presence {
			t.Errorf("node %s got %+v", n.node, m)
		}
	}
}

// A node subscribed to room a gets nothing of room b.
func TestOnlySubscribedRooms(t *testing.T) {
	srv, nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]
	subscribeRoom(t, "a", a)
	subscribeRoom(t, "b", b)
	for i := range 10 {
		for _, room := range []string{"a", "b"} {
			if err := b.AppendRoom(&broker.RoomMessage{Room: room, TS: int64(i), Data: []byte(`1`)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Redis sends one connection's messages in order: once the marker
	// of room a reached a, whatever of b Redis sent it came before.
	if err := b.AppendRoom(&broker.RoomMessage{Room: "a", Data: []byte(`"marker"`)}); err != nil {
		t.Fatal(err)
	}
	a.rec.waitFor(t, "room a's messages", func() bool { return len(a.rec.rooms["a"]) == 11 })
	b.rec.waitFor(t, "room b's messages", func() bool { return len(b.rec.rooms["b"]) == 10 })
	a.rec.mu.Lock()
	gotB := len(a.rec.rooms["b"])
	a.rec.mu.Unlock()
	if gotB != 0 {
		t.Errorf("node a, not subscribed to room b, got %d of its messages", gotB)
	}
	if n := numSub(t, srv.URL, a.chRoom+"b"); n != 1 {
		t.Errorf("room b's channel has %d subscribers; want 1 (node b)", n)
	}
	// Unsubscribed, b's channel has none left; a subscribe and
	// unsubscribe in a row cost nothing.
	if err := b.Unsubscribe(broker.Topic{Kind: broker.TopicRoom, Name: "b"}); err != nil {
		t.Fatal(err)
	}
	_ = a.Subscribe(broker.Topic{Kind: broker.TopicRoom, Name: "c"})
	_ = a.Unsubscribe(broker.Topic{Kind: broker.TopicRoom, Name: "c"})
	eventually(t, "room b's channel without subscribers", func() bool { return numSub(t, srv.URL, a.chRoom+"b") == 0 })
	if n := numSub(t, srv.URL, a.chRoom+"c"); n != 0 {
		t.Errorf("room c's channel has %d subscribers after a subscribe and an unsubscribe", n)
	}
}

// Direct messages and controls reach the node holding the uid or client,
// whichever node sends them.
func TestUsersClientsControl(t *testing.T) {
	srv, nodes := startNodes(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	for _, n := range []*node{a, b} {
		_ = n.Subscribe(broker.Topic{Kind: broker.TopicUser, Name: "u1"})
	}
	_ = a.Subscribe(broker.Topic{Kind: broker.TopicClient, Name: "c1"})
	eventually(t, "uid u1 subscribed on two nodes", func() bool { return numSub(t, srv.URL, a.chUser+"u1") == 2 })
	eventually(t, "client c1 subscribed", func() bool { return numSub(t, srv.URL, a.chClient+"c1") == 1 })

	if n, err := c.PublishUser("u1", []byte(`ev1`)); err != nil || n != 2 {
		t.Errorf("PublishUser(u1) = %d, %v; want 2 nodes", n, err)
	}
	if n, err := c.PublishUser("nobody", []byte(`ev`)); err != nil || n != 0 {
		t.Errorf("PublishUser(nobody) = %d, %v; want 0", n, err)
	}
	for _, n := range []*node{a, b} {
		n.rec.waitFor(t, "the event to u1", func() bool { return len(n.rec.users["u1"]) == 1 && string(n.rec.users["u1"][0]) == "ev1" })
	}
	// The node holding the client gets its own publish too.
	if ok, err := a.PublishClient("c1", []byte(`ev2`)); err != nil || !ok {
		t.Errorf("PublishClient(c1) = %v, %v; want true", ok, err)
	}
	if ok, err := b.PublishClient("c2", []byte(`ev`)); err != nil || ok {
		t.Errorf("PublishClient(c2, nowhere) = %v, %v; want false", ok, err)
	}
	a.rec.waitFor(t, "the event to c1", func() bool { return len(a.rec.clients["c1"]) == 1 })

	kick := broker.Control{Kind: broker.ControlKick, Client: "c1", Reason: "bye"}
	if ok, err := c.PublishControl(kick); err != nil || !ok {
		t.Errorf("PublishControl(kick c1) = %v, %v; want true", ok, err)
	}
	a.rec.waitFor(t, "the kick", func() bool { return len(a.rec.controls) == 1 })
	bind := broker.Control{Kind: broker.ControlBindUID, UID: "u1", Value: []byte("u2")}
	if ok, err := c.PublishControl(bind); err != nil || !ok {
		t.Errorf("PublishControl(bind u1) = %v, %v; want true", ok, err)
	}
	for _, n := range []*node{a, b} {
		n.rec.waitFor(t, "the bind", func() bool {
			last := n.rec.controls[max(len(n.rec.controls)-1, 0):]
			return len(last) == 1 && last[0].Kind == broker.ControlBindUID && string(last[0].Value) == "u2"
		})
	}
	a.rec.mu.Lock()
	if got := a.rec.controls[0]; got.Kind != kick.Kind || got.Client != "c1" || got.Reason != "bye" {
		t.Errorf("kick arrived as %+v", got)
	}
	a.rec.mu.Unlock()
	c.rec.mu.Lock()
	if len(c.rec.users)+len(c.rec.clients)+len(c.rec.controls) != 0 {
		t.Errorf("node c, holding nothing, got %v %v %v", c.rec.users, c.rec.clients, c.rec.controls)
	}
	c.rec.mu.Unlock()
}

// Presence goes to the other nodes only; its event travels as is.
func TestPresence(t *testing.T) {
	_, nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]
	subscribeRoom(t, "r", a, b)
	if err := a.PublishRoom(&broker.RoomMessage{Room: "r", Event: []byte(`{"event":"join"}`), Presence: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.AppendRoom(&broker.RoomMessage{Room: "r", Data: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	b.rec.waitFor(t, "presence then the message", func() bool { return len(b.rec.rooms["r"]) == 2 })
	a.rec.waitFor(t, "the message", func() bool { return len(a.rec.rooms["r"]) == 1 })
	b.rec.mu.Lock()
	defer b.rec.mu.Unlock()
	if m := b.rec.rooms["r"][0]; !m.Presence || string(m.Event) != `{"event":"join"}` {
		t.Errorf("presence arrived as %+v", m)
	}
	a.rec.mu.Lock()
	defer a.rec.mu.Unlock()
	if m := a.rec.rooms["r"][0]; m.Presence {
		t.Error("the publishing node got its own presence event back")
	}
}

// Queries reach every live node; a node that died is named missing until
// its TTL passes, and then no longer asked.
func TestQuery(t *testing.T) {
	_, nodes := startNodes(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ns, err := a.Nodes()
	if err != nil || !slices.Equal(names(ns), []string{"a", "b", "c"}) {
		t.Fatalf("Nodes() = %v, %v; want a b c", ns, err)
	}
	ans, err := a.Query(context.Background(), "count", []byte("x"))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if len(ans) != 2 || ans[0].Node != "b" || string(ans[0].Body) != "b:count:x" || ans[1].Node != "c" || string(ans[1].Body) != "c:count:x" {
		t.Errorf("answers %q", ans)
	}
	// A large answer (about 50k client ids) comes whole.
	big := []byte(strings.Repeat("client-id-0123456789,", 50000))
	b.rec.mu.Lock()
	b.rec.answer = func(string, []byte) []byte { return big }
	b.rec.mu.Unlock()
	if ans, err := a.Query(context.Background(), "list", nil); err != nil || len(ans) != 2 || len(ans[0].Body) != len(big) {
		t.Errorf("Query with a %d-byte answer: %d answers, %v", len(big), len(ans), err)
	}

	c.kill()
	ans, err = a.Query(context.Background(), "count", nil)
	var pe *broker.PartialError
	if !errors.As(err, &pe) || !slices.Equal(pe.Missing, []string{"c"}) || len(ans) != 1 || ans[0].Node != "b" {
		t.Errorf("Query with c dead: %q, %v; want b's answer and c missing", ans, err)
	}
	eventually(t, "c gone from the live nodes", func() bool {
		ns, err := a.Nodes()
		return err == nil && slices.Equal(names(ns), []string{"a", "b"})
	})
	if ans, err := a.Query(context.Background(), "count", nil); err != nil || len(ans) != 1 {
		t.Errorf("Query after c's TTL: %q, %v; want b's answer alone", ans, err)
	}
	// A context that ends first: the nodes not heard from are missing.
	b.rec.mu.Lock()
	b.rec.answer = func(string, []byte) []byte { time.Sleep(time.Second); return nil }
	b.rec.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := a.Query(ctx, "slow", nil); !errors.As(err, &pe) || !slices.Equal(pe.Missing, []string{"b"}) {
		t.Errorf("Query past its context: %v; want b missing", err)
	}
}

// A node that dies: another node publishes its clients' leave events to
// their rooms, within the TTL (and a heartbeat, and the time to publish),
// then forgets the node.
func TestDeadNodeLeaves(t *testing.T) {
	srv, nodes := startNodes(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	subscribeRoom(t, "r", a, b)
	subscribeRoom(t, "s", a)
	c.Joined("r", "c1", []byte(`{"leave":"c1"}`))
	c.Joined("r", "c2", []byte(`{"leave":"c2"}`))
	c.Joined("s", "c1", []byte(`{"leave":"c1s"}`))
	c.Joined("s", "c3", []byte(`{"leave":"c3"}`))
	c.Left("s", "c3")
	eventually(t, "c's memberships written", func() bool {
		n, _ := a.rdb.HLen(context.Background(), a.keyMembers+"c").Result()
		return n == 3
	})
	start := time.Now()
	c.kill()
	for _, n := range []*node{a, b} {
		n.rec.waitFor(t, "c's leaves in room r", func() bool { return len(n.rec.rooms["r"]) == 2 })
	}
	a.rec.waitFor(t, "c's leave in room s", func() bool { return len(a.rec.rooms["s"]) == 1 })
	took := time.Since(start)
	if bound := testTTL + 2*testHeartbeat + 2*time.Second; took > bound {
		t.Errorf("leaves came %v after the node died; the documented bound is about %v", took, testTTL+testHeartbeat)
	}
	a.rec.mu.Lock()
	var got []string
	for _, m := range a.rec.rooms["r"] {
		if !m.Presence {
			t.Errorf("a leave arrived without Presence: %+v", m)
		}
		got = append(got, string(m.Event))
	}
	if s := a.rec.rooms["s"][0]; string(s.Event) != `{"leave":"c1s"}` {
		t.Errorf("room s got %q", s.Event)
	}
	a.rec.mu.Unlock()
	slices.Sort(got)
	if !slices.Equal(got, []string{`{"leave":"c1"}`, `{"leave":"c2"}`}) {
		t.Errorf("room r got leaves %q", got)
	}
	eventually(t, "c's records gone", func() bool {
		n, _ := a.rdb.Exists(context.Background(), a.keyMembers+"c").Result()
		_, err := a.rdb.ZScore(context.Background(), a.keyNodes, "c").Result()
		return n == 0 && err != nil
	})
	// A clean Close removes the node and its records, publishing nothing.
	b.Joined("r", "c9", []byte(`{"leave":"c9"}`))
	eventually(t, "b's membership written", func() bool {
		n, _ := a.rdb.HLen(context.Background(), a.keyMembers+"b").Result()
		return n == 1
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := numSub(t, srv.URL, a.chRoom+"r"); n != 1 {
		t.Errorf("room r has %d subscribers after b closed; want 1", n)
	}
	if n, _ := a.rdb.Exists(context.Background(), a.keyMembers+"b").Result(); n != 0 {
		t.Error("b's membership hash is still there after Close")
	}
	ns, _ := a.Nodes()
	if !slices.Equal(names(ns), []string{"a"}) {
		t.Errorf("Nodes after b's Close = %v", names(ns))
	}
}

// Redis stopped and started again mid-test: the nodes say so once each
// way, fail fast meanwhile, and come back by themselves: rooms resynced,
// memberships written again, messages flowing.
func TestRedisRestart(t *testing.T) {
	srv, nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]
	subscribeRoom(t, "r", a, b)
	a.Joined("r", "c1", []byte(`{"leave":"c1"}`))
	eventually(t, "a's membership written", func() bool {
		n, _ := a.rdb.HLen(context.Background(), a.keyMembers+"a").Result()
		return n == 1
	})
	if err := a.AppendRoom(&broker.RoomMessage{Room: "r", Data: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	b.rec.waitFor(t, "the first message", func() bool { return len(b.rec.rooms["r"]) == 1 })

	srv.Stop()
	for _, n := range nodes {
		eventually(t, "node "+n.node+" unhealthy", func() bool { return n.Healthy() != nil })
	}
	if err := a.Healthy(); !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), srv.Addr) {
		t.Errorf("Healthy while Redis is down: %v; want ErrUnavailable naming %s", err, srv.Addr)
	}
	t0 := time.Now()
	err := a.AppendRoom(&broker.RoomMessage{Room: "r", Data: []byte(`2`)})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("AppendRoom while Redis is down: %v; want ErrUnavailable", err)
	}
	if _, err := a.PublishUser("u", nil); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("PublishUser while Redis is down: %v; want ErrUnavailable", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("two calls with Redis down took %v; they should fail at once", d)
	}
	before := a.rec.resyncCount("r")
	time.Sleep(3 * testHeartbeat) // a few failed heartbeats and reconnects: still one "lost" line
	srv.Restart()
	for _, n := range nodes {
		eventually(t, "node "+n.node+" healthy again", func() bool { return n.Healthy() == nil })
		n.rec.waitFor(t, "the resync of room r", func() bool { return n.rec.resyncs["r"] > before })
	}
	// Redis came back empty (no persistence): a's memberships are
	// written again.
	eventually(t, "a's membership written again", func() bool {
		n, _ := a.rdb.HLen(context.Background(), a.keyMembers+"a").Result()
		return n == 1
	})
	if err := b.AppendRoom(&broker.RoomMessage{Room: "r", Data: []byte(`3`)}); err != nil {
		t.Fatalf("AppendRoom after Redis came back: %v", err)
	}
	a.rec.waitFor(t, "a message after the restart", func() bool {
		ms := a.rec.rooms["r"]
		return len(ms) == 2 && string(ms[1].Data) == "3"
	})
	for _, n := range nodes {
		log := n.log.String()
		t.Logf("node %s's log:\n%s", n.node, log)
		if c := strings.Count(log, "Redis lost"); c != 1 {
			t.Errorf("node %s logged \"Redis lost\" %d times; want once:\n%s", n.node, c, log)
		}
		if c := strings.Count(log, "Redis back after"); c != 1 {
			t.Errorf("node %s logged \"Redis back after\" %d times; want once:\n%s", n.node, c, log)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Open("redis://:secret@"+addr+"/0", Options{Timeout: time.Second})
	if err == nil || !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open of a closed port: %v; want ErrUnavailable naming %s, without the password", err, addr)
	}
	for _, u := range []string{"http://user:secret@127.0.0.1/0", "redis://user:secret@127.0.0.1:6379/0?nonsense=1"} {
		if _, err := Open(u, Options{}); err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "URL") {
			t.Errorf("Open(%s): %v; want an error about the URL that hides the password", u, err)
		}
	}
	if _, err := Open("redis://127.0.0.1:7000?addr=127.0.0.1:7001", Options{}); err == nil || !strings.Contains(err.Error(), "Redis Cluster") {
		t.Errorf("Open of a cluster URL: %v; want an error saying Redis Cluster is not supported", err)
	}
}

func TestOpenBadOptions(t *testing.T) {
	srv := startNodeless(t)
	if _, err := Open(srv, Options{Node: "no spaces"}); err == nil || !strings.Contains(err.Error(), "node id") {
		t.Errorf("Open with a bad node id: %v", err)
	}
	if _, err := Open(srv, Options{Heartbeat: time.Second, NodeTTL: time.Second}); err == nil || !strings.Contains(err.Error(), "TTL") {
		t.Errorf("Open with a TTL of one heartbeat: %v", err)
	}
}

// Redis drops the subscription connections (as it does to a subscriber
// that reads too slowly): the nodes subscribe again and resync their
// rooms, without taking Redis for lost.
func TestSubscriptionDropped(t *testing.T) {
	_, nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]
	subscribeRoom(t, "r", a, b)
	before := []int{a.rec.resyncCount("r"), b.rec.resyncCount("r")}
	if n, err := a.rdb.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result(); err != nil || n != 2 {
		t.Fatalf("CLIENT KILL TYPE pubsub: %d, %v; want the 2 nodes' connections", n, err)
	}
	for i, n := range nodes {
		n.rec.waitFor(t, "the resync after the drop", func() bool { return n.rec.resyncs["r"] > before[i] })
	}
	if err := a.AppendRoom(&broker.RoomMessage{Room: "r", Data: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	b.rec.waitFor(t, "a message after the drop", func() bool { return len(b.rec.rooms["r"]) == 1 })
	for _, n := range nodes {
		if err := n.Healthy(); err != nil {
			t.Errorf("node %s: Healthy = %v", n.node, err)
		}
		if log := n.log.String(); strings.Contains(log, "Redis lost") || !strings.Contains(log, "subscription connection dropped") {
			t.Errorf("node %s logged:\n%s\nwant the drop, not Redis lost", n.node, log)
		}
	}
}

// Through Sentinel: the URL names a sentinel and the master's name; the
// nodes find the master through it and work as with a plain URL.
func TestSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master, "mymaster")
	url := "redis://" + sentinel + "/0?master_name=mymaster"
	a, b := startNode(t, url, "a"), startNode(t, url, "b")
	if !strings.Contains(a.Addr(), "mymaster") || !strings.Contains(a.Addr(), sentinel) {
		t.Errorf("Addr() = %q; want the master's name and the sentinel", a.Addr())
	}
	subscribeRoom(t, "r", a, b)
	if err := a.AppendRoom(&broker.RoomMessage{Room: "r", Data: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	b.rec.waitFor(t, "the message", func() bool { return len(b.rec.rooms["r"]) == 1 })
	if n := numSub(t, master.URL, a.chRoom+"r"); n != 2 {
		t.Errorf("the master has %d subscribers on room r; want 2", n)
	}
}

// go-redis's own log goes through the broker's logger, one line per
// goRedisLogEvery at most, with a count of the lines left out.
func TestGoRedisLogRateLimited(t *testing.T) {
	buf := &syncbuf.Buffer{}
	useLogger(slog.New(slog.NewTextHandler(buf, nil)))
	defer useLogger(slog.Default())
	redisLog.mu.Lock()
	redisLog.last, redisLog.suppressed = time.Time{}, 0
	redisLog.mu.Unlock()
	for i := range 100 {
		redisLog.Printf(context.Background(), "dial tcp: refused %d", i)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.Contains(buf.String(), "refused 0") {
		t.Errorf("100 lines from go-redis logged as:\n%s\nwant the first alone", buf.String())
	}
	redisLog.mu.Lock()
	redisLog.last = time.Now().Add(-goRedisLogEvery)
	redisLog.mu.Unlock()
	redisLog.Printf(context.Background(), "dial tcp: refused again")
	if !strings.Contains(buf.String(), "suppressed=99") {
		t.Errorf("the next line after the pause: %s; want suppressed=99", buf.String())
	}
}

// A node too slow to read its rooms' messages: Redis drops its
// subscription connection at the client-output-buffer-limit for pubsub;
// the node subscribes again and resyncs the room instead of stalling or
// losing track.
func TestSlowSubscriberResyncs(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Options{Args: []string{"--client-output-buffer-limit", "pubsub 256kb 128kb 1"}})
	gate := make(chan struct{})
	var once sync.Once
	buf := &syncbuf.Buffer{Limit: 1 << 20}
	slow, err := Open(srv.URL, Options{Node: "slow", Heartbeat: testHeartbeat, NodeTTL: testTTL, Workers: 1,
		Logger: slog.New(slog.NewTextHandler(buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	slow.queueLen = 16
	r := &gatedRec{rec: newRec("slow"), gate: gate}
	if err := slow.Start(r); err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	defer once.Do(func() { close(gate) })
	n := &node{Broker: slow, rec: r.rec, log: buf}
	fast := startNode(t, srv.URL, "fast")
	subscribeRoom(t, "r", n)
	before := r.resyncCount("r")
	data := []byte(`"` + strings.Repeat("x", 4000) + `"`)
	deadline := time.Now().Add(waitLimit)
	for i := 0; ; i++ {
		if err := fast.AppendRoom(&broker.RoomMessage{Room: "r", Data: data}); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			// Dropped: room r's channel has no subscriber left (the
			// slow node cannot subscribe again before its reader moves).
			if numSub(t, srv.URL, fast.chRoom+"r") == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Redis did not drop the slow subscriber after %d messages of %d bytes", i+1, len(data))
			}
		}
	}
	once.Do(func() { close(gate) })
	r.waitFor(t, "the resync after Redis dropped the slow node", func() bool { return r.resyncs["r"] > before })
	if err := slow.Healthy(); err != nil {
		t.Errorf("Healthy = %v after a dropped subscription", err)
	}
	if !strings.Contains(buf.String(), "subscription connection dropped") {
		t.Errorf("the slow node's log does not say its subscription dropped:\n%s", buf.String())
	}
}

// gatedRec holds the first room message until gate closes.
type gatedRec struct {
	*rec
	gate chan struct{}
}

func (g *gatedRec) HandleRoom(m *broker.RoomMessage) {
	<-g.gate
	g.rec.HandleRoom(m)
}

// Many rooms subscribed at once: each is resynced once, the resyncs that
// come together in fewer calls.
func TestManyRoomsResyncOnce(t *testing.T) {
	srv, nodes := startNodes(t, 1)
	a := nodes[0]
	const rooms = 1000
	for i := range rooms {
		_ = a.Subscribe(broker.Topic{Kind: broker.TopicRoom, Name: fmt.Sprintf("room%d", i)})
	}
	a.rec.waitFor(t, "every room's resync", func() bool { return len(a.rec.resyncs) == rooms })
	a.rec.mu.Lock()
	for room, n := range a.rec.resyncs {
		if n != 1 {
			t.Errorf("room %s resynced %d times", room, n)
		}
	}
	t.Logf("%d rooms resynced in %d calls", rooms, a.rec.calls)
	a.rec.mu.Unlock()
	if n := numSub(t, srv.URL, a.chRoom+"room999"); n != 1 {
		t.Errorf("room999 has %d subscribers", n)
	}
}
