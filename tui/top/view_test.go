package top

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/rtsync/rtsync/internal/tuitest"
)

// Golden files: testdata/<TestName>[/<subtest>].golden. Rewrite them with
//
//	go test ./tui/top/ -update
//
// (the -update flag is registered by charmbracelet/x/exp/golden, which
// teatest.RequireEqualOutput uses). Frames are deterministic: the
// snapshots are canned, their times are the server's, the model's clock
// is the fake API's, and polling does not wait between rounds.

// startView runs top under teatest with the ASCII profile forced, at
// w×h, on f.
func startView(t *testing.T, f *fakeAPI, w, h int) (probe, *teatest.TestModel) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	t.Cleanup(f.release) // ends the poll still waiting on the fake
	p := newProbe(testModel(ctx, f))
	// The real styles, so the forced profile is what must strip their
	// colours.
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
// colour side on the real output).
func frame(m *model) []byte {
	return []byte(ansi.Strip(m.render()) + "\n")
}

// assertSize checks that every line of the frame fits w and that there
// are exactly h of them, so nothing wraps or scrolls the terminal.
func assertSize(t *testing.T, m *model, w, h int) {
	t.Helper()
	rows := strings.Split(m.render(), "\n")
	if len(rows) != h {
		t.Errorf("%dx%d: %d rows", w, h, len(rows))
	}
	for i, r := range rows {
		if got := ansi.StringWidth(r); got > w {
			t.Errorf("%dx%d: row %d is %d wide: %q", w, h, i, got, ansi.Strip(r))
		}
	}
}

func TestViewRooms(t *testing.T) {
	t.Parallel()
	for _, size := range []struct{ w, h int }{{80, 24}, {110, 32}} {
		t.Run(strconv.Itoa(size.w)+"x"+strconv.Itoa(size.h), func(t *testing.T) {
			t.Parallel()
			const n = 90
			p, tm := startView(t, newFake(snapshots(1, n)...), size.w, size.h)
			p.waitRounds(t, n)
			m := finish(t, tm)
			got := string(frame(m))
			for _, want := range []string{"node n3kx9", "v0.3.0", "up 1h01m", "conns 5,006 (tcp 2, ws 5,004)",
				"rooms 12", "4,000", "35%", "58.4 MiB", "goroutines 5,100", "lobby", "team/general"} {
				if !strings.Contains(got, want) {
					t.Errorf("frame lacks %q:\n%s", want, got)
				}
			}
			assertSize(t, m, size.w, size.h)
			teatest.RequireEqualOutput(t, frame(m))
		})
	}
}

func TestViewClients(t *testing.T) {
	t.Parallel()
	f := newFake(snapshots(1, 30)...)
	f.clients = clientsPage()
	p, tm := startView(t, f, 80, 24)
	p.waitRounds(t, 30)
	tm.Type("2")
	p.waitScreen(t, "a1b2c3d4e5f6g7h8")
	tm.Send(press("down"))
	p.waitScreen(t, "▸ b9c8d7e6f5g4h3i2")
	m := finish(t, tm)
	got := string(frame(m))
	for _, want := range []string{"first 4 of 5,003", "[::1]:61000", "47.1 KiB", "1d02h", "lobby,team…"} {
		if !strings.Contains(got, want) {
			t.Errorf("frame lacks %q:\n%s", want, got)
		}
	}
	teatest.RequireEqualOutput(t, frame(m))
}

func TestViewUnreachable(t *testing.T) {
	t.Parallel()
	answers := snapshots(1, 40)
	for range 3 {
		answers = append(answers, answer{err: errRefused})
	}
	p, tm := startView(t, newFake(answers...), 80, 24)
	p.waitRounds(t, len(answers))
	m := finish(t, tm)
	got := string(frame(m))
	for _, want := range []string{"server unreachable: no rtsync server at http://127.0.0.1:7000 (is it running?)",
		"retrying every 1s", "data from 3s ago", "lobby"} {
		if !strings.Contains(strings.ReplaceAll(got, "\n", " "), want) {
			t.Errorf("frame lacks %q:\n%s", want, got)
		}
	}
	if !m.stale() {
		t.Error("the data is not marked stale")
	}
	teatest.RequireEqualOutput(t, frame(m))
}

// TestViewNeverReached: no data at all yet, only the error.
func TestViewNeverReached(t *testing.T) {
	t.Parallel()
	p, tm := startView(t, newFake(answer{err: errRefused}), 80, 24)
	p.waitRounds(t, 1)
	m := finish(t, tm)
	got := string(frame(m))
	if !strings.Contains(got, "server unreachable") || !strings.Contains(got, "waiting for the first snapshot") {
		t.Errorf("frame:\n%s", got)
	}
	assertSize(t, m, 80, 24)
}

func TestViewCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("slow; runs without -short")
	}
	t.Parallel()
	var answers []answer
	for i := 1; i <= 60; i++ {
		answers = append(answers, answer{stats: clusterAt(i)})
	}
	f := newFake(answers...)
	p, tm := startView(t, f, 80, 24)
	p.waitRounds(t, len(answers))
	m := finish(t, tm)
	got := string(frame(m))
	for _, want := range []string{"2 nodes", "n3kx9", "n7q2m", "total", "NODE"} {
		if !strings.Contains(got, want) {
			t.Errorf("frame lacks %q:\n%s", want, got)
		}
	}
	// Node rows come sorted by name whatever order the server lists them.
	if strings.Index(got, "n3kx9") > strings.Index(got, "n7q2m") {
		t.Errorf("nodes out of order:\n%s", got)
	}
	teatest.RequireEqualOutput(t, frame(m))
}

func TestViewHelp(t *testing.T) {
	t.Parallel()
	p, tm := startView(t, newFake(snapshots(1, 5)...), 80, 24)
	p.waitRounds(t, 5)
	tm.Type("?")
	p.waitScreen(t, "reverse the sort")
	teatest.RequireEqualOutput(t, frame(finish(t, tm)))
}

// TestResize: at any size every frame is exactly the terminal's height
// and no line is wider than it.
func TestResize(t *testing.T) {
	t.Parallel()
	for _, scene := range []struct {
		name string
		feed func(m *model)
	}{
		{"empty", func(*model) {}},
		{"single", func(m *model) {
			for i := 1; i <= 20; i++ {
				m.Update(statsMsg{stats: snapshotAt(i), at: base.Add(time.Duration(i) * time.Second)})
			}
			m.Update(clientsMsg{seq: 1, page: clientsPage()})
		}},
		{"cluster stale", func(m *model) {
			for i := 1; i <= 20; i++ {
				m.Update(statsMsg{stats: clusterAt(i), at: base.Add(time.Duration(i) * time.Second)})
			}
			m.Update(statsMsg{err: errRefused})
		}},
	} {
		t.Run(scene.name, func(t *testing.T) {
			t.Parallel()
			for _, v := range []view{viewRooms, viewClients} {
				m := testModel(t.Context(), newFake())
				scene.feed(m)
				m.view = v
				for _, size := range []struct{ w, h int }{
					{80, 24}, {110, 32}, {120, 40}, {60, 20}, {40, 12}, {30, 8}, {12, 4}, {1, 1}, {200, 60}, {80, 24},
				} {
					m.Update(tea.WindowSizeMsg{Width: size.w, Height: size.h})
					assertSize(t, m, size.w, size.h)
				}
			}
		})
	}
}
