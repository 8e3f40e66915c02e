package chat

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/fuzzy"
	"github.com/rtsync/rtsync/protocol"
)

// handleKey applies a key press. The chat's bindings come first; every
// other key edits the input line.
func (m *model) handleKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.keys
	switch {
	case matches(msg, k.Quit):
		return tea.Quit
	case msg.Keystroke() == "f1" || (msg.String() == "?" && m.input.Value() == ""):
		m.showHelp = !m.showHelp
		return nil
	case m.showHelp && matches(msg, k.CloseHelp):
		m.showHelp = false
		return nil
	case matches(msg, k.Send):
		m.showHelp = false
		return m.submit()
	case matches(msg, k.NextRoom):
		if n := len(m.rooms); n > 0 {
			m.switchTo((m.cur + 1) % n)
		}
		return nil
	case matches(msg, k.PrevRoom):
		if n := len(m.rooms); n > 0 {
			m.switchTo((m.cur - 1 + n) % n)
		}
		return nil
	case matches(msg, k.JumpRoom):
		ks := msg.Keystroke()
		m.switchTo(int(ks[len(ks)-1] - '1'))
		return nil
	case matches(msg, k.PageUp):
		m.scroll(max(1, m.bodyHeight()-1))
		return nil
	case matches(msg, k.PageDown):
		m.scroll(-max(1, m.bodyHeight()-1))
		return nil
	case matches(msg, k.HistoryUp):
		m.browse(-1)
		return nil
	case matches(msg, k.HistoryDn):
		m.browse(+1)
		return nil
	}
	m.input.HandleKey(msg)
	return nil
}

// submit handles the entered line: a command, or a message to the
// current buffer.
func (m *model) submit() tea.Cmd {
	raw := m.input.Value()
	text := strings.TrimSpace(raw)
	m.input.SetValue("")
	if text == "" {
		return nil
	}
	m.pushInput(raw)
	// Sending goes back to the bottom, where the answer will appear.
	m.current().scroll = 0
	switch {
	case strings.HasPrefix(text, "//"):
		return m.say(text[1:])
	case strings.HasPrefix(text, "/"):
		return m.command(text)
	}
	return m.say(text)
}

// say sends text to the current buffer.
func (m *model) say(text string) tea.Cmd {
	r := m.current()
	switch r.kind {
	case kindRoom:
		if !r.joined && !r.joining {
			r.system(lineError, m.now(), "not in #"+r.name+"; /join "+r.name+" first")
			return nil
		}
		return m.publishCmd(r.name, text)
	case kindDirect:
		return m.directCmd(r.peer, text, false)
	}
	r.system(lineError, m.now(), "you are in no room: /join ROOM to enter one, /help for more")
	return nil
}

// command is one slash command: its usage, what it does, and its run.
type command struct {
	name    string
	aliases []string
	args    string
	help    string
	run     func(m *model, args string) tea.Cmd
}

// commands is the command table; /help and the help view list it.
var commands []command

func init() {
	// Assigned here, not in the declaration, because /help's run reads
	// the table (an initialization cycle otherwise).
	commands = []command{
		{name: "join", aliases: []string{"j"}, args: "ROOM", help: "join a room (or go to it)", run: (*model).cmdJoin},
		{name: "leave", aliases: []string{"part", "close"}, help: "leave this room, or close this conversation", run: (*model).cmdLeave},
		{name: "msg", aliases: []string{"query", "m"}, args: "USER TEXT", help: "send a direct message (by name or uid)", run: (*model).cmdMsg},
		{name: "nick", aliases: []string{"name"}, args: "NAME", help: "change your display name", run: (*model).cmdNick},
		{name: "who", aliases: []string{"names"}, help: "list who is in this room", run: (*model).cmdWho},
		{name: "rooms", help: "list your rooms and conversations", run: (*model).cmdRooms},
		{name: "history", args: "[N]", help: "load N older messages (default 50)", run: (*model).cmdHistory},
		{name: "clear", help: "clear this buffer; the server keeps history", run: (*model).cmdClear},
		{name: "help", aliases: []string{"h"}, help: "list commands (f1 shows keys too)", run: (*model).cmdHelp},
		{name: "quit", aliases: []string{"exit", "q"}, help: "leave the chat", run: func(*model, string) tea.Cmd { return tea.Quit }},
	}
}

func findCommand(name string) *command {
	for i := range commands {
		c := &commands[i]
		if c.name == name || slices.Contains(c.aliases, name) {
			return c
		}
	}
	return nil
}

func (c *command) usage() string {
	if c.args == "" {
		return "/" + c.name
	}
	return "/" + c.name + " " + c.args
}

func (m *model) command(text string) tea.Cmd {
	name, args, _ := strings.Cut(text[1:], " ")
	name = strings.ToLower(name)
	args = strings.TrimSpace(args)
	if c := findCommand(name); c != nil {
		return c.run(m, args)
	}
	msg := fmt.Sprintf("unknown command /%s", sanitize(name, false))
	best, dist := "", 3
	for _, c := range commands {
		if d := fuzzy.Distance(name, c.name); d < dist {
			best, dist = c.name, d
		}
	}
	if best != "" {
		msg += "; did you mean /" + best + "?"
	}
	m.current().system(lineError, m.now(), msg+" /help lists the commands; start with // to send a line that begins with /")
	return nil
}

func (m *model) usageError(name string) tea.Cmd {
	m.current().system(lineError, m.now(), "usage: "+findCommand(name).usage())
	return nil
}

func (m *model) cmdJoin(args string) tea.Cmd {
	room := strings.TrimPrefix(args, "#")
	if room == "" || strings.ContainsAny(room, " \t") {
		return m.usageError("join")
	}
	if r := m.findRoom(room); r != nil && (r.joined || r.joining) {
		m.switchTo(slices.Index(m.rooms, r))
		return nil
	}
	delete(m.left, room)
	r := m.openRoom(room)
	r.joining = true
	m.switchTo(slices.Index(m.rooms, r))
	return m.joinCmd(room)
}

func (m *model) cmdLeave(args string) tea.Cmd {
	if args != "" {
		return m.usageError("leave")
	}
	r := m.current()
	switch r.kind {
	case kindStatus:
		r.system(lineError, m.now(), "you are in no room")
		return nil
	case kindDirect:
		m.closeRoom(r)
		return nil
	}
	m.closeRoom(r)
	m.left[r.name] = true
	m.current().system(lineInfo, m.now(), "you left #"+r.name)
	if !r.joined && !r.joining {
		return nil
	}
	return m.leaveCmd(r.name)
}

func (m *model) cmdMsg(args string) tea.Cmd {
	who, text, _ := strings.Cut(args, " ")
	text = strings.TrimSpace(text)
	who = strings.TrimPrefix(who, "@")
	if who == "" || text == "" {
		return m.usageError("msg")
	}
	return m.directCmd(m.resolvePeer(who), text, true)
}

// resolvePeer finds who /msg means: a member of one of our rooms with that
// name or uid (the current room first), else the uid as typed.
func (m *model) resolvePeer(who string) protocol.From {
	rooms := append([]*room{m.current()}, m.rooms...)
	for _, exact := range []bool{true, false} {
		for _, r := range rooms {
			for _, id := range sortedMemberIDs(r) {
				mb := r.members[id]
				if m.myIDs[mb.Client] {
					continue
				}
				match := mb.UID == who || mb.Name == who
				if !exact {
					match = strings.EqualFold(mb.UID, who) || strings.EqualFold(mb.Name, who)
				}
				if match {
					return protocol.From{Client: mb.Client, UID: mb.UID, Name: mb.Name}
				}
			}
		}
	}
	if r := m.findDirect("u:" + who); r != nil {
		return r.peer
	}
	return protocol.From{UID: who}
}

func (m *model) cmdNick(args string) tea.Cmd {
	if args == "" {
		return m.usageError("nick")
	}
	return m.helloCmd(args)
}

func (m *model) cmdWho(args string) tea.Cmd {
	r := m.current()
	switch {
	case args != "":
		return m.usageError("who")
	case r.kind == kindDirect:
		r.system(lineInfo, m.now(), "a conversation with "+displayName(r.peer)+peerIDs(r.peer))
		return nil
	case r.kind != kindRoom || !r.joined:
		r.system(lineError, m.now(), "not in a room; /join ROOM first")
		return nil
	}
	return m.presenceCmd(r.name, true)
}

func peerIDs(f protocol.From) string {
	if f.UID != "" {
		return " (uid " + sanitize(f.UID, false) + ")"
	}
	return " (client " + sanitize(f.Client, false) + ")"
}

func (m *model) cmdRooms(args string) tea.Cmd {
	if args != "" {
		return m.usageError("rooms")
	}
	var parts []string
	for i, r := range m.rooms {
		desc := fmt.Sprintf("%d %s", i+1, r.label())
		switch {
		case r.kind == kindDirect:
		case r.joining:
			desc += " (joining)"
		case !r.joined:
			desc += " (not joined)"
		default:
			desc += fmt.Sprintf(" (%s, seq %d)", plural(len(r.members), "member", "members"), r.lastSeq)
		}
		if r.unread > 0 {
			desc += fmt.Sprintf(", %d unread", r.unread)
		}
		parts = append(parts, desc)
	}
	if len(parts) == 0 {
		m.current().system(lineInfo, m.now(), "you are in no room; /join ROOM")
		return nil
	}
	m.current().system(lineInfo, m.now(), "your rooms: "+strings.Join(parts, " · "))
	return nil
}

func (m *model) cmdHistory(args string) tea.Cmd {
	n := 50
	if args != "" {
		v, err := strconv.Atoi(args)
		if err != nil || v < 1 {
			m.current().system(lineError, m.now(), "usage: /history N, with N a number from 1 to 1000")
			return nil
		}
		n = min(v, 1000)
	}
	r := m.current()
	if r.kind != kindRoom || !r.joined {
		r.system(lineError, m.now(), "history is kept for rooms you are in; /join ROOM first")
		return nil
	}
	before := r.oldestSeq()
	if before == 0 {
		before = r.lastSeq + 1
	}
	if before <= 1 {
		r.system(lineInfo, m.now(), "no older messages in the room's history")
		return nil
	}
	return m.historyCmd(r.name, client.HistoryOptions{Before: before, Limit: n}, historyOlder)
}

func (m *model) cmdClear(string) tea.Cmd {
	r := m.current()
	r.lines = nil
	r.scroll = 0
	r.more = r.kind == kindRoom && r.lastSeq > 0
	return nil
}

func (m *model) cmdHelp(string) tea.Cmd {
	r := m.current()
	r.system(lineInfo, m.now(), "commands:")
	for _, c := range commands {
		r.system(lineInfo, m.now(), fmt.Sprintf("  %-18s %s", c.usage(), c.help))
	}
	r.system(lineInfo, m.now(), "keys: tab/shift+tab switch rooms, alt+1…9 jump, pgup/pgdn scroll, ↑/↓ input history, f1 all keys")
	return nil
}
