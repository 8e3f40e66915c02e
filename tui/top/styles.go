package top

import (
	"charm.land/lipgloss/v2"

	"github.com/rtsync/rtsync/tui/style"
)

// styles is what top draws with: the shared tui/style set plus what only
// a monitor needs. Built from style.Styles, so style.Plain makes it
// colourless too.
type styles struct {
	style.Styles

	// Header is a table's column titles.
	Header lipgloss.Style
	// Row is a table's row; Selected the selected one.
	Row      lipgloss.Style
	Selected lipgloss.Style
	// Tab is a view's name in the tab line; TabActive the current one.
	Tab       lipgloss.Style
	TabActive lipgloss.Style
	// Total is a table's totals line.
	Total lipgloss.Style
}

func newStyles(st style.Styles) styles {
	return styles{
		Styles:    st,
		Header:    st.Section,
		Row:       lipgloss.NewStyle(),
		Selected:  st.Active,
		Tab:       st.Muted,
		TabActive: st.Active,
		Total:     st.Value,
	}
}

// stale returns the styles for data that is no longer current (the
// server cannot be reached): everything in the muted colour, so the last
// figures stay readable but nobody mistakes them for live ones.
func (s styles) stale() styles {
	m := s.Muted
	out := s
	out.Title, out.Section, out.Label, out.Value = m, m, m, m
	out.Good, out.Warn, out.Bad, out.Active, out.Sparkline = m, m, m, m, m
	out.Header, out.Row, out.Selected, out.Total = m, m, m, m
	return out
}
