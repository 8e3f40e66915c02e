package bench

import (
	"strings"
	"testing"
	"unicode"

	"github.com/rtsync/rtsync/loadtest"
	"github.com/rtsync/rtsync/tui/style"
)

// hostileWarning is a warning that quotes a server's error code made to
// set the terminal's title, write its clipboard and overwrite a line.
const hostileWarning = "2 of 2 connections failed (error_x\x1b]0;title\x07\x1b]52;c;eA==\x07\u009b2J\rEVIL\u202Egnp: 2)"

func assertNoControls(t *testing.T, what, s string) {
	t.Helper()
	for i, r := range s {
		if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r)) {
			t.Fatalf("%s holds %U at byte %d: %q", what, r, i, s)
		}
	}
}

// TestHostileWarning: the live view and the progress lines show a
// warning that quotes a hostile server cleaned, and still readable.
func TestHostileWarning(t *testing.T) {
	t.Parallel()
	p := snap(loadtest.PhaseConnecting, 0.5, 0, hostileWarning)
	out := feedPlain(t, 0, []loadtest.Progress{p})
	assertNoControls(t, "progress lines", out)
	if !strings.Contains(out, "error_x\uFFFD]0;title") {
		t.Errorf("progress lines lack the code:\n%s", out)
	}

	m := New(testTitle, nil, style.Plain())
	m, _ = update(t, m, progressMsg{p})
	frame := m.render()
	assertNoControls(t, "live view", frame)
	if !strings.Contains(frame, "error_x\uFFFD]0;title") {
		t.Errorf("live view lacks the code:\n%s", frame)
	}

	// The title names the target, as given.
	m = New("bench → ws://127.0.0.1:1/ws\x1b]0;t\x07", nil, style.Plain())
	assertNoControls(t, "title", m.render())
}
