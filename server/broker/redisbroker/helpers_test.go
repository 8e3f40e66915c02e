package redisbroker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtsync/rtsync/internal/redistest"
	"github.com/rtsync/rtsync/internal/syncbuf"
	"github.com/rtsync/rtsync/server/broker"
)

// Test timings: short, so that dead nodes are found fast, but several
// heartbeats per TTL so that a busy machine does not kill a live node.
const (
	testHeartbeat = 100 * time.Millisecond
	testTTL       = 800 * time.Millisecond
	waitLimit     = 15 * time.Second
)

// rec is a handler that records what reaches it.
type rec struct {
	node string

	mu       sync.Mutex
	changed  chan struct{}
	rooms    map[string][]*broker.RoomMessage
	resyncs  map[string]int
	calls    int // HandleResync calls
	users    map[string][][]byte
	clients  map[string][][]byte
	controls []broker.Control
	answer   func(kind string, args []byte) []byte
	here     map[string]bool // clients and uids "connected" here
}

func newRec(node string) *rec {
	return &rec{node: node, changed: make(chan struct{}), rooms: map[string][]*broker.RoomMessage{},
		resyncs: map[string]int{}, users: map[string][][]byte{}, clients: map[string][][]byte{}, here: map[string]bool{}}
}

// note wakes the waiters; call with mu held.
func (r *rec) note() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *rec) HandleRoom(m *broker.RoomMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rooms[m.Room] = append(r.rooms[m.Room], m)
	r.note()
}

func (r *rec) HandleUser(uid string, event []byte) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users[uid] = append(r.users[uid], event)
	r.note()
	return 1
}

func (r *rec) HandleClient(client string, event []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clients[client] = append(r.clients[client], event)
	r.note()
	return true
}

func (r *rec) HandleControl(c broker.Control) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.controls = append(r.controls, c)
	r.note()
	return true
}

func (r *rec) HandleResync(rooms []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	for _, room := range rooms {
		r.resyncs[room]++
	}
	r.note()
}

func (r *rec) HandleQuery(kind string, args []byte) []byte {
	r.mu.Lock()
	f := r.answer
	r.mu.Unlock()
	if f != nil {
		return f(kind, args)
	}
	return fmt.Appendf(nil, "%s:%s:%s", r.node, kind, args)
}

// waitFor waits until cond (called with r.mu held) holds.
func (r *rec) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		r.mu.Lock()
		ok, ch := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("node %s: %s did not happen within %v", r.node, what, waitLimit)
		}
	}
}

// eventually polls cond (for what has no signal: Redis's own state).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %v", what, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type node struct {
	*Broker
	rec *rec
	log *syncbuf.Buffer
}

// startNode opens and starts a broker named id on url.
func startNode(t *testing.T, url, id string) *node {
	t.Helper()
	buf := &syncbuf.Buffer{Limit: 1 << 20}
	b, err := Open(url, Options{Node: id, Heartbeat: testHeartbeat, NodeTTL: testTTL, QueryTimeout: 1500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(buf, nil))})
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	r := newRec(id)
	if err := b.Start(r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &node{Broker: b, rec: r, log: buf}
}

// startNodes starts n nodes "a", "b", ... on one Redis.
func startNodes(t *testing.T, n int) (*redistest.Server, []*node) {
	srv := redistest.Start(t)
	var nodes []*node
	for i := range n {
		nodes = append(nodes, startNode(t, srv.URL, string(rune('a'+i))))
	}
	return srv, nodes
}

// kill stops a node as a crash would: no more heartbeats nor
// subscriptions, and nothing removed from Redis.
func (b *Broker) kill() {
	b.closed.Store(true)
	b.stop()
	_ = b.rdb.Close()
}

// subscribeRoom subscribes the nodes to room and waits for the resync
// that says the subscription took effect.
func subscribeRoom(t *testing.T, room string, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		before := n.rec.resyncCount(room)
		if err := n.Subscribe(broker.Topic{Kind: broker.TopicRoom, Name: room}); err != nil {
			t.Fatal(err)
		}
		n.rec.waitFor(t, "the resync of "+room, func() bool { return n.rec.resyncs[room] > before })
	}
}

func (r *rec) resyncCount(room string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resyncs[room]
}

// numSub returns how many subscribers a channel has.
func numSub(t *testing.T, url, ch string) int64 {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := c.PubSubNumSub(ctx, ch).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m[ch]
}

func seqs(ms []*broker.RoomMessage) []uint64 {
	var out []uint64
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

func names(nodes []broker.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.ID)
	}
	slices.Sort(out)
	return out
}

// startNodeless starts a Redis and returns its URL.
func startNodeless(t *testing.T) string { return redistest.Start(t).URL }
