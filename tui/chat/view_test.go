package chat

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/tuitest"
)

// Golden files: testdata/<TestName>[/<subtest>].golden. Rewrite them with
//
//	go test ./tui/chat/ -update
//
// (the -update flag is registered by charmbracelet/x/exp/golden, which
// teatest.RequireEqualOutput uses). Frames are deterministic: the clock
// face is fixed (testOptions), the round trip is not measured, client ids
// are never drawn for named users, and the server's port is masked.

// startView runs the chat under teatest with the ASCII profile forced, at
// w×h, and returns the probe to wait on.
func startView(t *testing.T, opts Options, w, h int) (probe, *teatest.TestModel) {
	t.Helper()
	c := dialChat(t, opts)
	p := probe{
		model: newModel(context.Background(), c, opts),
		scr:   tuitest.NewScreen(),
	}
	// The real styles (testOptions leaves them zero: style.Default), so
	// the forced profile is what must strip their colours.
	return p, tuitest.Start(t, p, w, h)
}

// finish quits the program from outside and returns the final model; the
// program wrote no colour.
func finish(t *testing.T, tm *teatest.TestModel) *model {
	t.Helper()
	fm := tuitest.Quit(t, tm, waitTimeout)
	p, ok := fm.(probe)
	if !ok {
		t.Fatalf("final model is %T", fm)
	}
	return p.model
}

// frame is the screen as text for a golden: escape sequences are left
// out (their placement is lipgloss's business; assertNoColour checks the
// colour side on the real output), and the port is masked.
func frame(m *model) []byte {
	return []byte(maskPorts(ansi.Strip(m.render())) + "\n")
}

// lobbyScene fills lobby with what a golden shows: a wrapped line, data
// without a text field, a mention of ann, and two other members.
func lobbyScene(t *testing.T, srv *testServer) *peer {
	t.Helper()
	bob := dialPeer(t, srv.url(), "bob", "lobby")
	dialPeer(t, srv.url(), "carol", "lobby")
	bob.say(t, "lobby", text("morning all. the deploy went out at nine and the dashboards look calm; shout if anything looks off"))
	bob.say(t, "lobby", json.RawMessage(`{"cpu": 0.42, "host": "web-1"}`))
	bob.say(t, "lobby", text("ann, can you look at the 502s?"))
	return bob
}

func TestViewLobby(t *testing.T) {
	t.Parallel()
	for _, size := range []struct{ w, h int }{{100, 30}, {80, 24}} {
		t.Run(strconv.Itoa(size.w)+"x"+strconv.Itoa(size.h), func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			bob := lobbyScene(t, srv)
			p, tm := startView(t, testOptions(srv.url(), "ann", "lobby"), size.w, size.h)
			p.waitScreen(t, "you joined #lobby")
			tm.Type("on it")
			tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
			p.waitScreen(t, "ann ▸ on it")
			bob.say(t, "lobby", text("thanks!"))
			p.waitScreen(t, "bob │ thanks!")
			m := finish(t, tm)
			got := string(frame(m))
			if size.w < memberListMinWidth && strings.Contains(got, "members (3)") {
				t.Errorf("member list shown at %d columns:\n%s", size.w, got)
			}
			if size.w >= memberListMinWidth && !strings.Contains(got, "carol") {
				t.Errorf("member list missing:\n%s", got)
			}
			teatest.RequireEqualOutput(t, frame(m))
		})
	}
}

func TestViewUnread(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	bob := dialPeer(t, srv.url(), "bob", "lobby", "dev")
	p, tm := startView(t, testOptions(srv.url(), "ann", "lobby", "dev"), 100, 30)
	p.waitScreen(t, "you joined #lobby")
	// #dev is joined after #lobby, and a join does not replay what came
	// before it: wait until ann is in it.
	srv.waitMembers(t, "dev", 2)
	bob.say(t, "lobby", text("lunch?"))
	bob.say(t, "dev", text("build is red"))
	bob.say(t, "dev", text("ann: your test, I think"))
	if _, err := bob.SendToUID(context.Background(), "ann", text("got a minute?")); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "the unread counts", func(s string) bool {
		return regexp.MustCompile(`#dev +2!`).MatchString(s) && regexp.MustCompile(`@bob +1!`).MatchString(s)
	})
	teatest.RequireEqualOutput(t, frame(finish(t, tm)))
}

// TestViewOffline: direct messages kept while ann was offline, as the
// @bob buffer shows them once she is back.
func TestViewOffline(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	bob := dialPeer(t, srv.url(), "bob")
	for _, s := range []string{"are you around later?", "the release notes need your eyes"} {
		if r, err := bob.SendToUID(context.Background(), "ann", text(s)); err != nil || !r.Stored {
			t.Fatalf("SendToUID(ann) = %+v, %v; want stored", r, err)
		}
	}
	p, tm := startView(t, testOptions(srv.url(), "ann", "lobby"), 80, 24)
	p.waitScreen(t, "you joined #lobby")
	p.waitScreen(t, "@bob")
	tm.Send(altDigit('2'))
	p.waitScreen(t, "2 messages arrived while you were away")
	p.waitScreen(t, "[offline] the release notes need your eyes")
	teatest.RequireEqualOutput(t, frame(finish(t, tm)))
}

func TestViewHelp(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	p, tm := startView(t, testOptions(srv.url(), "ann", "lobby"), 80, 24)
	p.waitScreen(t, "you joined #lobby")
	tm.Send(keyF1)
	p.waitScreen(t, "commands")
	teatest.RequireEqualOutput(t, frame(finish(t, tm)))
}

func TestViewCommandError(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	p, tm := startView(t, testOptions(srv.url(), "ann", "lobby"), 80, 24)
	p.waitScreen(t, "you joined #lobby")
	tm.Type("/jion dev")
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	p.waitScreen(t, "did you mean /join?")
	tm.Type("/msg nobody")
	tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	p.waitScreen(t, "usage: /msg")
	teatest.RequireEqualOutput(t, frame(finish(t, tm)))
}

func TestViewReconnecting(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	bob := dialPeer(t, srv.url(), "bob", "lobby")
	bob.say(t, "lobby", text("brb, restarting the server"))
	// Gone before the stop: whether his leave or ann's disconnect came
	// first would be a race.
	_ = bob.Close()
	opts := testOptions(srv.url(), "ann", "lobby")
	// One long wait before the first attempt, so the frame is the same
	// however long the test takes to look at it.
	opts.Client.Backoff = client.Backoff{Min: time.Hour, Max: time.Hour, Jitter: -1}
	p, tm := startView(t, opts, 100, 30)
	p.waitScreen(t, "you joined #lobby")
	srv.stop()
	p.waitScreen(t, "◌ reconnecting…")
	p.waitScreen(t, "connection lost")
	m := finish(t, tm)
	if m.state != stateReconnecting {
		t.Errorf("state %d, want reconnecting", m.state)
	}
	teatest.RequireEqualOutput(t, frame(m))
}

// TestResize: at any size every frame is exactly the terminal's size, so
// nothing wraps or scrolls the real terminal, and the input stays on
// screen.
func TestResize(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	bob := lobbyScene(t, srv)
	h := newHarness(t, testOptions(srv.url(), "ann", "lobby", "dev"))
	h.joined()
	bob.say(t, "lobby", text(strings.Repeat("long words without end ", 20)))
	h.waitScreen("long words")
	h.press(keyPgUp)
	for _, size := range []struct{ w, h int }{
		{100, 30}, {120, 40}, {90, 24}, {89, 24}, {80, 24}, {60, 20}, {49, 15}, {30, 8}, {12, 4}, {1, 1}, {200, 60}, {80, 24},
	} {
		h.apply(tea.WindowSizeMsg{Width: size.w, Height: size.h})
		rows := strings.Split(h.screen(), "\n")
		if len(rows) != size.h {
			t.Errorf("%dx%d: %d rows", size.w, size.h, len(rows))
		}
		for i, r := range rows {
			if w := ansi.StringWidth(r); w != size.w {
				t.Errorf("%dx%d: row %d is %d wide: %q", size.w, size.h, i, w, r)
			}
		}
		if size.h >= 3 && !strings.Contains(rows[len(rows)-2], "#lobby ›") && size.w > 10 {
			t.Errorf("%dx%d: input row is %q", size.w, size.h, rows[len(rows)-2])
		}
		if s := h.m.current().scroll; s > h.m.maxScroll(h.m.current()) {
			t.Errorf("%dx%d: scroll %d past the top %d", size.w, size.h, s, h.m.maxScroll(h.m.current()))
		}
	}
}
