package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/server"
)

// hostileTexts are what a member of a room sends to take over the
// terminals of the others: each must arrive visible but inert.
var hostileTexts = []string{
	"title\x1b]0;pwned\x07",                          // OSC 0: the window title
	"clip\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07",     // OSC 52: the clipboard
	"up\x1b[1A\x1b[2K\x1b[31mforged red",             // CSI: cursor up, erase the line
	"safe\roverwritten",                              // CR: overwrite this line
	"eightbit\u009b2J",                               // 8-bit CSI
	"bidi\u202Egnp.exe",                              // bidi override
	"hi\n12:00:00 [ops] admin: paste the token here", // a forged line
	"zw\u200Bsp\u2066iso\u2069 ok 👩\u200d💻",          // invisible format characters, an emoji that stays
	"ps\u2028ls\u2029end\u0085nel\x7fdel\tnext",      // other line breaks, DEL, tab
}

// badTerminalRune reports a rune that must not reach a terminal from
// someone else.
func badTerminalRune(r rune) bool {
	return r == 0x1b || r == '\r' || unicode.IsControl(r) && r != '\n' ||
		r == '\u2028' || r == '\u2029' || (unicode.Is(unicode.Cf, r) && r != '\u200d' && r != '\u200c')
}

func assertTerminalSafe(t *testing.T, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("output is not valid UTF-8: %q", out)
	}
	for i, r := range out {
		if badTerminalRune(r) {
			t.Errorf("output holds %U at byte %d: %q", r, i, out)
			return
		}
	}
}

// TestChatLinesHostilePeer runs line mode against a real server while
// another member, named with a bidi override, sends escape sequences,
// carriage returns, C1 and bidi controls and a forged line, in history
// and live: every line printed is one message, starts with its own
// time and room, and holds no byte that drives a terminal, while the
// visible text is all there.
func TestChatLinesHostilePeer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, evil := hostilePeer(ctx, t)

	// A logger that reads history and then follows, writing to a pipe the
	// test reads line by line.
	pr, pw := io.Pipe()
	defer pr.Close()
	ios, _, _, errOut := iostreams.Test()
	ios.Out = pw
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- runChat(lctx, &chatOptions{IO: ios, URLs: []string{url}, Name: "logger", Rooms: []string{"ops"}, Format: "text", History: len(hostileTexts), Follow: true, Mode: "lines"})
	}()

	// Once the logger has joined, send the same again live, then a
	// marker that ends the reading.
	for ev := range evil.Events() {
		if ev.Kind == client.KindJoin && ev.Wire.Room == "ops" {
			break
		}
	}
	for _, text := range append(hostileTexts, "END") {
		if _, err := evil.Publish(ctx, "ops", map[string]string{"text": text}); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasSuffix(sc.Text(), ": END") {
			break
		}
	}
	stop()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if err := <-done; err != nil {
		t.Fatalf("runChat: %v (stderr %q)", err, errOut.String())
	}

	out := strings.Join(lines, "\n")
	assertTerminalSafe(t, out)
	// Every line is one message of ours: its own time stamp, room and
	// the sender's name, its bidi override shown, not obeyed.
	head := regexp.MustCompile(`^\d\d:\d\d:\d\d \[ops\] \x{FFFD}nimda: `)
	for _, l := range lines {
		if !head.MatchString(l) {
			t.Errorf("line %q does not start as a message from the hostile member does", l)
		}
	}
	if want := 2*len(hostileTexts) + 1; len(lines) < want {
		t.Errorf("got %d lines, want at least %d:\n%s", len(lines), want, out)
	}
	for _, visible := range []string{
		"]0;pwned", "]52;c;Y3VybCBldmlsLnNoIHwgc2g=", "[1A", "forged red", `safe\noverwritten`,
		"eightbit\uFFFD2J", "bidi\uFFFDgnp.exe", `hi\n12:00:00 [ops] admin: paste the token here`,
		"👩\u200d💻", `ps\nls\nend\nnel`, "del next",
	} {
		if c := strings.Count(out, visible); c < 2 {
			t.Errorf("%q is shown %d times, want 2 (history and live):\n%s", visible, c, out)
		}
	}
}

// hostilePeer starts a server where a peer named with a bidi override
// has published every hostileTexts line in room ops, and returns the
// server's URL and the peer, still connected.
func hostilePeer(ctx context.Context, t *testing.T) (string, *client.Client) {
	t.Helper()
	url := startTestServer(t, server.Config{})
	evil, err := client.Dial(ctx, url, client.Options{Name: "\u202Enimda", UID: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { evil.Close() })
	if _, err := evil.Join(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	for _, text := range hostileTexts {
		if _, err := evil.Publish(ctx, "ops", map[string]string{"text": text}); err != nil {
			t.Fatal(err)
		}
	}
	return url, evil
}

// TestChatLinesJSONExact: --format json gives every message's text
// exactly, yet the line itself holds no byte that drives a terminal (the
// encoder escapes what cleaning would replace).
func TestChatLinesJSONExact(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, _ := hostilePeer(ctx, t)
	ios, _, out, errOut := iostreams.Test()
	if err := runChat(ctx, &chatOptions{IO: ios, URLs: []string{url}, Name: "reader", Rooms: []string{"ops"}, Format: "json", History: len(hostileTexts), Mode: "lines"}); err != nil {
		t.Fatalf("runChat: %v (stderr %q)", err, errOut.String())
	}
	assertTerminalSafe(t, out.String())
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev struct {
			Type string `json:"type"`
			From struct {
				Name string `json:"name"`
			} `json:"from"`
			Data struct {
				Text string `json:"text"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if ev.Type != "msg" {
			continue
		}
		if ev.From.Name != "\u202Enimda" {
			t.Errorf("name = %q, want it exact", ev.From.Name)
		}
		got = append(got, ev.Data.Text)
	}
	if strings.Join(got, "|") != strings.Join(hostileTexts, "|") {
		t.Errorf("texts are not exact:\n got %q\nwant %q", got, hostileTexts)
	}
}

// hostileAPI is a server whose stats API answers with text meant to take
// over the terminal of whoever watches it: stats whose node, version and
// room names carry escape sequences, or an error whose message does.
func hostileAPI(t *testing.T, status int) string {
	t.Helper()
	const evil = "x\u001b]0;title\u0007\u001b]52;c;cm0gLXJmIH4=\u0007\u001b[2J\u009b31m\rEVIL\u202Egnp\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status != http.StatusOK {
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "internal", "message": evil}})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"node": "n" + evil, "version": "v" + evil, "connections": 1,
			"top_rooms": []map[string]any{{"room": "room" + evil, "members": 1}},
			"nodes":     []map[string]any{{"node": "n" + evil, "version": "v" + evil}},
		})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestTopOnceHostileServer: `rtsync top --once` on a hostile server
// prints its stats, or the error it quotes, cleaned.
func TestTopOnceHostileServer(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runTopArgs(t, "--once", "--url", hostileAPI(t, http.StatusOK))
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	assertTerminalSafe(t, stdout)
	if !strings.Contains(stdout, "roomx\uFFFD]0;title") {
		t.Errorf("the room is not shown:\n%s", stdout)
	}

	code, stdout, stderr = runTopArgs(t, "--once", "--json", "--url", hostileAPI(t, http.StatusOK))
	if code != 0 {
		t.Fatalf("--json: exit %d, stderr %q", code, stderr)
	}
	assertTerminalSafe(t, stdout)
	var st struct {
		Node string `json:"node"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || !strings.HasPrefix(st.Node, "nx\x1b]0;title\x07") || !strings.HasSuffix(st.Node, "EVIL\u202Egnp\n") {
		t.Errorf("--json: node %q (%v), want it exact", st.Node, err)
	}

	code, stdout, stderr = runTopArgs(t, "--once", "--url", hostileAPI(t, http.StatusInternalServerError))
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, stdout)
	}
	assertTerminalSafe(t, strings.TrimSuffix(stderr, "\n"))
	for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")[1:] {
		if !strings.HasPrefix(l, "  ") {
			t.Errorf("the error's line %q is not indented: it could pass for other output", l)
		}
	}
	if !strings.Contains(stderr, "500 internal server error: x\uFFFD]0;title") {
		t.Errorf("the server's message is not shown:\n%s", stderr)
	}
}

// hostileBenchTarget is a WebSocket server that greets with a hostile
// server name and refuses every hello and join with an error whose code
// and message carry escape sequences, as a malicious server would.
func hostileBenchTarget(t *testing.T) string {
	t.Helper()
	const evil = "x\u001b]0;title\u0007\u001b]52;c;cm0gLXJmIH4=\u0007\u001b[2J\u009b31m\rEVIL\u202Egnp\n"
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		welcome, _ := json.Marshal(map[string]any{"type": "welcome", "client": "c1", "server": "srv" + evil, "node": "node" + evil, "protocol": 1, "heartbeat": 25000})
		if ws.WriteMessage(websocket.TextMessage, welcome) != nil {
			return
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
		var frame []byte
		for _, id := range []int{1, 2} {
			b, _ := json.Marshal(map[string]any{"type": "reply", "id": id, "ok": false, "error": map[string]string{"code": "code" + evil, "message": "msg" + evil}})
			frame = append(append(frame, b...), '\n')
		}
		_ = ws.WriteMessage(websocket.TextMessage, frame)
		_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"+evil[:40]))
		_, _, _ = ws.ReadMessage()
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// TestBenchHostileServer: `rtsync bench` against a server that answers
// with escape sequences in its error codes, messages and names: the
// progress lines, the report and the error are all clean, and the codes
// are still there to read (quoted in the report).
func TestBenchHostileServer(t *testing.T) {
	t.Parallel()
	ios, _, out, errOut := iostreams.Test()
	err := execute(t.Context(), ios, []string{"bench", "--url", hostileBenchTarget(t), "--conns", "2", "--rate", "10",
		"--ramp", "0s", "--warmup", "0s", "--duration", "100ms", "--drain", "100ms", "--progress", "plain"})
	if err == nil {
		t.Fatalf("bench against a server that refuses everything succeeded:\n%s", out.String())
	}
	assertTerminalSafe(t, out.String())
	assertTerminalSafe(t, errOut.String())
	if !strings.Contains(out.String(), `error_codex\x1b]0;title`) {
		t.Errorf("the report does not show the server's error code quoted:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "error_codex\uFFFD]0;title") {
		t.Errorf("the progress does not show the server's error code:\n%s", errOut.String())
	}
}
