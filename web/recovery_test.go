package web_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/server"
)

// The page's recovery point: after a reconnect it must resume each room
// from the last message it showed, not from what a join reply announced,
// show every message once and in order, fill what a short replay left out
// from history, and say truthfully what it recovered and what is lost.

// rejoinReply matches the reply to a re-join of room (one with since: it
// carries "replayed").
func rejoinReply(room string) func([]byte) bool {
	return func(line []byte) bool {
		var ev struct {
			Type     string `json:"type"`
			Room     string `json:"room"`
			Replayed *int   `json:"replayed"`
		}
		return json.Unmarshal(line, &ev) == nil && ev.Type == "reply" && ev.Room == room && ev.Replayed != nil
	}
}

// joinReply matches the reply to any join of room.
func joinReply(room string) func([]byte) bool {
	return func(line []byte) bool {
		var ev struct {
			Type  string `json:"type"`
			Room  string `json:"room"`
			Epoch string `json:"epoch"`
		}
		return json.Unmarshal(line, &ev) == nil && ev.Type == "reply" && ev.Room == room && ev.Epoch != ""
	}
}

// publish sends text to lobby from the Go client.
func publish(t *testing.T, c *client.Client, text string) {
	t.Helper()
	if _, err := c.Publish(bounded(t), "lobby", map[string]string{"text": text}); err != nil {
		t.Fatalf("publish %q: %v", text, err)
	}
}

// shown is the text of every message #lobby shows, in order, each cut at
// " ·" (where the tests' padding starts).
func shown(b *tab) []string {
	b.t.Helper()
	all := evalT[[]string](b, `[...logOf("#lobby").querySelectorAll(".msg .text")].map((e) => e.textContent)`)
	for i, s := range all {
		all[i], _, _ = strings.Cut(s, " ·")
	}
	return all
}

// waitShown waits until #lobby shows want (and then checks it shows
// nothing else).
func waitShown(b *tab, want ...string) {
	b.t.Helper()
	last := want[len(want)-1]
	b.waitFor(fmt.Sprintf("%q shown", last), fmt.Sprintf(`[...logOf("#lobby").querySelectorAll(".msg .text")].some((e) => e.textContent.split(" ·")[0] === %q)`, last))
	if got := shown(b); !slices.Equal(got, want) {
		b.t.Errorf("#lobby shows\n  %q\nwant every message once, in order:\n  %q\npage:\n%s", got, want, b.text())
	}
}

// scene is the start of every recovery test: Ada's page behind a proxy
// the test can cut, and Gopher (a Go client) in lobby, having published
// first, which Ada's page showed.
type scene struct {
	px     *proxy
	ada    *tab
	gopher *client.Client
}

func newScene(t *testing.T, srv *testServer, first string) *scene {
	t.Helper()
	px := startProxy(t, srv.addr)
	ada := openTab(t, startBrowser(t), "Ada", "http://"+px.addr()+"/")
	gopher, _ := dialGo(t, srv.addr, "Gopher", "gopher")
	if _, err := gopher.Join(bounded(t), "lobby"); err != nil {
		t.Fatal(err)
	}
	publish(t, gopher, first)
	waitShown(ada, first)
	return &scene{px: px, ada: ada, gopher: gopher}
}

// cutPage cuts Ada's connection and waits for the page to notice.
func (sc *scene) cutPage() {
	sc.px.cut()
	sc.ada.waitFor("the reconnecting state", `state() === "reconnecting"`)
}

// TestBrowserRecoveryPoint cuts the page's connection right after the
// reply to its re-join, before the replay that reply announces, with one
// more message published while the reply is on its way. The page must
// resume from the last message it showed, so the next re-join recovers
// all of them, and say so; an old page resumed from the reply's seq,
// skipped them and said "nothing missed".
func TestBrowserRecoveryPoint(t *testing.T) {
	srv := startServer(t)
	sc := newScene(t, srv, "before")
	px, ada, gopher := sc.px, sc.ada, sc.gopher

	sc.cutPage()
	publish(t, gopher, "away 1")
	publish(t, gopher, "away 2")
	px.setTrap(&trap{match: rejoinReply("lobby"), hook: func() { publish(t, gopher, "around the join") }})
	px.route(srv.addr)
	ada.waitFor("the first recovery line", `sysLines("#lobby").includes("back online; 2 missed message(s) recovered")`)
	ada.waitFor("the second recovery line", `sysLines("#lobby").includes("back online; 3 missed message(s) recovered")`)
	publish(t, gopher, "live")
	waitShown(ada, "before", "away 1", "away 2", "around the join", "live")
	if n := evalT[int](ada, `sysLines("#lobby").filter((s) => s.includes("nothing missed")).length`); n != 0 {
		t.Errorf(`the page said "nothing missed" %d times; it had missed 3 messages`, n)
	}
}

// TestBrowserRecoveryGap makes a reconnect's replay fall short: the missed
// messages are more than history holds (the oldest are gone), and more
// than half the send queue holds (the server streams the rest as the
// queue drains). The page shows every message history still had, and says
// exactly which are lost for good.
func TestBrowserRecoveryGap(t *testing.T) {
	srv := startServer(t, func(c *server.Config) {
		c.MaxMessageSize = 4 << 10
		c.SendQueueBytes = 8 << 10 // about six of the messages below fit at once
		c.HistorySize = 8
	})
	sc := newScene(t, srv, "before")
	px, ada, gopher := sc.px, sc.ada, sc.gopher

	sc.cutPage()
	pad := " · " + strings.Repeat("x", 500)
	want := []string{"before"}
	for i := 1; i <= 10; i++ { // seqs 2..11; history keeps 4..11
		publish(t, gopher, fmt.Sprintf("away %d", i)+pad)
		if i > 2 {
			want = append(want, fmt.Sprintf("away %d", i))
		}
	}
	px.route(srv.addr)
	ada.waitFor("a recovery line", `sysLines("#lobby").some((s) => s.startsWith("back online"))`)
	publish(t, gopher, "live")
	waitShown(ada, append(want, "live")...)
	said := evalT[[]string](ada, `sysLines("#lobby")`)
	if !slices.Contains(said, "back online; 8 missed message(s) recovered, but older ones are no longer in the room's history") {
		t.Errorf("the page did not say the recovery was incomplete; it said %q", said)
	}
	if !slices.ContainsFunc(said, func(s string) bool { return strings.HasPrefix(s, "2 message(s) missed here (seq 2–3)") }) {
		t.Errorf("the page did not say messages 2–3 are lost; it said %q", said)
	}
}

// TestBrowserRecoveryReset restarts the server (history in memory: a new
// epoch) while someone publishes on the new one, and cuts the page's
// connection right after its re-join reply, so its history request fails.
// The page must say the history was reset and, back online, still load
// the new server's messages: resuming after the reset's reply would skip
// them.
func TestBrowserRecoveryReset(t *testing.T) {
	srv1 := startServer(t)
	sc := newScene(t, srv1, "old")
	px, ada, gopher := sc.px, sc.ada, sc.gopher
	_ = gopher.Close()

	srv2 := startServer(t)
	px.cut()
	srv1.stop()
	ada.waitFor("the reconnecting state", `state() === "reconnecting"`)
	gopher2, _ := dialGo(t, srv2.addr, "Gopher", "gopher")
	if _, err := gopher2.Join(bounded(t), "lobby"); err != nil {
		t.Fatal(err)
	}
	publish(t, gopher2, "new 1")
	publish(t, gopher2, "new 2")
	px.setTrap(&trap{match: joinReply("lobby")})
	px.route(srv2.addr)
	ada.waitFor("the reset line", `sysLines("#lobby").some((s) => s.includes("history of this room was lost or reset"))`)
	ada.waitFor("connected again", `state() === "connected"`)
	publish(t, gopher2, "new 3")
	waitShown(ada, "old", "new 1", "new 2", "new 3")
}

// TestBrowserRecoveryNoHistory reconnects to a server that keeps no
// history (--history-size 0): nothing can be replayed, and the page says
// which messages it missed instead of claiming a recovery.
func TestBrowserRecoveryNoHistory(t *testing.T) {
	srv := startServer(t, func(c *server.Config) { c.HistorySize = -1 })
	sc := newScene(t, srv, "before")
	px, ada, gopher := sc.px, sc.ada, sc.gopher

	sc.cutPage()
	publish(t, gopher, "away 1")
	publish(t, gopher, "away 2")
	px.route(srv.addr)
	ada.waitFor("the lost ones said", `sysLines("#lobby").some((s) => s.startsWith("2 message(s) missed here (seq 2–3)"))`)
	publish(t, gopher, "live")
	waitShown(ada, "before", "live")
	if said := evalT[[]string](ada, `sysLines("#lobby")`); !slices.Contains(said, "back online, but the missed messages are no longer in the room's history") {
		t.Errorf("the page did not say the missed messages are gone; it said %q", said)
	}
}
