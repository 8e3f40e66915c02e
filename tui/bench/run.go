package bench

import (
	"context"
	"errors"
	"fmt"
	"io"

	tea "charm.land/bubbletea/v2"

	"github.com/rtsync/rtsync/loadtest"
	"github.com/rtsync/rtsync/tui/style"
)

// ErrAborted is returned by Run when the user asked to stop the run (q or
// ctrl+c, or a signal bubbletea turns into a quit). The run itself is
// still going: the caller cancels it and reports what was measured.
var ErrAborted = errors.New("bench aborted")

// Run shows the live view on out, reading keys from in, until progress is
// closed (it returns nil), the user aborts (ErrAborted) or ctx ends (an
// error wrapping ctx.Err()). title says what runs; see New.
//
// in and out should be the terminal; when out is not one, use Plain
// instead. A nil in disables keys, and with them aborting from the view.
func Run(ctx context.Context, in io.Reader, out io.Writer, title string, progress <-chan loadtest.Progress, st style.Styles) error {
	// Cancelled on return so the command still waiting on progress ends
	// with the program instead of stealing the next snapshot.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	m := New(title, progress, st)
	m.stop = runCtx.Done()
	p := tea.NewProgram(m,
		tea.WithContext(runCtx),
		tea.WithInput(in),
		tea.WithOutput(out),
	)
	final, err := p.Run()

	switch {
	case errors.Is(err, tea.ErrInterrupted):
		// SIGINT while the terminal was not in raw mode.
		return ErrAborted
	case err != nil:
		if ctx.Err() != nil {
			return fmt.Errorf("bench view: %w", context.Cause(ctx))
		}
		return fmt.Errorf("bench view: %w", err)
	}
	if fm, ok := final.(Model); ok && fm.Finished() && !fm.Aborted() {
		return nil
	}
	// Aborted by key, or quit from outside the model (bubbletea quits on
	// SIGTERM): either way the run did not end on its own, and reporting
	// nil would let the caller mistake a cut-short run for a whole one.
	return ErrAborted
}
