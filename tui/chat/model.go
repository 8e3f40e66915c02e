package chat

import (
	"context"
	"net/url"
	"slices"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
)

// Input limits.
const (
	// inputHistory is how many sent lines up/down can bring back.
	inputHistory = 200
	// inputLimit keeps a line well under the server's default frame limit
	// (64 KiB), JSON escaping and the envelope included.
	inputLimit = 8000
	// wheelStep is how many rows one notch of the mouse wheel scrolls.
	wheelStep = 3
)

// connState is the connection as the status bar shows it.
type connState uint8

const (
	stateConnected connState = iota
	stateReconnecting
	stateDisconnected // the client stopped for good
)

// model is the chat's state. It is a pointer type whose methods all run on
// the bubbletea program's goroutine (see the package doc).
type model struct {
	ctx  context.Context
	conn Client
	opts Options
	st   styles
	keys keyMap
	help help.Model

	input lineEdit
	// sent holds the lines entered, oldest first; histPos indexes it while
	// browsing with up/down (len(sent) when not browsing) and draft keeps
	// what was being typed before browsing started.
	sent    []string
	histPos int
	draft   string

	width, height int
	showHelp      bool

	rooms  []*room // in the room list's order
	cur    int     // index into rooms; -1 when there is none
	status *room   // shown when no room is open

	me client.Identity
	// myIDs are every client id this session has had: they change on each
	// reconnect, and messages sent before one are still ours.
	myIDs map[string]bool
	// host is the server the connection is to, as the status bar shows
	// it; with fallback URLs it changes when the client fails over.
	host string

	state    connState
	attempt  int
	stopErr  string
	rtt      time.Duration
	rttKnown bool

	// left holds rooms just left, whose events still in flight are
	// dropped instead of reopening the buffer.
	left map[string]bool
}

func newModel(ctx context.Context, c Client, opts Options) *model {
	opts = opts.withDefaults()
	m := &model{
		ctx:    ctx,
		conn:   c,
		opts:   opts,
		st:     newStyles(opts.Styles),
		keys:   defaultKeyMap(),
		help:   help.New(),
		cur:    -1,
		status: newRoom(kindStatus, ""),
		me:     c.Identity(),
		myIDs:  map[string]bool{},
		left:   map[string]bool{},
		width:  80,
		height: 24,
	}
	m.help.Styles = opts.Styles.Help
	m.myIDs[m.me.Client] = true
	m.host = hostLabel(c.URL())

	m.input = lineEdit{limit: inputLimit, Placeholder: "type a message, or /help for commands"}

	for _, name := range opts.Rooms {
		if m.findRoom(name) != nil {
			continue
		}
		r := newRoom(kindRoom, name)
		r.joining = true
		m.rooms = append(m.rooms, r)
	}
	if len(m.rooms) > 0 {
		m.cur = 0
	}
	m.status.system(lineInfo, m.now(), "connected to "+c.URL()+" as "+m.myName())
	m.resize(m.width, m.height)
	return m
}

// Init joins the start rooms and starts reading events and measuring
// the round trip.
func (m *model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.waitEvents(), m.pingTick(0)}
	for _, r := range m.rooms {
		cmds = append(cmds, m.joinCmd(r.name))
	}
	return tea.Batch(cmds...)
}

func (m *model) now() time.Time { return time.Now() }

// myName is how the user is shown to themselves.
func (m *model) myName() string {
	// The server's reply says what they are (a token's claims may set
	// them), so they are cleaned like anyone else's.
	switch {
	case m.me.Name != "":
		return sanitize(m.me.Name, false)
	case m.me.UID != "":
		return sanitize(m.me.UID, false)
	}
	return "anonymous (" + shortID(m.me.Client) + ")"
}

// current is the buffer on screen.
func (m *model) current() *room {
	if m.cur >= 0 && m.cur < len(m.rooms) {
		return m.rooms[m.cur]
	}
	return m.status
}

func (m *model) findRoom(name string) *room {
	for _, r := range m.rooms {
		if r.kind == kindRoom && r.name == name {
			return r
		}
	}
	return nil
}

func (m *model) findDirect(key string) *room {
	for _, r := range m.rooms {
		if r.kind == kindDirect && r.name == key {
			return r
		}
	}
	return nil
}

// openRoom returns the buffer of a server room, adding it to the list.
func (m *model) openRoom(name string) *room {
	if r := m.findRoom(name); r != nil {
		return r
	}
	r := newRoom(kindRoom, name)
	// Rooms before direct conversations, in the order they were opened.
	i := slices.IndexFunc(m.rooms, func(r *room) bool { return r.kind == kindDirect })
	if i < 0 {
		i = len(m.rooms)
	}
	m.rooms = slices.Insert(m.rooms, i, r)
	if m.cur >= i {
		m.cur++
	}
	if m.cur < 0 {
		m.cur = 0
	}
	return r
}

// openDirect returns the buffer of the conversation with peer.
func (m *model) openDirect(key string, peer protocol.From) *room {
	if r := m.findDirect(key); r != nil {
		if peer.Name != "" || r.peer.Name == "" {
			r.peer = peer
		}
		return r
	}
	r := newRoom(kindDirect, key)
	r.peer = peer
	m.rooms = append(m.rooms, r)
	if m.cur < 0 {
		m.cur = 0
	}
	return r
}

// closeRoom drops a buffer from the list and shows its neighbour.
func (m *model) closeRoom(r *room) {
	i := slices.Index(m.rooms, r)
	if i < 0 {
		return
	}
	m.rooms = slices.Delete(m.rooms, i, i+1)
	switch {
	case len(m.rooms) == 0:
		m.cur = -1
	case m.cur > i || m.cur >= len(m.rooms):
		m.cur = max(0, m.cur-1)
	}
	m.markRead()
}

// switchTo shows buffer i.
func (m *model) switchTo(i int) {
	if i < 0 || i >= len(m.rooms) {
		return
	}
	m.cur = i
	m.markRead()
	m.updatePrompt()
}

func (m *model) markRead() {
	r := m.current()
	r.unread = 0
	r.mention = false
	m.updatePrompt()
}

func (m *model) updatePrompt() {
	m.input.Prompt = m.current().label() + " › "
	if m.current().kind == kindStatus {
		m.input.Prompt = "› "
	}
	m.input.SetWidth(max(1, m.width-m.promptWidth()-1))
}

// Update applies one message. Network results and events are in
// events.go and requests.go; keys and commands in input.go.
func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return m, nil
	case tea.KeyPressMsg:
		return m, m.handleKey(msg)
	case tea.PasteMsg:
		m.input.Insert(msg.Content)
		return m, nil
	case tea.MouseWheelMsg:
		switch msg.Mouse().Button {
		case tea.MouseWheelUp:
			m.scroll(wheelStep)
		case tea.MouseWheelDown:
			m.scroll(-wheelStep)
		}
		return m, nil
	case tea.MouseClickMsg:
		m.click(msg.Mouse())
		return m, nil
	case eventsMsg:
		cmds := m.applyEvents(msg.events)
		if !msg.closed {
			cmds = append(cmds, m.waitEvents())
		} else {
			m.eventsClosed()
		}
		return m, tea.Batch(cmds...)
	}
	cmd, _ := m.handleResult(msg)
	return m, cmd
}

func (m *model) resize(w, h int) {
	if w <= 0 || h <= 0 {
		// No size known (output is not a terminal): keep the last one.
		return
	}
	m.width, m.height = w, h
	m.help.SetWidth(m.width)
	m.updatePrompt()
	// Keep the scroll position inside the new bounds.
	for _, r := range m.rooms {
		r.scroll = min(r.scroll, m.maxScroll(r))
	}
}

// scroll moves the message view by n rows, up when positive.
func (m *model) scroll(n int) {
	r := m.current()
	r.scroll = min(max(0, r.scroll+n), m.maxScroll(r))
	if r.scroll == 0 {
		m.markRead()
	}
}

// pushInput records a sent line for up/down.
func (m *model) pushInput(s string) {
	if n := len(m.sent); n == 0 || m.sent[n-1] != s {
		m.sent = append(m.sent, s)
		if len(m.sent) > inputHistory {
			m.sent = slices.Delete(m.sent, 0, len(m.sent)-inputHistory)
		}
	}
	m.histPos = len(m.sent)
	m.draft = ""
}

// browse moves through the input history: -1 older, +1 newer. Leaving the
// newest end restores what was being typed.
func (m *model) browse(dir int) {
	if m.histPos == len(m.sent) && dir < 0 {
		m.draft = m.input.Value()
	}
	pos := min(max(0, m.histPos+dir), len(m.sent))
	if pos == m.histPos {
		return
	}
	m.histPos = pos
	if pos == len(m.sent) {
		m.input.SetValue(m.draft)
	} else {
		m.input.SetValue(m.sent[pos])
	}
	m.input.CursorEnd()
}

// eachBuffer runs f on every buffer, the status buffer included.
func (m *model) eachBuffer(f func(*room)) {
	for _, r := range m.rooms {
		f(r)
	}
	f(m.status)
}

// isOwn reports whether a message was sent by this session (on any of its
// connections so far).
func (m *model) isOwn(clientID string) bool { return m.myIDs[clientID] }

// mentionsMe reports whether text names the user.
func (m *model) mentionsMe(text string) bool {
	return mentions(text, m.me.Name) || (m.me.Name == "" && mentions(text, m.me.UID))
}

// errText is an error as one clean line: errors quote what the server
// said (close reasons, error replies).
func errText(err error) string {
	return sanitize(err.Error(), false)
}

// hostLabel is a server URL as the status bar shows it: host:port, with
// wss:// in front when the connection is encrypted. It is cleaned, though
// it comes from the user's own flags.
func hostLabel(raw string) string {
	host := raw
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		host = u.Host
		if u.Scheme == "wss" {
			host = "wss://" + u.Host
		}
	}
	return sanitize(host, false)
}
