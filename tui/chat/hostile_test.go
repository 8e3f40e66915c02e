package chat

import (
	"strings"
	"testing"
	"unicode"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/tui/style"
)

// hostileText tries, from another member, to set the window title, write
// the clipboard, clear the screen and overwrite a line, with 7-bit and
// 8-bit escapes, a carriage return and a bidi override.
const hostileText = "t\x1b]0;title\x07\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\u009b31m\rEVIL\u202Egnp"

// assertCleanFrame fails if the frame holds a control, bidi or other
// format character other than its line breaks (and the joiner of an
// emoji). With the plain styles the view draws no escape sequence of its
// own.
func assertCleanFrame(t *testing.T, what, frame string) {
	t.Helper()
	for i, r := range frame {
		if r == '\n' || r == '\u200d' {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			t.Fatalf("%s holds %U at byte %d:\n%q", what, r, i, frame)
		}
	}
}

// TestHostilePeerAndServer: a member named with a bidi override sends
// escape sequences to a real server; the chat shows them inert, and a
// close reason from the server is cleaned in the status bar and the
// system lines too.
func TestHostilePeerAndServer(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	opts := testOptions(srv.url(), "ann", "lobby")
	opts.Styles = style.Plain()
	h := newHarness(t, opts)
	h.joined()
	evil := dialPeer(t, srv.url(), "mallory", "lobby")
	if _, err := evil.Hello(t.Context(), client.HelloOptions{Name: "\u202Enimda"}); err != nil {
		t.Fatal(err)
	}
	evil.say(t, "lobby", text(hostileText))
	evil.say(t, "lobby", text("END 👩\u200d💻"))
	h.waitScreen("END")
	frame := h.m.render()
	assertCleanFrame(t, "the message view", frame)
	for _, want := range []string{"\uFFFD]0;title", "\uFFFDnimda"} {
		if !strings.Contains(frame, want) {
			t.Errorf("the frame lacks %q:\n%s", want, frame)
		}
	}

	h.apply(eventsMsg{events: []client.Event{{Kind: client.KindDisconnected, Disconnected: &client.Disconnected{Code: 4000, Reason: "bye" + hostileText}}}})
	frame = h.m.render()
	assertCleanFrame(t, "the status bar", frame)
	if !strings.Contains(frame, "disconnected: bye") {
		t.Errorf("the close reason is not shown:\n%s", frame)
	}
}
