package chat

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
)

// maxLines bounds a buffer: past it the oldest lines go. /history brings
// old messages back from the server, so nothing is lost for good; it only
// keeps a chat that runs for days from growing without bound.
const maxLines = 2000

// roomKind says what a buffer is a window onto.
type roomKind uint8

const (
	// kindRoom is a server room.
	kindRoom roomKind = iota
	// kindDirect gathers the direct messages with one peer.
	kindDirect
	// kindStatus is shown when no room is open; it is not listed.
	kindStatus
)

// lineKind says how a line is drawn.
type lineKind uint8

const (
	lineMessage lineKind = iota // a room message or a direct message
	lineJoin                    // someone joined
	lineLeave                   // someone left
	lineInfo                    // something the chat says (reconnects, replies)
	lineError                   // a command or the connection failed
)

// line is one entry of a buffer. Lines are kept sorted by (gen, seq, sub):
// a room message sorts by its seq; a line the chat makes takes the seq of
// the newest message known when it was made and a sub above zero, so it
// stays below what came before it and above what comes after, whichever
// order the replies and events reach Update in.
type line struct {
	gen int    // the room's epoch generation; seqs restart in a new one
	seq uint64 // the message's seq; for other lines, the newest seq then
	sub int    // 0 for messages, rising for other lines

	kind    lineKind
	ts      time.Time
	from    protocol.From
	text    string // sanitized, may hold newlines
	own     bool
	mention bool

	// rows caches the line drawn at width, after the day row day when it
	// starts a new day; View redraws a line only when either changes.
	width int
	day   string
	rows  []string
	// dayOf is DayFormat(ts), kept once made: every frame compares it.
	dayOf string
}

func (l *line) less(o *line) bool {
	if c := cmp.Compare(l.gen, o.gen); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(l.seq, o.seq); c != 0 {
		return c < 0
	}
	return l.sub < o.sub
}

func (l *line) sameKey(o *line) bool {
	return l.gen == o.gen && l.seq == o.seq && l.sub == o.sub
}

// room is one buffer: a server room, a direct conversation, or the status
// buffer. It belongs to the model, on the program's goroutine.
type room struct {
	kind roomKind
	// name is the room's name (kindRoom) or the peer's uid or client id
	// (kindDirect).
	name string
	// peer is who a direct conversation is with; a peer without a uid is
	// addressed by its client id.
	peer protocol.From

	// joined: the server has us in the room; joining: a join is in
	// flight. Neither: the join failed or the re-join after a reconnect
	// did, and the buffer stays for reading until /leave or /join.
	joined  bool
	joining bool

	epoch   string
	gen     int
	lastSeq uint64 // newest seq of the current epoch known
	more    bool   // the server holds messages older than the oldest shown

	lines []line
	sub   int

	unread  int
	mention bool
	// scroll is how many rows the view is scrolled up from the bottom; 0
	// follows new lines.
	scroll int

	members map[string]protocol.Member // by client id
	// presenceWait counts presence requests in flight; presence events
	// seen meanwhile are kept in presenceLog and re-applied on top of the
	// answer, which may have been taken before or after them.
	presenceWait int
	presenceLog  []client.Event

	// awaySub is the sub of the line that counts the direct messages kept
	// for us while we were offline (awayN of them), in a direct buffer;
	// 0 until the first arrives on a connection.
	awaySub int
	awayN   int
}

func newRoom(kind roomKind, name string) *room {
	return &room{kind: kind, name: name, members: map[string]protocol.Member{}}
}

// label is the room's name in the room list and the title bar.
func (r *room) label() string {
	switch r.kind {
	case kindDirect:
		return "@" + displayName(r.peer)
	case kindStatus:
		return "rtsync"
	}
	return "#" + r.name
}

// insert adds l at its place and reports whether it was new: a message
// whose seq the buffer already holds (a history page overlapping live
// messages) is dropped.
func (r *room) insert(l line) bool {
	n := len(r.lines)
	i := n
	if n > 0 && !l.less(&r.lines[n-1]) {
		// The usual case: a live line goes at the end.
		if r.lines[n-1].sameKey(&l) {
			return false
		}
	} else {
		i, _ = slices.BinarySearchFunc(r.lines, l, func(e, t line) int {
			switch {
			case e.less(&t):
				return -1
			case t.less(&e):
				return 1
			}
			return 0
		})
		if i < n && r.lines[i].sameKey(&l) {
			return false
		}
	}
	r.lines = slices.Insert(r.lines, i, l)
	if len(r.lines) > maxLines {
		drop := len(r.lines) - maxLines
		r.lines = slices.Delete(r.lines, 0, drop)
		r.more = r.kind == kindRoom
	}
	return true
}

// system adds a line the chat made, placed after every message known now.
func (r *room) system(kind lineKind, ts time.Time, text string) {
	r.sub++
	r.insert(line{gen: r.gen, seq: r.lastSeq, sub: r.sub, kind: kind, ts: ts, text: sanitize(text, true)})
}

// setText replaces the text of the line with sub, if it is still there.
func (r *room) setText(sub int, text string) {
	for i := range r.lines {
		if l := &r.lines[i]; l.sub == sub && l.seq == 0 {
			l.text, l.rows = sanitize(text, true), nil
			return
		}
	}
}

// oldestSeq is the seq of the oldest message of the current generation
// shown, 0 when there is none: /history pages back from it.
func (r *room) oldestSeq() uint64 {
	for i := range r.lines {
		l := &r.lines[i]
		if l.gen == r.gen && l.sub == 0 && l.seq > 0 {
			return l.seq
		}
	}
	return 0
}

// newEpoch starts a new generation: the room's history restarted, so its
// seqs count from 1 again and must not be compared with the old ones.
func (r *room) newEpoch(epoch string) {
	r.gen++
	r.epoch = epoch
	r.lastSeq = 0
}

// rowsAt draws line i at width: the prefix column (time and name) on the
// first row, the text wrapped under itself on the following ones.
func (r *room) rowsAt(i int, m *model, width int) []string {
	l := &r.lines[i]
	day := ""
	if i > 0 {
		if d, prev := m.lineDay(l), m.lineDay(&r.lines[i-1]); d != "" && prev != "" && d != prev {
			day = d
		}
	}
	if l.width == width && l.day == day && l.rows != nil {
		return l.rows
	}
	l.width, l.day = width, day
	l.rows = m.renderLine(l, width)
	if day != "" {
		l.rows = append([]string{m.dayRow(day, width)}, l.rows...)
	}
	return l.rows
}

// lineDay is the name of l's day, "" when l has no time.
func (m *model) lineDay(l *line) string {
	if l.dayOf == "" && !l.ts.IsZero() {
		l.dayOf = m.opts.DayFormat(l.ts)
	}
	return l.dayOf
}

// dayRow is the row that marks a change of day in the message view.
func (m *model) dayRow(day string, width int) string {
	return m.st.Muted.Render(ansi.Truncate("── "+sanitize(day, false)+" ──", width, "…"))
}

// renderLine draws one line. The layout is weechat's: time, a right-
// aligned name column, a separator, then the text, whose wrapped rows
// start under its first character.
func (m *model) renderLine(l *line, width int) []string {
	st := &m.st
	nameW := nameColumn(width)
	ts := m.opts.TimeFormat(l.ts)
	tsW := ansi.StringWidth(ts)

	var prefix, sep string
	textStyle := lipgloss.NewStyle()
	sep = "│"
	plainPrefix := ""
	switch l.kind {
	case lineMessage:
		plainPrefix = displayName(l.from)
		if l.own {
			sep = "▸"
		}
	case lineJoin:
		plainPrefix = "-->"
		textStyle = st.System
	case lineLeave:
		plainPrefix = "<--"
		textStyle = st.System
	case lineInfo:
		plainPrefix = "--"
		textStyle = st.System
	case lineError:
		plainPrefix = "!!"
		textStyle = st.Error
	}
	plainPrefix = ansi.Truncate(plainPrefix, nameW, "…")
	pad := strings.Repeat(" ", max(0, nameW-ansi.StringWidth(plainPrefix)))
	switch l.kind {
	case lineMessage:
		prefix = st.name(colourKey(l.from), plainPrefix)
		if l.own {
			prefix = st.Own.Render(plainPrefix)
		}
	case lineError:
		prefix = st.Error.Render(plainPrefix)
	case lineJoin:
		prefix = st.Good.Render(plainPrefix)
	default:
		prefix = st.System.Render(plainPrefix)
	}
	if l.mention {
		textStyle = st.Mention
	}

	// Time, space, name, " │ ", the text, and a column of margin.
	lead := tsW + 1 + nameW + 3
	textW := max(8, width-lead-1)
	var wrapped []string
	for _, part := range strings.Split(l.text, "\n") {
		w := ansi.Wrap(part, textW, " -")
		wrapped = append(wrapped, strings.Split(w, "\n")...)
	}
	rows := make([]string, 0, len(wrapped))
	indent := strings.Repeat(" ", tsW+1+nameW)
	for k, w := range wrapped {
		w = strings.TrimRight(w, " ")
		body := textStyle.Render(w)
		if w == "" {
			body = ""
		}
		if k == 0 {
			rows = append(rows, st.Time.Render(ts)+" "+pad+prefix+" "+st.Separator.Render(sep)+" "+body)
			continue
		}
		rows = append(rows, indent+" "+st.Separator.Render("│")+" "+body)
	}
	return rows
}

// nameColumn is the width of the name column for a message view width:
// wide enough for most names, narrow enough to leave the text room.
func nameColumn(width int) int {
	return min(12, max(6, width/7))
}
