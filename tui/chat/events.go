package chat

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
)

// maxEventBatch bounds how many queued events one Update applies, so that
// a flood still lets keys and redraws through between batches.
const maxEventBatch = 256

// eventsMsg carries events read from the client, in the order it emitted
// them. closed is set when the channel was closed: the client stopped.
type eventsMsg struct {
	events []client.Event
	closed bool
}

// waitEvents is the one command that reads the client's events. It blocks
// for the first, takes what else is already queued, and is issued again by
// Update after each batch (see the package doc).
func (m *model) waitEvents() tea.Cmd {
	ch := m.conn.Events()
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return eventsMsg{closed: true}
		}
		evs := []client.Event{ev}
		for len(evs) < maxEventBatch {
			select {
			case ev, ok := <-ch:
				if !ok {
					return eventsMsg{events: evs, closed: true}
				}
				evs = append(evs, ev)
			default:
				return eventsMsg{events: evs}
			}
		}
		return eventsMsg{events: evs}
	}
}

// applyEvents applies a batch of events and returns the requests they
// call for (history after a reset, presence after a reconnect).
func (m *model) applyEvents(evs []client.Event) []tea.Cmd {
	var cmds []tea.Cmd
	for _, ev := range evs {
		switch ev.Kind {
		case client.KindMessage:
			m.onMessage(ev.Message())
		case client.KindDirect:
			m.onDirect(ev)
		case client.KindJoin, client.KindLeave:
			if cmd := m.onPresence(ev); cmd != nil {
				cmds = append(cmds, cmd)
			}
		case client.KindError:
			m.current().system(lineError, ev.Received, fmt.Sprintf("server: %s: %s", ev.Wire.Code, ev.Wire.Message))
		case client.KindConnected:
			m.onConnected(ev.Connected)
		case client.KindDisconnected:
			m.onDisconnected(ev.Disconnected)
		case client.KindReconnecting:
			if r := ev.Reconnecting; r != nil && m.state != stateDisconnected {
				m.state = stateReconnecting
				m.attempt = r.Attempt
			}
		case client.KindRecovered:
			cmds = append(cmds, m.onRecovered(ev.Recovered)...)
		}
	}
	return cmds
}

func (m *model) onMessage(msg protocol.Message) {
	if m.left[msg.Room] {
		return
	}
	r := m.findRoom(msg.Room)
	if r == nil {
		// A room we did not ask for: the application put us in it
		// through the server API. Show it rather than hide what arrives.
		r = m.openRoom(msg.Room)
		r.joined = true
	}
	m.addMessage(r, msg, true)
}

// addMessage shows a room message; live is false for history pages,
// which neither count as unread nor start a new epoch.
func (m *model) addMessage(r *room, msg protocol.Message, live bool) {
	if msg.Epoch != r.epoch {
		switch {
		case r.epoch == "":
			r.epoch = msg.Epoch
		case !live:
			// A history page from before a reset that is already shown.
			return
		default:
			// The server restarted the room's history without a reconnect
			// telling us (recovery reports the usual case).
			r.newEpoch(msg.Epoch)
			r.system(lineInfo, m.now(), "the room's history was reset; seqs start again")
		}
	}
	text := sanitize(messageText(msg.Data), true)
	own := m.isOwn(msg.From.Client)
	l := line{
		gen: r.gen, seq: msg.Seq, kind: lineMessage, ts: time.UnixMilli(msg.TS),
		from: msg.From, text: text, own: own, mention: !own && m.mentionsMe(text),
	}
	r.lastSeq = max(r.lastSeq, msg.Seq)
	if r.insert(l) && live {
		m.noteNew(r, &l)
	}
}

// noteNew counts a new line as unread, or keeps a scrolled-up view still
// while it arrives below.
func (m *model) noteNew(r *room, l *line) {
	if r != m.current() {
		if !l.own {
			r.unread++
			r.mention = r.mention || l.mention || r.kind == kindDirect
		}
		return
	}
	if r.scroll > 0 {
		r.scroll += len(m.renderLine(l, m.msgWidth()))
		if !l.own {
			r.unread++
		}
	}
}

func (m *model) onDirect(ev client.Event) {
	from := ev.Wire.From
	if from == nil {
		return
	}
	if m.isOwn(from.Client) {
		// Our own /msg to our own uid: it was shown when the reply came.
		return
	}
	r := m.openDirect(directKey(*from), *from)
	text := sanitize(messageText(ev.Wire.Data), true)
	ts := time.UnixMilli(ev.Wire.TS)
	if ev.Wire.TS == 0 {
		ts = ev.Received
	}
	mention := m.mentionsMe(text)
	if o := ev.Offline; o != nil {
		// Kept by the server while we were offline: one line above them
		// counts them, and each says so; a redelivered one may have been
		// shown by an earlier run of the chat.
		if r.awaySub == 0 {
			r.system(lineInfo, ev.Received, "")
			r.awaySub = r.sub
		}
		r.awayN++
		r.setText(r.awaySub, plural(r.awayN, "message", "messages")+" arrived while you were away")
		tag := "[offline] "
		if o.Redelivered {
			tag = "[offline, redelivered] "
		}
		text = tag + text
	}
	r.sub++
	l := line{sub: r.sub, kind: lineMessage, ts: ts, from: *from, text: text, mention: mention}
	r.insert(l)
	m.noteNew(r, &l)
}

// directKey names the conversation with a peer: by uid, which survives
// the peer's reconnects, else by client id.
func directKey(f protocol.From) string {
	if f.UID != "" {
		return "u:" + f.UID
	}
	return "c:" + f.Client
}

func (m *model) onPresence(ev client.Event) tea.Cmd {
	w := ev.Wire
	if m.left[w.Room] {
		return nil
	}
	r := m.findRoom(w.Room)
	if w.Client == m.me.Client {
		// Our own presence event: the application joined us to a room or
		// took us out of one through the server API.
		if ev.Kind == client.KindJoin {
			if r == nil {
				r = m.openRoom(w.Room)
			}
			r.joined = true
			r.system(lineInfo, ev.Received, "the server put you in #"+w.Room)
			return m.fetchCmd(w.Room)
		}
		if r != nil {
			r.joined = false
			r.members = map[string]protocol.Member{}
			r.system(lineInfo, ev.Received, "the server took you out of #"+w.Room)
		}
		return nil
	}
	if r == nil {
		return nil
	}
	if r.presenceWait > 0 {
		r.presenceLog = append(r.presenceLog, ev)
	}
	applyPresence(r, ev)
	who := memberName(protocol.Member{Client: w.Client, UID: w.UID, Name: w.Name})
	if ev.Kind == client.KindJoin {
		r.system(lineJoin, ev.Received, who+" joined #"+w.Room)
	} else {
		r.system(lineLeave, ev.Received, who+" left #"+w.Room)
	}
	return nil
}

func applyPresence(r *room, ev client.Event) {
	w := ev.Wire
	if ev.Kind == client.KindJoin {
		r.members[w.Client] = protocol.Member{Client: w.Client, UID: w.UID, Name: w.Name}
	} else {
		delete(r.members, w.Client)
	}
}

func (m *model) onConnected(c *client.Connected) {
	if c == nil {
		return
	}
	m.state = stateConnected
	m.attempt = 0
	m.stopErr = ""
	m.me = client.Identity{Client: c.Client, UID: c.UID, Name: c.Name, Node: c.Node}
	m.myIDs[c.Client] = true
	if c.URL != "" {
		// With fallback URLs a reconnection may land on another node.
		m.host = hostLabel(c.URL)
	}
	// Offline messages of this connection are counted afresh.
	for _, r := range m.rooms {
		r.awaySub, r.awayN = 0, 0
	}
	if !c.Reconnect {
		return
	}
	// Rooms say more when their recovery is reported; the others only
	// learn that the link is back.
	text := "reconnected to " + m.host
	if c.Node != "" {
		text += " (node " + sanitize(c.Node, false) + ")"
	}
	for _, r := range m.rooms {
		if r.kind == kindDirect {
			r.system(lineInfo, m.now(), text)
		}
	}
	m.status.system(lineInfo, m.now(), text)
}

func (m *model) onDisconnected(d *client.Disconnected) {
	if d == nil {
		return
	}
	why := disconnectReason(d)
	if d.Reconnect {
		m.state = stateReconnecting
		m.attempt = 0
		m.eachBuffer(func(r *room) {
			r.system(lineError, m.now(), "connection lost: "+why+"; reconnecting…")
		})
		return
	}
	m.state = stateDisconnected
	m.stopErr = why
	m.eachBuffer(func(r *room) {
		r.system(lineError, m.now(), "disconnected for good: "+why+"; /quit to leave")
	})
}

// disconnectReason says in a few words why a connection ended, cleaned:
// the reason is the server's (the status bar shows it as is).
func disconnectReason(d *client.Disconnected) string {
	reason := sanitize(d.Reason, false)
	if reason == "" {
		reason = protocol.CloseReason(d.Code)
	}
	switch {
	case reason != "":
		return fmt.Sprintf("%s (close %d)", reason, d.Code)
	case d.Code == 1006 && d.Err != nil:
		return strings.TrimPrefix(errText(d.Err), "read: ")
	case d.Err != nil:
		return errText(d.Err)
	}
	return fmt.Sprintf("code %d", d.Code)
}

func (m *model) onRecovered(rec *client.Recovered) []tea.Cmd {
	if rec == nil {
		return nil
	}
	r := m.findRoom(rec.Room)
	if r == nil {
		return nil
	}
	now := m.now()
	if rec.Err != nil {
		r.joined = false
		r.system(lineError, now, fmt.Sprintf("could not re-join #%s after reconnecting: %s; /join %s to try again", rec.Room, errText(rec.Err), rec.Room))
		return nil
	}
	r.joined = true
	var cmds []tea.Cmd
	switch {
	case rec.EpochChanged:
		r.newEpoch(rec.Epoch)
		r.system(lineError, now, "reconnected, but the server's history of #"+rec.Room+" was lost or reset (a new epoch): messages sent while you were away may be missing")
		if m.opts.History > 0 {
			cmds = append(cmds, m.historyCmd(rec.Room, client.HistoryOptions{Limit: m.opts.History}, historyReset))
		}
	case rec.Recovered:
		if r.epoch == "" {
			r.epoch = rec.Epoch
		}
		if rec.Replayed == 0 {
			r.system(lineInfo, now, "reconnected; nothing was missed")
		} else {
			r.system(lineInfo, now, "reconnected; recovered "+plural(rec.Replayed, "message", "messages"))
		}
	case rec.MissedTo > 0:
		missed := fmt.Sprintf("seq %d", rec.MissedFrom)
		if rec.MissedTo > rec.MissedFrom {
			missed = fmt.Sprintf("seqs %d to %d", rec.MissedFrom, rec.MissedTo)
		}
		r.system(lineError, now, fmt.Sprintf("reconnected, but the server's history no longer reaches back: %s missed for good; recovered %s after them",
			missed, plural(rec.Replayed, "message", "messages")))
	default:
		r.system(lineError, now, fmt.Sprintf("reconnected; recovered %s, but messages sent while you were away may be missing", plural(rec.Replayed, "message", "messages")))
	}
	// The member list is of the old connection; events were missed too.
	cmds = append(cmds, m.presenceCmd(rec.Room, false))
	return cmds
}

// eventsClosed: the client stopped for good (or was closed).
func (m *model) eventsClosed() {
	if m.state == stateDisconnected {
		return
	}
	m.state = stateDisconnected
	if err := m.conn.Err(); err != nil {
		m.stopErr = errText(err)
	} else {
		m.stopErr = "connection closed"
	}
}
