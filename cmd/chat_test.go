package cmd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server"
)

// TestChatLinesFollow: with --follow, line mode keeps printing messages
// after stdin ends (here it is empty from the start), until its context
// ends, and then returns without an error.
func TestChatLinesFollow(t *testing.T) {
	t.Parallel()
	url := startTestServer(t, server.Config{})
	ios, _, out, errOut := iostreams.Test()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runChat(ctx, &chatOptions{IO: ios, URL: url, Name: "logger", Rooms: []string{"ops"}, Format: "text", Follow: true, Mode: "lines"})
	}()

	pub, err := client.Dial(ctx, url, client.Options{Name: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := pub.Join(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	// Publish until the logger, which joins on its own time, prints one.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "[ops] ann: still there?") {
		if time.Now().After(deadline) {
			t.Fatalf("nothing printed; stdout %q stderr %q", out.String(), errOut.String())
		}
		if _, err := pub.Publish(ctx, "ops", map[string]string{"text": "still there?"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runChat: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("line mode did not stop when its context ended")
	}
}

// TestChatLinesOffline: direct messages sent while the user was offline
// are printed when line mode connects, marked offline, after a note on
// stderr; a redelivered one says so.
func TestChatLinesOffline(t *testing.T) {
	t.Parallel()
	url := startTestServer(t, server.Config{})
	ios, _, out, errOut := iostreams.Test()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ann, err := client.Dial(ctx, url, client.Options{Name: "ann", UID: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	defer ann.Close()
	for _, s := range []string{"call me", "\x1b[2Jgone"} {
		if r, err := ann.SendToUID(ctx, "logger", map[string]string{"text": s}); err != nil || !r.Stored {
			t.Fatalf("SendToUID(logger) = %+v, %v; want stored", r, err)
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- runChat(ctx, &chatOptions{IO: ios, URL: url, Name: "logger", UID: "logger", Rooms: []string{"ops"}, Format: "text", Follow: true, Mode: "lines"})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "gone") {
		if time.Now().After(deadline) {
			t.Fatalf("nothing printed; stdout %q stderr %q", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runChat: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], " [direct, offline] ann: call me") || !strings.HasSuffix(lines[1], " [direct, offline] ann: \uFFFD[2Jgone") {
		t.Errorf("stdout %q; want the two messages marked offline, cleaned", lines)
	}
	if !strings.Contains(errOut.String(), "chat: direct messages sent to you while you were away follow, marked offline\n") {
		t.Errorf("stderr %q; want the note", errOut.String())
	}
	from := &protocol.From{Client: "c1", Name: "ann"}
	if got := formatLine("text", protocol.Event{Type: protocol.TypeDirect, From: from, Data: []byte(`{"text":"again"}`), Inbox: 3, Redelivered: true}); !strings.HasSuffix(got, " [direct, offline, redelivered] ann: again") {
		t.Errorf("formatLine(redelivered) = %q", got)
	}
}

func TestRecoveryLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rec  client.Recovered
		want string
	}{
		{"nothing missed", client.Recovered{Recovered: true}, "reconnected; nothing was missed"},
		{"recovered", client.Recovered{Recovered: true, Replayed: 3}, "reconnected; recovered 3 messages"},
		{"epoch", client.Recovered{EpochChanged: true}, "reconnected, but the server's history of the room was lost or reset (a new epoch); messages sent while disconnected may be missing"},
		{"gap", client.Recovered{Replayed: 1, MissedFrom: 5, MissedTo: 9}, "reconnected, but the server's history no longer reaches back: seqs 5 to 9 were missed for good; recovered 1 message after them"},
		{"place unknown", client.Recovered{Replayed: 0}, "reconnected; recovered 0 messages, but messages sent while disconnected may be missing"},
		{"refused", client.Recovered{Err: &protocol.Error{Code: "forbidden", Message: "no\x1b[2J"}}, "could not re-join: forbidden: no\uFFFD[2J"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := recoveryLine(&tc.rec); got != tc.want {
				t.Errorf("recoveryLine(%+v) = %q; want %q", tc.rec, got, tc.want)
			}
		})
	}
}
