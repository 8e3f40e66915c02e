package top

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode"

	tea "charm.land/bubbletea/v2"

	"github.com/rtsync/rtsync/client"
)

// hostile is text a client (its name, uid) or a server (node, version,
// room names, error messages) chose to take over the operator's
// terminal: a window title, a clipboard write, a cursor move that
// overwrites the screen, an 8-bit CSI, a carriage return, a bidi
// override.
const hostile = "x\x1b]0;title\x07\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x1b[H\u009b31m\rEVIL\u202Egnp\n"

// assertCleanScreen fails if s holds a character that drives a terminal
// or reorders a line. The plain styles draw no escape sequences, so any
// ESC on screen came from the data.
func assertCleanScreen(t *testing.T, what, s string) {
	t.Helper()
	for i, r := range s {
		if r == '\n' {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			t.Fatalf("%s holds %U at byte %d:\n%q", what, r, i, s)
		}
	}
}

func hostileStats() client.ServerStats {
	st := snapshotAt(3)
	st.Node, st.Version = "node"+hostile, "v"+hostile
	st.ConnectionsByTransport = map[string]int64{"ws" + hostile: 3, "tcp": 1}
	st.TopRooms = append(st.TopRooms, client.RoomStats{Room: "room" + hostile, Members: 1 << 40})
	n2 := st.NodeStats
	n2.Node = "other" + hostile
	st.Nodes = []client.NodeStats{st.NodeStats, n2}
	return st
}

// TestViewHostileText: whatever the server's stats and clients list say,
// the frame top draws holds no escape, control or bidi character, and the
// text is still there to read.
func TestViewHostileText(t *testing.T) {
	t.Parallel()
	m := plainModel(t, newFake())
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 40})
	m.Update(statsMsg{stats: hostileStats(), started: base, at: base})
	m.Update(clientsMsg{seq: 1, page: client.ClientsPage{Total: 1, Clients: []client.ClientInfo{{
		Client: "c1" + hostile, UID: "uid" + hostile, Name: "name" + hostile, Remote: "remote" + hostile,
		Rooms: []string{"room" + hostile}, Transport: "ws",
	}}}})
	rooms := m.render()
	assertCleanScreen(t, "rooms view", rooms)
	for _, want := range []string{"roomx\uFFFD]0;title", "nodex\uFFFD]0;title", "vx\uFFFD]0;title", "wsx\uFFFD]0;title"} {
		if !strings.Contains(rooms, want) {
			t.Errorf("rooms view lacks %q:\n%s", want, rooms)
		}
	}

	m.view = viewClients
	clients := m.render()
	assertCleanScreen(t, "clients view", clients)
	if !strings.Contains(clients, "uidx\uFFFD") {
		t.Errorf("clients view lacks the uid:\n%s", clients)
	}

	// The kick prompt names the client; its outcome quotes the server.
	m.Update(press("k"))
	assertCleanScreen(t, "kick prompt", m.render())
	m.Update(kickMsg{target: m.clients.Clients[0], err: errors.New("refused: " + hostile)})
	assertCleanScreen(t, "kick outcome", m.render())
	if !strings.Contains(m.render(), "kick c1x\uFFFD]0;title") {
		t.Errorf("the kick's error is not shown:\n%s", m.render())
	}

	// An API error quotes the server's message.
	m.Update(statsMsg{err: &client.APIError{Method: "GET", Path: "/api/v1/stats", Status: 500, Message: hostile}, at: base})
	m.Update(clientsMsg{seq: 2, err: &client.APIError{Method: "GET", Path: "/api/v1/clients", Status: 500, Message: hostile}})
	assertCleanScreen(t, "error lines", m.render())
	m.view = viewRooms
	assertCleanScreen(t, "error lines", m.render())
	if !strings.Contains(m.render(), "500 internal server error: x\uFFFD") {
		t.Errorf("the server's error is not shown:\n%s", m.render())
	}
}

// TestSummaryHostileText: `top --once` prints the same cleaned text.
func TestSummaryHostileText(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := Summary(&b, testURL, hostileStats()); err != nil {
		t.Fatal(err)
	}
	assertCleanScreen(t, "summary", b.String())
	for _, want := range []string{"node nodex\uFFFD]0;title", "room" + "x\uFFFD]0;title", "otherx\uFFFD"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}
