package server

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/rtsync/rtsync/protocol"
)

// Replies that list things (history, presence, a join's replay) go
// through the connection's bounded send queue like everything else. A
// reply bigger than the queue would close the asking client as a slow
// consumer, and a client that asks again on reconnect would loop, so each
// is cut to replyBudget and says so (truncated, more and where to go on).

// replySlack is room left in the queue for a reply's envelope and for
// the one message or member a page always holds, even past the budget.
const replySlack = 4 << 10

// replyBudget is the most bytes of messages or members one reply lists:
// half the send queue, leaving the other half for live traffic.
func (s *Server) replyBudget() int { return max(s.cfg.SendQueueBytes/2, 1) }

// roomForReply blocks until c's queue can take a reply of replyBudget
// besides a reply's slack, c is closed, or the write timeout passes, and
// returns the budget. It runs on the reader goroutine before a big reply
// or a replay, so a client that asks for pages faster than it reads them
// waits for its own queue instead of overflowing it; its later commands
// wait behind.
func (c *conn) roomForReply() int {
	budget := c.srv.replyBudget()
	limit := max(c.srv.cfg.SendQueueBytes-budget-replySlack, 0)
	c.waitQueue(c.srv.cfg.WriteTimeout, func() bool { return c.queued <= limit })
	return budget
}

// appendReplyHead starts a reply object: type, id and ok.
func appendReplyHead(b, id []byte) []byte {
	b = append(b, `{"type":"reply"`...)
	if len(id) > 0 {
		b = append(b, `,"id":`...)
		b = append(b, id...)
	}
	return append(b, `,"ok":true`...)
}

// encodeHistoryReply encodes the history op's reply in one buffer of its
// final size: the stored messages are already encoded msg events, so they
// are copied once, not re-validated and re-encoded by encoding/json (which
// took a second copy of every page). Room names and epochs need no JSON
// escaping (protocol.ValidRoom, randomID); id is validated JSON.
func encodeHistoryReply(id []byte, p roomPage) []byte {
	events := p.events()
	size := 128 + len(id) + len(p.room) + len(p.Epoch)
	for _, e := range events {
		size += len(e) + 1
	}
	b := appendReplyHead(make([]byte, 0, size), id)
	b = append(b, `,"room":"`...)
	b = append(b, p.room...)
	b = append(b, `","epoch":"`...)
	b = append(b, p.Epoch...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, p.Seq, 10)
	b = append(b, `,"messages":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	b = append(b, `],"more":`...)
	b = strconv.AppendBool(b, p.More)
	if n := p.nextSeq(); n > 0 {
		b = append(b, `,"next_seq":`...)
		b = strconv.AppendUint(b, n, 10)
	}
	if p.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	return append(b, '}')
}

// presencePage is one page of a room's members, sorted by client id.
type presencePage struct {
	members   [][]byte // encoded protocol.Member objects
	total     int
	more      bool
	truncated bool
	next      string
}

// memberEntry is a member, encoded, with its client id.
type memberEntry struct {
	ID     string          `json:"id"`
	Member json.RawMessage `json:"member"`
}

// memberEntries lists r's members here whose client id sorts after
// after, sorted, at most limit of them (0: no limit) and about maxBytes
// encoded, with one more when there is one (so the caller knows more are
// left), and the count of all its members here.
func (r *room) memberEntries(after string, limit, maxBytes int) (entries []memberEntry, total int) {
	r.mu.Lock()
	snap := r.snapshotLocked()
	r.mu.Unlock()
	conns := slices.Clone(snap)
	slices.SortFunc(conns, func(a, b *conn) int { return strings.Compare(a.id, b.id) })
	start, _ := slices.BinarySearchFunc(conns, after, func(c *conn, id string) int { return strings.Compare(c.id, id) })
	for start < len(conns) && after != "" && conns[start].id <= after {
		start++
	}
	size := 0
	for i := start; i < len(conns) && (limit <= 0 || len(entries) <= limit) && size <= maxBytes; i++ {
		if b, err := protocol.Marshal(conns[i].member()); err == nil {
			entries = append(entries, memberEntry{ID: conns[i].id, Member: b})
			size += len(b) + 1
		}
	}
	return entries, len(conns)
}

// presencePage lists the members of room r whose client id sorts after
// after, at most limit of them (0: no limit) and at most maxBytes
// encoded, but always one when any is left. In a cluster it lists the
// members on every node.
func (s *Server) presencePage(r *room, after string, limit, maxBytes int) presencePage {
	entries, total := r.memberEntries(after, limit, maxBytes)
	if s.querier != nil {
		answers, err := s.ask(queryList, &opArgs{What: listRoomMembers, Room: r.name, After: after, Limit: limit, Bytes: maxBytes})
		if err != nil {
			s.hub.logLim.note(s.log, "cluster-query", "cluster: some nodes did not answer; presence lists the members of those that did", "err", err)
		}
		for _, b := range answers {
			var ans roomMembersAnswer
			if json.Unmarshal(b, &ans) == nil {
				entries = append(entries, ans.Members...)
				total += ans.Total
			}
		}
		slices.SortFunc(entries, func(a, b memberEntry) int { return strings.Compare(a.ID, b.ID) })
	}
	p := presencePage{total: total}
	size := 0
	for _, e := range entries {
		if limit > 0 && len(p.members) == limit {
			p.more = true
			break
		}
		if size += len(e.Member) + 1; size > maxBytes && len(p.members) > 0 {
			p.more, p.truncated = true, true
			break
		}
		p.members = append(p.members, e.Member)
		p.next = e.ID
	}
	if !p.more {
		p.next = ""
	}
	return p
}

// roomMembersAnswer is a node's part of a presence listing.
type roomMembersAnswer struct {
	Members []memberEntry `json:"members"`
	Total   int           `json:"total"`
}

// encodePresenceReply encodes the presence op's reply around the members
// already encoded.
func encodePresenceReply(id []byte, room string, p presencePage) []byte {
	size := 128 + len(id) + len(room) + len(p.next)
	for _, m := range p.members {
		size += len(m) + 1
	}
	b := appendReplyHead(make([]byte, 0, size), id)
	b = append(b, `,"room":"`...)
	b = append(b, room...)
	b = append(b, `","members":[`...)
	for i, m := range p.members {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m...)
	}
	b = append(b, `],"total":`...)
	b = strconv.AppendInt(b, int64(p.total), 10)
	if p.more {
		// Client ids are base32: no escaping needed.
		b = append(b, `,"more":true,"next":"`...)
		b = append(b, p.next...)
		b = append(b, '"')
	}
	if p.truncated {
		b = append(b, `,"truncated":true`...)
	}
	return append(b, '}')
}

// history answers the history op with one page that fits the send queue.
func (c *conn) history(cmd *protocol.Command) {
	r := c.joined(cmd)
	if r == nil {
		return
	}
	budget := c.roomForReply()
	page, err := c.srv.readHistory(r.name, HistoryQuery{Since: cmd.Since, Before: cmd.Before, Limit: cmd.Limit}, budget)
	if err != nil {
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeStoreUnavailable, "cannot read the history of room %q now; try again: %v", r.name, err))
		return
	}
	c.push(encodeHistoryReply(cmd.ID, page), true)
}

// presence answers the presence op with one page of members that fits
// the send queue.
func (c *conn) presence(cmd *protocol.Command) {
	r := c.joined(cmd)
	if r == nil {
		return
	}
	if c.srv.querier != nil && c.limited(cmd) {
		// In a cluster each presence asks every node: it counts
		// toward the rate limit, so one client cannot flood them.
		return
	}
	budget := c.roomForReply()
	c.push(encodePresenceReply(cmd.ID, r.name, c.srv.presencePage(r, cmd.After, cmd.Limit, budget)), true)
}
