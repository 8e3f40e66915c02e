package server

import (
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/broker"
	"github.com/rtsync/rtsync/server/store"
)

// room is a named group of this node's connections. Its history is the
// store's (Config.OpenStore) and its delivery between nodes the broker's;
// the room orders its publishes (pubMu) and fans its messages out to its
// members here (mu). Lock order: hub.mu, pubMu, mu, conn.stateMu.
type room struct {
	name string

	// pubMu orders the room's publishes, so that the store's seqs and
	// the broker's deliveries go in one order. pending are the publishes
	// appended to the store and waiting for their commit, oldest first.
	pubMu   sync.Mutex
	pending []pendingPub

	mu sync.Mutex
	// ready is set once seq and epoch were read from the store (or set
	// by a delivery).
	ready bool
	epoch string
	// seq is the last seq delivered to the members here.
	seq     uint64
	members map[*conn]struct{}
	// holds are members catching up on missed messages (recover.go):
	// live messages for them wait here instead of in their queues.
	holds map[*conn]*hold
	// snap is the members not held, as a slice for fast fan-out,
	// rebuilt after a change.
	snap []*conn
	// dead is set, with pubMu and mu held, when the hub dropped the room;
	// a holder of a stale pointer must look it up again.
	dead bool
	// syncing is set while the room reads from the store what its
	// members here may have missed (cluster.go: after a subscription
	// took effect, or a gap in seqs); messages arriving meanwhile wait
	// in backlog, which lost marks as overflowed.
	syncing bool
	lost    bool
	backlog []*broker.RoomMessage
	// pubs counts the messages delivered here, for stats; rate, its
	// moving rate, is fed by the server's rate sampler (metrics.go).
	// Neither needs mu.
	pubs atomic.Uint64
	rate rateMeter

	// fan is the queue of the room's fan-out goroutine (fanout.go).
	// fanInline, set by a caller that ends with unlockFan, has that
	// caller hand the items out itself when the queue was idle.
	fan       fanQueue
	fanInline bool
}

// pendingPub is a publish waiting for its commit.
type pendingPub struct {
	m      *broker.RoomMessage
	commit *store.Commit
	// replyTo, when set, is the connection whose pub this is: it is
	// answered once the message is durable.
	replyTo *conn
	replyID json.RawMessage
}

func newRoom(name string) *room {
	return &room{name: name, members: make(map[*conn]struct{})}
}

// loadLocked reads the room's seq and epoch from the store the first
// time they are needed. r.mu is held.
func (r *room) loadLocked(s *Server) {
	if r.ready {
		return
	}
	h, err := s.store.Head(r.name)
	if err != nil {
		s.hub.logLim.note(s.log, "store-read", "store: cannot read a room's head", "room", r.name, "err", err)
		return
	}
	r.seq, r.epoch, r.ready = h.Seq, h.Epoch, true
}

// snapshotLocked returns the members not held, rebuilding the list if
// stale.
func (r *room) snapshotLocked() []*conn {
	if r.snap == nil && len(r.members) > 0 {
		r.snap = make([]*conn, 0, len(r.members))
		for m := range r.members {
			if _, held := r.holds[m]; !held {
				r.snap = append(r.snap, m)
			}
		}
	}
	return r.snap
}

// appendMsg encodes a msg event. Room names and epochs are restricted to
// characters JSON needs no escape for, from is already JSON and data is
// compact JSON, so plain appends are a correct encoder here and keep
// publishing free of reflection.
func appendMsg(b []byte, room, epoch string, seq uint64, ts int64, from, data []byte) []byte {
	b = append(b, `{"type":"msg","room":"`...)
	b = append(b, room...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"epoch":"`...)
	b = append(b, epoch...)
	b = append(b, `","ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"from":`...)
	b = append(b, from...)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// encodeMsg encodes a stored message of room as a msg event.
func encodeMsg(room, epoch string, m store.Message) []byte {
	return appendMsg(make([]byte, 0, 96+len(room)+len(m.From)+len(m.Data)), room, epoch, m.Seq, m.TS, m.From, m.Data)
}

// publish appends a message to the store and has the broker deliver it
// to every member once it is durable, in seq order. p says who is
// answered then (replyTo); origin, with noecho, is not sent its own
// message; exclude lists client ids not sent it. It returns the seq and
// epoch at once, with the commit to wait for (nil: durable and delivered
// already). ok is false, with nothing done, when the room was dropped
// meanwhile: a publisher that is not a member (the server API) must look
// it up again. An error means the store refused the message: it was
// neither stored nor delivered.
func (r *room) publish(s *Server, p pendingPub, origin *conn, noecho bool, exclude []string, from, data []byte) (seq uint64, epoch string, commit *store.Commit, ok bool, err error) {
	if s.seq != nil {
		var originID string
		if noecho && origin != nil {
			originID = origin.id
		}
		seq, epoch, err = s.publishSequenced(r.name, originID, exclude, from, data)
		if err == nil {
			s.answerPub(p.replyTo, p.replyID, &broker.RoomMessage{Room: r.name, Seq: seq, Epoch: epoch}, nil)
		}
		return seq, epoch, nil, true, err
	}
	now := time.Now()
	r.pubMu.Lock()
	if r.dead {
		r.pubMu.Unlock()
		return 0, "", nil, false, nil
	}
	seq, epoch, commit, err = s.store.Append(r.name, now.UnixMilli(), from, data)
	if err != nil {
		r.pubMu.Unlock()
		s.metrics.storeRefused.Add(1)
		return 0, "", nil, true, err
	}
	m := broker.RoomMessage{Room: r.name, Seq: seq, Epoch: epoch, At: now.UnixNano(), Exclude: exclude, Local: origin,
		Event: appendMsg(make([]byte, 0, 96+len(r.name)+len(from)+len(data)), r.name, epoch, seq, now.UnixMilli(), from, data)}
	if noecho && origin != nil {
		m.Origin = origin.id
	}
	if commit == nil && len(r.pending) == 0 {
		// Durable already and nothing before it: deliver now, with m on
		// the stack (the in-process broker's path allocates nothing).
		s.deliverRoom(r, &m)
		s.answerPub(p.replyTo, p.replyID, &m, nil)
		r.pubMu.Unlock()
		return seq, epoch, nil, true, nil
	}
	p.m, p.commit = new(broker.RoomMessage), commit
	*p.m = m
	first := len(r.pending) == 0 || r.pending[len(r.pending)-1].commit != commit
	r.pending = append(r.pending, p)
	r.pubMu.Unlock()
	if first {
		// One flush per commit and room: the publishes sharing a group
		// commit go out together.
		commit.Then(func() { r.flush(s) })
	}
	return seq, epoch, commit, true, nil
}

// flush delivers, in order, the pending publishes whose commits are over.
// Commits report in append order, so each one's flush finds it first in
// line or already delivered by an earlier flush.
func (r *room) flush(s *Server) {
	r.pubMu.Lock()
	n := 0
	for n < len(r.pending) && r.pending[n].commit.Finished() {
		s.finishPub(r, &r.pending[n])
		n++
	}
	if n > 0 {
		clear(r.pending[:n])
		r.pending = r.pending[n:]
		if len(r.pending) == 0 {
			r.pending = nil
		}
	}
	r.pubMu.Unlock()
}

// finishPub hands a durable (or failed) publish to the broker and
// answers its publisher. A message the store failed to keep is delivered
// all the same, so live chat goes on while the disk is full; its
// publisher is told it is not stored. r.pubMu is held.
func (s *Server) finishPub(r *room, p *pendingPub) {
	err := p.commit.Err()
	s.deliverRoom(r, p.m)
	if err != nil {
		s.metrics.storeFailed.Add(1)
		s.hub.logLim.note(s.log, "store-write", "store: a message could not be stored; it was delivered live but is missing from history", "room", p.m.Room, "seq", p.m.Seq, "err", err)
	}
	s.answerPub(p.replyTo, p.replyID, p.m, err)
}

// deliverRoom hands a message of r to the broker. With the in-process
// broker, r delivers it at once (what the broker would do, without the
// lookup by name), so m does not escape; another broker gets a copy of
// its own.
func (s *Server) deliverRoom(r *room, m *broker.RoomMessage) {
	s.metrics.published.Add(1)
	if _, ok := s.broker.(*broker.InProcess); ok {
		r.deliver(s, m)
		return
	}
	cp := *m
	if err := s.broker.PublishRoom(&cp); err != nil {
		s.hub.logLim.note(s.log, "broker", "broker: cannot deliver a room message", "room", m.Room, "err", err)
	}
}

// answerPub answers a connection's pub, when c is set: its seq once the
// message is durable, or not_stored.
func (s *Server) answerPub(c *conn, id json.RawMessage, m *broker.RoomMessage, err error) {
	if c == nil {
		return
	}
	if err != nil {
		s.metrics.countError(protocol.CodeNotStored)
		c.send(protocol.Reply{Type: protocol.TypeReply, ID: id, Room: m.Room, Seq: m.Seq, Epoch: m.Epoch,
			Error: protocol.Errorf(protocol.CodeNotStored, "message %d was delivered to the room's members but could not be stored, so history and recovery will miss it: the server's store is failing (disk full?)", m.Seq)})
		return
	}
	c.send(protocol.Reply{Type: protocol.TypeReply, ID: id, OK: true, Room: m.Room, Seq: m.Seq, Epoch: m.Epoch})
}

// deliver fans m out to the members here: the broker's delivery to this
// node, in seq order.
func (r *room) deliver(s *Server, m *broker.RoomMessage) {
	r.mu.Lock()
	r.inlineFanLocked()
	delivered := r.deliverLocked(m)
	r.unlockFan(s)
	s.metrics.deliveries.Add(uint64(delivered))
}

// deliverLocked is deliver with r.mu held; it returns the members it
// queued m for, or will: the members not held get it from the room's
// fan-out (fanout.go), in the order of these calls.
func (r *room) deliverLocked(m *broker.RoomMessage) int {
	origin, _ := m.Local.(*conn)
	exclude := excludeSet(m.Exclude)
	it := fanItem{ev: m.Event, at: m.At, msg: true, exclude: exclude}
	if m.Origin != "" {
		if origin != nil {
			it.skip = origin
		} else {
			// Published on another node: skip the origin by id.
			it.skipID = m.Origin
		}
	}
	if m.Seq > r.seq || m.Epoch != r.epoch {
		r.seq, r.epoch = m.Seq, m.Epoch
	}
	r.ready = true
	r.pubs.Add(1)
	members := r.snapshotLocked()
	delivered := 0
	if len(members) > 0 {
		it.to = members
		r.queueFan(members[0].srv, it)
	}
	for c, h := range r.holds {
		if !it.skips(c) {
			h.add(m.Event)
			delivered++
		}
	}
	return delivered
}

// presenceLocked sends a join or leave event about c to the other members,
// unless the room is past the presence limit.
func (r *room) presenceLocked(s *Server, typ string, c *conn) {
	if len(r.members) > s.cfg.PresenceMaxMembers {
		return
	}
	_, uid, name := c.identity()
	b, err := protocol.Marshal(protocol.Presence{Type: typ, Room: r.name, Client: c.id, UID: uid, Name: name})
	if err != nil {
		return
	}
	if members := r.snapshotLocked(); len(members) > 0 {
		r.queueFan(s, fanItem{ev: b, to: members, skip: c})
	}
	s.publishPresence(r.name, b)
}

// joinMode says how a client learns of a join.
type joinMode int

const (
	// joinQuiet: the application's join as the client connects; the
	// client learns its rooms from the welcome and the messages.
	joinQuiet joinMode = iota
	// joinNotify: the server API's join on a live client's behalf; the
	// client is sent a join event about itself, since it sent no join.
	joinNotify
	// joinReply: the client's own join (without since): it gets a reply.
	joinReply
)

// join adds c, sending it what mode says under the lock, so that live
// messages can only come after. It returns false, doing nothing, when the
// room was dropped meanwhile.
func (r *room) join(s *Server, c *conn, id json.RawMessage, mode joinMode) bool {
	r.mu.Lock()
	r.inlineFanLocked()
	defer r.unlockFan(s)
	if r.dead {
		return false
	}
	if c.isClosed() {
		// Closed while joining: hub.remove may already have left this
		// room, so adding c now would leave a ghost member.
		return true
	}
	r.loadLocked(s)
	_, already := r.members[c]
	switch mode {
	case joinReply:
		c.send(protocol.Reply{Type: protocol.TypeReply, ID: id, OK: true, Room: r.name, Seq: r.seq, Epoch: r.epoch})
	case joinNotify:
		if !already {
			r.notifySelfLocked(protocol.TypeJoin, c)
		}
	}
	if !already {
		r.addLocked(s, c)
	}
	return true
}

// addLocked makes c a member and tells the others.
func (r *room) addLocked(s *Server, c *conn) {
	r.members[c] = struct{}{}
	r.snap = nil
	r.presenceLocked(s, protocol.TypeJoin, c)
	s.memberJoined(r.name, c)
}

// leave removes c; with self it also sends c its own leave event, after
// the last message of the room it was sent (for leaves the server makes
// on a client's behalf). It reports whether c was a member.
func (r *room) leave(s *Server, c *conn, self bool) bool {
	r.mu.Lock()
	r.inlineFanLocked()
	defer r.unlockFan(s)
	// A member catching up is held, not yet a member: letting it go
	// stops its catch-up (recover.go).
	delete(r.holds, c)
	if _, ok := r.members[c]; !ok {
		return false
	}
	delete(r.members, c)
	r.snap = nil
	r.presenceLocked(s, protocol.TypeLeave, c)
	s.memberLeft(r.name, c)
	if self {
		r.notifySelfLocked(protocol.TypeLeave, c)
	}
	return true
}

// notifySelfLocked sends c a join or leave event about itself.
func (r *room) notifySelfLocked(typ string, c *conn) {
	_, uid, name := c.identity()
	if b, err := protocol.Marshal(protocol.Presence{Type: typ, Room: r.name, Client: c.id, UID: uid, Name: name}); err == nil {
		r.sendOrderedLocked(c, b, false)
	}
}

// dissolve takes every member out of the room (ungroup). Each member gets
// its own leave event and no other: they all leave, so events about one
// another would be n² noise. It returns how many members there were.
func (r *room) dissolve(s *Server) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.members)
	for m := range r.members {
		s.memberLeft(r.name, m)
		// room.mu before conn.stateMu, as in presenceLocked.
		m.stateMu.Lock()
		if m.rooms[r.name] == r {
			delete(m.rooms, r.name)
		}
		m.stateMu.Unlock()
		r.notifySelfLocked(protocol.TypeLeave, m)
	}
	for m := range r.holds {
		m.stateMu.Lock()
		if m.rooms[r.name] == r {
			delete(m.rooms, r.name)
		}
		m.stateMu.Unlock()
	}
	clear(r.members)
	clear(r.holds)
	r.snap = nil
	return n
}

func (r *room) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members)
}
