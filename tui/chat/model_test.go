package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/testserver"
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server"
)

// lastLine is the text of a buffer's last line.
func lastLine(r *room) string {
	if len(r.lines) == 0 {
		return ""
	}
	return r.lines[len(r.lines)-1].text
}

func hasLine(r *room, sub string) bool {
	return slices.ContainsFunc(r.lines, func(l line) bool { return strings.Contains(l.text, sub) })
}

func roomNames(m *model) []string {
	var out []string
	for _, r := range m.rooms {
		out = append(out, r.label())
	}
	return out
}

func memberList(r *room) []string {
	var out []string
	for _, id := range sortedMemberIDs(r) {
		out = append(out, memberName(r.members[id]))
	}
	return out
}

func TestJoinShowsHistoryAndMembers(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	bob := dialPeer(t, srv.url(), "bob", "lobby")
	for i := 1; i <= 5; i++ {
		bob.say(t, "lobby", text(fmt.Sprintf("message %d", i)))
	}
	opts := testOptions(srv.url(), "ann", "lobby")
	opts.History = 3
	h := newHarness(t, opts)
	h.joined()

	r := h.m.current()
	want := []string{"message 3", "message 4", "message 5", "you joined #lobby · 2 members"}
	if got := roomLines(r); !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
	if !r.more || r.lastSeq != 5 || !r.joined {
		t.Errorf("more=%v lastSeq=%d joined=%v, want true 5 true", r.more, r.lastSeq, r.joined)
	}
	if got := memberList(r); !slices.Equal(got, []string{"ann", "bob"}) {
		t.Errorf("members = %q", got)
	}

	// Live messages follow the backlog, and presence events update the
	// member list.
	bob.say(t, "lobby", text("live one"))
	h.waitFor("the live message", func(m *model) bool { return lastLine(r) == "live one" })
	carol := dialPeer(t, srv.url(), "carol", "lobby")
	h.waitFor("carol's join", func(m *model) bool { return len(r.members) == 3 })
	if !hasLine(r, "carol joined #lobby") {
		t.Errorf("no join line: %q", roomLines(r))
	}
	_ = carol.Close()
	h.waitFor("carol's leave", func(m *model) bool { return len(r.members) == 2 && hasLine(r, "carol left #lobby") })
}

func TestCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	bob := dialPeer(t, srv.url(), "bob", "lobby")

	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"join", func(t *testing.T, h *harness) {
			bob.say(t, "lobby", text("only in lobby"))
			h.enter("/join dev")
			if got := roomNames(h.m); !slices.Equal(got, []string{"#lobby", "#dev"}) || h.m.current().name != "dev" {
				t.Fatalf("rooms %q, current %q", got, h.m.current().name)
			}
			h.joined()
			r := h.m.current()
			if !r.joined || !hasLine(r, "you joined #dev · 1 member") {
				t.Errorf("dev: joined=%v lines=%q", r.joined, roomLines(r))
			}
			// Joining again only switches.
			h.press(altDigit('1'))
			h.enter("/join #dev")
			if h.m.current().name != "dev" || len(h.m.rooms) != 2 {
				t.Errorf("second /join: current %q, rooms %q", h.m.current().name, roomNames(h.m))
			}
		}},
		{"join bad room", func(t *testing.T, h *harness) {
			h.enter("/join no$such")
			h.waitFor("the join error", func(m *model) bool { return hasLine(m.current(), "could not join #no$such") })
			if got := roomNames(h.m); !slices.Equal(got, []string{"#lobby"}) {
				t.Errorf("rooms = %q; a failed join leaves no buffer", got)
			}
		}},
		{"join usage", func(t *testing.T, h *harness) {
			h.enter("/join")
			if got := lastLine(h.m.current()); got != "usage: /join ROOM" {
				t.Errorf("got %q", got)
			}
		}},
		{"leave", func(t *testing.T, h *harness) {
			h.enter("/join dev")
			h.joined()
			h.enter("/leave")
			if got := roomNames(h.m); !slices.Equal(got, []string{"#lobby"}) {
				t.Fatalf("rooms = %q", got)
			}
			if !hasLine(h.m.current(), "you left #dev") {
				t.Errorf("lobby lines %q", roomLines(h.m.current()))
			}
			// The server has us out of dev: bob, joining it, is alone.
			ctx := context.Background()
			h.waitFor("the leave to reach the server", func(*model) bool {
				_, _ = bob.Join(ctx, "dev")
				ms, err := bob.Presence(ctx, "dev")
				return err == nil && len(ms) == 1
			})
			_ = bob.Leave(ctx, "dev")
		}},
		{"leave last room", func(t *testing.T, h *harness) {
			h.enter("/leave")
			if len(h.m.rooms) != 0 || h.m.current() != h.m.status {
				t.Fatalf("rooms %q", roomNames(h.m))
			}
			h.enter("hello?")
			if !strings.Contains(lastLine(h.m.status), "you are in no room") {
				t.Errorf("status: %q", roomLines(h.m.status))
			}
			if !strings.Contains(h.screen(), "not in any room") {
				t.Errorf("screen:\n%s", h.screen())
			}
		}},
		{"nick", func(t *testing.T, h *harness) {
			h.enter("/nick Ann Lee")
			h.waitFor("the new name", func(m *model) bool { return lastLine(m.current()) == "you are now Ann Lee" })
			ms, err := bob.Presence(context.Background(), "lobby")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(ms, func(mb protocol.Member) bool { return mb.Name == "Ann Lee" }) {
				t.Errorf("bob sees %+v", ms)
			}
			if !strings.Contains(h.screen(), "Ann Lee") {
				t.Errorf("status bar lacks the new name:\n%s", h.screen())
			}
		}},
		{"msg", func(t *testing.T, h *harness) {
			h.enter("/msg bob hello bob")
			h.waitFor("the direct buffer", func(m *model) bool { return m.current().kind == kindDirect })
			r := h.m.current()
			if r.label() != "@bob" || lastLine(r) != "hello bob" || !r.lines[0].own {
				t.Errorf("buffer %q lines %q", r.label(), roomLines(r))
			}
			h.waitFor("bob to get it", func(*model) bool { return slices.Contains(bob.gotDirects(), "hello bob") })
			// Plain text in the buffer goes to bob too.
			h.enter("and again")
			h.waitFor("the second line", func(*model) bool { return lastLine(r) == "and again" })
		}},
		{"msg offline", func(t *testing.T, h *harness) {
			// The server keeps it for when nobody connects.
			h.enter("/msg nobody are you there")
			h.waitFor("the note", func(m *model) bool {
				return lastLine(m.current()) == "nobody is offline: the server keeps the message and delivers it when they next connect"
			})
			if r := h.m.current(); r.label() != "@nobody" || !hasLine(r, "are you there") {
				t.Errorf("buffer %q lines %q; want @nobody with the message", r.label(), roomLines(r))
			}
		}},
		{"who", func(t *testing.T, h *harness) {
			h.enter("/who")
			h.waitFor("the list", func(m *model) bool { return lastLine(m.current()) == "in #lobby (2): ann (you), bob" })
		}},
		{"rooms", func(t *testing.T, h *harness) {
			h.enter("/rooms")
			if got := lastLine(h.m.current()); !strings.HasPrefix(got, "your rooms: 1 #lobby (2 members, seq") {
				t.Errorf("got %q", got)
			}
		}},
		{"history", func(t *testing.T, h *harness) {
			// Forget all but the newest message, as if the join had shown
			// only that one.
			r := h.m.current()
			if r.lastSeq < 3 {
				t.Fatalf("lobby has %d messages; the test needs 3", r.lastSeq)
			}
			r.lines = slices.DeleteFunc(r.lines, func(l line) bool { return l.kind == lineMessage && l.seq < r.lastSeq })
			oldest := r.oldestSeq()
			h.enter("/history 2")
			h.waitFor("older messages", func(*model) bool { return hasLine(r, "loaded 2 older messages") })
			if got := r.oldestSeq(); got != oldest-2 {
				t.Errorf("oldest seq %d, want %d", got, oldest-2)
			}
			if r.scroll != h.m.maxScroll(r) {
				t.Errorf("scroll %d, want the top (%d)", r.scroll, h.m.maxScroll(r))
			}
			h.enter("/history x")
			if !strings.HasPrefix(lastLine(r), "usage: /history N") {
				t.Errorf("got %q", lastLine(r))
			}
		}},
		{"clear", func(t *testing.T, h *harness) {
			h.enter("/clear")
			if n := len(h.m.current().lines); n != 0 {
				t.Errorf("%d lines after /clear", n)
			}
		}},
		{"help", func(t *testing.T, h *harness) {
			h.enter("/help")
			if !hasLine(h.m.current(), "/msg USER TEXT") {
				t.Errorf("lines %q", roomLines(h.m.current()))
			}
		}},
		{"quit", func(t *testing.T, h *harness) {
			h.enter("/quit")
			h.waitFor("quit", func(*model) bool { return h.quit })
		}},
		{"unknown", func(t *testing.T, h *harness) {
			h.enter("/jion dev")
			got := lastLine(h.m.current())
			if !strings.HasPrefix(got, `unknown command /jion; did you mean /join?`) || !strings.Contains(got, "/help") {
				t.Errorf("got %q", got)
			}
			if len(h.m.rooms) != 1 {
				t.Errorf("rooms %q", roomNames(h.m))
			}
		}},
		{"slash escape", func(t *testing.T, h *harness) {
			h.enter("//shrug")
			h.waitFor("the message", func(m *model) bool { return lastLine(m.current()) == "/shrug" })
		}},
	}
	for i := 1; i <= 3; i++ {
		bob.say(t, "lobby", text(fmt.Sprintf("before %d", i)))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: bob is shared, and /nick and /leave change
			// what he sees.
			opts := testOptions(srv.url(), "ann", "lobby")
			h := newHarness(t, opts)
			h.joined()
			tt.run(t, h)
		})
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	h := newHarness(t, testOptions(srv.url(), "ann", "one", "two", "three"))
	h.joined()
	cur := func() string { return h.m.current().name }

	steps := []struct {
		key  tea.KeyPressMsg
		want string
	}{
		{keyTab, "two"},
		{keyTab, "three"},
		{keyTab, "one"},
		{keyShiftTab, "three"},
		{tea.KeyPressMsg{Code: 'n', Mod: tea.ModCtrl}, "one"},
		{tea.KeyPressMsg{Code: 'p', Mod: tea.ModCtrl}, "three"},
		{altDigit('2'), "two"},
		{altDigit('9'), "two"}, // no ninth room: stay
		{altDigit('1'), "one"},
	}
	for _, s := range steps {
		h.press(s.key)
		if cur() != s.want {
			t.Fatalf("after %s: in %q, want %q", s.key.Keystroke(), cur(), s.want)
		}
	}

	// Input history: up goes back, down forward, and past the newest
	// restores the draft.
	h.enter("first")
	h.enter("second")
	for _, r := range "draft" {
		h.press(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	for _, s := range []struct {
		key  tea.KeyPressMsg
		want string
	}{
		{keyUp, "second"}, {keyUp, "first"}, {keyUp, "first"},
		{keyDown, "second"}, {keyDown, "draft"}, {keyDown, "draft"},
	} {
		h.press(s.key)
		if got := h.m.input.Value(); got != s.want {
			t.Fatalf("after %s: input %q, want %q", s.key.Keystroke(), got, s.want)
		}
	}

	// ? types a question mark into a line, and opens help on an empty one.
	h.press(tea.KeyPressMsg{Code: '?', Text: "?"})
	if h.m.showHelp || h.m.input.Value() != "draft?" {
		t.Fatalf("help %v, input %q", h.m.showHelp, h.m.input.Value())
	}
	h.press(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	h.press(tea.KeyPressMsg{Code: '?', Text: "?"})
	if !h.m.showHelp {
		t.Fatal("? on an empty line did not open help")
	}
	h.press(tea.KeyPressMsg{Code: tea.KeyEscape})
	h.press(keyF1)
	h.press(keyF1)
	if h.m.showHelp {
		t.Fatal("esc / f1 did not close help")
	}

	// PgUp scrolls back, PgDn returns; new lines keep a scrolled view
	// still.
	h.waitFor("both messages", func(m *model) bool { return hasLine(m.current(), "second") })
	r := h.m.current()
	for i := range 60 {
		h.m.addMessage(r, msgAt(r, uint64(100+i)), true)
	}
	h.press(keyPgUp)
	if r.scroll != h.m.bodyHeight()-1 {
		t.Fatalf("scroll %d after pgup, want %d", r.scroll, h.m.bodyHeight()-1)
	}
	before := r.scroll
	h.m.addMessage(r, msgAt(r, 200), true)
	if r.scroll != before+1 || r.unread != 1 {
		t.Errorf("scroll %d unread %d after a new line, want %d 1", r.scroll, r.unread, before+1)
	}
	if !strings.Contains(h.screen(), "▲ scrolled, 1 new below") {
		t.Errorf("status bar does not say so:\n%s", h.screen())
	}
	h.press(keyPgDown, keyPgDown)
	if r.scroll != 0 || r.unread != 0 {
		t.Errorf("scroll %d unread %d after pgdn, want 0 0", r.scroll, r.unread)
	}
	h.apply(tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	if r.scroll != wheelStep {
		t.Errorf("scroll %d after the wheel, want %d", r.scroll, wheelStep)
	}

	h.press(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
	h.waitFor("quit", func(*model) bool { return h.quit })
}

// msgAt is a message from someone else in r's current epoch.
func msgAt(r *room, seq uint64) protocol.Message {
	return protocol.Message{Room: r.name, Seq: seq, Epoch: r.epoch, TS: 1, From: protocol.From{Client: "x", Name: "zed"},
		Data: json.RawMessage(fmt.Sprintf(`{"text":"filler %d"}`, seq))}
}

func TestPeerMessagesAndDirect(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	h := newHarness(t, testOptions(srv.url(), "ann", "lobby", "dev"))
	h.joined()
	bob := dialPeer(t, srv.url(), "bob", "lobby", "dev")

	bob.say(t, "lobby", text("hello from bob"))
	h.waitScreen("hello from bob")

	// A message in the other room counts as unread; naming ann is a
	// mention.
	bob.say(t, "dev", text("ann: look at this"))
	dev := h.m.rooms[1]
	h.waitFor("the unread count", func(*model) bool { return dev.unread == 1 && dev.mention })
	if !regexp.MustCompile(`#dev +1!`).MatchString(h.screen()) {
		t.Errorf("room list lacks the unread mention:\n%s", h.screen())
	}

	// A direct message opens @bob.
	if _, err := bob.SendToUID(context.Background(), "ann", text("a secret")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the direct buffer", func(m *model) bool { return m.findDirect("u:bob") != nil })
	dm := h.m.findDirect("u:bob")
	if dm.label() != "@bob" || lastLine(dm) != "a secret" || dm.unread != 1 {
		t.Errorf("direct: %q %q unread %d", dm.label(), roomLines(dm), dm.unread)
	}
	h.press(altDigit('3'))
	if h.m.current() != dm || dm.unread != 0 {
		t.Fatal("alt+3 did not open @bob")
	}
	h.enter("right back at you")
	h.waitFor("bob's copy", func(*model) bool { return slices.Contains(bob.gotDirects(), "right back at you") })

	// Our own messages are marked.
	h.press(altDigit('1'))
	h.enter("my own words")
	h.waitFor("the echo", func(m *model) bool { return lastLine(m.current()) == "my own words" })
	if l := h.m.current().lines[len(h.m.current().lines)-1]; !l.own {
		t.Error("own message not marked")
	}
	if !strings.Contains(h.screen(), "ann ▸ my own words") {
		t.Errorf("own marker missing:\n%s", h.screen())
	}
}

func TestRecoveryAfterOutage(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	px := startProxy(t, srv.addr)
	bob := dialPeer(t, srv.url(), "bob", "lobby")
	bob.say(t, "lobby", text("before"))
	h := newHarness(t, testOptions(px.url(), "ann", "lobby"))
	h.joined()
	r := h.m.current()

	px.cut(true)
	h.waitFor("the reconnecting state", func(m *model) bool { return m.state == stateReconnecting })
	if !strings.Contains(h.screen(), "reconnecting…") {
		t.Errorf("screen:\n%s", h.screen())
	}
	// Published while ann is away.
	h.waitFor("bob to see ann leave", func(*model) bool {
		ms, err := bob.Presence(context.Background(), "lobby")
		return err == nil && len(ms) == 1
	})
	bob.say(t, "lobby", text("missed 1"))
	bob.say(t, "lobby", text("missed 2"))
	px.allow()

	h.waitFor("the recovery", func(m *model) bool { return m.state == stateConnected && hasLine(r, "missed 2") })
	var got []string
	for _, l := range r.lines {
		if l.kind == lineMessage {
			got = append(got, l.text)
		}
	}
	if want := []string{"before", "missed 1", "missed 2"}; !slices.Equal(got, want) {
		t.Errorf("messages %q, want %q (no gap, no duplicate)", got, want)
	}
	if !hasLine(r, "reconnected; recovered 2 messages") {
		t.Errorf("lines %q", roomLines(r))
	}
	h.waitFor("the fresh member list", func(*model) bool { return r.presenceWait == 0 })
	if got := memberList(r); !slices.Equal(got, []string{"ann", "bob"}) {
		t.Errorf("members %q", got)
	}
}

func TestServerRestartResetsHistory(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	bob := dialPeer(t, srv.url(), "bob", "lobby")
	bob.say(t, "lobby", text("old world"))
	h := newHarness(t, testOptions(srv.url(), "ann", "lobby"))
	h.joined()
	r := h.m.current()

	srv.restart()
	h.waitFor("the reset", func(*model) bool {
		return hasLine(r, "reconnected, but the server's history of #lobby was lost or reset (a new epoch): messages sent while you were away may be missing")
	})
	if !hasLine(r, "connection lost: server going away, reconnect (close 4012); reconnecting…") {
		t.Errorf("lines %q", roomLines(r))
	}
	// Seqs start again at 1 in the new epoch, after the old messages.
	carol := dialPeer(t, srv.url(), "carol", "lobby")
	carol.say(t, "lobby", text("new world"))
	h.waitFor("the new message", func(*model) bool { return lastLine(r) == "new world" })
	if r.lastSeq != 1 || r.gen != 1 {
		t.Errorf("lastSeq %d gen %d, want 1 1", r.lastSeq, r.gen)
	}
	if got := roomLines(r); slices.Index(got, "old world") > slices.Index(got, "new world") {
		t.Errorf("order %q", got)
	}
}

// TestServerAPIActions: what the application does to the user through
// the server API shows up in the chat: put in a room, taken out, kicked.
func TestServerAPIActions(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	bob := dialPeer(t, srv.url(), "bob", "news")
	h := newHarness(t, testOptions(srv.url(), "ann", "lobby"))
	h.joined()
	api := func(method, path, body string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+srv.addr+"/api/v1"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
	}
	bob.say(t, "news", text("extra extra"))
	id := h.m.me.Client

	api("PUT", "/clients/"+id+"/rooms/news", "")
	h.waitFor("#news", func(m *model) bool {
		r := m.findRoom("news")
		return r != nil && r.joined && hasLine(r, "the server put you in #news") && hasLine(r, "extra extra") && len(r.members) == 2
	})

	api("DELETE", "/clients/"+id+"/rooms/news", "")
	h.waitFor("the removal", func(m *model) bool {
		r := m.findRoom("news")
		return !r.joined && hasLine(r, "the server took you out of #news")
	})

	api("POST", "/clients/"+id+"/kick", `{"reason":"enough for today"}`)
	h.waitFor("the kick", func(m *model) bool { return m.state == stateDisconnected })
	if !strings.Contains(h.screen(), "✗ disconnected: enough for today (close 4010)") {
		t.Errorf("status bar:\n%s", h.screen())
	}
	if !hasLine(h.m.current(), "disconnected for good: enough for today (close 4010); /quit to leave") {
		t.Errorf("lines %q", roomLines(h.m.current()))
	}
}

// TestOfflineDirects: direct messages sent while ann was offline arrive
// when she connects, under a line that counts them, each marked, and one
// the server hands out again says so.
func TestOfflineDirects(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	bob := dialPeer(t, srv.url(), "bob")
	for _, s := range []string{"are you there?", "ping me when back", "\x1b[31mred alert\x1b[0m"} {
		r, err := bob.SendToUID(context.Background(), "ann", text(s))
		if err != nil || !r.Stored {
			t.Fatalf("SendToUID(ann) = %+v, %v; want stored", r, err)
		}
	}
	h := newHarness(t, testOptions(srv.url(), "ann", "lobby"))
	h.waitFor("the three offline messages", func(m *model) bool {
		r := m.findDirect("u:bob")
		return r != nil && len(roomLines(r)) == 4
	})
	dm := h.m.findDirect("u:bob")
	want := []string{
		"3 messages arrived while you were away",
		"[offline] are you there?",
		"[offline] ping me when back",
		"[offline] \ufffd[31mred alert\ufffd[0m",
	}
	if got := roomLines(dm); !slices.Equal(got, want) {
		t.Errorf("@bob lines %q; want %q", got, want)
	}
	if dm.unread != 3 {
		t.Errorf("@bob unread %d; want 3", dm.unread)
	}
	from := protocol.From{Client: "c-carol", UID: "carol", Name: "carol"}
	h.apply(eventsMsg{events: []client.Event{{
		Kind: client.KindDirect, Received: time.Now(),
		Wire:    protocol.Event{Type: protocol.TypeDirect, From: &from, TS: 1, Data: json.RawMessage(`{"text":"again"}`), Inbox: 9, Redelivered: true},
		Offline: &client.Offline{Inbox: 9, Redelivered: true},
	}}})
	if got := roomLines(h.m.findDirect("u:carol")); !slices.Equal(got, []string{"1 message arrived while you were away", "[offline, redelivered] again"}) {
		t.Errorf("@carol lines %q", got)
	}
}

// TestFailoverToAnotherNode: when the node the chat is on goes away, the
// client moves to the fallback URL; the status bar shows the new host,
// and the status buffer says which node it reached, its name cleaned.
func TestFailoverToAnotherNode(t *testing.T) {
	t.Parallel()
	srvA := startServer(t)
	nodeB := testserver.Start(t, server.Config{Node: "node-b\x1b[2J", ShutdownTimeout: 2 * time.Second})
	px := startProxy(t, srvA.addr)
	opts := testOptions(px.url(), "ann", "lobby")
	opts.Client.FallbackURLs = []string{nodeB.URL()}
	h := newHarness(t, opts)
	h.joined()
	hostA := px.ln.Addr().String()
	if !strings.Contains(h.screen(), " · "+hostA+" · ") {
		t.Fatalf("status bar without %s:\n%s", hostA, h.screen())
	}

	px.cut(true)
	h.waitFor("the reconnection to node b", func(m *model) bool { return m.state == stateConnected && m.host == nodeB.Addr })
	h.waitFor("the re-join", func(m *model) bool { return m.current().joined })
	if want := "reconnected to " + nodeB.Addr + " (node node-b\uFFFD[2J)"; !hasLine(h.m.status, want) {
		t.Errorf("status lines %q; want %q", roomLines(h.m.status), want)
	}
	if !strings.Contains(h.screen(), " · "+nodeB.Addr+" · ") {
		t.Errorf("status bar without %s:\n%s", nodeB.Addr, h.screen())
	}
}
