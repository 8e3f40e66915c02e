package server

import (
	"sync"
	"testing"
	"time"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/memory"
)

// gatedStore is a memory store whose appends are durable only when the
// test opens the gate: it stands for a disk whose sync is slow.
type gatedStore struct {
	store.Store
	mu      sync.Mutex
	pending []*store.Commit
}

func (g *gatedStore) Append(room string, ts int64, from, data []byte) (uint64, string, *store.Commit, error) {
	seq, epoch, _, err := g.Store.Append(room, ts, from, data)
	c := store.NewCommit()
	g.mu.Lock()
	g.pending = append(g.pending, c)
	g.mu.Unlock()
	return seq, epoch, c, err
}

// open makes every append so far durable, in order.
func (g *gatedStore) open() {
	g.mu.Lock()
	p := g.pending
	g.pending = nil
	g.mu.Unlock()
	for _, c := range p {
		c.Finish(nil)
	}
}

// gatedRoom starts a server on a gated store (no presence events) with a
// publisher and a subscriber in room.
func gatedRoom(t *testing.T, room string) (g *gatedStore, s *Server, url string, pub, sub *wsClient) {
	t.Helper()
	g = &gatedStore{}
	s, url = startServer(t, Config{PresenceMaxMembers: 1, OpenStore: func(o store.Options) (store.Store, error) {
		g.Store = memory.New(o)
		return g, nil
	}})
	pub, sub = dial(t, url), dial(t, url)
	mustOK(t, pub.cmd(map[string]any{"op": "join", "room": room}))
	mustOK(t, sub.cmd(map[string]any{"op": "join", "room": room}))
	return g, s, url, pub, sub
}

// TestAckAfterDurable: a pub is answered, and its message reaches the
// members, only once the store says it is durable; the publisher's reader
// goes on meanwhile. A client that joins with the seq of a message still
// on its way is told nothing is missed and gets it live.
func TestAckAfterDurable(t *testing.T) {
	t.Parallel()
	g, s, url, pub, sub := gatedRoom(t, "d")

	pub.sendRaw(`{"op":"pub","room":"d","data":1,"noecho":true,"id":"p1"}`)
	// The reader is free: a ping is answered while the pub waits.
	if r := pub.cmd(map[string]any{"op": "ping"}); !r.Pong {
		t.Fatalf("ping reply %+v", r)
	}
	pub.quiet(100 * time.Millisecond)
	sub.quiet(50 * time.Millisecond)

	// A client that read seq 1 (history shows what the store holds)
	// joins with it before the message is durable.
	late := dial(t, url)
	r := mustOK(t, late.cmd(map[string]any{"op": "join", "room": "d", "since": 1}))
	if !*r.Recovered || *r.Replayed != 0 {
		t.Fatalf("join with the seq of a message on its way: %+v, want recovered, nothing replayed", r)
	}

	g.open()
	if r := pub.expect(protocol.TypeReply); string(r.ID) != `"p1"` || !r.OK || r.Seq != 1 {
		t.Fatalf("pub reply after the commit: %+v", r)
	}
	if m := sub.expect(protocol.TypeMsg); m.Seq != 1 {
		t.Fatalf("member got %+v", m)
	}
	if m := late.expect(protocol.TypeMsg); m.Seq != 1 {
		t.Fatalf("late joiner got %+v", m)
	}
	if st := s.Stats(); st.Published != 1 || st.Store.Failed != 0 {
		t.Fatalf("published %d, failed %d", st.Published, st.Store.Failed)
	}
}

// TestNotStored: a commit that fails delivers the message all the same
// and answers its publisher not_stored with the seq.
func TestNotStored(t *testing.T) {
	t.Parallel()
	g, s, _, pub, sub := gatedRoom(t, "f")
	pub.sendRaw(`{"op":"pub","room":"f","data":1,"noecho":true,"id":1}`)
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.pending) == 1 })
	g.mu.Lock()
	c := g.pending[0]
	g.pending = nil
	g.mu.Unlock()
	c.Finish(store.ErrUnavailable)
	r := pub.expect(protocol.TypeReply)
	if r.OK || r.Error == nil || r.Error.Code != protocol.CodeNotStored || r.Seq != 1 {
		t.Fatalf("reply %+v, want not_stored with seq 1", r)
	}
	if m := sub.expect(protocol.TypeMsg); m.Seq != 1 {
		t.Fatalf("member got %+v, want the message live", m)
	}
	if st := s.Stats(); st.Store.Failed != 1 || st.Errors[protocol.CodeNotStored] != 1 {
		t.Fatalf("failed %d, not_stored errors %d", st.Store.Failed, st.Errors[protocol.CodeNotStored])
	}
}
