package server

import (
	"context"
	"sync"
	"time"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/broker"
	"github.com/rtsync/rtsync/server/store"
)

// A node in a cluster (Config.Broker a Sequencer, such as the Redis
// broker). The broker assigns each room message its seq as it appends it
// to the shared history and publishes it in the same step, so every node
// gets a room's messages in seq order, whoever published them; a node's
// own members get its messages back through the broker like everyone
// else's. A node delivers each seq once and in order: it drops what it
// delivered already and, when a seq is missing (its subscription was
// late, or its connection to the broker came back), it reads the missing
// ones from the store before going on (resync). Presence events go to
// the node's own members at once and to the other nodes through the
// broker. The server API's calls that concern clients on other nodes ask
// those nodes (clusterops.go).

// cluster holds what the broker offers beyond broker.Broker; nil fields
// are capabilities it lacks (all of them for the in-process broker).
type cluster struct {
	seq     broker.Sequencer
	querier broker.Querier
	members broker.Membership
	health  broker.Health
	// presence carries join and leave events to the broker in order,
	// off the room locks; presenceMu guards its closing at shutdown,
	// after which sendPresence, having sent what was left, closes
	// presenceDone.
	presence       chan presenceEvent
	presenceMu     sync.RWMutex
	presenceClosed bool
	presenceDone   chan struct{}
}

type presenceEvent struct {
	room  string
	event []byte
}

// presenceQueueLen bounds the presence events waiting for the broker;
// past it they are dropped (and counted in the log), as the events of a
// room past the presence limit are.
const presenceQueueLen = 4096

func (c *cluster) init(b broker.Broker) {
	c.seq, _ = b.(broker.Sequencer)
	c.querier, _ = b.(broker.Querier)
	c.members, _ = b.(broker.Membership)
	c.health, _ = b.(broker.Health)
	if c.seq != nil {
		c.presence = make(chan presenceEvent, presenceQueueLen)
		c.presenceDone = make(chan struct{})
	}
}

// clustered reports whether this node is one of several.
func (s *Server) clustered() bool { return s.seq != nil }

// publishSequenced appends a room message through the broker, which
// assigns its seq and delivers it to every node's members, this one's
// included. originID, when set, is a publisher with noecho.
func (s *Server) publishSequenced(room, originID string, exclude []string, from, data []byte) (uint64, string, error) {
	now := time.Now()
	m := broker.RoomMessage{Room: room, At: now.UnixNano(), TS: now.UnixMilli(), From: from, Data: data,
		Origin: originID, Exclude: exclude}
	if err := s.seq.AppendRoom(&m); err != nil {
		s.metrics.storeRefused.Add(1)
		return 0, "", err
	}
	s.metrics.published.Add(1)
	return m.Seq, m.Epoch, nil
}

// publishPresence hands a join or leave event of room to the broker for
// the other nodes' members. It never blocks: it runs under room locks.
func (s *Server) publishPresence(room string, event []byte) {
	if s.presence == nil {
		return
	}
	s.presenceMu.RLock()
	defer s.presenceMu.RUnlock()
	if s.presenceClosed {
		return
	}
	select {
	case s.presence <- presenceEvent{room: room, event: event}:
	default:
		s.hub.logLim.note(s.log, "presence", "cluster: too many presence events waiting for the broker; some were not sent to the other nodes")
	}
}

// sendPresence is the goroutine that hands presence events to the
// broker in the order they came, until stopPresence.
func (s *Server) sendPresence() {
	defer close(s.presenceDone)
	for e := range s.presence {
		if err := s.broker.PublishRoom(&broker.RoomMessage{Room: e.room, Event: e.event, Presence: true}); err != nil {
			s.hub.logLim.note(s.log, "broker", "broker: cannot send a presence event to the other nodes", "room", e.room, "err", err)
		}
	}
}

// stopPresence, at shutdown once the clients are gone, lets sendPresence
// send the leave events still queued (until ctx ends) and stop.
func (s *Server) stopPresence(ctx context.Context) {
	if s.presence == nil {
		return
	}
	s.presenceMu.Lock()
	if !s.presenceClosed {
		s.presenceClosed = true
		close(s.presence)
	}
	s.presenceMu.Unlock()
	select {
	case <-s.presenceDone:
	case <-ctx.Done():
	}
}

// memberJoined and memberLeft tell the broker who is in which room here,
// so that the other nodes send the leave events if this node dies.
func (s *Server) memberJoined(room string, c *conn) {
	if s.members == nil {
		return
	}
	s.members.Joined(room, c.id, s.leaveEvent(room, c))
}

func (s *Server) memberLeft(room string, c *conn) {
	if s.members != nil {
		s.members.Left(room, c.id)
	}
}

// deliverSequenced delivers a message from a Sequencer to the members of
// r here: each seq once, in order, reading from the store what is
// missing.
func (s *Server) deliverSequenced(r *room, m *broker.RoomMessage) {
	r.mu.Lock()
	if m.Presence {
		// In the room's order with its messages (fanout.go).
		if members := r.snapshotLocked(); len(members) > 0 {
			r.queueFan(s, fanItem{ev: m.Event, to: members})
		}
		r.mu.Unlock()
		return
	}
	if r.syncing {
		r.holdBackLocked(m)
		r.mu.Unlock()
		return
	}
	if r.ready {
		if m.Epoch == r.epoch && m.Seq <= r.seq {
			r.mu.Unlock()
			return
		}
		// Missed some: those before it in its epoch (all of a new
		// epoch's before it). Read them, then this one.
		if m.Epoch == r.epoch && m.Seq > r.seq+1 || m.Epoch != r.epoch && m.Seq > 1 {
			r.syncing = true
			r.holdBackLocked(m)
			r.mu.Unlock()
			go s.catchUp(r)
			return
		}
	}
	encodeRoomMessage(m)
	n := r.deliverLocked(m)
	r.mu.Unlock()
	s.metrics.deliveries.Add(uint64(n))
}

// encodeRoomMessage encodes the msg event of a message that came from
// another node as its parts.
func encodeRoomMessage(m *broker.RoomMessage) {
	if m.Event == nil {
		m.Event = appendMsg(make([]byte, 0, 96+len(m.Room)+len(m.From)+len(m.Data)), m.Room, m.Epoch, m.Seq, m.TS, m.From, m.Data)
	}
}

// leaveEvent is the leave event of c in room.
func (s *Server) leaveEvent(room string, c *conn) []byte {
	_, uid, name := c.identity()
	b, _ := protocol.Marshal(protocol.Presence{Type: protocol.TypeLeave, Room: room, Client: c.id, UID: uid, Name: name})
	return b
}

// backlogLimit bounds the messages a room keeps aside while it reads
// from the store; past it they are dropped and read from the store too.
const backlogLimit = 10000

func (r *room) holdBackLocked(m *broker.RoomMessage) {
	if r.lost {
		return
	}
	if len(r.backlog) >= backlogLimit {
		r.lost, r.backlog = true, nil
		return
	}
	r.backlog = append(r.backlog, m)
}

// resync has the rooms here read what their members may have missed
// (broker.Handler.HandleResync): a subscription took effect, perhaps
// again after the broker's connection came back.
func (s *Server) resync(rooms []string) {
	var start []*room
	for _, name := range rooms {
		r := s.hub.room(name, false)
		if r == nil {
			continue
		}
		r.mu.Lock()
		if !r.syncing {
			r.syncing = true
			start = append(start, r)
		}
		r.mu.Unlock()
	}
	if len(start) == 0 {
		return
	}
	go func() {
		// A few at a time: after a reconnect every room here resyncs.
		sem := make(chan struct{}, resyncConcurrency)
		for _, r := range start {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				s.catchUp(r)
			}()
		}
	}()
}

const resyncConcurrency = 8

// catchUp reads from the store the messages of r after the last one
// delivered here, delivers them, then what came meanwhile (backlog), and
// ends the room's syncing. A store failure ends it too, with a gap the
// members can see in seqs (and page in with history later).
func (s *Server) catchUp(r *room) {
	// suspect is the epoch of a message kept aside that the store did
	// not have at the last read; staleEpoch the same after one more read.
	suspect, staleEpoch := "", ""
	for {
		r.mu.Lock()
		after, epoch, ready := r.seq, r.epoch, r.ready
		r.mu.Unlock()
		if !ready {
			h, err := s.store.Head(r.name)
			if err != nil {
				s.endSync(r, err)
				return
			}
			r.mu.Lock()
			if !r.ready {
				r.seq, r.epoch, r.ready = h.Seq, h.Epoch, true
			}
			r.mu.Unlock()
			continue
		}
		p, err := s.store.Read(r.name, store.Query{After: &after, Limit: replayPageLimit, MaxBytes: s.replyBudget()})
		if err != nil {
			s.endSync(r, err)
			return
		}
		r.mu.Lock()
		if p.Head.Epoch != epoch {
			// Another generation of history (or none: the store lost
			// the room, say a Redis restarted without persistence): its
			// seqs do not follow ours. The members get it from its
			// start, and a join with our old epoch is told it did not
			// recover.
			if r.epoch == epoch {
				r.seq, r.epoch = 0, p.Head.Epoch
			}
			r.mu.Unlock()
			continue
		}
		n, read := 0, 0
		for _, m := range p.Messages {
			if m.Seq <= r.seq {
				continue
			}
			n += r.deliverLocked(&broker.RoomMessage{Room: r.name, Seq: m.Seq, Epoch: r.epoch, Event: encodeMsg(r.name, r.epoch, m)})
			read++
		}
		s.metrics.deliveries.Add(uint64(n))
		if p.More && len(p.Messages) > 0 {
			r.mu.Unlock()
			continue
		}
		if r.lost {
			// The backlog overflowed: what it dropped is in the store.
			r.lost = false
			r.mu.Unlock()
			continue
		}
		// A read that brought nothing new cannot fill a gap (the room
		// keeps no history, or it was trimmed): the messages kept aside
		// go out with it.
		n, gap := r.drainBacklogLocked(staleEpoch, read == 0)
		s.metrics.deliveries.Add(uint64(n))
		if gap {
			// A message of another epoch than the store's: a newer
			// one the next read finds, or, if that read does not, an
			// older one still on its way, which is dropped then.
			if e := r.backlog[0].Epoch; e != r.epoch {
				if suspect == e {
					staleEpoch = e
				}
				suspect = e
			}
			r.mu.Unlock()
			continue
		}
		r.syncing = false
		r.mu.Unlock()
		return
	}
}

// drainBacklogLocked delivers the messages kept aside in order, but
// those of the stale epoch; it stops at a gap (what is missing is in the
// store: read on) and reports it, unless acceptGap says the store cannot
// fill it.
func (r *room) drainBacklogLocked(stale string, acceptGap bool) (n int, gap bool) {
	for i, m := range r.backlog {
		if m.Epoch == r.epoch && m.Seq <= r.seq || stale != "" && m.Epoch == stale {
			continue
		}
		if m.Epoch == r.epoch && m.Seq > r.seq+1 && !acceptGap || m.Epoch != r.epoch && m.Seq > 1 {
			r.backlog = r.backlog[i:]
			return n, true
		}
		encodeRoomMessage(m)
		n += r.deliverLocked(m)
	}
	r.backlog = nil
	return n, false
}

// endSync ends a room's syncing after a store failure: what was kept
// aside is delivered, in order, gaps and all.
func (s *Server) endSync(r *room, err error) {
	s.hub.logLim.note(s.log, "store-read", "store: cannot read what a room's members here missed; they may see a gap in seqs", "room", r.name, "err", err)
	r.mu.Lock()
	for _, m := range r.backlog {
		if m.Epoch == r.epoch && m.Seq <= r.seq {
			continue
		}
		encodeRoomMessage(m)
		r.deliverLocked(m)
	}
	r.backlog, r.lost, r.syncing = nil, false, false
	r.mu.Unlock()
}

// inboxRecheck is how long after a uid is bound here its inbox is read
// again. Until the broker's subscription to the uid takes effect, another
// node sending to the uid sees it offline and stores the message in its
// inbox, possibly after the first read: the second read hands it over.
const inboxRecheck = 2 * time.Second

// recheckInbox reads uid's inbox for c again after inboxRecheck, in a
// cluster, if c is still bound to uid then.
func (s *Server) recheckInbox(c *conn, uid string) {
	if !s.clustered() || uid == "" {
		return
	}
	time.AfterFunc(inboxRecheck, func() {
		if _, now, _ := c.identity(); now == uid && !c.isClosed() {
			s.deliverInbox(c, uid, c.inboxSent.Load())
		}
	})
}
