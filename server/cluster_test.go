package server

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/broker"
	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/memory"
)

// seqBroker is a Sequencer over a store whose room messages the test
// hands to the node itself, in any order it likes: what Redis's pub/sub
// cannot be made to do on purpose (lose a message, send one twice, hand
// over a message of an older history late). The real broker is tested
// against a real Redis in redisbroker and in cmd's cluster tests.
type seqBroker struct {
	*broker.InProcess
	st  store.Store
	mu  sync.Mutex
	out []broker.RoomMessage
}

func (b *seqBroker) AppendRoom(m *broker.RoomMessage) error {
	seq, epoch, _, err := b.st.Append(m.Room, m.TS, m.From, m.Data)
	if err != nil {
		return err
	}
	m.Seq, m.Epoch = seq, epoch
	b.mu.Lock()
	b.out = append(b.out, *m)
	b.mu.Unlock()
	return nil
}

// PublishRoom drops presence (one node: no other to tell).
func (b *seqBroker) PublishRoom(m *broker.RoomMessage) error {
	if m.Presence {
		return nil
	}
	return b.InProcess.PublishRoom(m)
}

// Query: there is no other node to ask.
func (b *seqBroker) Query(context.Context, string, []byte) ([]broker.Answer, error) { return nil, nil }
func (b *seqBroker) Node() string                                                   { return "test" }
func (b *seqBroker) Nodes() ([]broker.Node, error) {
	return []broker.Node{{ID: "test", Seen: time.Now()}}, nil
}

// published returns the messages appended so far, as a node receives
// them (no encoded event).
func (b *seqBroker) published() []broker.RoomMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]broker.RoomMessage, len(b.out))
	copy(out, b.out)
	for i := range out {
		out[i].Event, out[i].Local = nil, nil
	}
	return out
}

// swapStore is a store the test can replace as a whole, as a Redis that
// restarted without persistence does.
type swapStore struct {
	cur atomic.Pointer[store.Store]
}

func newSwapStore(s store.Store) *swapStore {
	w := &swapStore{}
	w.cur.Store(&s)
	return w
}

func (w *swapStore) s() store.Store     { return *w.cur.Load() }
func (w *swapStore) swap(s store.Store) { w.cur.Store(&s) }
func (w *swapStore) Append(room string, ts int64, from, data []byte) (uint64, string, *store.Commit, error) {
	return w.s().Append(room, ts, from, data)
}
func (w *swapStore) Head(room string) (store.Head, error) { return w.s().Head(room) }
func (w *swapStore) Read(room string, q store.Query) (store.Page, error) {
	return w.s().Read(room, q)
}
func (w *swapStore) Rooms(after string, limit int) ([]string, error) {
	return w.s().Rooms(after, limit)
}
func (w *swapStore) InboxAppend(uid string, ts int64, from, data []byte) (uint64, *store.Commit, error) {
	return w.s().InboxAppend(uid, ts, from, data)
}
func (w *swapStore) InboxRead(uid string, after uint64, limit, maxBytes int) ([]store.Direct, error) {
	return w.s().InboxRead(uid, after, limit, maxBytes)
}
func (w *swapStore) InboxDelivered(uid string, upTo uint64) error {
	return w.s().InboxDelivered(uid, upTo)
}
func (w *swapStore) InboxAck(uid string, upTo uint64) (int, error) { return w.s().InboxAck(uid, upTo) }
func (w *swapStore) Stats() store.Stats                            { return w.s().Stats() }
func (w *swapStore) Close() error                                  { return w.s().Close() }

// expectSeqs reads msg events of room until it has the seqs want, in
// that order, then checks nothing more comes.
func expectSeqs(t *testing.T, c *wsClient, epoch string, want ...uint64) {
	t.Helper()
	for _, seq := range want {
		e := c.expect(protocol.TypeMsg)
		if e.Seq != seq || (epoch != "" && e.Epoch != epoch) {
			t.Fatalf("msg seq %d epoch %s; want seq %d epoch %s", e.Seq, e.Epoch, seq, epoch)
		}
	}
	c.quiet(150 * time.Millisecond)
}

// TestClusterDelivery: a node in a cluster delivers each seq of a room
// once and in order whatever order the broker hands them over in: it
// reads a gap from the store, drops what it delivered already, follows
// a new history (epoch) from its start, drops a late message of the old
// one, and reads what it missed when the broker says so (HandleResync).
func TestClusterDelivery(t *testing.T) {
	t.Parallel()
	st := newSwapStore(memory.New(store.Options{}))
	b := &seqBroker{InProcess: broker.NewInProcess(), st: st}
	s, url := startServer(t, Config{Broker: b, RoomHistory: []RoomHistory{{Rooms: "quiet", Size: 0}},
		OpenStore: func(o store.Options) (store.Store, error) {
			st.swap(memory.New(o))
			return st, nil
		}})
	c := dial(t, url)
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
	publish := func(n int) {
		for i := range n {
			if _, _, err := s.Publish("r", json.RawMessage(itoa(i)), PublishOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(5)
	m := b.published()
	hand := func(msgs ...broker.RoomMessage) {
		for _, msg := range msgs {
			s.hub.HandleRoom(&msg)
		}
	}
	c.quiet(100 * time.Millisecond) // nothing before the broker hands it over
	e1 := m[0].Epoch

	hand(m[0], m[2]) // 2 is missing: read from the store, up to its head
	expectSeqs(t, c, e1, 1, 2, 3, 4, 5)
	hand(m[1], m[2], m[0], m[4], m[3]) // twice: dropped
	c.quiet(150 * time.Millisecond)

	// The store loses the room (a Redis restarted without persistence)
	// and a new history begins; the node hears of its third message
	// first.
	st.swap(memory.New(s.cfg.storeOptions(nil)))
	publish(3)
	m2 := b.published()[5:]
	e2 := m2[0].Epoch
	if e2 == e1 {
		t.Fatal("the new store gave the same epoch")
	}
	hand(m2[2])
	expectSeqs(t, c, e2, 1, 2, 3)
	// A message of the old history arriving late changes nothing.
	late := m[4]
	late.Seq = 6
	hand(late, m2[0], m2[1])
	c.quiet(300 * time.Millisecond)

	// HandleResync: the node reads what was published while its
	// subscription was not in effect.
	publish(2)
	s.hub.HandleResync([]string{"r", "no-such-room"})
	expectSeqs(t, c, e2, 4, 5)
	hand(b.published()[8:]...)
	c.quiet(150 * time.Millisecond)

	// A room that keeps no history: a gap cannot be filled, and the
	// messages after it still go out.
	q := dial(t, url)
	mustOK(t, q.cmd(map[string]any{"op": "join", "room": "quiet"}))
	for i := range 3 {
		if _, _, err := s.Publish("quiet", json.RawMessage(itoa(i)), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	qm := b.published()[10:]
	hand(qm[0], qm[2], qm[1])
	expectSeqs(t, q, "", 1, 3)

	// A join with the first history's epoch is told it did not recover.
	d := dial(t, url)
	r := mustOK(t, d.cmd(map[string]any{"op": "join", "room": "r", "since": 5, "epoch": e1}))
	if r.Recovered == nil || *r.Recovered || r.Epoch != e2 || r.Seq != 5 {
		t.Fatalf("join with the lost epoch: recovered %v, epoch %s seq %d; want false, %s, 5", r.Recovered, r.Epoch, r.Seq, e2)
	}
}

// TestClusterPresenceRateLimited: in a cluster a presence op asks every
// node, so it counts toward the connection's rate limit.
func TestClusterPresenceRateLimited(t *testing.T) {
	t.Parallel()
	b := &seqBroker{InProcess: broker.NewInProcess(), st: memory.New(store.Options{})}
	_, url := startServer(t, Config{Broker: b, PublishRate: 0.1, PublishBurst: 2,
		OpenStore: func(store.Options) (store.Store, error) { return b.st, nil }})
	c := dial(t, url)
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
	mustOK(t, c.cmd(map[string]any{"op": "presence", "room": "r"}))
	mustOK(t, c.cmd(map[string]any{"op": "presence", "room": "r"}))
	mustErr(t, c.cmd(map[string]any{"op": "presence", "room": "r"}), protocol.CodeRateLimited)
}
