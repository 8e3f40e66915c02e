package server

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/broker"
	"github.com/rtsync/rtsync/server/store"
)

// hub indexes the live connections by client id and uid, and the rooms by
// name.
type hub struct {
	srv *Server

	mu    sync.RWMutex
	conns map[string]*conn
	uids  map[string]map[*conn]struct{}
	rooms map[string]*room

	count atomic.Int64
	// memHigh is set while the heap is past Config.MaxMemory: new
	// connections are refused (limits.go).
	memHigh atomic.Bool
	// logLim keeps the logs of limits that bite to one line per kind
	// every limitLogEvery.
	logLim rateLog
	// emptyMu guards empty, made by waitEmpty when it has to wait and
	// closed when count next drops to zero.
	emptyMu sync.Mutex
	empty   chan struct{}
	// transports counts the connections by transport kind (a
	// *atomic.Int64 per kind), as count does: from admit to release or
	// remove.
	transports sync.Map
}

func newHub(s *Server) *hub {
	return &hub{srv: s, conns: make(map[string]*conn), uids: make(map[string]map[*conn]struct{}), rooms: make(map[string]*room)}
}

// admit counts c in unless the server is full. The connection is not
// reachable until register; if it never gets there, release gives its
// place back.
func (h *hub) admit(c *conn) bool {
	if h.memHigh.Load() {
		h.srv.metrics.memoryRefused.Add(1)
		return false
	}
	if h.count.Add(1) > int64(h.srv.cfg.MaxConnections) {
		h.countDown()
		return false
	}
	h.transportCount(c.t.Kind()).Add(1)
	return true
}

// transportCount returns the connection counter of a transport kind.
func (h *hub) transportCount(kind string) *atomic.Int64 {
	if n, ok := h.transports.Load(kind); ok {
		return n.(*atomic.Int64)
	}
	n, _ := h.transports.LoadOrStore(kind, new(atomic.Int64))
	return n.(*atomic.Int64)
}

// byTransport returns the connection counts by transport kind; ws and tcp
// are always there, so readers need not tell zero from missing.
func (h *hub) byTransport() map[string]int64 {
	out := map[string]int64{"ws": 0, "tcp": 0}
	h.transports.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// register makes an admitted connection reachable by client id and uid,
// unless it was closed meanwhile (false: call release). Once registered,
// remove gives its place back.
func (h *hub) register(c *conn) bool {
	c.stateMu.Lock()
	uid := c.uid
	c.stateMu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.isClosed() {
		return false
	}
	h.conns[c.id] = c
	h.subscribe(broker.TopicClient, c.id)
	h.bindLocked(c, uid)
	return true
}

// release gives back the place of an admitted connection that was never
// registered.
func (h *hub) release(c *conn) {
	h.countDown()
	h.transportCount(c.t.Kind()).Add(-1)
}

// countDown takes one connection off count and, when that was the last,
// wakes waitEmpty.
func (h *hub) countDown() {
	if h.count.Add(-1) != 0 {
		return
	}
	h.emptyMu.Lock()
	if h.empty != nil {
		close(h.empty)
		h.empty = nil
	}
	h.emptyMu.Unlock()
}

// waitEmpty returns true once no connection is counted, or false when ctx
// ends first.
func (h *hub) waitEmpty(ctx context.Context) bool {
	for {
		// count is read under emptyMu: a countDown to zero after the read
		// finds the channel made here and closes it.
		h.emptyMu.Lock()
		if h.count.Load() <= 0 {
			h.emptyMu.Unlock()
			return true
		}
		if h.empty == nil {
			h.empty = make(chan struct{})
		}
		ch := h.empty
		h.emptyMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// remove unregisters c and takes it out of every room. Called once, by
// conn.close.
func (h *hub) remove(c *conn) {
	c.stateMu.Lock()
	uid := c.uid
	rooms := c.rooms
	c.rooms = nil
	c.stateMu.Unlock()

	h.mu.Lock()
	if _, ok := h.conns[c.id]; ok {
		delete(h.conns, c.id)
		h.unsubscribe(broker.TopicClient, c.id)
		h.countDown()
		h.transportCount(c.t.Kind()).Add(-1)
	}
	h.unbindLocked(c, uid)
	h.mu.Unlock()

	for _, r := range rooms {
		r.leave(h.srv, c, false)
		h.dropIfUnused(r)
	}
}

func (h *hub) bindLocked(c *conn, uid string) {
	if uid == "" {
		return
	}
	set := h.uids[uid]
	if set == nil {
		set = make(map[*conn]struct{}, 1)
		h.uids[uid] = set
		h.subscribe(broker.TopicUser, uid)
	}
	set[c] = struct{}{}
}

func (h *hub) unbindLocked(c *conn, uid string) {
	if set := h.uids[uid]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.uids, uid)
			h.unsubscribe(broker.TopicUser, uid)
		}
	}
}

// subscribe and unsubscribe tell the broker what this node now has (or
// no longer has). They run under h.mu, so that the broker hears of each
// topic's first and last in order; the in-process broker does nothing.
func (h *hub) subscribe(kind broker.TopicKind, name string) {
	if err := h.srv.broker.Subscribe(broker.Topic{Kind: kind, Name: name}); err != nil {
		h.logLim.note(h.srv.log, "broker", "broker: cannot subscribe", "topic", name, "err", err)
	}
}

func (h *hub) unsubscribe(kind broker.TopicKind, name string) {
	if err := h.srv.broker.Unsubscribe(broker.Topic{Kind: kind, Name: name}); err != nil {
		h.logLim.note(h.srv.log, "broker", "broker: cannot unsubscribe", "topic", name, "err", err)
	}
}

// setUID moves c from its old uid's set to uid's.
func (h *hub) setUID(c *conn, old, uid string) {
	h.mu.Lock()
	h.unbindLocked(c, old)
	if !c.isClosed() {
		h.bindLocked(c, uid)
	}
	h.mu.Unlock()
}

func (h *hub) client(id string) *conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.conns[id]
}

func (h *hub) byUID(uid string) []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*conn, 0, len(h.uids[uid]))
	for c := range h.uids[uid] {
		out = append(out, c)
	}
	return out
}

// room returns the named room, creating it when create is set. It returns
// nil for a missing room when create is false, and when the server holds
// Config.MaxRooms rooms and none could make way (reclaimLocked).
func (h *hub) room(name string, create bool) *room {
	h.mu.RLock()
	r := h.rooms[name]
	h.mu.RUnlock()
	if r != nil || !create {
		return r
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if r = h.rooms[name]; r == nil {
		if len(h.rooms) >= h.srv.cfg.MaxRooms && !h.reclaimLocked() {
			h.srv.metrics.roomsRefused.Add(1)
			return nil
		}
		r = newRoom(name)
		h.rooms[name] = r
		h.subscribe(broker.TopicRoom, name)
	}
	return r
}

// errRoomLimit is the answer to a join or publish that would make a room
// past Config.MaxRooms when every room has members.
func (h *hub) errRoomLimit() *protocol.Error {
	return protocol.Errorf(protocol.CodeServerLimit, "the server holds %d rooms, its limit (--max-rooms-total), and all have members; use an existing room or try again later", h.srv.cfg.MaxRooms)
}

// reclaimLocked makes way for new rooms when the hub holds MaxRooms: it
// forgets rooms without members, nothing pending and no one catching up
// (their history is the store's and stays), a hundredth of the rooms at
// a time so that the scan is paid once per many new rooms. It reports
// whether any went. h.mu is held (hub.mu before room.pubMu and room.mu).
func (h *hub) reclaimLocked() bool {
	k := max(1, len(h.rooms)/100)
	n := 0
	for _, r := range h.rooms {
		if n == k {
			break
		}
		if h.dropLocked(r) {
			n++
		}
	}
	h.srv.metrics.roomsReclaimed.Add(uint64(n))
	if n > 0 {
		h.logLim.note(h.srv.log, "rooms", "at the room limit (--max-rooms-total): forgot rooms without members", "rooms", n, "max_rooms", h.srv.cfg.MaxRooms)
	}
	return n > 0
}

// dropLocked forgets r when it is unused: no members, no publish under
// way or pending, no one catching up. A publisher busy in the store holds
// pubMu; then the room is in use and stays. h.mu is held.
func (h *hub) dropLocked(r *room) bool {
	if !r.pubMu.TryLock() {
		return false
	}
	defer r.pubMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead || len(r.members) > 0 || len(r.pending) > 0 || len(r.holds) > 0 {
		return false
	}
	r.dead = true
	delete(h.rooms, r.name)
	h.unsubscribe(broker.TopicRoom, r.name)
	return true
}

// dropIfUnused forgets r when it is unused, so that rooms clients merely
// passed through do not accumulate; the history stays in the store.
func (h *hub) dropIfUnused(r *room) {
	h.mu.Lock()
	if h.rooms[r.name] == r {
		h.dropLocked(r)
	}
	h.mu.Unlock()
}

// sweepRooms forgets the rooms left unused (a publisher that left before
// its message was durable leaves one behind) and lets the store trim by
// age.
func (h *hub) sweepRooms(now time.Time) {
	for _, r := range h.appendRooms(nil) {
		if r.size() == 0 {
			h.dropIfUnused(r)
		}
	}
	if sw, ok := h.srv.store.(store.Sweeper); ok {
		sw.Sweep(now)
	}
}

// appendRooms appends every room to rooms and returns the result.
func (h *hub) appendRooms(rooms []*room) []*room {
	h.mu.RLock()
	defer h.mu.RUnlock()
	rooms = slices.Grow(rooms, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

// snapshot returns the live connections.
func (h *hub) snapshot() []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		out = append(out, c)
	}
	return out
}
