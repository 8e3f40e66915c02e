package chat

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/syncbuf"
	"github.com/rtsync/rtsync/internal/tuitest"
)

func TestRunDialError(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.stop() // a port where nothing listens now
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"refused", Options{URL: srv.url()}, []string{srv.url(), "rtsync serve"}},
		{"dial without the url in its error", Options{URL: "ws://chat.example:7000/ws", Dial: func(context.Context, string, client.Options) (Client, error) {
			return nil, errors.New("no route to host")
		}}, []string{"connect to ws://chat.example:7000/ws: no route to host", "rtsync serve"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			err := Run(ctx, nil, &bytes.Buffer{}, tt.opts)
			if err == nil {
				t.Fatal("Run succeeded without a server")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestRunColourProfile runs the whole entry point and checks that colour
// follows the environment the way the issue asks: NO_COLOR turns it off
// while bold and the layout stay. TTY_FORCE makes the buffer count as a
// terminal for the detection.
func TestRunColourProfile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		env        []string
		wantColour bool
	}{
		{"256 colours", []string{"TERM=xterm-256color", "TTY_FORCE=1"}, true},
		{"NO_COLOR", []string{"TERM=xterm-256color", "TTY_FORCE=1", "NO_COLOR=1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			opts := testOptions(srv.url(), "ann", "lobby")
			opts.Environ = tt.env
			out := &syncbuf.Buffer{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- Run(ctx, nil, out, opts) }()

			deadline := time.Now().Add(waitTimeout)
			for !bytes.Contains(out.Bytes(), []byte("joined")) {
				if time.Now().After(deadline) {
					cancel()
					t.Fatalf("no join on screen; output %q", out.Bytes())
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("Run did not return after its context ended")
			}
			got := tuitest.Colours(out.Bytes())
			if tt.wantColour && len(got) == 0 {
				t.Error("no colour written for a 256-colour terminal")
			}
			if !tt.wantColour && len(got) > 0 {
				t.Errorf("colour %q written under NO_COLOR", got[0])
			}
		})
	}
}
