package cmd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/internal/testserver"
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
		done <- runChat(ctx, &chatOptions{IO: ios, URLs: []string{url}, Name: "logger", Rooms: []string{"ops"}, Format: "text", Follow: true, Mode: "lines"})
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
		done <- runChat(ctx, &chatOptions{IO: ios, URLs: []string{url}, Name: "logger", UID: "logger", Rooms: []string{"ops"}, Format: "text", Follow: true, Mode: "lines"})
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

// TestChatURLFlag: --url may be repeated and may hold a comma list; the
// first URL that answers is used (here the second: nothing listens on
// port 1), and a bad URL anywhere in the list is a flag error naming it.
func TestChatURLFlag(t *testing.T) {
	t.Parallel()
	live := startTestServer(t, server.Config{})
	const dead = "ws://127.0.0.1:1/ws"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"repeated", []string{"--url", dead, "--url", live}, 0, nil},
		{"comma list", []string{"--url", dead + ", " + live}, 0, nil},
		{"both", []string{"--url", dead + ",ws://127.0.0.1:2/ws", "--url", live}, 0, nil},
		{"bad scheme", []string{"--url", live + ",ftp://127.0.0.1:7000"}, 2, []string{`--url: server URL "ftp://127.0.0.1:7000": scheme "ftp" is not ws, wss, http or https`}},
		{"empty item", []string{"--url", live + ",," + dead}, 2, []string{`--url "` + live + ",," + dead + `": an empty URL`}},
		{"none answers", []string{"--url", dead, "--url", "127.0.0.1:2"}, 1, []string{
			"none of the 2 server URLs answered: dial " + dead + ": ",
			"; then dial ws://127.0.0.1:2/ws: ",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ios, in, out, errOut := iostreams.Test()
			room := "flags-" + strings.ReplaceAll(tc.name, " ", "-")
			in.WriteString("hello " + tc.name + "\n")
			args := append([]string{"chat", "--mode", "lines", "--name", "ann", "--room", room}, tc.args...)
			err := execute(context.Background(), ios, args)
			if got := ExitCode(err); got != tc.wantCode {
				t.Fatalf("exit code %d, want %d (err %v, stderr %q)", got, tc.wantCode, err, errOut.String())
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr %q; want it to contain %q", errOut.String(), w)
				}
			}
			if tc.wantCode == 0 && !strings.Contains(out.String(), "["+room+"] ann: hello "+tc.name) {
				t.Errorf("stdout %q; want the line sent through the live server", out.String())
			}
		})
	}
}

// TestChatLinesFailover: in line mode, when the node goes away the chat
// moves to the next --url, says so on stderr (the node's name cleaned),
// and prints the messages of the room on the new node.
func TestChatLinesFailover(t *testing.T) {
	t.Parallel()
	nodeA := testserver.Start(t, server.Config{Node: "node-a", ShutdownTimeout: 2 * time.Second})
	nodeB := testserver.Start(t, server.Config{Node: "node-b\x1b]0;owned\a", ShutdownTimeout: 2 * time.Second})
	ios, _, out, errOut := iostreams.Test()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runChat(ctx, &chatOptions{IO: ios, URLs: []string{nodeA.URL(), nodeB.URL()}, Name: "logger", Rooms: []string{"ops"}, Format: "text", Follow: true, Mode: "lines"})
	}()
	waitText := func(buf *iostreams.Buffer, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(buf.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q; stdout %q stderr %q", want, out.String(), errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// waitPresence waits for the logger to be in ops on the node at url.
	waitPresence := func(url string) {
		t.Helper()
		c, err := client.Dial(ctx, url, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Join(ctx, "ops"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			ms, err := c.Presence(ctx, "ops")
			if err == nil && len(ms) == 2 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the logger did not join ops on %s: %+v, %v", url, ms, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitPresence(nodeA.URL())
	nodeA.Stop()
	waitText(errOut, "chat: reconnecting to "+nodeB.URL()+" (attempt 1)…\n")
	waitText(errOut, "chat: reconnected to "+nodeB.URL()+" (node node-b\uFFFD]0;owned\uFFFD)\n")
	waitPresence(nodeB.URL())

	pub, err := client.Dial(ctx, nodeB.URL(), client.Options{Name: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := pub.Join(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, "ops", map[string]string{"text": "on node b"}); err != nil {
		t.Fatal(err)
	}
	waitText(out, "[ops] ann: on node b")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runChat: %v", err)
	}
}
