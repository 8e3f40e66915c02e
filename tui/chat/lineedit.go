package chat

import (
	"strings"
	"unicode"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// lineEdit is the input line: one line of text with a cursor, scrolled
// sideways when it is longer than the screen, and the editing keys of a
// shell (readline's emacs set).
//
// It is ours rather than bubbles/textinput because textinput pulls in a
// clipboard package this module does not otherwise need (terminals paste
// through bracketed paste anyway), and because the chat wants the real
// terminal cursor, which keeps frames free of a blinking one.
type lineEdit struct {
	value  []rune
	pos    int // cursor, in runes
	offset int // first rune shown
	width  int // columns for the text
	limit  int // most runes; 0 means no limit

	Placeholder string
	Prompt      string
}

func (e *lineEdit) Value() string { return string(e.value) }

func (e *lineEdit) SetValue(s string) {
	e.value = []rune(cleanInput(s))
	if e.limit > 0 && len(e.value) > e.limit {
		e.value = e.value[:e.limit]
	}
	e.pos = len(e.value)
	e.fix()
}

func (e *lineEdit) CursorEnd() { e.pos = len(e.value); e.fix() }

func (e *lineEdit) SetWidth(w int) { e.width = max(1, w); e.fix() }

// cleanInput turns what was typed or pasted into one line: newlines and
// tabs become spaces, other control characters go.
func cleanInput(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
}

// Insert types s at the cursor.
func (e *lineEdit) Insert(s string) {
	rs := []rune(cleanInput(s))
	if e.limit > 0 {
		rs = rs[:min(len(rs), max(0, e.limit-len(e.value)))]
	}
	if len(rs) == 0 {
		return
	}
	v := make([]rune, 0, len(e.value)+len(rs))
	v = append(v, e.value[:e.pos]...)
	v = append(v, rs...)
	v = append(v, e.value[e.pos:]...)
	e.value = v
	e.pos += len(rs)
	e.fix()
}

// HandleKey applies an editing key and reports whether it was one.
func (e *lineEdit) HandleKey(msg tea.KeyPressMsg) bool {
	switch msg.Keystroke() {
	case "left", "ctrl+b":
		e.pos = max(0, e.pos-1)
	case "right", "ctrl+f":
		e.pos = min(len(e.value), e.pos+1)
	case "alt+left", "ctrl+left", "alt+b":
		e.pos = e.wordLeft()
	case "alt+right", "ctrl+right", "alt+f":
		e.pos = e.wordRight()
	case "home", "ctrl+a":
		e.pos = 0
	case "end", "ctrl+e":
		e.pos = len(e.value)
	case "backspace", "ctrl+h":
		if e.pos > 0 {
			e.cut(e.pos-1, e.pos)
		}
	case "delete", "ctrl+d":
		if e.pos < len(e.value) {
			e.cut(e.pos, e.pos+1)
		}
	case "ctrl+w", "alt+backspace", "ctrl+backspace":
		e.cut(e.wordLeft(), e.pos)
	case "alt+d", "alt+delete", "ctrl+delete":
		e.cut(e.pos, e.wordRight())
	case "ctrl+u":
		e.cut(0, e.pos)
	case "ctrl+k":
		e.cut(e.pos, len(e.value))
	default:
		if msg.Text == "" || msg.Mod.Contains(tea.ModCtrl) || msg.Mod.Contains(tea.ModAlt) {
			return false
		}
		e.Insert(msg.Text)
		return true
	}
	e.fix()
	return true
}

func (e *lineEdit) cut(from, to int) {
	if from >= to {
		return
	}
	e.value = append(e.value[:from:from], e.value[to:]...)
	e.pos = from
}

func (e *lineEdit) wordLeft() int {
	i := e.pos
	for i > 0 && unicode.IsSpace(e.value[i-1]) {
		i--
	}
	for i > 0 && !unicode.IsSpace(e.value[i-1]) {
		i--
	}
	return i
}

func (e *lineEdit) wordRight() int {
	i := e.pos
	for i < len(e.value) && unicode.IsSpace(e.value[i]) {
		i++
	}
	for i < len(e.value) && !unicode.IsSpace(e.value[i]) {
		i++
	}
	return i
}

// fix scrolls so that the cursor, with one column for it past the end,
// is on screen.
func (e *lineEdit) fix() {
	e.pos = min(max(0, e.pos), len(e.value))
	if e.pos < e.offset {
		e.offset = e.pos
	}
	for e.offset < e.pos && runesWidth(e.value[e.offset:e.pos])+1 > e.width {
		e.offset++
	}
	// Use the room on the right when text was deleted.
	for e.offset > 0 && runesWidth(e.value[e.offset-1:])+1 <= e.width {
		e.offset--
	}
}

func runesWidth(rs []rune) int { return ansi.StringWidth(string(rs)) }

// View draws the visible part of the text, or the placeholder, and
// returns the cursor's column within it.
func (e *lineEdit) View(placeholder lipgloss.Style) (string, int) {
	if len(e.value) == 0 {
		return placeholder.Render(ansi.Truncate(e.Placeholder, e.width, "…")), 0
	}
	shown := e.value[e.offset:]
	text := ansi.Truncate(string(shown), e.width, "")
	return text, runesWidth(e.value[e.offset:e.pos])
}
