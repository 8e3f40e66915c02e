package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"time"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/broker"
)

// The one set of connection operations: join, leave, identity (uid
// binding), direct send and the offline inbox. The protocol handler
// (handle.go), the server API (ops.go), the connect hook and the broker's
// control messages (node.go) all call these, so each rule lives once.

// enterRoom puts c in the room cmd names, as mode says: joinReply answers
// (and, with cmd.Since, recovers), joinNotify sends c a join event about
// itself, joinQuiet sends c nothing. bound counts a room it makes against
// c's share (MaxRoomsCreatedPerConn): true for the client's own joins.
func (c *conn) enterRoom(cmd *protocol.Command, mode joinMode, bound bool) *protocol.Error {
	for {
		r, e := c.roomFor(cmd.Room, bound)
		if e != nil {
			return e
		}
		var ok bool
		if mode == joinReply && cmd.Since != nil {
			ok = c.recoverJoin(r, cmd)
		} else {
			ok = r.join(c.srv, c, cmd.ID, mode)
		}
		if ok {
			return nil
		}
		// The room was dropped between lookup and join: forget the stale
		// pointer and look again.
		c.stateMu.Lock()
		if c.rooms[cmd.Room] == r {
			delete(c.rooms, cmd.Room)
		}
		c.stateMu.Unlock()
	}
}

// exitRoom takes c out of room; with self c is sent a leave event about
// itself. It reports whether c was in the room.
func (c *conn) exitRoom(room string, self bool) bool {
	c.stateMu.Lock()
	r := c.rooms[room]
	delete(c.rooms, room)
	c.stateMu.Unlock()
	if r == nil {
		return false
	}
	was := r.leave(c.srv, c, self)
	c.srv.hub.dropIfUnused(r)
	return was
}

// identityChange is a change of a connection's identity; nil fields and
// empty meta stay as they are.
type identityChange struct {
	uid, name *string
	meta      json.RawMessage
	// answer, when set, is called with the new identity once it is in
	// place (the uid index included) and before the new uid's offline
	// messages go out: the hello op's reply.
	answer func(uid, name string)
}

// rebind changes c's identity, keeps the uid index in step and, when c
// is bound to a new uid, hands it that uid's offline messages. It returns
// the identity after the change.
func (s *Server) rebind(c *conn, ch identityChange) (uid, name string) {
	c.stateMu.Lock()
	old := c.uid
	if ch.uid != nil {
		c.uid = *ch.uid
	}
	if ch.name != nil {
		c.name = *ch.name
	}
	if len(ch.meta) > 0 {
		c.meta = ch.meta
	}
	c.from = nil
	uid, name = c.uid, c.name
	c.stateMu.Unlock()
	if uid != old {
		s.hub.setUID(c, old, uid)
	}
	if ch.answer != nil {
		ch.answer(uid, name)
	}
	if uid != old {
		// What the old uid's inbox handed over says nothing of the new's.
		c.inboxSent.Store(0)
		if c.welcomed.Load() {
			s.deliverInbox(c, uid, 0)
			s.recheckInbox(c, uid)
		}
	}
	return uid, name
}

// setIdentity changes c's uid and name, "" leaving either as it is.
func (s *Server) setIdentity(c *conn, uid, name string) {
	var ch identityChange
	if uid != "" {
		ch.uid = &uid
	}
	if name != "" {
		ch.name = &name
	}
	s.rebind(c, ch)
}

// appendDirect encodes a direct event. inbox is the message's id in its
// uid's inbox, 0 for a live message; redelivered says the inbox handed it
// out before.
func appendDirect(b, from []byte, ts int64, data []byte, inbox uint64, redelivered bool) []byte {
	b = append(b, `{"type":"direct","from":`...)
	b = append(b, from...)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	if inbox > 0 {
		b = append(b, `,"inbox":`...)
		b = strconv.AppendUint(b, inbox, 10)
		if redelivered {
			b = append(b, `,"redelivered":true`...)
		}
	}
	return append(b, '}')
}

func directEvent(from, data []byte) []byte {
	return appendDirect(make([]byte, 0, 64+len(from)+len(data)), from, nowMS(), data, 0, false)
}

// uidLocks serialize, per uid (striped), the choice between live delivery
// and the inbox with the hand-over of the inbox to a connection that
// binds the uid, so that a message sent as the uid comes online is
// either delivered live or found in the inbox, never lost between.
type uidLocks struct {
	seed  maphash.Seed
	locks [64]sync.Mutex
}

func (l *uidLocks) lock(uid string) *sync.Mutex {
	m := &l.locks[maphash.String(l.seed, uid)%uint64(len(l.locks))]
	m.Lock()
	return m
}

// errNoInbox: the uid is offline and the store would not keep the message.
var errNoInbox = errors.New("not stored")

// directResult is what a direct send to a uid did.
type directResult struct {
	// delivered counts the connections it was queued for.
	delivered int
	// inbox is its id in the uid's inbox when the uid was offline and
	// the message was stored (and durable) for it.
	inbox uint64
}

// sendToUID delivers a direct message to every connection of uid or,
// when there is none, stores it in uid's inbox and waits until it is
// durable. from is the encoded sender.
func (s *Server) sendToUID(uid string, from, data []byte) (directResult, error) {
	ts := nowMS()
	mu := s.uidLocks.lock(uid)
	event := appendDirect(make([]byte, 0, 64+len(from)+len(data)), from, ts, data, 0, false)
	n, err := s.broker.PublishUser(uid, event)
	if err != nil && s.clustered() {
		// The cluster's broker is away: this node's connections of uid
		// still get it.
		if n = s.hub.HandleUser(uid, event); n > 0 {
			err = nil
		}
	}
	if err != nil || n > 0 {
		mu.Unlock()
		s.metrics.directs.Add(uint64(n))
		return directResult{delivered: n}, err
	}
	id, commit, err := s.store.InboxAppend(uid, ts, from, data)
	mu.Unlock()
	if err == nil {
		err = commit.Wait()
	}
	if err != nil {
		s.hub.logLim.note(s.log, "inbox", "store: an offline direct message could not be stored", "uid", uid, "err", err)
		return directResult{}, fmt.Errorf("%w: %w", errNoInbox, err)
	}
	s.metrics.inboxStored.Add(1)
	return directResult{inbox: id}, nil
}

// sendToClient delivers a direct message to one connection, wherever it
// is; false when there is no such connection.
func (s *Server) sendToClient(client string, from, data []byte) (bool, error) {
	event := directEvent(from, data)
	ok, err := s.broker.PublishClient(client, event)
	if err != nil && s.clustered() && s.hub.HandleClient(client, event) {
		// The cluster's broker is away; the client is here.
		ok, err = true, nil
	}
	if ok {
		s.metrics.directs.Add(1)
	}
	return ok, err
}

// inboxPageLimit caps the offline messages handed over at once; the
// next page goes when the client acknowledges this one.
const inboxPageLimit = 100

// deliverInbox hands c, bound to uid, the messages of uid's inbox with
// ids after after: one page, at most half the send queue, marked
// redelivered when the inbox handed them out before. The next page goes
// out when the client acknowledges (ack).
func (s *Server) deliverInbox(c *conn, uid string, after uint64) {
	if uid == "" || c.isClosed() {
		return
	}
	mu := s.uidLocks.lock(uid)
	defer mu.Unlock()
	msgs, err := s.store.InboxRead(uid, after, inboxPageLimit, s.replyBudget())
	if err != nil {
		s.hub.logLim.note(s.log, "inbox", "store: cannot read an offline inbox", "uid", uid, "err", err)
		return
	}
	if len(msgs) == 0 {
		return
	}
	for _, d := range msgs {
		c.enqueue(appendDirect(make([]byte, 0, 96+len(d.From)+len(d.Data)), d.From, d.TS, d.Data, d.ID, d.Delivered))
	}
	last := msgs[len(msgs)-1].ID
	c.inboxSent.Store(last)
	s.metrics.inboxDelivered.Add(uint64(len(msgs)))
	if err := s.store.InboxDelivered(uid, last); err != nil {
		s.hub.logLim.note(s.log, "inbox", "store: cannot mark offline messages delivered", "uid", uid, "err", err)
	}
}

// ack is the ack op: the client confirms the offline messages up to an
// inbox id; they leave the inbox, and the next page follows.
func (c *conn) ack(cmd *protocol.Command) {
	_, uid, _ := c.identity()
	if uid == "" {
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeBadRequest, "ack needs a uid: this connection has none, so it has no inbox"))
		return
	}
	if cmd.Inbox == 0 {
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeBadRequest, "ack needs inbox: the id of the last direct message received with one"))
		return
	}
	n, err := c.srv.store.InboxAck(uid, cmd.Inbox)
	if err != nil {
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeStoreUnavailable, "the acknowledgement could not be stored; send it again: %v", err))
		return
	}
	c.srv.metrics.inboxAcked.Add(uint64(n))
	c.send(protocol.Reply{Type: protocol.TypeReply, ID: cmd.ID, OK: true, Acked: &n})
	if sent := c.inboxSent.Load(); sent > 0 && cmd.Inbox >= sent {
		c.srv.deliverInbox(c, uid, sent)
	}
}

// The node's side of the broker (broker.Handler): what reaches this node.

// HandleRoom delivers a room message to the members here.
func (h *hub) HandleRoom(m *broker.RoomMessage) {
	r := h.room(m.Room, false)
	switch {
	case r == nil:
	case h.srv.clustered():
		h.srv.deliverSequenced(r, m)
	default:
		r.deliver(h.srv, m)
	}
}

// HandleUser delivers a direct event to the connections of uid here.
func (h *hub) HandleUser(uid string, event []byte) int {
	n := 0
	for _, c := range h.byUID(uid) {
		if c.welcomed.Load() && !c.isClosed() {
			c.enqueue(event)
			n++
		}
	}
	return n
}

// HandleClient delivers a direct event to the connection client here.
func (h *hub) HandleClient(client string, event []byte) bool {
	c := h.client(client)
	if c == nil || !c.welcomed.Load() || c.isClosed() {
		return false
	}
	c.enqueue(event)
	return true
}

// HandleControl runs an operation on the connections it names here.
func (h *hub) HandleControl(ctl broker.Control) bool {
	s := h.srv
	var conns []*conn
	if ctl.Client != "" {
		if c, err := s.live(ctl.Client); err == nil {
			conns = []*conn{c}
		}
	} else if ctl.UID != "" {
		conns = s.liveByUID(ctl.UID)
	}
	for _, c := range conns {
		switch ctl.Kind {
		case broker.ControlKick:
			c.kick(ctl.Reason)
		case broker.ControlJoin:
			_ = c.enterRoom(&protocol.Command{Op: protocol.OpJoin, Room: ctl.Room}, joinNotify, false)
		case broker.ControlLeave:
			c.exitRoom(ctl.Room, true)
		case broker.ControlBindUID:
			uid := string(ctl.Value)
			s.rebind(c, identityChange{uid: &uid})
		case broker.ControlSession:
			c.setSession(ctl.Value)
		}
	}
	return len(conns) > 0
}

func nowMS() int64 { return time.Now().UnixMilli() }

// storeKnows reports whether the store has seen messages of room.
func (s *Server) storeKnows(room string) bool {
	h, err := s.store.Head(room)
	return err == nil && h.Seq > 0
}

// HandleResync reads what the members of rooms here may have missed
// (cluster.go).
func (h *hub) HandleResync(rooms []string) { h.srv.resync(rooms) }

// HandleQuery answers another node's query (clusterops.go).
func (h *hub) HandleQuery(kind string, args []byte) []byte { return h.srv.answerQuery(kind, args) }
