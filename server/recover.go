package server

import (
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/store"
)

// Recovery on join with since, without holding the room: the joiner
// reads what it missed from the store while the room goes on publishing,
// page by page as its send queue drains (a catch-up cursor), so a gap of
// any size that history still holds is replayed whole. Once it is close
// to the room's head, the room holds the joiner's live messages aside
// (a hold) while it reads the last stretch, then queues them after it and
// makes the joiner a member: no gap, no duplicate, and the room's lock is
// only ever held for a few map operations.

const (
	// replayPageLimit caps the messages of one store read during a
	// catch-up; the reply budget caps its bytes.
	replayPageLimit = 1000
	// catchUpRounds bounds the rounds of reading up to a head that keeps
	// moving before the room holds live messages for the joiner anyway.
	catchUpRounds = 8
	// holdGap is how far behind the head a joiner may be for the room to
	// hold its live messages while it reads the rest.
	holdGap = replayPageLimit
)

// hold keeps the live messages of a member catching up.
type hold struct {
	// idle: not buffering yet (the joiner is still far behind; what it
	// misses meanwhile it reads from the store).
	idle  bool
	msgs  [][]byte
	bytes int
	limit int
	// over is set when the messages passed limit: they were dropped, and
	// the joiner reads them from the store instead.
	over bool
}

func (h *hold) add(b []byte) {
	if h.idle || h.over {
		return
	}
	if h.bytes += len(b); h.bytes > h.limit {
		h.over, h.msgs = true, nil
		return
	}
	h.msgs = append(h.msgs, b)
}

// recoverJoin is the join op with since: it answers, replays what c
// missed after since, and makes c a member. It returns false, doing
// nothing, when the room was dropped before it began.
func (c *conn) recoverJoin(r *room, cmd *protocol.Command) bool {
	s := c.srv
	since := *cmd.Since
	r.mu.Lock()
	if r.dead {
		r.mu.Unlock()
		return false
	}
	if c.isClosed() {
		r.mu.Unlock()
		return true
	}
	r.loadLocked(s)
	head, epoch := r.seq, r.epoch
	_, member := r.members[c]
	h := &hold{idle: true, limit: s.replyBudget()}
	if !member {
		// Held from now on, the room stays (hub.dropIfUnused) and a
		// leave or close ends the catch-up.
		if r.holds == nil {
			r.holds = make(map[*conn]*hold)
		}
		r.holds[c] = h
	}
	r.mu.Unlock()

	reply := protocol.Reply{Type: protocol.TypeReply, ID: cmd.ID, OK: true, Room: r.name, Seq: head, Epoch: epoch}
	recovered, replayed := false, 0
	var first []store.Message
	cursor := head
	switch {
	case since == 0 && head == 0:
		// Nothing seen, nothing ever published here: nothing missed.
		recovered = true
	case since > head && (cmd.Epoch == "" || cmd.Epoch == epoch) && s.assigned(r.name) >= since:
		// The client read a seq (in a history reply) of a message still
		// on its way to the disk: nothing is missed, and the messages up
		// to since come live, which the client drops as seen.
		recovered = true
	case cmd.Epoch != "" && cmd.Epoch != epoch, since > head:
		// Another generation of history: seqs do not compare.
	case since == head:
		recovered = true
	default:
		p, err := s.store.Read(r.name, store.Query{After: &since, Limit: replayPageLimit, MaxBytes: s.replyBudget()})
		if err != nil {
			s.hub.logLim.note(s.log, "store-read", "store: cannot read history for a recovery", "room", r.name, "err", err)
		}
		rp := roomPage{room: r.name, forward: true, Page: p}
		rp.fit(s.replyBudget())
		first = upTo(rp.Messages, head)
		cursor = since
		if len(first) > 0 {
			recovered = first[0].Seq == since+1
			replayed = int(head - first[0].Seq + 1)
		}
	}
	reply.Recovered, reply.Replayed = &recovered, &replayed
	c.send(reply)
	for _, m := range first {
		c.enqueue(encodeMsg(r.name, epoch, m))
		cursor = m.Seq
	}
	if len(first) > 0 {
		c.streamRange(r, epoch, cursor, head)
		cursor = head
	}
	if member {
		// Live messages reach it already; the client drops by seq what
		// it gets twice.
		return true
	}
	for round := 0; ; round++ {
		r.mu.Lock()
		if r.holds[c] != h {
			// Left, dissolved or closed meanwhile.
			r.mu.Unlock()
			return true
		}
		now := r.seq
		if now <= cursor {
			delete(r.holds, c)
			r.addLocked(s, c)
			r.mu.Unlock()
			return true
		}
		if now-cursor > holdGap && round < catchUpRounds {
			r.mu.Unlock()
			c.streamRange(r, epoch, cursor, now)
			cursor = now
			continue
		}
		h.idle = false
		r.mu.Unlock()
		c.streamRange(r, epoch, cursor, now)
		cursor = now
		r.mu.Lock()
		if r.holds[c] != h {
			r.mu.Unlock()
			return true
		}
		if h.over {
			// Too much came meanwhile: it is in the store; read on.
			h.idle, h.over, h.msgs, h.bytes = true, false, nil, 0
			r.mu.Unlock()
			continue
		}
		for _, b := range h.msgs {
			c.enqueue(b)
		}
		delete(r.holds, c)
		r.addLocked(s, c)
		r.mu.Unlock()
		return true
	}
}

// upTo returns the messages with seq at most head.
func upTo(msgs []store.Message, head uint64) []store.Message {
	for i, m := range msgs {
		if m.Seq > head {
			return msgs[:i]
		}
	}
	return msgs
}

// streamRange queues the stored messages of r with seqs in (from, to],
// a page at a time, each page once the queue has room for it. It stops
// early when c closes or the store fails (the client sees a gap in seqs
// and can page it in with history).
func (c *conn) streamRange(r *room, epoch string, from, to uint64) {
	s := c.srv
	cursor := from
	for cursor < to && !c.isClosed() {
		budget := c.roomForReply()
		p, err := s.store.Read(r.name, store.Query{After: &cursor, Limit: replayPageLimit, MaxBytes: budget})
		if err != nil {
			s.hub.logLim.note(s.log, "store-read", "store: cannot read history for a recovery", "room", r.name, "err", err)
			return
		}
		msgs := upTo(p.Messages, to)
		size, cut := 0, false
		for i, m := range msgs {
			b := encodeMsg(r.name, epoch, m)
			if size += len(b) + 1; size > budget && i > 0 {
				// A long room name makes events longer than the store
				// counts: the rest comes with the next page.
				cut = true
				break
			}
			c.enqueue(b)
			cursor = m.Seq
		}
		if len(msgs) == 0 || !(p.More || cut) {
			return
		}
	}
}

// assigned returns the last seq the store gave room, durable or not (0
// when it cannot say).
func (s *Server) assigned(room string) uint64 {
	h, err := s.store.Head(room)
	if err != nil {
		return 0
	}
	return h.Seq
}
