package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/rtsync/rtsync/loadtest"
	"github.com/rtsync/rtsync/tui/style"
)

// runAsync starts Run and returns its result channel.
func runAsync(ctx context.Context, in io.Reader, ch <-chan loadtest.Progress) <-chan error {
	done := make(chan error, 1)
	go func() {
		var out bytes.Buffer
		done <- Run(ctx, in, &out, testTitle, ch, style.Plain())
	}()
	return done
}

func waitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return")
		return nil
	}
}

func TestRun(t *testing.T) {
	t.Parallel()

	t.Run("channel closed", func(t *testing.T) {
		t.Parallel()
		ch := make(chan loadtest.Progress, 1)
		ch <- loadtest.Progress{Phase: loadtest.PhaseDone, Phases: allPhases}
		close(ch)
		if err := waitRun(t, runAsync(t.Context(), nil, ch)); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})

	t.Run("q aborts", func(t *testing.T) {
		t.Parallel()
		in, typed := io.Pipe()
		t.Cleanup(func() { _ = typed.Close() })
		// The channel stays open: Run must return on the key alone.
		done := runAsync(t.Context(), in, make(chan loadtest.Progress))
		if _, err := typed.Write([]byte("q")); err != nil {
			t.Fatal(err)
		}
		if err := waitRun(t, done); !errors.Is(err, ErrAborted) {
			t.Fatalf("Run = %v, want ErrAborted", err)
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		done := runAsync(ctx, nil, make(chan loadtest.Progress))
		cancel()
		err := waitRun(t, done)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrAborted) {
			t.Fatalf("Run = %v, want context.Canceled and not ErrAborted", err)
		}
	})
}
