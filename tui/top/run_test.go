package top

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/syncbuf"
	"github.com/rtsync/rtsync/internal/testserver"
	"github.com/rtsync/rtsync/server"
)

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
	out := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		// A ws:// URL, as a user copying it from chat would give.
		done <- Run(ctx, nil, out, Options{URL: srv.URL(), Interval: 100 * time.Millisecond, Environ: []string{}})
	}()
	screen := func() string { return ansi.Strip(out.String()) }
	deadline := time.Now().Add(waitTimeout)
	for _, want := range []string{"node run-node", "watched-room"} {
		for !strings.Contains(screen(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("the screen never showed %q:\n%s", want, screen())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if strings.Contains(screen(), "unreachable") {
		t.Errorf("the server was reported unreachable:\n%s", screen())
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
	err := Run(t.Context(), nil, &syncbuf.Buffer{}, Options{URL: "gopher://x"})
	if err == nil || !strings.Contains(err.Error(), `scheme "gopher"`) {
		t.Fatalf("Run = %v, want the URL refused", err)
	}
}
