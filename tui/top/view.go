package top

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/internal/termtext"
)

// Layout. The screen is drawn for 80×24 first: header, four one-line
// charts and a dozen table rows. Taller terminals get two-line charts
// and more rows, wider ones longer charts and wider columns.
const (
	// chartLabelWidth and chartValueWidth size a chart's name and its
	// current value ("messages in/s", "1,234,567").
	chartLabelWidth = 14
	chartValueWidth = 10
	// minTableRows is the fewest table rows worth showing; below it the
	// charts give up their lines.
	minTableRows = 3
	// tallChartRows is the table rows there must still be for the charts
	// to take two lines each.
	tallChartRows = 10
	// maxErrorLines bounds the lines an error takes at the top.
	maxErrorLines = 3
	// figureGap separates the header's figures.
	figureGap = 3
)

// layout is how the screen's lines are shared out.
type layout struct {
	errLines  []string
	chartRows int // lines per chart; 0 hides the charts
	nodes     []row
	tableRows int
}

// layout shares the height out: fixed parts first, then the charts get
// two lines each if the table keeps enough rows, one line if not, none
// on a very short terminal.
func (m *model) layout() layout {
	var l layout
	l.errLines = m.errorLines(m.width)
	if len(m.stats.Nodes) > 1 {
		l.nodes = m.nodeRows()
	}
	fixed := 1 + len(l.errLines) + 3 // title, error, figures
	if len(l.nodes) > 0 {
		fixed += 1 + 1 + len(l.nodes) // blank, header, nodes and total
	}
	fixed += 1 + 1 + 1 // blank, tabs, table header
	fixed += 2         // status, help
	charts := func(rows int) int {
		if rows == 0 {
			return 0
		}
		return 1 + 4*rows // blank, four charts
	}
	for _, r := range []int{2, 1, 0} {
		l.chartRows = r
		l.tableRows = m.height - fixed - charts(r)
		if (r == 2 && l.tableRows >= tallChartRows) || (r == 1 && l.tableRows >= minTableRows) {
			break
		}
	}
	l.tableRows = max(1, l.tableRows)
	return l
}

// View draws the screen.
func (m *model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "rtsync top · " + m.opts.URL
	return v
}

// stale reports whether the data on screen is old: the last round
// failed after earlier ones succeeded.
func (m *model) stale() bool { return m.err != nil && m.have }

// render is the screen as text, exactly one line per terminal row.
func (m *model) render() string {
	w, h := m.width, m.height
	st := m.st
	if m.stale() {
		st = st.stale()
	}
	lay := m.layout()

	var lines []string
	lines = append(lines, m.titleLine())
	lines = append(lines, lay.errLines...)
	lines = append(lines, m.figureLines(st, w)...)
	if lay.chartRows > 0 {
		lines = append(lines, "")
		lines = append(lines, m.chartLines(st, w, lay.chartRows)...)
	}
	if len(lay.nodes) > 0 {
		lines = append(lines, "")
		lines = append(lines, m.nodeLines(st, w, lay.nodes)...)
	}
	lines = append(lines, "", m.tabLine(w))
	if m.showHelp {
		help := m.help
		help.ShowAll = true
		lines = append(lines, fitLines(strings.Split(help.View(m.keys), "\n"), lay.tableRows+1)...)
	} else {
		lines = append(lines, m.tableLines(st, w, lay.tableRows)...)
	}
	foot := []string{m.statusLine(), m.helpLine()}

	// Exactly h lines: cut the body when the terminal is too short for
	// even the smallest layout, and keep the footer at the bottom.
	body := max(0, h-len(foot))
	if len(lines) > body {
		lines = lines[:body]
	}
	for len(lines) < body {
		lines = append(lines, "")
	}
	lines = append(lines, foot...)
	if len(lines) > h {
		lines = lines[len(lines)-h:]
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "…")
	}
	return strings.Join(lines, "\n")
}

// fitLines returns exactly n lines of ls, cut or padded.
func fitLines(ls []string, n int) []string {
	if len(ls) > n {
		return ls[:n]
	}
	for len(ls) < n {
		ls = append(ls, "")
	}
	return ls
}

func (m *model) titleLine() string {
	sep := m.st.Muted.Render(" · ")
	parts := []string{m.st.Title.Render("rtsync top"), termtext.Line(m.opts.URL)}
	if m.have {
		s := m.stats
		switch {
		case len(s.Nodes) > 1:
			parts = append(parts, fmt.Sprintf("%d nodes", len(s.Nodes)))
		case s.Node != "":
			parts = append(parts, "node "+termtext.Line(s.Node))
		}
		if s.Cluster != nil && !s.Cluster.Healthy {
			parts = append(parts, m.st.Bad.Render("Redis lost"))
		}
		if s.Version != "" {
			parts = append(parts, termtext.Line(s.Version))
		}
		if s.UptimeSeconds > 0 {
			parts = append(parts, "up "+formatAge(seconds(s.UptimeSeconds)))
		}
	}
	return strings.Join(parts, sep)
}

// errorLines says why there is no fresh data, wrapped, at most
// maxErrorLines long.
func (m *model) errorLines(w int) []string {
	if m.err == nil {
		return nil
	}
	what := "server unreachable"
	var ae *client.APIError
	if errors.As(m.err, &ae) {
		what = "server refused the request"
	}
	// The error may quote the server's answer.
	msg := fmt.Sprintf("%s: %s, retrying every %s", what, termtext.Line(m.err.Error()), m.opts.Interval)
	if m.have {
		msg += fmt.Sprintf(" · data from %s ago", formatAge(m.now().Sub(m.lastOK)))
	}
	ls := strings.Split(ansi.Wrap(msg, max(10, w), ""), "\n")
	if len(ls) > maxErrorLines {
		ls = ls[:maxErrorLines]
		ls[maxErrorLines-1] = ansi.Truncate(ls[maxErrorLines-1], max(1, w-1), "") + "…"
	}
	for i, l := range ls {
		ls[i] = m.st.Bad.Render(strings.TrimRight(l, " "))
	}
	return ls
}

// figure is a label and its value in the header.
type figure struct{ label, value string }

// figureLines draws the header's figures as a grid of three lines, in
// columns of label and value, most important first. A column that does
// not fit the width is left out whole rather than cut.
func (m *model) figureLines(st styles, w int) []string {
	s := m.stats
	val := func(v string) string {
		if !m.have {
			return "-"
		}
		return v
	}
	conns := human.Int(s.Connections)
	if ts := transports(s.ConnectionsByTransport); len(ts) > 1 {
		conns += " (" + strings.Join(ts, ", ") + ")"
	}
	var errs int64
	for _, n := range s.Errors {
		errs += n
	}
	grid := [][3]figure{
		{{"conns", val(conns)}, {"rooms", val(human.Int(s.Rooms))}, {"uids", val(human.Int(s.UIDs))}},
		{{"cpu", val(formatPercent(m.rates.cpuPercent))}, {"rss", val(formatBytes(s.RSSBytes))}, {"goroutines", val(human.Int(s.Goroutines))}},
		{{"dropped", val(human.Int(s.Dropped))}, {"rejected", val(human.Int(s.Rejected))}, {"errors", val(human.Int(errs))}},
		{{"history", val(human.Int(s.HistoryMessages) + " msgs")}, {"", val(formatBytes(s.HistoryBytes))}, {}},
	}
	// Columns that fit, then the lines; the last column's values are not
	// padded, so no line ends in blanks.
	type colW struct{ label, value int }
	var cols []colW
	used := 0
	for c, col := range grid {
		var cw colW
		for _, f := range col {
			cw.label = max(cw.label, ansi.StringWidth(f.label))
			cw.value = max(cw.value, ansi.StringWidth(f.value))
		}
		need := cw.label + 1 + cw.value
		if c > 0 {
			need += figureGap
			if used+need > w {
				break
			}
		}
		used += need
		cols = append(cols, cw)
	}
	lines := make([]string, 3)
	last := make([]int, 3) // each line's last column with something in it
	for c := range cols {
		for r, f := range grid[c] {
			if f != (figure{}) {
				last[r] = c
			}
		}
	}
	for c, cw := range cols {
		for r, f := range grid[c] {
			if f == (figure{}) {
				continue // nothing here; no blanks at the line's end
			}
			if c > 0 {
				lines[r] += strings.Repeat(" ", figureGap)
			}
			v := f.value
			if c < last[r] {
				v = padRight(v, cw.value)
			}
			lines[r] += st.Label.Render(padRight(f.label, cw.label)) + " " + st.Value.Render(v)
		}
	}
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return lines
}

// chartLines draws the four charts: name, current value, and the last
// samples, one per interval, newest at the right.
func (m *model) chartLines(st styles, w, rows int) []string {
	charts := []struct {
		name  string
		s     series
		value func(float64) string
	}{
		{"connections", m.conns, func(v float64) string {
			if math.IsNaN(v) {
				return "-"
			}
			return formatRate(v)
		}},
		{"messages in/s", m.msgsIn, formatRate},
		{"deliveries/s", m.deliveries, formatRate},
		{"drops/s", m.drops, formatRate},
	}
	chartW := max(0, w-chartLabelWidth-chartValueWidth-2)
	var out []string
	for _, c := range charts {
		drawn := chart(c.s, chartW, rows)
		value := c.s.last()
		if m.stale() {
			value = c.s.lastKnown()
		}
		if !m.have {
			value = math.NaN()
		}
		for r, line := range drawn {
			var label, v string
			switch r {
			case 0:
				label, v = st.Label.Render(c.name), st.Value.Render(c.value(value))
			case 1:
				if peak := peakOf(c.s, chartW); !math.IsNaN(peak) {
					label, v = st.Muted.Render("  peak"), st.Muted.Render(c.value(peak))
				}
			}
			out = append(out, padRight(label, chartLabelWidth)+padLeft(v, chartValueWidth)+"  "+st.Sparkline.Render(line))
		}
	}
	return out
}

// peakOf is the largest of the last n values of s; NaN if none.
func peakOf(s series, n int) float64 {
	if len(s) > n {
		s = s[len(s)-n:]
	}
	peak := math.NaN()
	for _, v := range s {
		if !math.IsNaN(v) && (math.IsNaN(peak) || v > peak) {
			peak = v
		}
	}
	return peak
}

func padRight(s string, w int) string {
	return s + strings.Repeat(" ", max(0, w-ansi.StringWidth(s)))
}

func padLeft(s string, w int) string {
	return strings.Repeat(" ", max(0, w-ansi.StringWidth(s))) + s
}

// nodeLines draws the cluster's nodes and their totals.
func (m *model) nodeLines(st styles, w int, rows []row) []string {
	ws := layoutColumns(nodeColumns, rows, -1, w)
	out := []string{st.Header.Render(headerLine(nodeColumns, ws, -1, false))}
	for _, r := range rows {
		line := "  " + rowLine(nodeColumns, ws, r)
		if r.total {
			line = st.Total.Render(line)
		}
		out = append(out, line)
	}
	return out
}

// tabLine names the views, the current one bracketed, and says what the
// table shows: the filter being typed, or how much of the whole it is.
func (m *model) tabLine(w int) string {
	names := [numViews]string{"rooms", "clients"}
	counts := [numViews]string{"-", "-"}
	if m.have {
		counts[viewRooms] = human.Int(m.stats.Rooms)
		counts[viewClients] = human.Int(m.stats.Connections)
	}
	var tabs []string
	for v := range numViews {
		label := fmt.Sprintf("%d %s (%s)", v+1, names[v], counts[v])
		if v == m.view {
			tabs = append(tabs, m.st.TabActive.Render("["+label+"]"))
		} else {
			tabs = append(tabs, m.st.Tab.Render(" "+label+" "))
		}
	}
	left := strings.Join(tabs, " ")

	var right string
	f := m.filters[m.view]
	shown := len(m.rows(m.view))
	switch {
	case m.editing:
		right = m.st.Active.Render("/"+f+"▏") + m.st.Muted.Render(fmt.Sprintf(" %s match", human.Int(int64(shown))))
	case f != "":
		right = m.st.Muted.Render(fmt.Sprintf("filter %q: %s match · esc clears", f, human.Int(int64(shown))))
	case m.view == viewClients && m.clientsHas && m.clients.Total > int64(len(m.clients.Clients)):
		right = m.st.Muted.Render(fmt.Sprintf("first %s of %s", human.Int(int64(len(m.clients.Clients))), human.Int(m.clients.Total)))
	case m.view == viewRooms && m.have && m.stats.Rooms > int64(len(m.stats.TopRooms)):
		right = m.st.Muted.Render(fmt.Sprintf("busiest %s of %s", human.Int(int64(len(m.stats.TopRooms))), human.Int(m.stats.Rooms)))
	}
	if right == "" {
		return left
	}
	gap := w - ansi.StringWidth(left) - ansi.StringWidth(right)
	if gap < 2 {
		return left + "  " + right
	}
	return left + strings.Repeat(" ", gap) + right
}

// tableLines draws the current view's table: the header and n rows.
func (m *model) tableLines(st styles, w, n int) []string {
	cols := m.columns(m.view)
	rows := m.rows(m.view)
	t := &m.tables[m.view]
	ws := layoutColumns(cols, rows, t.sort.col, w)
	out := []string{st.Header.Render(headerLine(cols, ws, t.sort.col, t.sort.desc))}
	if len(rows) == 0 {
		out = append(out, st.Muted.Render("  "+m.emptyText()))
		return fitLines(out, n+1)
	}
	sel := t.selection(rows)
	// The only state drawing changes: the scroll offset, kept so the
	// next frame scrolls from here rather than jumping (it depends on the
	// height, which only drawing knows for sure).
	off := t.scroll(sel, len(rows), n)
	for i := off; i < min(len(rows), off+n); i++ {
		line := rowLine(cols, ws, rows[i])
		if i == sel {
			out = append(out, st.Selected.Render("▸ "+line))
		} else {
			out = append(out, st.Row.Render("  "+line))
		}
	}
	return fitLines(out, n+1)
}

// emptyText says why a table has no rows.
func (m *model) emptyText() string {
	if f := m.filters[m.view]; f != "" {
		return fmt.Sprintf("nothing matches %q", f)
	}
	if m.view == viewClients {
		switch {
		case m.clientsErr != nil:
			return "clients: " + termtext.Line(m.clientsErr.Error())
		case !m.clientsHas:
			return "asking for the clients…"
		}
		return "no clients connected"
	}
	if !m.have {
		return "waiting for the first snapshot…"
	}
	return "no rooms"
}

// statusLine is the line above the help: a kick to confirm, a message,
// or the state of the connection to the server.
func (m *model) statusLine() string {
	switch {
	case m.confirm != nil:
		return m.st.Warn.Render("kick " + clientLabel(*m.confirm) + "? y/n")
	case m.notice != "" && m.noticeBad:
		return m.st.Bad.Render(m.notice)
	case m.notice != "":
		return m.st.Good.Render(m.notice)
	case m.view == viewClients && m.clientsErr != nil && m.clientsHas:
		return m.st.Bad.Render("clients: " + termtext.Line(m.clientsErr.Error()))
	case m.restarted:
		return m.st.Warn.Render("the counters went back: the server restarted; rates resume with the next snapshot")
	case !m.have && m.err == nil:
		return m.st.Muted.Render("connecting to " + termtext.Line(m.opts.URL) + "…")
	}
	return ""
}

func (m *model) helpLine() string {
	switch {
	case m.confirm != nil:
		return m.help.View(confirmHelp{m.keys})
	case m.editing:
		return m.help.View(filterHelp{m.keys})
	}
	return m.help.View(m.keys)
}

// transports lists the transports that have connections, by name, with
// their counts.
func transports(by map[string]int64) []string {
	var out []string
	for _, t := range slices.Sorted(maps.Keys(by)) {
		if by[t] != 0 {
			out = append(out, termtext.Line(t)+" "+human.Int(by[t]))
		}
	}
	return out
}
