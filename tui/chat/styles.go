package chat

import (
	"hash/fnv"
	"image/color"

	"charm.land/lipgloss/v2"

	"github.com/rtsync/rtsync/tui/style"
)

// namePalette colours user names. Mid-brightness hues that read on dark
// and light backgrounds alike, and that stay apart from each other when a
// 256-colour terminal rounds them; the accent and the status colours of
// tui/style are left out so a name never looks like a warning.
var namePalette = []color.Color{
	lipgloss.Color("#E06C75"), // rose
	lipgloss.Color("#56B6C2"), // teal
	lipgloss.Color("#E5A550"), // amber
	lipgloss.Color("#61AFEF"), // sky
	lipgloss.Color("#C678DD"), // violet
	lipgloss.Color("#98C379"), // leaf
	lipgloss.Color("#D19A66"), // copper
	lipgloss.Color("#4FA6A6"), // sea
	lipgloss.Color("#E88FC7"), // pink
	lipgloss.Color("#8FA1E8"), // periwinkle
	lipgloss.Color("#B5BD68"), // olive
	lipgloss.Color("#F0A8A0"), // salmon
}

// Bar colours: a band a little off the terminal's background, dark
// enough that the palette's colours stay readable on it.
var (
	barBackground = lipgloss.Color("#30363D")
	barForeground = lipgloss.Color("#C9D1D9")
)

// styles is what the chat draws with: the shared tui/style set plus what
// only a chat needs. Building it from style.Styles keeps the chat in the
// family look, and a colourless set (style.Plain) colourless here too.
type styles struct {
	style.Styles

	// Bar is the title and status bars' band.
	Bar lipgloss.Style
	// Separator draws the rules between the panels.
	Separator lipgloss.Style
	// Time is a line's timestamp.
	Time lipgloss.Style
	// Own is the user's own name: the accent rather than a palette colour,
	// so "me" never looks like someone else. Mention is a line that names
	// the user.
	Own     lipgloss.Style
	Mention lipgloss.Style
	// System is the prefix and text of a line the chat made (joins,
	// leaves, reconnects); Error a failed command.
	System lipgloss.Style
	Error  lipgloss.Style
	// Unread is a room's unread count; Highlight a room with a mention.
	Unread    lipgloss.Style
	Highlight lipgloss.Style

	// names colours user names; empty when the base styles have no colour.
	names []lipgloss.Style
}

func newStyles(st style.Styles) styles {
	s := styles{Styles: st}
	plain := isNoColor(st.Title.GetForeground()) && isNoColor(st.Active.GetForeground())
	base := lipgloss.NewStyle()
	s.Time = st.Muted
	s.Mention = st.Warn
	s.System = st.Muted
	s.Error = st.Bad
	s.Unread = st.Value
	s.Highlight = st.Warn
	if plain {
		s.Bar = base
		s.Separator = base
		s.Own = st.Value
		return s
	}
	s.Bar = base.Background(barBackground).Foreground(barForeground)
	s.Separator = st.Muted
	s.Own = st.Active
	for _, c := range namePalette {
		s.names = append(s.names, base.Foreground(c))
	}
	return s
}

func isNoColor(c color.Color) bool {
	if c == nil {
		return true
	}
	_, ok := c.(lipgloss.NoColor)
	return ok
}

// name styles a user's name with the colour their key hashes to, so the
// same person has the same colour in every room, in every session and in
// every rtsync chat.
func (s styles) name(key, text string) string {
	if len(s.names) == 0 {
		return text
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return s.names[h.Sum32()%uint32(len(s.names))].Render(text)
}

// onBar renders text with st on the bar's band, so that a styled segment
// does not punch a hole in the background.
func (s styles) onBar(st lipgloss.Style, text string) string {
	if bg := s.Bar.GetBackground(); !isNoColor(bg) {
		st = st.Background(bg)
	}
	return st.Render(text)
}
