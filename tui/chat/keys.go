package chat

import (
	"slices"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// keyMap is the chat's key bindings. It also drives the help line and the
// full help, so what they show is always what works. Keys not listed here
// edit the input line (lineEdit, readline's emacs keys: ctrl+a/e, ctrl+w,
// ctrl+u, alt+b/f…).
type keyMap struct {
	Send       key.Binding
	NextRoom   key.Binding
	PrevRoom   key.Binding
	JumpRoom   key.Binding
	PageUp     key.Binding
	PageDown   key.Binding
	HistoryUp  key.Binding
	HistoryDn  key.Binding
	Help       key.Binding
	CloseHelp  key.Binding
	Quit       key.Binding
	ScrollHint key.Binding
}

func defaultKeyMap() keyMap {
	return keyMap{
		Send: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "send")),
		NextRoom: key.NewBinding(key.WithKeys("tab", "ctrl+n"),
			key.WithHelp("tab/ctrl+n", "next room")),
		PrevRoom: key.NewBinding(key.WithKeys("shift+tab", "ctrl+p"),
			key.WithHelp("shift+tab/ctrl+p", "previous room")),
		JumpRoom: key.NewBinding(
			key.WithKeys("alt+1", "alt+2", "alt+3", "alt+4", "alt+5", "alt+6", "alt+7", "alt+8", "alt+9"),
			key.WithHelp("alt+1…9", "jump to room")),
		PageUp:    key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "scroll up")),
		PageDown:  key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "scroll down")),
		HistoryUp: key.NewBinding(key.WithKeys("up"), key.WithHelp("↑", "previous input")),
		HistoryDn: key.NewBinding(key.WithKeys("down"), key.WithHelp("↓", "next input")),
		// ? toggles help only while the input is empty; otherwise it is
		// typed (see model.handleKey).
		Help:      key.NewBinding(key.WithKeys("f1", "?"), key.WithHelp("f1/?", "help")),
		CloseHelp: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "close help")),
		Quit:      key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		// ScrollHint only labels the wheel in the full help.
		ScrollHint: key.NewBinding(key.WithKeys(), key.WithHelp("wheel", "scroll")),
	}
}

// ShortHelp implements help.KeyMap: the one-line help under the input,
// short enough for 80 columns. Enter needs no explaining.
func (k keyMap) ShortHelp() []key.Binding {
	next := k.NextRoom
	next.SetHelp("tab/shift+tab", "rooms")
	jump := k.JumpRoom
	jump.SetHelp("alt+1…9", "jump")
	scroll := key.NewBinding(key.WithKeys("pgup", "pgdown"), key.WithHelp("pgup/pgdn", "scroll"))
	hlp := k.Help
	hlp.SetHelp("f1", "help")
	return []key.Binding{next, jump, scroll, hlp, k.Quit}
}

// FullHelp implements help.KeyMap: the key half of the help view.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Send, k.HistoryUp, k.HistoryDn, k.Quit},
		{k.NextRoom, k.PrevRoom, k.JumpRoom},
		{k.PageUp, k.PageDown, k.ScrollHint, k.Help, k.CloseHelp},
	}
}

// matches reports whether msg is one of b's keys. It compares the
// keystroke as well as the text: with alt held, terminals differ in
// whether the key carries text, and "alt+1" must match either way.
func matches(msg tea.KeyPressMsg, b key.Binding) bool {
	if !b.Enabled() {
		return false
	}
	keys := b.Keys()
	return slices.Contains(keys, msg.String()) || slices.Contains(keys, msg.Keystroke())
}
