package style

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
)

// Palette colours, picked to read on dark and light backgrounds alike.
var (
	colorAccent = lipgloss.Color("#7D56F4")
	colorGood   = lipgloss.Color("#3FB950")
	colorWarn   = lipgloss.Color("#D29922")
	colorBad    = lipgloss.Color("#F85149")
	colorMuted  = lipgloss.Color("#8B949E")
	colorTrack  = lipgloss.Color("#484F58")
)

// Styles is every style a rtsync view draws with. Views take a Styles
// instead of building their own, so all commands share one look.
type Styles struct {
	// Title is a view's heading; Section a heading inside it.
	Title   lipgloss.Style
	Section lipgloss.Style
	// Label names a figure; Value is the figure itself.
	Label lipgloss.Style
	Value lipgloss.Style
	// Good, Warn and Bad colour a figure by how it looks: within target,
	// worth a look, or wrong (errors, loss, a run limited by the bench).
	Good lipgloss.Style
	Warn lipgloss.Style
	Bad  lipgloss.Style
	// Muted is secondary text: units, hints, timestamps.
	Muted lipgloss.Style
	// Active marks the current item in a list, such as the running phase.
	Active lipgloss.Style
	// Sparkline draws small inline charts.
	Sparkline lipgloss.Style

	// ProgressFull and ProgressEmpty colour progress bars' filled and
	// empty parts (bubbles/progress takes colours, not styles).
	ProgressFull  color.Color
	ProgressEmpty color.Color

	// Help styles the key help line (bubbles/help).
	Help help.Styles
}

// Default returns rtsync's standard styles.
func Default() Styles {
	return Styles{
		Title:         lipgloss.NewStyle().Bold(true).Foreground(colorAccent),
		Section:       lipgloss.NewStyle().Bold(true),
		Label:         lipgloss.NewStyle().Foreground(colorMuted),
		Value:         lipgloss.NewStyle().Bold(true),
		Good:          lipgloss.NewStyle().Foreground(colorGood),
		Warn:          lipgloss.NewStyle().Foreground(colorWarn).Bold(true),
		Bad:           lipgloss.NewStyle().Foreground(colorBad).Bold(true),
		Muted:         lipgloss.NewStyle().Foreground(colorMuted),
		Active:        lipgloss.NewStyle().Bold(true).Foreground(colorAccent),
		Sparkline:     lipgloss.NewStyle().Foreground(colorAccent),
		ProgressFull:  colorAccent,
		ProgressEmpty: colorTrack,
		Help:          help.DefaultDarkStyles(),
	}
}

// Plain returns styles with no colour and no emphasis, for tests and for
// output that must stay byte-for-byte stable whatever the terminal.
func Plain() Styles {
	p := lipgloss.NewStyle()
	return Styles{
		Title: p, Section: p, Label: p, Value: p,
		Good: p, Warn: p, Bad: p, Muted: p, Active: p, Sparkline: p,
		ProgressFull:  lipgloss.NoColor{},
		ProgressEmpty: lipgloss.NoColor{},
		Help: help.Styles{
			Ellipsis: p, ShortKey: p, ShortDesc: p, ShortSeparator: p,
			FullKey: p, FullDesc: p, FullSeparator: p,
		},
	}
}
