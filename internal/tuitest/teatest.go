package tuitest

import (
	"io"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// Start runs m under teatest at w×h with the ASCII colour profile forced,
// so that Final can check no colour got through the program's styles.
func Start(t *testing.T, m tea.Model, w, h int) *teatest.TestModel {
	t.Helper()
	return teatest.NewTestModel(t, m,
		teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.ASCII)),
	)
}

// Quit ends tm's program from outside, which stops it without one more
// Update, and returns Final.
func Quit(t *testing.T, tm *teatest.TestModel, timeout time.Duration) tea.Model {
	t.Helper()
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	return Final(t, tm, timeout)
}

// Final waits up to timeout for tm's program to end and returns its last
// model, failing the test if the program wrote any colour.
func Final(t *testing.T, tm *teatest.TestModel, timeout time.Duration) tea.Model {
	t.Helper()
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(timeout))
	out, err := io.ReadAll(tm.FinalOutput(t))
	if err != nil {
		t.Fatal(err)
	}
	AssertNoColour(t, out)
	return fm
}

// RunCmd runs cmd and returns its message, failing the test if cmd is nil
// or does not answer within timeout.
func RunCmd(t *testing.T, cmd tea.Cmd, timeout time.Duration) tea.Msg {
	t.Helper()
	if cmd == nil {
		t.Fatal("no command")
	}
	got := make(chan tea.Msg, 1)
	go func() { got <- cmd() }()
	select {
	case msg := <-got:
		return msg
	case <-time.After(timeout):
		t.Fatal("command blocked")
		return nil
	}
}

// IsQuit reports whether cmd is bubbletea's quit command.
func IsQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}
