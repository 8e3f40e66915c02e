package server

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtsync/rtsync/protocol"
)

// room is a named group of connections with its seq counter and history.
// Everything in it is guarded by mu; see the package doc for why fan-out
// happens under it.
type room struct {
	name  string
	epoch string

	mu      sync.Mutex
	seq     uint64
	hist    ring
	members map[*conn]struct{}
	// snap is members as a slice for fast fan-out, rebuilt after a change.
	snap []*conn
	// dead is set when the hub dropped the room; a joiner holding a stale
	// pointer must look it up again.
	dead bool
	// pubs counts publishes, for stats; rate, its moving rate, is fed
	// by the server's rate sampler (metrics.go). Neither needs mu.
	pubs atomic.Uint64
	rate rateMeter
}

// newRoom makes a room whose history bytes count in total (the server's
// sum over rooms; nil for none).
func newRoom(name string, total *atomic.Int64) *room {
	r := &room{name: name, epoch: randomID(5), members: make(map[*conn]struct{})}
	r.hist.total = total
	return r
}

// snapshotLocked returns the member list, rebuilding it if stale.
func (r *room) snapshotLocked() []*conn {
	if r.snap == nil && len(r.members) > 0 {
		r.snap = make([]*conn, 0, len(r.members))
		for m := range r.members {
			r.snap = append(r.snap, m)
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

// publish assigns the next seq, stores the message and queues it for every
// member (but from, when noecho). from may be nil for server-side publishes.
func (r *room) publish(s *Server, from *conn, fromJSON, data []byte, noecho bool) (uint64, string) {
	seq, epoch, _ := r.publishExcept(s, from, fromJSON, data, noecho, nil)
	return seq, epoch
}

// publishExcept is publish that also skips the members whose client ids are
// in exclude (nil: none, and no cost per member beyond a nil check). It
// reports false, doing nothing, when the room was dropped meanwhile: a
// publisher that is not a member (the server API) must look it up again,
// or the message would go into a history nobody can reach.
func (r *room) publishExcept(s *Server, from *conn, fromJSON, data []byte, noecho bool, exclude map[string]struct{}) (uint64, string, bool) {
	now := time.Now()
	ts, at := now.UnixMilli(), now.UnixNano()
	r.mu.Lock()
	if r.dead {
		r.mu.Unlock()
		return 0, "", false
	}
	r.seq++
	r.pubs.Add(1)
	seq := r.seq
	msg := appendMsg(make([]byte, 0, 96+len(r.name)+len(fromJSON)+len(data)), r.name, r.epoch, seq, ts, fromJSON, data)
	r.hist.push(entry{seq: seq, ts: ts, data: msg}, s.cfg.HistorySize)
	members := r.snapshotLocked()
	delivered := len(members)
	for _, m := range members {
		if noecho && m == from {
			delivered--
			continue
		}
		if exclude != nil {
			if _, skip := exclude[m.id]; skip {
				delivered--
				continue
			}
		}
		m.enqueueMsg(msg, at)
	}
	r.mu.Unlock()
	s.metrics.published.Add(1)
	s.metrics.deliveries.Add(uint64(delivered))
	s.overHistory()
	return seq, r.epoch, true
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
	for _, m := range r.snapshotLocked() {
		if m != c {
			m.enqueue(b)
		}
	}
}

// join adds c and queues, in this order and under the lock, the reply and
// the replayed messages, so that live messages can only come after them.
// It returns false, doing nothing, when the room was dropped meanwhile.
func (r *room) join(s *Server, c *conn, cmd *protocol.Command, withReply bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return false
	}
	if c.isClosed() {
		// Closed while joining: hub.remove may already have left this
		// room, so adding c now would leave a ghost member.
		return true
	}
	reply := protocol.Reply{Type: protocol.TypeReply, ID: cmd.ID, OK: true, Room: r.name, Seq: r.seq, Epoch: r.epoch}
	var replay []entry
	if cmd.Since != nil {
		since := *cmd.Since
		recovered := false
		r.hist.trim(time.Now().Add(-s.cfg.HistoryTTL).UnixMilli())
		switch {
		case since == 0 && r.seq == 0:
			// Nothing seen, nothing ever published here: nothing missed,
			// even if the room was forgotten and remade meanwhile.
			recovered = true
		case cmd.Epoch != "" && cmd.Epoch != r.epoch, since > r.seq:
			// Another generation of history: seqs do not compare.
		case since == r.seq:
			recovered = true
		default:
			oldest := r.hist.oldestSeq()
			recovered = oldest != 0 && oldest <= since+1
			replay = r.hist.after(since, r.hist.n, math.MaxInt).entries
			// The replay goes through the bounded send queue: past the
			// reply budget, less what is queued already, replay the
			// newest messages that fit and say recovery was incomplete
			// and cut, rather than overflow the queue and cut the
			// client off again at once. The client pages the gap in
			// with history. The reader waited for the queue to drain
			// before joining (conn.join), so a client that reads gets
			// the whole budget for each room it re-joins.
			budget, size := s.replyBudget()-c.queuedBytes(), 0
			for i := len(replay) - 1; i >= 0; i-- {
				if size += len(replay[i].data) + 1; size > budget {
					replay, recovered, reply.Truncated = replay[i+1:], false, true
					break
				}
			}
		}
		n := len(replay)
		reply.Recovered, reply.Replayed = &recovered, &n
	}
	if withReply {
		c.send(reply)
		for _, e := range replay {
			c.enqueue(e.data)
		}
	}
	if _, ok := r.members[c]; !ok {
		r.members[c] = struct{}{}
		r.snap = nil
		r.presenceLocked(s, protocol.TypeJoin, c)
	}
	return true
}

// joinNotify adds c as join does with no since and no reply, and sends c
// a join event about itself: for joins the server API makes on a live
// client's behalf, which it must learn of, since it sent no join. The event
// is queued under the lock, before any message of the room. It returns
// false, doing nothing, when the room was dropped meanwhile.
func (r *room) joinNotify(s *Server, c *conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return false
	}
	if _, ok := r.members[c]; ok || c.isClosed() {
		return true
	}
	r.notifySelfLocked(protocol.TypeJoin, c)
	r.members[c] = struct{}{}
	r.snap = nil
	r.presenceLocked(s, protocol.TypeJoin, c)
	return true
}

// leave removes c; it reports whether c was a member.
func (r *room) leave(s *Server, c *conn) bool { return r.leaveNotify(s, c, false) }

// leaveNotify is leave that, with self, also sends c its own leave event,
// after the last message of the room it was sent: for leaves the server
// makes on a client's behalf.
func (r *room) leaveNotify(s *Server, c *conn, self bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.members[c]; !ok {
		return false
	}
	delete(r.members, c)
	r.snap = nil
	r.presenceLocked(s, protocol.TypeLeave, c)
	if self {
		r.notifySelfLocked(protocol.TypeLeave, c)
	}
	return true
}

// notifySelfLocked sends c a join or leave event about itself.
func (r *room) notifySelfLocked(typ string, c *conn) {
	_, uid, name := c.identity()
	if b, err := protocol.Marshal(protocol.Presence{Type: typ, Room: r.name, Client: c.id, UID: uid, Name: name}); err == nil {
		c.enqueue(b)
	}
}

// dissolve takes every member out of the room (ungroup). Each member gets
// its own leave event and no other: they all leave, so events about one
// another would be n² noise. It returns how many members there were.
func (r *room) dissolve() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.members)
	for m := range r.members {
		// room.mu before conn.stateMu, as in presenceLocked.
		m.stateMu.Lock()
		if m.rooms[r.name] == r {
			delete(m.rooms, r.name)
		}
		m.stateMu.Unlock()
		r.notifySelfLocked(protocol.TypeLeave, m)
	}
	clear(r.members)
	r.snap = nil
	return n
}

func (r *room) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members)
}
