package chat

import (
	"fmt"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rtsync/rtsync/protocol"
)

// Layout. The chat is drawn for 80×24 first: there the room list is
// narrow and the member list gives way to the messages (the title bar
// still counts the members); from memberListMinWidth columns on, both
// side panels are shown at their full width.
const (
	memberListMinWidth = 90
	roomListMinWidth   = 50
	roomsWide          = 18
	roomsNarrow        = 14
	membersWidth       = 18
	// chrome is the rows that are not the body: title bar, status bar,
	// input and help line.
	chrome = 4
)

// layout is the width of each panel for the current terminal size; zero
// hides a panel.
type layout struct {
	rooms, msgs, members int
}

func (m *model) layout() layout {
	var l layout
	switch {
	case m.width >= memberListMinWidth:
		l.rooms, l.members = roomsWide, membersWidth
	case m.width >= roomListMinWidth:
		l.rooms = roomsNarrow
	}
	l.msgs = m.width
	if l.rooms > 0 {
		l.msgs -= l.rooms + 1
	}
	if l.members > 0 {
		l.msgs -= l.members + 1
	}
	l.msgs = max(1, l.msgs)
	return l
}

// msgWidth is the message view's text width: its panel less a margin
// column on the left.
func (m *model) msgWidth() int   { return max(1, m.layout().msgs-1) }
func (m *model) bodyHeight() int { return max(1, m.height-chrome) }

func (m *model) promptWidth() int { return ansi.StringWidth(m.input.Prompt) }

// totalRows is how many rows buffer r takes at the current width.
func (m *model) totalRows(r *room) int {
	w := m.msgWidth()
	n := 0
	for i := range r.lines {
		n += len(r.rowsAt(i, m, w))
	}
	if r.more {
		n++
	}
	return n
}

func (m *model) maxScroll(r *room) int {
	return max(0, m.totalRows(r)-m.bodyHeight())
}

// View draws the whole screen.
func (m *model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	if !m.opts.NoMouse {
		v.MouseMode = tea.MouseModeCellMotion
	}
	v.WindowTitle = "rtsync chat · " + m.current().label()
	_, x := m.input.View(m.st.Muted)
	v.Cursor = tea.NewCursor(m.promptWidth()+x, m.height-2)
	return v
}

// render is the screen as text, one row per terminal line.
func (m *model) render() string {
	lay := m.layout()
	h := m.bodyHeight()
	var msgRows []string
	if m.showHelp {
		msgRows = m.helpRows(lay.msgs, h)
	} else {
		msgRows = m.messageRows(m.current(), m.msgWidth(), h)
	}
	var roomRows, memberRows []string
	if lay.rooms > 0 {
		roomRows = m.roomRows(lay.rooms, h)
	}
	if lay.members > 0 {
		memberRows = m.memberRows(lay.members, h)
	}
	sep := m.st.Separator.Render("│")

	rows := make([]string, 0, m.height)
	rows = append(rows, m.titleBar())
	for i := range h {
		var b strings.Builder
		if lay.rooms > 0 {
			b.WriteString(fit(roomRows[i], lay.rooms))
			b.WriteString(sep)
		}
		b.WriteString(fit(" "+msgRows[i], lay.msgs))
		if lay.members > 0 {
			b.WriteString(sep)
			b.WriteString(fit(memberRows[i], lay.members))
		}
		rows = append(rows, b.String())
	}
	rows = append(rows, m.statusBar())
	text, _ := m.input.View(m.st.Muted)
	rows = append(rows, fit(m.st.Active.Render(m.input.Prompt)+text, m.width))
	rows = append(rows, fit(m.help.View(m.keys), m.width))
	if len(rows) > m.height {
		// A terminal too short for the chrome: keep the input visible.
		rows = rows[len(rows)-m.height:]
	}
	return strings.Join(rows, "\n")
}

// fit pads or cuts a styled row to exactly w columns.
func fit(s string, w int) string {
	sw := ansi.StringWidth(s)
	switch {
	case sw > w:
		return ansi.Truncate(s, w, "…")
	case sw < w:
		return s + strings.Repeat(" ", w-sw)
	}
	return s
}

// bar lays out a bar: left and right parts on the band, cut from the
// right when they do not fit.
func (m *model) bar(left, right string) string {
	lw, rw := ansi.StringWidth(left), ansi.StringWidth(right)
	if lw+rw+1 > m.width {
		right, rw = "", 0
	}
	gap := max(0, m.width-lw-rw)
	row := left + m.st.Bar.Render(strings.Repeat(" ", gap)) + right
	return fit(row, m.width)
}

func (m *model) titleBar() string {
	r := m.current()
	st := m.st
	left := st.onBar(st.Title, " "+r.label())
	var info string
	switch r.kind {
	case kindRoom:
		switch {
		case r.joining:
			info = "joining…"
		case !r.joined:
			info = "not joined"
		default:
			info = plural(len(r.members), "member", "members")
		}
	case kindDirect:
		info = "direct messages with " + displayName(r.peer) + peerIDs(r.peer)
	case kindStatus:
		info = "not in any room: /join ROOM"
	}
	left += st.Bar.Render("  " + sanitize(info, false))
	right := st.Bar.Render("rtsync chat ")
	return m.bar(left, right)
}

func (m *model) statusBar() string {
	st := m.st
	var state string
	switch m.state {
	case stateConnected:
		state = st.onBar(st.Good, " ● connected")
	case stateReconnecting:
		text := " ◌ reconnecting…"
		if m.attempt > 1 {
			text += fmt.Sprintf(" (attempt %d)", m.attempt)
		}
		state = st.onBar(st.Warn, text)
	default:
		text := " ✗ disconnected"
		if m.stopErr != "" {
			text += ": " + m.stopErr
		}
		state = st.onBar(st.Bad, text)
	}
	dot := st.Bar.Render(" · ")
	parts := []string{state, st.Bar.Render(m.host)}
	rtt := "rtt –"
	if m.rttKnown && m.state == stateConnected {
		rtt = "rtt " + formatRTT(m.rtt)
	}
	parts = append(parts, st.Bar.Render(rtt))
	if r := m.current(); r.kind == kindRoom {
		parts = append(parts, st.Bar.Render(fmt.Sprintf("%s seq %d", r.label(), r.lastSeq)))
	}
	left := strings.Join(parts, dot)
	var right string
	if r := m.current(); r.scroll > 0 {
		text := "▲ scrolled"
		if r.unread > 0 {
			text += fmt.Sprintf(", %d new below", r.unread)
		}
		right = st.onBar(st.Warn, text) + st.Bar.Render(" · ")
	}
	right += st.onBar(st.Own, m.myName()) + st.Bar.Render(" ")
	return m.bar(left, right)
}

// formatRTT shows a round trip with the precision that matters: tenths
// of a millisecond on a LAN, whole milliseconds over the internet.
func formatRTT(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// messageRows is the visible part of buffer r: h rows of width w, the
// newest at the bottom unless scrolled.
func (m *model) messageRows(r *room, w, h int) []string {
	out := make([]string, h)
	// Walk back from the newest line, skipping the rows scrolled past.
	skip := r.scroll
	fill := h
	for i := len(r.lines) - 1; i >= 0 && fill > 0; i-- {
		rows := r.rowsAt(i, m, w)
		for j := len(rows) - 1; j >= 0 && fill > 0; j-- {
			if skip > 0 {
				skip--
				continue
			}
			fill--
			out[fill] = rows[j]
		}
	}
	if r.more && fill > 0 {
		if skip == 0 {
			fill--
			out[fill] = m.st.Muted.Render(fmt.Sprintf("  ··· older messages on the server: /history %d", DefaultHistory))
		}
	}
	if len(r.lines) == 0 && !r.more && r.kind == kindRoom && !r.joining {
		out[h-1] = m.st.Muted.Render("  no messages yet; say something")
	}
	return out
}

func (m *model) roomRows(w, h int) []string {
	st := m.st
	out := make([]string, h)
	out[0] = st.Section.Render(" rooms")
	for i, r := range m.rooms {
		row := i + 1
		if row >= h {
			break
		}
		marker, num := " ", " "
		if i < 9 {
			num = string(rune('1' + i))
		}
		name := sanitize(r.label(), false)
		var badge, badgeStyled string
		if r.unread > 0 {
			badge = fmt.Sprintf("%d", min(r.unread, 999))
			if r.mention {
				badge += "!"
			}
			badgeStyled = st.Unread.Render(badge)
			if r.mention {
				badgeStyled = st.Highlight.Render(badge)
			}
		} else if r.mention {
			badge, badgeStyled = "!", st.Highlight.Render("!")
		}
		// Marker, number and a space before the name; a space before the
		// badge and one after it, off the separator.
		nameW := w - 3 - 1
		if badge != "" {
			nameW -= ansi.StringWidth(badge) + 1
		}
		name = ansi.Truncate(name, max(1, nameW), "…")
		pad := strings.Repeat(" ", max(0, nameW-ansi.StringWidth(name)))
		switch {
		case i == m.cur:
			marker = "▸"
			name = st.Active.Render(name)
		case r.mention:
			name = st.Highlight.Render(name)
		case r.unread > 0:
			name = st.Value.Render(name)
		case r.kind == kindRoom && !r.joined && !r.joining:
			name = st.Muted.Render(name)
		}
		text := st.Active.Render(marker) + st.Muted.Render(num) + " " + name + pad
		if badge != "" {
			text += " " + badgeStyled
		}
		out[row] = text
	}
	return out
}

func (m *model) memberRows(w, h int) []string {
	st := m.st
	out := make([]string, h)
	r := m.current()
	if r.kind != kindRoom {
		out[0] = st.Section.Render(" members")
		if r.kind == kindDirect {
			out[1] = " " + st.name(colourKey(r.peer), ansi.Truncate(displayName(r.peer), w-2, "…"))
			out[2] = " " + st.Own.Render(ansi.Truncate(m.myName(), w-8, "…")) + st.Muted.Render(" (you)")
		}
		return out
	}
	out[0] = st.Section.Render(fmt.Sprintf(" members (%d)", len(r.members)))
	ids := sortedMemberIDs(r)
	for i, id := range ids {
		row := i + 1
		if row >= h {
			break
		}
		if row == h-1 && len(ids) > h-1 {
			out[row] = st.Muted.Render(fmt.Sprintf(" … %d more", len(ids)-i))
			break
		}
		mb := r.members[id]
		name := memberName(mb)
		from := protocol.From{Client: mb.Client, UID: mb.UID, Name: mb.Name}
		if m.myIDs[mb.Client] {
			out[row] = " " + st.Own.Render(ansi.Truncate(name, w-8, "…")) + st.Muted.Render(" (you)")
			continue
		}
		out[row] = " " + st.name(colourKey(from), ansi.Truncate(name, w-2, "…"))
	}
	return out
}

// sortedMemberIDs orders a room's members by name, then client id, so the
// list does not jump about as people come and go.
func sortedMemberIDs(r *room) []string {
	ids := make([]string, 0, len(r.members))
	for id := range r.members {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		na, nb := strings.ToLower(memberName(r.members[a])), strings.ToLower(memberName(r.members[b]))
		if c := strings.Compare(na, nb); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return ids
}

// memberNames lists a room's members for /who, one entry per name with a
// count for people connected more than once.
func (m *model) memberNames(r *room) []string {
	var names []string
	count := map[string]int{}
	for _, id := range sortedMemberIDs(r) {
		n := memberName(r.members[id])
		if m.myIDs[id] {
			n += " (you)"
		}
		if count[n] == 0 {
			names = append(names, n)
		}
		count[n]++
	}
	for i, n := range names {
		if c := count[n]; c > 1 {
			names[i] = fmt.Sprintf("%s ×%d", n, c)
		}
	}
	return names
}

// helpRows is the full help: the key map's bindings, in two columns
// when the view is wide enough, then the command table.
func (m *model) helpRows(w, h int) []string {
	st := m.st
	var rows []string
	rows = append(rows, st.Title.Render(" keys"))
	var pairs [][2]string
	for _, group := range m.keys.FullHelp() {
		for _, b := range group {
			hb := b.Help()
			pairs = append(pairs, [2]string{hb.Key, hb.Desc})
		}
	}
	// column lays pairs out as aligned "key  description" rows.
	column := func(pairs [][2]string) ([]string, int) {
		keyW, width := 0, 0
		for _, p := range pairs {
			keyW = max(keyW, ansi.StringWidth(p[0]))
		}
		var out []string
		for _, p := range pairs {
			row := st.Help.FullKey.Render(p[0]) + strings.Repeat(" ", keyW-ansi.StringWidth(p[0])+1) + st.Help.FullDesc.Render(p[1])
			width = max(width, ansi.StringWidth(row))
			out = append(out, row)
		}
		return out, width
	}
	half := (len(pairs) + 1) / 2
	left, lw := column(pairs[:half])
	right, rw := column(pairs[half:])
	if 1+lw+3+rw <= w {
		for i, l := range left {
			row := " " + fit(l, lw)
			if i < len(right) {
				row += "   " + right[i]
			}
			rows = append(rows, row)
		}
	} else {
		all, _ := column(pairs)
		for _, l := range all {
			rows = append(rows, " "+l)
		}
	}
	rows = append(rows, "", st.Title.Render(" commands"))
	for _, c := range commands {
		rows = append(rows, " "+st.Value.Render(fmt.Sprintf("%-17s", c.usage()))+" "+st.Muted.Render(c.help))
	}
	rows = append(rows, st.Muted.Render(" other text goes to the current room · f1 or esc closes this"))
	out := make([]string, h)
	copy(out, rows)
	return out
}

// click switches to a room clicked in the room list.
func (m *model) click(mouse tea.Mouse) {
	lay := m.layout()
	if lay.rooms == 0 || mouse.X >= lay.rooms || mouse.Button != tea.MouseLeft {
		return
	}
	// Row 0 is the title bar, row 1 the list's heading.
	if i := mouse.Y - 2; i >= 0 && i < len(m.rooms) && mouse.Y <= m.bodyHeight() {
		m.switchTo(i)
	}
}
