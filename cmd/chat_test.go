package cmd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/iostreams"
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
