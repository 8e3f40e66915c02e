package top

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/rtsync/rtsync/internal/termtext"
)

// The rooms, clients and nodes tables share this small table: columns
// that size themselves to their content within bounds, numbers aligned
// right, sorting by any column, a substring filter, and a selection kept
// by row key rather than by position, so that a refresh that reorders
// the rows does not move it onto another client (whom k would then
// kick).

// column describes one column of a table.
type column struct {
	title string
	// min and max bound the width; between them it fits the content.
	min, max int
	// right aligns the column's text right, as numbers are.
	right bool
	// desc makes the column sort descending first (biggest first).
	desc bool
	// shrink orders the columns that give up width when the table is too
	// wide: the highest first (long lists before the ids one acts on).
	shrink int
}

// cell is one value: its text, and for numbers the value to sort by and
// a shorter form for when the text does not fit.
type cell struct {
	text  string
	num   float64
	isNum bool
}

// textCell is a text shown as is, once cleaned: cells show what the
// server's API says (room names, uids, names, addresses, versions), and
// the server or its clients may be hostile. A row's key stays exact.
func textCell(s string) cell { return cell{text: termtext.Line(s)} }

// numCell is a number shown as text.
func numCell(v float64, text string) cell { return cell{text: text, num: v, isNum: true} }

// row is one line of a table; key identifies it across refreshes.
type row struct {
	key   string
	cells []cell
	// total marks a totals line: kept last whatever the sort.
	total bool
}

// sortState is a table's sort: by column col, descending when desc.
type sortState struct {
	col  int
	desc bool
}

// sortRows sorts rows in place, stably, ties by key so that equal rows
// do not swap between refreshes. A NaN sorts last either way.
func sortRows(rows []row, s sortState) {
	slices.SortStableFunc(rows, func(a, b row) int {
		if a.total != b.total {
			if a.total {
				return 1
			}
			return -1
		}
		if s.col < 0 || s.col >= len(a.cells) || s.col >= len(b.cells) {
			return cmp.Compare(a.key, b.key)
		}
		ca, cb := a.cells[s.col], b.cells[s.col]
		var c int
		if ca.isNum && cb.isNum {
			na, nb := math.IsNaN(ca.num), math.IsNaN(cb.num)
			switch {
			case na && nb:
			case na:
				return 1
			case nb:
				return -1
			default:
				c = cmp.Compare(ca.num, cb.num)
			}
		} else {
			c = cmp.Compare(strings.ToLower(ca.text), strings.ToLower(cb.text))
		}
		if s.desc {
			c = -c
		}
		if c == 0 {
			c = cmp.Compare(a.key, b.key)
		}
		return c
	})
}

// filterRows keeps the rows with f in one of their cells, ignoring case.
// An empty filter keeps all.
func filterRows(rows []row, f string) []row {
	f = strings.ToLower(strings.TrimSpace(f))
	if f == "" {
		return rows
	}
	out := rows[:0:0]
	for _, r := range rows {
		for _, c := range r.cells {
			if strings.Contains(strings.ToLower(c.text), f) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// Table drawing.
const (
	// colGap separates columns.
	colGap = 2
	// markerWidth is the selection marker's column ("▸ ").
	markerWidth = 2
)

// sortArrow marks the sorted column's title.
func sortArrow(desc bool) string {
	if desc {
		return "↓"
	}
	return "↑"
}

// layoutColumns returns each column's width for rows in width columns of
// screen (less the marker). Columns start at their content's width within
// their bounds; when that is too wide, the columns with the highest
// shrink give a column at a time down to their minimum, the one with the
// most to spare first, then the next shrink level.
func layoutColumns(cols []column, rows []row, sorted int, width int) []int {
	ws := make([]int, len(cols))
	for i, c := range cols {
		w := ansi.StringWidth(c.title)
		if i == sorted {
			w++
		}
		for _, r := range rows {
			if i < len(r.cells) {
				w = max(w, ansi.StringWidth(r.cells[i].text))
			}
		}
		ws[i] = max(c.min, min(c.max, w))
	}
	avail := width - markerWidth - colGap*(len(cols)-1)
	for sum(ws) > avail {
		best, slack, level := -1, 0, -1
		for i, c := range cols {
			s := ws[i] - c.min
			if s > 0 && (c.shrink > level || (c.shrink == level && s > slack)) {
				best, slack, level = i, s, c.shrink
			}
		}
		if best < 0 {
			break
		}
		ws[best]--
	}
	return ws
}

func sum(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

// fitCell writes c in w columns, aligned as its column wants. A number
// too wide for its cell is written compactly (12.3M) rather than cut,
// since a cut number reads as a different number.
func fitCell(c cell, w int, right bool) string {
	s := c.text
	if ansi.StringWidth(s) > w && c.isNum {
		s = formatCompact(c.num)
	}
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	pad := strings.Repeat(" ", max(0, w-ansi.StringWidth(s)))
	if right {
		return pad + s
	}
	return s + pad
}

// headerLine draws the column titles, the sorted one with its arrow.
func headerLine(cols []column, ws []int, sorted int, desc bool) string {
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", markerWidth))
	for i, c := range cols {
		if i > 0 {
			b.WriteString(strings.Repeat(" ", colGap))
		}
		t := c.title
		if i == sorted {
			if c.right {
				t = sortArrow(desc) + t
			} else {
				t += sortArrow(desc)
			}
		}
		b.WriteString(fitCell(textCell(t), ws[i], c.right))
	}
	return strings.TrimRight(b.String(), " ")
}

// rowLine draws one row's cells, without the marker.
func rowLine(cols []column, ws []int, r row) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteString(strings.Repeat(" ", colGap))
		}
		var cl cell
		if i < len(r.cells) {
			cl = r.cells[i]
		}
		b.WriteString(fitCell(cl, ws[i], c.right))
	}
	return strings.TrimRight(b.String(), " ")
}

// tableState is what the user set on one table: its sort, the selected
// row's key, and the first row shown.
type tableState struct {
	sort     sortState
	selected string
	// index is the selected row's position, to fall back on when its key
	// has gone (the client left): the selection stays where it was.
	index  int
	offset int
}

// selection returns the index of the selected row in rows: the row with
// the selected key, else the one at the old index, clamped.
func (ts *tableState) selection(rows []row) int {
	if len(rows) == 0 {
		return -1
	}
	if ts.selected != "" {
		if i := slices.IndexFunc(rows, func(r row) bool { return r.key == ts.selected }); i >= 0 {
			return i
		}
	}
	return max(0, min(ts.index, len(rows)-1))
}

// move moves the selection by delta rows within rows.
func (ts *tableState) move(rows []row, delta int) {
	if len(rows) == 0 {
		return
	}
	i := max(0, min(len(rows)-1, ts.selection(rows)+delta))
	ts.selected, ts.index = rows[i].key, i
}

// scroll returns the first row to show so that the selection at sel is
// within height rows, keeping the previous offset when it already is.
func (ts *tableState) scroll(sel, n, height int) int {
	if height <= 0 || n <= height {
		ts.offset = 0
		return 0
	}
	off := max(0, min(ts.offset, n-height))
	if sel >= 0 && sel < off {
		off = sel
	}
	if sel >= off+height {
		off = sel - height + 1
	}
	ts.offset = off
	return off
}
