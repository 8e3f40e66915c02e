package chat

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
)

// Every request runs in a tea.Cmd and comes back as one of these
// messages; Update never waits on the network.

// joinedMsg answers a join (or, with fetched, the history and presence of
// a room the server put us in).
type joinedMsg struct {
	room    string
	fetched bool
	res     client.JoinResult
	err     error

	hist    client.HistoryResult
	histErr error

	members []protocol.Member
	presErr error
}

// historyReason says why a history page was asked for, which decides how
// it is shown.
type historyReason uint8

const (
	historyOlder historyReason = iota // /history N
	historyReset                      // after the room's history was reset
)

type historyMsg struct {
	room   string
	reason historyReason
	res    client.HistoryResult
	err    error
}

type presenceMsg struct {
	room     string
	announce bool // /who: print the list
	members  []protocol.Member
	err      error
}

type publishedMsg struct {
	room string
	text string
	seq  uint64
	err  error
}

// directSentMsg answers a direct message. switchTo is set for /msg, which
// opens the conversation.
type directSentMsg struct {
	key      string
	peer     protocol.From
	text     string
	switchTo bool
	// stored: the peer was offline and the server kept the message for
	// it.
	stored bool
	err    error
}

type helloMsg struct {
	ident client.Identity
	err   error
}

type leftMsg struct {
	room string
	err  error
}

type pingTickMsg struct{}

type pingMsg struct {
	rtt time.Duration
	err error
}

// joinCmd joins a room and fetches its recent history and members in one
// go. The history page ends at the seq the join reply reported: messages
// after it arrive live, so the page and the live stream meet without a
// gap, and the buffer drops any overlap by seq.
func (m *model) joinCmd(room string) tea.Cmd {
	if r := m.findRoom(room); r != nil {
		r.presenceWait++
	}
	ctx, c, limit := m.ctx, m.conn, m.opts.History
	return func() tea.Msg {
		res, err := c.Join(ctx, room)
		msg := joinedMsg{room: room, res: res, err: err}
		if err != nil {
			return msg
		}
		if limit > 0 && res.Seq > 0 {
			msg.hist, msg.histErr = c.History(ctx, room, client.HistoryOptions{Before: res.Seq + 1, Limit: limit})
		}
		msg.members, msg.presErr = c.Presence(ctx, room)
		return msg
	}
}

// fetchCmd loads the history and members of a room we are already in.
func (m *model) fetchCmd(room string) tea.Cmd {
	if r := m.findRoom(room); r != nil {
		r.presenceWait++
	}
	ctx, c, limit := m.ctx, m.conn, m.opts.History
	return func() tea.Msg {
		msg := joinedMsg{room: room, fetched: true}
		if limit > 0 {
			msg.hist, msg.histErr = c.History(ctx, room, client.HistoryOptions{Limit: limit})
			msg.res = client.JoinResult{Room: room, Seq: msg.hist.Seq, Epoch: msg.hist.Epoch}
		}
		msg.members, msg.presErr = c.Presence(ctx, room)
		return msg
	}
}

func (m *model) historyCmd(room string, o client.HistoryOptions, reason historyReason) tea.Cmd {
	ctx, c := m.ctx, m.conn
	return func() tea.Msg {
		res, err := c.History(ctx, room, o)
		return historyMsg{room: room, reason: reason, res: res, err: err}
	}
}

func (m *model) presenceCmd(room string, announce bool) tea.Cmd {
	if r := m.findRoom(room); r != nil {
		r.presenceWait++
	}
	ctx, c := m.ctx, m.conn
	return func() tea.Msg {
		members, err := c.Presence(ctx, room)
		return presenceMsg{room: room, announce: announce, members: members, err: err}
	}
}

func (m *model) publishCmd(room, text string) tea.Cmd {
	ctx, c := m.ctx, m.conn
	return func() tea.Msg {
		seq, err := c.Publish(ctx, room, textData{Text: text})
		return publishedMsg{room: room, text: text, seq: seq, err: err}
	}
}

// directCmd sends text to peer: by uid when it has one, else to its one
// connection.
func (m *model) directCmd(peer protocol.From, text string, switchTo bool) tea.Cmd {
	ctx, c := m.ctx, m.conn
	return func() tea.Msg {
		var err error
		var res client.SendResult
		if peer.UID != "" {
			res, err = c.SendToUID(ctx, peer.UID, textData{Text: text})
		} else {
			_, err = c.SendToClient(ctx, peer.Client, textData{Text: text})
		}
		return directSentMsg{key: directKey(peer), peer: peer, text: text, switchTo: switchTo, stored: res.Stored, err: err}
	}
}

func (m *model) helloCmd(name string) tea.Cmd {
	ctx, c := m.ctx, m.conn
	return func() tea.Msg {
		id, err := c.Hello(ctx, client.HelloOptions{Name: name})
		return helloMsg{ident: id, err: err}
	}
}

func (m *model) leaveCmd(room string) tea.Cmd {
	ctx, c := m.ctx, m.conn
	return func() tea.Msg {
		return leftMsg{room: room, err: c.Leave(ctx, room)}
	}
}

// pingTick schedules the next round-trip measurement; the first comes at
// once.
func (m *model) pingTick(d time.Duration) tea.Cmd {
	if m.opts.PingInterval < 0 {
		return nil
	}
	if d == 0 {
		return func() tea.Msg { return pingTickMsg{} }
	}
	return tea.Tick(d, func(time.Time) tea.Msg { return pingTickMsg{} })
}

func (m *model) pingCmd() tea.Cmd {
	ctx, c := m.ctx, m.conn
	return func() tea.Msg {
		rtt, err := c.Ping(ctx)
		return pingMsg{rtt: rtt, err: err}
	}
}

// handleResult applies the result of a request. It reports false for a
// message that is not one.
func (m *model) handleResult(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case joinedMsg:
		return m.onJoined(msg), true
	case historyMsg:
		m.onHistory(msg)
	case presenceMsg:
		m.onPresenceList(msg)
	case publishedMsg:
		if msg.err != nil {
			r := m.findRoom(msg.room)
			if r == nil {
				r = m.current()
			}
			r.system(lineError, m.now(), "not sent: "+describe(msg.err)+" — "+quoteShort(msg.text))
		}
	case directSentMsg:
		m.onDirectSent(msg)
	case helloMsg:
		if msg.err != nil {
			m.current().system(lineError, m.now(), "name not changed: "+describe(msg.err))
			break
		}
		m.me.Name, m.me.UID = msg.ident.Name, msg.ident.UID
		if msg.ident.Client != "" {
			m.me.Client = msg.ident.Client
			m.myIDs[msg.ident.Client] = true
		}
		m.current().system(lineInfo, m.now(), "you are now "+m.myName())
	case leftMsg:
		if msg.err != nil {
			m.current().system(lineError, m.now(), "leave #"+msg.room+": "+describe(msg.err))
		}
	case pingTickMsg:
		cmds := []tea.Cmd{m.pingTick(m.opts.PingInterval)}
		if m.state == stateConnected {
			cmds = append(cmds, m.pingCmd())
		}
		return tea.Batch(cmds...), true
	case pingMsg:
		m.rtt, m.rttKnown = msg.rtt, msg.err == nil
	default:
		return nil, false
	}
	return nil, true
}

func (m *model) onJoined(msg joinedMsg) tea.Cmd {
	r := m.findRoom(msg.room)
	if r == nil || m.left[msg.room] {
		if msg.err == nil && !msg.fetched {
			// Left while the join was on its way.
			return m.leaveCmd(msg.room)
		}
		return nil
	}
	r.joining = false
	r.presenceWait = max(0, r.presenceWait-1)
	now := m.now()
	if msg.err != nil {
		if !slices.ContainsFunc(r.lines, func(l line) bool { return l.kind == lineMessage }) {
			// Nothing to read here: drop the buffer and say why where the
			// user is now.
			m.closeRoom(r)
			m.current().system(lineError, now, "could not join #"+msg.room+": "+describe(msg.err))
			return nil
		}
		r.joined = false
		r.system(lineError, now, "could not join #"+msg.room+": "+describe(msg.err))
		return nil
	}
	r.joined = true
	switch {
	case msg.res.Epoch == "":
	case r.epoch == "":
		r.epoch = msg.res.Epoch
	case r.epoch != msg.res.Epoch:
		r.newEpoch(msg.res.Epoch)
	}
	r.lastSeq = max(r.lastSeq, msg.res.Seq)
	if msg.histErr != nil {
		r.system(lineError, now, "could not load history: "+describe(msg.histErr))
	} else {
		for _, hm := range msg.hist.Messages {
			m.addMessage(r, hm, false)
		}
		r.more = msg.hist.More
	}
	if msg.presErr == nil {
		m.setMembers(r, msg.members)
	}
	if !msg.fetched {
		// At the join's seq: below the backlog, above what came live.
		r.sub++
		r.insert(line{gen: r.gen, seq: msg.res.Seq, sub: r.sub, kind: lineInfo, ts: now,
			text: "you joined #" + msg.room + " · " + plural(len(r.members), "member", "members")})
	}
	if msg.presErr != nil {
		r.system(lineError, now, "could not list members: "+describe(msg.presErr))
	}
	return nil
}

func (m *model) onHistory(msg historyMsg) {
	r := m.findRoom(msg.room)
	if r == nil {
		return
	}
	now := m.now()
	if msg.err != nil {
		r.system(lineError, now, "history: "+describe(msg.err))
		return
	}
	if r.epoch == "" {
		r.epoch = msg.res.Epoch
	}
	if msg.res.Epoch != r.epoch {
		// Asked before a reset; the page after it is on its way.
		return
	}
	r.lastSeq = max(r.lastSeq, msg.res.Seq)
	before := len(r.lines)
	for _, hm := range msg.res.Messages {
		m.addMessage(r, hm, false)
	}
	added := len(r.lines) - before
	switch msg.reason {
	case historyOlder:
		r.more = msg.res.More
		if added == 0 {
			r.system(lineInfo, now, "no older messages in the room's history")
			return
		}
		r.system(lineInfo, now, fmt.Sprintf("loaded %s above; pgdn to come back", plural(added, "older message", "older messages")))
		if r == m.current() {
			r.scroll = m.maxScroll(r)
		}
	case historyReset:
		r.more = msg.res.More
	}
}

func (m *model) onPresenceList(msg presenceMsg) {
	r := m.findRoom(msg.room)
	if r == nil {
		return
	}
	r.presenceWait = max(0, r.presenceWait-1)
	if msg.err != nil {
		if msg.announce {
			r.system(lineError, m.now(), "who: "+describe(msg.err))
		}
		return
	}
	m.setMembers(r, msg.members)
	if msg.announce {
		names := m.memberNames(r)
		r.system(lineInfo, m.now(), fmt.Sprintf("in #%s (%d): %s", r.name, len(r.members), strings.Join(names, ", ")))
	}
}

// setMembers replaces a room's member list with a presence answer, then
// re-applies the presence events seen while it was on its way.
func (m *model) setMembers(r *room, members []protocol.Member) {
	r.members = make(map[string]protocol.Member, len(members))
	for _, mb := range members {
		r.members[mb.Client] = mb
	}
	for _, ev := range r.presenceLog {
		applyPresence(r, ev)
	}
	if r.presenceWait == 0 {
		r.presenceLog = nil
	}
}

func (m *model) onDirectSent(msg directSentMsg) {
	now := m.now()
	if msg.err != nil {
		who := displayName(msg.peer)
		text := "not sent to " + who + ": " + describe(msg.err)
		var pe *protocol.Error
		if errors.As(msg.err, &pe) {
			switch pe.Code {
			case protocol.CodeOffline:
				text = who + " is offline and the server could not keep the message for them: " + pe.Message
			case protocol.CodeStoreUnavailable:
				text = "not sent to " + who + ": the server cannot store messages now; try again"
			case protocol.CodeNotFound:
				text = who + " is gone (that connection closed); the message was not delivered"
			}
		}
		r := m.findDirect(msg.key)
		if r == nil || msg.switchTo {
			r = m.current()
		}
		r.system(lineError, now, text+" — "+quoteShort(msg.text))
		return
	}
	r := m.openDirect(msg.key, msg.peer)
	r.sub++
	r.insert(line{sub: r.sub, kind: lineMessage, ts: now, own: true, text: sanitize(msg.text, true),
		from: protocol.From{Client: m.me.Client, UID: m.me.UID, Name: m.me.Name}})
	if msg.stored {
		r.system(lineInfo, now, displayName(msg.peer)+" is offline: the server keeps the message and delivers it when they next connect")
	}
	if msg.switchTo {
		m.switchTo(slices.Index(m.rooms, r))
	}
	r.scroll = 0
}

// describe turns a request error into a line for people: the server's
// message when it sent one, the client's otherwise.
func describe(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Message != "" {
		return pe.Message + " (" + pe.Code + ")"
	}
	switch {
	case errors.Is(err, client.ErrNotConnected):
		return "not connected; wait for the reconnect"
	case errors.Is(err, client.ErrConnLost):
		return "the connection dropped before the reply; it may have gone through"
	case errors.Is(err, client.ErrClosed):
		return "the connection is closed"
	}
	return errText(err)
}

func quoteShort(s string) string {
	s = sanitize(s, false)
	if len([]rune(s)) > 40 {
		s = string([]rune(s)[:39]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
