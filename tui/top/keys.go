package top

import (
	"slices"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// keyMap is top's key bindings. It also drives the help line and the full
// help, so what they show is always what works. While the filter is
// being typed, printable keys go to it instead (see model.handleFilterKey).
type keyMap struct {
	NextView key.Binding
	Rooms    key.Binding
	Clients  key.Binding
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Home     key.Binding
	End      key.Binding
	Sort     key.Binding
	SortPrev key.Binding
	Reverse  key.Binding
	Filter   key.Binding
	Clear    key.Binding
	Kick     key.Binding
	Help     key.Binding
	Quit     key.Binding

	// While typing a filter.
	FilterDone key.Binding
	// While a kick waits for confirmation.
	Confirm key.Binding
	Cancel  key.Binding
}

func defaultKeyMap() keyMap {
	return keyMap{
		NextView: key.NewBinding(key.WithKeys("tab", "shift+tab"), key.WithHelp("tab", "rooms/clients")),
		Rooms:    key.NewBinding(key.WithKeys("1"), key.WithHelp("1", "rooms")),
		Clients:  key.NewBinding(key.WithKeys("2"), key.WithHelp("2", "clients")),
		Up:       key.NewBinding(key.WithKeys("up"), key.WithHelp("↑", "up")),
		Down:     key.NewBinding(key.WithKeys("down"), key.WithHelp("↓", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "page down")),
		Home:     key.NewBinding(key.WithKeys("home"), key.WithHelp("home", "first")),
		End:      key.NewBinding(key.WithKeys("end"), key.WithHelp("end", "last")),
		Sort:     key.NewBinding(key.WithKeys("s", ">"), key.WithHelp("s/>", "sort by next column")),
		SortPrev: key.NewBinding(key.WithKeys("<"), key.WithHelp("<", "sort by previous column")),
		Reverse:  key.NewBinding(key.WithKeys("S", "r"), key.WithHelp("S/r", "reverse the sort")),
		Filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Clear:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear the filter")),
		Kick:     key.NewBinding(key.WithKeys("k"), key.WithHelp("k", "kick the client")),
		Help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),

		FilterDone: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep the filter")),
		Confirm:    key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "kick")),
		Cancel:     key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n/esc", "cancel")),
	}
}

// ShortHelp implements help.KeyMap: the line at the bottom, short enough
// for 80 columns.
func (k keyMap) ShortHelp() []key.Binding {
	view := key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab/1/2", "view"))
	sel := key.NewBinding(key.WithKeys("up"), key.WithHelp("↑/↓", "select"))
	sort := key.NewBinding(key.WithKeys("s"), key.WithHelp("s/S", "sort"))
	kick := k.Kick
	kick.SetHelp("k", "kick")
	return []key.Binding{view, sel, sort, k.Filter, kick, k.Help, k.Quit}
}

// FullHelp implements help.KeyMap: the help screen's columns.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.NextView, k.Rooms, k.Clients, k.Help, k.Quit},
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{k.Sort, k.SortPrev, k.Reverse, k.Filter, k.Clear, k.Kick},
	}
}

// filterHelp is the help line while a filter is typed.
type filterHelp struct{ k keyMap }

func (f filterHelp) ShortHelp() []key.Binding {
	clear := f.k.Clear
	clear.SetHelp("esc", "clear")
	return []key.Binding{f.k.FilterDone, clear, f.k.Up, f.k.Down}
}
func (f filterHelp) FullHelp() [][]key.Binding { return [][]key.Binding{f.ShortHelp()} }

// confirmHelp is the help line while a kick waits for y or n.
type confirmHelp struct{ k keyMap }

func (c confirmHelp) ShortHelp() []key.Binding  { return []key.Binding{c.k.Confirm, c.k.Cancel} }
func (c confirmHelp) FullHelp() [][]key.Binding { return [][]key.Binding{c.ShortHelp()} }

// matches reports whether msg is one of b's keys.
func matches(msg tea.KeyPressMsg, b key.Binding) bool {
	if !b.Enabled() {
		return false
	}
	keys := b.Keys()
	return slices.Contains(keys, msg.String()) || slices.Contains(keys, msg.Keystroke())
}
