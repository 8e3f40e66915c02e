package cmd

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/internal/testserver"
	"github.com/rtsync/rtsync/server"
	tuitop "github.com/rtsync/rtsync/tui/top"
)

// runTopArgs runs `rtsync top` with args and returns the exit status and
// what it wrote.
func runTopArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	err := execute(t.Context(), ios, append([]string{"top"}, args...))
	return ExitCode(err), out.String(), errOut.String()
}

func TestTopFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"interval zero", []string{"--interval", "0"}, []string{"--interval must be at least 100ms, got 0s"}},
		{"interval too short", []string{"--interval", "10ms", "--once"}, []string{"--interval must be at least 100ms"}},
		{"interval not a duration", []string{"--interval", "fast"}, []string{"--interval"}},
		{"rooms negative", []string{"--rooms", "-1", "--once"}, []string{"--rooms must be from 1 to 100"}},
		{"rooms too many", []string{"--rooms", "101", "--once"}, []string{"--rooms must be from 1 to 100"}},
		{"json alone", []string{"--json"}, []string{"--json goes with --once"}},
		{"several at once", []string{"--json", "--rooms", "500", "--interval", "0"}, []string{"--interval", "--rooms", "--json"}},
		{"bad url", []string{"--url", "ftp://example.com", "--once"}, []string{`--url: server URL "ftp://example.com": scheme "ftp"`}},
		{"empty url", []string{"--url", " ", "--once"}, []string{`--url " ": an empty URL; give one like http://127.0.0.1:7000`}},
		{"arguments", []string{"extra"}, []string{`"rtsync top" takes no arguments`}},
		// Not a flag as such, but the same kind of mistake: the live view
		// on something that is not a terminal.
		{"no terminal", nil, []string{"the live view needs a terminal", "use --once"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runTopArgs(t, tt.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2; stderr:\n%s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestTopOnceUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{{"--once"}, {"--once", "--json"}} {
		code, stdout, stderr := runTopArgs(t, append(args, "--url", addr)...)
		want := "Error: no rtsync server at http://" + addr + " (is it running?)"
		if code != 1 || !strings.HasPrefix(stderr, want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1 and %q", args, code, stdout, stderr, want)
		}
	}
}

// busyServer is a real server with ann and bob in lobby and one message
// published, so every figure top prints has something in it.
func busyServer(t *testing.T, cfg server.Config) *testserver.Server {
	t.Helper()
	cfg.Node = "top-node"
	s := testserver.Start(t, cfg)
	ctx := t.Context()
	for _, name := range []string{"ann", "bob"} {
		c, err := client.Dial(ctx, s.URL(), client.Options{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := c.Join(ctx, "lobby"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx, "lobby", "hi"); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestTopOnce(t *testing.T) {
	t.Parallel()
	s := busyServer(t, server.Config{})

	code, stdout, stderr := runTopArgs(t, "--once", "--url", s.HTTP())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"rtsync top · " + s.HTTP() + " · node top-node",
		"connections   2 (ws 2)", "rooms         1", "published     2",
		"ROOM", "lobby", "NODE", "top-node",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}

	// The WebSocket URL works as well, and --json is the server's answer.
	code, stdout, stderr = runTopArgs(t, "--once", "--json", "--rooms", "1", "--url", s.URL())
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, stderr)
	}
	var st struct {
		Node        string `json:"node"`
		Connections int    `json:"connections"`
		TopRooms    []struct {
			Room    string `json:"room"`
			Members int    `json:"members"`
		} `json:"top_rooms"`
		Nodes []json.RawMessage `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	if st.Node != "top-node" || st.Connections != 2 || len(st.TopRooms) != 1 || st.TopRooms[0].Room != "lobby" || len(st.Nodes) != 1 {
		t.Errorf("--json = %+v", st)
	}
	if !strings.HasPrefix(stdout, "{\n  \"") || !strings.HasSuffix(stdout, "}\n") {
		t.Errorf("--json is not indented:\n%s", stdout)
	}
}

func TestTopOnceAPIKey(t *testing.T) {
	t.Parallel()
	s := busyServer(t, server.Config{APIKeys: []string{"s3cret"}})
	ios, _, out, errOut := iostreams.Test()
	noEnv := func(string) (string, bool) { return "", false }

	err := runTop(context.Background(), &topOptions{IO: ios, URLs: []string{s.HTTP()}, Interval: tuitop.DefaultInterval, Once: true, LookupEnv: noEnv})
	if err == nil || ExitCode(err) != 1 || !strings.Contains(err.Error(), "--api-key") {
		t.Fatalf("without the key: %v (exit %d), want exit 1 naming --api-key", err, ExitCode(err))
	}

	// From the environment, as serve reads it.
	env := func(k string) (string, bool) { return "s3cret", k == apiKeyEnv }
	if err := runTop(context.Background(), &topOptions{IO: ios, URLs: []string{s.HTTP()}, Interval: tuitop.DefaultInterval, Once: true, LookupEnv: env}); err != nil {
		t.Fatalf("key from $%s: %v", apiKeyEnv, err)
	}
	if !strings.Contains(out.String(), "top-node") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}

	// --api-key wins over the environment.
	err = runTop(context.Background(), &topOptions{IO: ios, URLs: []string{s.HTTP()}, APIKey: "wrong", Interval: tuitop.DefaultInterval, Once: true, LookupEnv: env})
	if err == nil || !strings.Contains(err.Error(), "not accepted") {
		t.Fatalf("a wrong --api-key: %v", err)
	}
}

// TestTopOnceSeveralURLs: given several --url (the nodes of a cluster),
// top shows the first that answers; when none does, it says why for
// each; a bad one is a flag error.
func TestTopOnceSeveralURLs(t *testing.T) {
	t.Parallel()
	s := busyServer(t, server.Config{APIKeys: []string{"s3cret"}})
	const dead = "http://127.0.0.1:1"
	run := func(urls ...string) (string, error) {
		ios, _, out, _ := iostreams.Test()
		err := runTop(context.Background(), &topOptions{IO: ios, URLs: urls, APIKey: "s3cret", Interval: tuitop.DefaultInterval, Once: true})
		return out.String(), err
	}
	out, err := run(dead + "," + s.HTTP())
	if err != nil || !strings.HasPrefix(out, "rtsync top · "+s.HTTP()+" · node top-node") {
		t.Errorf("dead then live: %v; stdout:\n%s", err, out)
	}
	// A server that answers with an error is the one shown: its answer
	// is what to fix, not a reason to look elsewhere.
	ios, _, _, _ := iostreams.Test()
	err = runTop(context.Background(), &topOptions{IO: ios, URLs: []string{s.HTTP(), dead}, APIKey: "wrong", Interval: tuitop.DefaultInterval, Once: true})
	if err == nil || !strings.Contains(err.Error(), "not accepted") {
		t.Errorf("a wrong key: %v; want the server's refusal", err)
	}
	_, err = run(dead, "127.0.0.1:2")
	if ExitCode(err) != 1 || err == nil || !strings.Contains(err.Error(), "none of the 2 servers answered: no rtsync server at "+dead) ||
		!strings.Contains(err.Error(), "; then no rtsync server at http://127.0.0.1:2") {
		t.Errorf("none answers: %v (exit %d)", err, ExitCode(err))
	}
	_, err = run(s.HTTP(), "ftp://127.0.0.1:2")
	if ExitCode(err) != 2 || !strings.Contains(err.Error(), "--url: ") || !strings.Contains(err.Error(), "ftp://127.0.0.1:2") {
		t.Errorf("a bad URL: %v (exit %d); want a flag error naming it", err, ExitCode(err))
	}
}
