package top

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/tuitest"
	"github.com/rtsync/rtsync/tui/style"
)

// waitTimeout bounds every wait in these tests, so a hang fails the test
// instead of stalling the suite. It is not a timing assumption: each wait
// ends as soon as its condition holds.
const waitTimeout = 10 * time.Second

// testURL is the server the frames name; no request goes there.
const testURL = "http://127.0.0.1:7000"

// base is the server clock of the first canned snapshot.
var base = time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)

// answer is one canned answer to Stats.
type answer struct {
	stats client.ServerStats
	err   error
}

// fakeAPI answers with canned snapshots, one per Stats call, then holds
// the next call until its context ends, so a test sees exactly the
// snapshots it gave, until release. Its clock moves a second per answer: the model's
// clock is the fake's, so "data from 3s ago" is the same on every run.
type fakeAPI struct {
	mu      sync.Mutex
	answers []answer
	next    int
	clock   time.Time
	clients client.ClientsPage
	kickErr error
	kicks   []string
	queries []client.ClientsQuery
	rooms   []int
	// hold keeps the calls past the answers waiting until the test ends.
	hold     chan struct{}
	holdOnce sync.Once
}

func newFake(answers ...answer) *fakeAPI {
	return &fakeAPI{answers: answers, clock: base, hold: make(chan struct{})}
}

func (f *fakeAPI) release() { f.holdOnce.Do(func() { close(f.hold) }) }

func (f *fakeAPI) Stats(ctx context.Context, rooms int) (client.ServerStats, error) {
	f.mu.Lock()
	f.rooms = append(f.rooms, rooms)
	if f.next < len(f.answers) {
		a := f.answers[f.next]
		f.next++
		f.clock = f.clock.Add(time.Second)
		f.mu.Unlock()
		return a.stats, a.err
	}
	f.mu.Unlock()
	// Not the request's context: its timeout would turn the wait into
	// an error on screen.
	<-f.hold
	return client.ServerStats{}, context.Canceled
}

func (f *fakeAPI) Clients(_ context.Context, q client.ClientsQuery) (client.ClientsPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	return f.clients, nil
}

func (f *fakeAPI) Kick(_ context.Context, id, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kicks = append(f.kicks, id)
	return f.kickErr
}

func (f *fakeAPI) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clock
}

func (f *fakeAPI) kicked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.kicks...)
}

// testModel is a model on f with the real styles, a clock from f and no
// waiting between polls.
func testModel(ctx context.Context, f *fakeAPI) *model {
	opts, err := Options{URL: testURL, API: f, Environ: []string{}}.withDefaults()
	if err != nil {
		panic(err)
	}
	m := newModel(ctx, opts)
	m.now = f.now
	m.sleep = func(ctx context.Context, _ time.Duration) bool { return ctx.Err() == nil }
	return m
}

// plainModel is testModel with colourless styles, for Update tests that
// read the frame.
func plainModel(t *testing.T, f *fakeAPI) *model {
	t.Helper()
	m := testModel(t.Context(), f)
	m.st = newStyles(style.Plain())
	m.help.Styles = style.Plain().Help
	return m
}

// Canned data.

// snapshotAt is a single server i seconds after base, with a rate that
// ramps up and down so the charts have a shape. Counters are the sums
// of the rates so far, so the rates the model computes are exactly these.
func snapshotAt(i int) client.ServerStats {
	in, deliv, drop := cumulative(i)
	n := client.NodeStats{
		Node: "n3kx9", Version: "v0.3.0",
		Started: base.Add(-time.Hour), Time: base.Add(time.Duration(i) * time.Second),
		UptimeSeconds: 3600 + float64(i),
		Connections:   5000 + int64(i%7),
		ConnectionsByTransport: map[string]int64{
			"ws": 4998 + int64(i%7), "tcp": 2,
		},
		Rooms: 12, UIDs: 4000, Accepted: 9000, Rejected: 3,
		MessagesIn: in, Published: in / 2, Deliveries: deliv, Dropped: drop, SlowConsumers: drop,
		Errors:          map[string]int64{"rate_limited": 5, "not_joined": 1},
		HistoryMessages: 12000, HistoryBytes: 3_400_000,
		Goroutines: 5100, RSSBytes: 61_234_567, CPUSeconds: 800 + 0.35*float64(i),
		TopRooms: []client.RoomStats{
			{Room: "lobby", Members: 4980, Published: 900, MsgRate: 20, History: 1000, Seq: 900 + int64(i)},
			{Room: "ops", Members: 12, Published: 340, MsgRate: 2.5, History: 340, Seq: 340},
			{Room: "team/general", Members: 6, Published: 120, MsgRate: 0.5, History: 120, Seq: 120},
			{Room: "alerts", Members: 2, Published: 7, MsgRate: 0, History: 7, Seq: 7},
		},
	}
	nn := n
	nn.TopRooms = nil
	return client.ServerStats{NodeStats: n, Nodes: []client.NodeStats{nn}}
}

// rateAt is messages in per second during second i; deliveries are 250
// times that (rooms of 250), and one drop every 10 s.
func rateAt(i int) int64 {
	x := i % 30
	if x > 15 {
		x = 30 - x
	}
	return 100 + int64(x)*20
}

func cumulative(i int) (in, deliv, drop int64) {
	for j := 1; j <= i; j++ {
		in += rateAt(j)
		deliv += rateAt(j) * 250
		if j%10 == 0 {
			drop++
		}
	}
	return 1_000_000 + in, 50_000_000 + deliv, 40 + drop
}

func snapshots(from, n int) []answer {
	out := make([]answer, n)
	for i := range n {
		out[i] = answer{stats: snapshotAt(from + i)}
	}
	return out
}

// clusterAt is two nodes i seconds after base, the second one busier.
func clusterAt(i int) client.ServerStats {
	a := snapshotAt(i).NodeStats
	a.TopRooms = nil
	b := a
	b.Node, b.UptimeSeconds = "n7q2m", 1800+float64(i)
	b.Connections += 1000
	b.MessagesIn *= 2
	b.Deliveries *= 2
	b.RSSBytes = 80_000_000
	b.CPUSeconds = 400 + 0.7*float64(i)
	tot := snapshotAt(i).NodeStats
	tot.Connections = a.Connections + b.Connections
	tot.ConnectionsByTransport = map[string]int64{"ws": tot.Connections}
	tot.MessagesIn = a.MessagesIn + b.MessagesIn
	tot.Deliveries = a.Deliveries + b.Deliveries
	tot.Dropped = a.Dropped + b.Dropped
	tot.RSSBytes = a.RSSBytes + b.RSSBytes
	tot.CPUSeconds = a.CPUSeconds + b.CPUSeconds
	tot.Goroutines = a.Goroutines + b.Goroutines
	return client.ServerStats{NodeStats: tot, Nodes: []client.NodeStats{b, a}}
}

// clientsPage is the clients the fake lists.
func clientsPage() client.ClientsPage {
	at := func(ago time.Duration) time.Time { return base.Add(-ago) }
	return client.ClientsPage{Total: 5003, Next: "x", Clients: []client.ClientInfo{
		{Client: "a1b2c3d4e5f6g7h8", UID: "ann", Name: "Ann", Remote: "127.0.0.1:53412", Transport: "ws",
			Rooms: []string{"lobby", "ops"}, ConnectedAt: at(2 * time.Hour), MessagesIn: 12, MessagesOut: 340},
		{Client: "b9c8d7e6f5g4h3i2", UID: "bob", Name: "Bob", Remote: "10.0.0.7:40112", Transport: "ws",
			Rooms: []string{"lobby"}, ConnectedAt: at(5 * time.Minute), QueueBytes: 48_213, QueueMessages: 40},
		{Client: "c0d1e2f3g4h5i6j7", UID: "", Name: "", Remote: "127.0.0.1:53999", Transport: "tcp",
			Rooms: []string{"lobby", "team/general", "alerts"}, ConnectedAt: at(42 * time.Second)},
		{Client: "d4e4f4g4h4i4j4k4", UID: "carol", Name: "Carol", Remote: "[::1]:61000", Transport: "ws",
			Rooms: []string{"ops"}, ConnectedAt: at(26 * time.Hour), QueueBytes: 120},
	}}
}

var errRefused = errors.New("no rtsync server at " + testURL + " (is it running?): connection refused")

// probe wraps the model to publish each frame it drew and how many
// rounds it has applied, so a test can wait for a state without sleeps.
type probe struct {
	*model
	scr    *tuitest.Screen
	rounds *atomic.Int64
}

func newProbe(m *model) probe {
	return probe{model: m, scr: tuitest.NewScreen(), rounds: new(atomic.Int64)}
}

func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := p.model.Update(msg)
	if _, ok := msg.(statsMsg); ok {
		p.rounds.Add(1)
	}
	p.scr.Show(ansi.Strip(p.model.render()))
	return p, cmd
}

func (p probe) waitRounds(t *testing.T, n int) {
	t.Helper()
	p.scr.WaitFor(t, fmt.Sprintf("%d rounds", n), func() bool { return p.rounds.Load() >= int64(n) }, waitTimeout)
}

func (p probe) waitScreen(t *testing.T, want string) {
	t.Helper()
	p.scr.WaitText(t, want, waitTimeout)
}

// press is a key press as the terminal would decode it.
func press(s string) tea.KeyPressMsg {
	switch s {
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(s)[0]
	return tea.KeyPressMsg{Code: r, Text: s}
}
