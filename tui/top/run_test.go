package top

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/testserver"
	"github.com/rtsync/rtsync/server"
)

// lockedBuffer is the program's output, read by the test while the
// program writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ansi.Strip(l.b.String())
}

// TestRunRealServer runs the whole monitor, client.API included, against
// a real server in this process, until its context ends.
func TestRunRealServer(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, server.Config{Node: "run-node"})
	c, err := client.Dial(t.Context(), srv.URL(), client.Options{Name: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(t.Context(), "watched-room"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		// A ws:// URL, as a user copying it from chat would give.
		done <- Run(ctx, nil, out, Options{URL: srv.URL(), Interval: 100 * time.Millisecond, Environ: []string{}})
	}()
	deadline := time.Now().Add(waitTimeout)
	for _, want := range []string{"node run-node", "watched-room"} {
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("the screen never showed %q:\n%s", want, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if strings.Contains(out.String(), "unreachable") {
		t.Errorf("the server was reported unreachable:\n%s", out.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil when its context ends", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return when its context ended")
	}
}

func TestRunBadURL(t *testing.T) {
	t.Parallel()
	err := Run(t.Context(), nil, &lockedBuffer{}, Options{URL: "gopher://x"})
	if err == nil || !strings.Contains(err.Error(), `scheme "gopher"`) {
		t.Fatalf("Run = %v, want the URL refused", err)
	}
}
