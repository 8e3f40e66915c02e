package bench

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/rtsync/rtsync/internal/tuitest"
	"github.com/rtsync/rtsync/loadtest"
	"github.com/rtsync/rtsync/tui/style"
)

// update runs one message through m and returns the new Model.
func update(t *testing.T, m Model, msg tea.Msg) (Model, tea.Cmd) {
	t.Helper()
	next, cmd := m.Update(msg)
	nm, ok := next.(Model)
	if !ok {
		t.Fatalf("Update returned %T, want Model", next)
	}
	return nm, cmd
}

func TestUpdateKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		key   tea.KeyPressMsg
		abort bool
	}{
		{name: "q", key: tea.KeyPressMsg{Code: 'q', Text: "q"}, abort: true},
		{name: "ctrl+c", key: tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}, abort: true},
		{name: "x", key: tea.KeyPressMsg{Code: 'x', Text: "x"}},
		{name: "Q", key: tea.KeyPressMsg{Code: 'q', ShiftedCode: 'Q', Mod: tea.ModShift, Text: "Q"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, cmd := update(t, New(testTitle, make(chan loadtest.Progress), style.Plain()), tt.key)
			if m.Aborted() != tt.abort {
				t.Errorf("Aborted() = %v, want %v", m.Aborted(), tt.abort)
			}
			if tuitest.IsQuit(cmd) != tt.abort {
				t.Errorf("quit = %v, want %v", tuitest.IsQuit(cmd), tt.abort)
			}
			if m.Finished() {
				t.Error("a key finished the run")
			}
		})
	}
}

func TestUpdateChannel(t *testing.T) {
	t.Parallel()
	ch := make(chan loadtest.Progress, 1)
	ch <- connecting40()
	close(ch)
	m := New(testTitle, ch, style.Plain())

	msg := tuitest.RunCmd(t, m.Init(), waitTimeout)
	if _, ok := msg.(progressMsg); !ok {
		t.Fatalf("first message is %T, want progressMsg", msg)
	}
	m, cmd := update(t, m, msg)
	if m.last.Connected != 2000 {
		t.Errorf("snapshot not recorded: connected %d", m.last.Connected)
	}
	if tuitest.IsQuit(cmd) {
		t.Fatal("a snapshot quit the view")
	}

	// The command is issued again after each snapshot; now it sees the
	// channel closed.
	msg = tuitest.RunCmd(t, cmd, waitTimeout)
	if _, ok := msg.(closedMsg); !ok {
		t.Fatalf("message after close is %T, want closedMsg", msg)
	}
	m, cmd = update(t, m, msg)
	if !m.Finished() || m.Aborted() {
		t.Errorf("finished=%v aborted=%v, want finished", m.Finished(), m.Aborted())
	}
	if !tuitest.IsQuit(cmd) {
		t.Error("closing the channel did not quit")
	}
}

func TestWaitStops(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	m := New(testTitle, make(chan loadtest.Progress), style.Plain())
	m.stop = stop
	close(stop)
	if msg := tuitest.RunCmd(t, m.Init(), waitTimeout); msg != nil {
		t.Fatalf("stopped wait returned %T, want nil", msg)
	}
}

func TestObserve(t *testing.T) {
	t.Parallel()
	m := New(testTitle, nil, style.Plain())
	var before Model
	for i := range historyLen + 15 {
		p := loadtest.Progress{DeliveriesPerSec: float64(i), Warnings: []string{"a"}}
		if i >= 10 {
			p.Warnings = []string{"a", "b"}
		}
		if i == historyLen {
			before = m
		}
		m, _ = update(t, m, progressMsg{p})
	}
	if len(m.history) != historyLen {
		t.Errorf("history has %d samples, want %d", len(m.history), historyLen)
	}
	if got, want := m.history[len(m.history)-1], float64(historyLen+14); got != want {
		t.Errorf("newest sample %v, want %v", got, want)
	}
	if got := strings.Join(m.warnings, ","); got != "a,b" {
		t.Errorf("warnings %q, want each once: a,b", got)
	}
	// Later updates must not have written into an earlier copy.
	if got, want := before.history[len(before.history)-1], float64(historyLen-1); got != want {
		t.Errorf("earlier model's newest sample changed to %v, want %v", got, want)
	}
}

func TestWarningsFitHeight(t *testing.T) {
	t.Parallel()
	m := New(testTitle, nil, style.Plain())
	var warns []string
	for i := range 12 {
		warns = append(warns, fmt.Sprintf("warning number %d", i))
	}
	m, _ = update(t, m, progressMsg{loadtest.Progress{Warnings: warns}})
	m, _ = update(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	lines := strings.Split(m.View().Content, "\n")
	if len(lines) > 24 {
		t.Errorf("view has %d lines for a 24-line terminal:\n%s", len(lines), m.View().Content)
	}
	view := m.View().Content
	if !strings.Contains(view, "warning number 11") {
		t.Errorf("newest warning hidden:\n%s", view)
	}
	if !strings.Contains(view, "more warnings") {
		t.Errorf("hidden warnings not counted:\n%s", view)
	}
}

// TestResize checks every line fits the terminal, and pins the layout at
// each size in a golden file.
func TestResize(t *testing.T) {
	t.Parallel()
	run := measuringRun()
	tests := []struct{ w, h int }{{80, 24}, {120, 40}, {40, 30}}
	barWidth := map[int]int{}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d", tt.w, tt.h), func(t *testing.T) {
			m := New(testTitle, nil, style.Plain())
			for _, p := range run {
				m, _ = update(t, m, progressMsg{p})
			}
			m, _ = update(t, m, tea.WindowSizeMsg{Width: tt.w, Height: tt.h})
			view := m.View().Content
			lines := strings.Split(view, "\n")
			for i, l := range lines {
				if w := ansi.StringWidth(l); w > tt.w {
					t.Errorf("line %d is %d wide, terminal %d: %q", i, w, tt.w, l)
				}
			}
			if len(lines) > tt.h {
				t.Errorf("%d lines, terminal %d", len(lines), tt.h)
			}
			for _, l := range lines {
				if strings.Contains(l, "measuring") {
					barWidth[tt.w] = ansi.StringWidth(l)
				}
			}
			golden.RequireEqual(t, view+"\n")
		})
	}
	if barWidth[120] <= barWidth[80] {
		t.Errorf("bars did not grow with the terminal: %d columns at 80, %d at 120", barWidth[80], barWidth[120])
	}
}
