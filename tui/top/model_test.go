package top

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/tuitest"
)

// feed applies snapshots as successive rounds, a second apart.
func feed(m *model, stats ...client.ServerStats) {
	for _, s := range stats {
		at := m.lastOK.Add(time.Second)
		if m.lastOK.IsZero() {
			at = base
		}
		m.Update(statsMsg{stats: s, started: at, at: at})
	}
}

// keys presses each key in turn and returns the last command.
func keys(m *model, ks ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range ks {
		_, cmd = m.Update(press(k))
	}
	return cmd
}

// keysOf lists the rows' keys, as shown.
func keysOf(rows []row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.key
	}
	return out
}

func TestUpdateSort(t *testing.T) {
	t.Parallel()
	m := plainModel(t, newFake())
	feed(m, snapshotAt(1), snapshotAt(2))

	// The rooms start busiest first, as the server ranks them.
	if got := keysOf(m.rows(viewRooms)); !slices.Equal(got, []string{"lobby", "ops", "team/general", "alerts"}) {
		t.Fatalf("default order = %v", got)
	}
	tests := []struct {
		name string
		keys []string
		want []string
	}{
		{"reverse", []string{"S"}, []string{"alerts", "team/general", "ops", "lobby"}},
		{"reverse back with r", []string{"r"}, []string{"lobby", "ops", "team/general", "alerts"}},
		// s moves to HISTORY (descending), then SEQ, then ROOM (by name).
		{"next column", []string{"s"}, []string{"lobby", "ops", "team/general", "alerts"}},
		{"to the name", []string{"s", "s"}, []string{"alerts", "lobby", "ops", "team/general"}},
		{"name reversed", []string{"S"}, []string{"team/general", "ops", "lobby", "alerts"}},
		{"to members with < and >", []string{"<", ">", ">"}, []string{"lobby", "ops", "team/general", "alerts"}},
	}
	for _, tt := range tests {
		keys(m, tt.keys...)
		if got := keysOf(m.rows(viewRooms)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: order = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := m.tables[viewRooms].sort; got != (sortState{col: roomColMembers, desc: true}) {
		t.Errorf("sort = %+v, want members descending", got)
	}
	header := strings.Split(ansi.Strip(m.render()), "\n")
	if !slices.ContainsFunc(header, func(l string) bool { return strings.Contains(l, "↓MEMBERS") }) {
		t.Errorf("the sorted column is not marked:\n%s", strings.Join(header, "\n"))
	}

	// The selection follows its row through a re-sort.
	keys(m, "down")
	sel := m.rows(viewRooms)[m.tables[viewRooms].selection(m.rows(viewRooms))].key
	keys(m, "S")
	rows := m.rows(viewRooms)
	if got := rows[m.tables[viewRooms].selection(rows)].key; got != sel || sel != "ops" {
		t.Errorf("selection %q after a re-sort, want %q (ops)", got, sel)
	}
}

func TestUpdateFilter(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.clients = clientsPage()
	m := plainModel(t, f)
	feed(m, snapshotAt(1))

	keys(m, "/", "o")
	if !m.editing || m.filters[viewRooms] != "o" {
		t.Fatalf("editing=%v filter=%q after / o", m.editing, m.filters[viewRooms])
	}
	// Typed keys go to the filter, not to their bindings (s sorts, q quits).
	if cmd := keys(m, "p", "s"); tuitest.IsQuit(cmd) {
		t.Fatal("a key typed into the filter quit")
	}
	if got := keysOf(m.rows(viewRooms)); !slices.Equal(got, []string{"ops"}) {
		t.Errorf("filter %q: rows %v, want [ops]", m.filters[viewRooms], got)
	}
	keys(m, "backspace", "backspace")
	if got := keysOf(m.rows(viewRooms)); m.filters[viewRooms] != "o" || !slices.Equal(got, []string{"lobby", "ops"}) {
		t.Errorf("filter %q: rows %v, want lobby and ops", m.filters[viewRooms], got)
	}
	if !strings.Contains(ansi.Strip(m.render()), "/o▏ 2 match") {
		t.Errorf("the filter being typed is not shown:\n%s", ansi.Strip(m.render()))
	}
	keys(m, "enter")
	if m.editing || m.filters[viewRooms] != "o" {
		t.Errorf("enter: editing=%v filter=%q, want the filter kept", m.editing, m.filters[viewRooms])
	}
	// Case does not matter, and any visible column counts.
	keys(m, "/", "backspace", "T", "E", "A", "M")
	if got := keysOf(m.rows(viewRooms)); !slices.Equal(got, []string{"team/general"}) {
		t.Errorf("filter %q: rows %v", m.filters[viewRooms], got)
	}
	keys(m, "esc")
	if m.editing || m.filters[viewRooms] != "" || len(m.rows(viewRooms)) != 4 {
		t.Errorf("esc: editing=%v filter=%q rows=%d", m.editing, m.filters[viewRooms], len(m.rows(viewRooms)))
	}

	// Each view has its own filter; numbers and addresses match too.
	keys(m, "2")
	m.Update(clientsMsg{seq: m.clientsSeq, page: clientsPage()})
	keys(m, "/", "1", "0", ".", "enter")
	if got := keysOf(m.rows(viewClients)); !slices.Equal(got, []string{"b9c8d7e6f5g4h3i2"}) {
		t.Errorf("clients filter 10.: rows %v", got)
	}
	keys(m, "1")
	if len(m.rows(viewRooms)) != 4 {
		t.Error("the clients' filter applied to the rooms")
	}
	keys(m, "/", "z", "z", "z")
	if got := ansi.Strip(m.render()); !strings.Contains(got, `nothing matches "zzz"`) {
		t.Errorf("empty result not explained:\n%s", got)
	}
	// esc out of typing drops the filter; esc again (not typing) too.
	keys(m, "enter", "esc")
	if m.filters[viewRooms] != "" {
		t.Errorf("esc did not clear the filter %q", m.filters[viewRooms])
	}
}

func TestUpdateKick(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.clients = clientsPage()
	m := plainModel(t, f)
	feed(m, snapshotAt(1))

	// In the rooms view k only says where kicking is.
	if cmd := keys(m, "k"); cmd != nil || m.confirm != nil || !strings.Contains(m.notice, "clients view") {
		t.Fatalf("k in the rooms view: confirm=%v notice=%q", m.confirm, m.notice)
	}

	cmd := keys(m, "tab")
	msg := tuitest.RunCmd(t, cmd, waitTimeout) // the clients, asked for when the view opens
	m.Update(msg)
	if m.view != viewClients || len(m.rows(viewClients)) != 4 {
		t.Fatalf("view %d with %d clients", m.view, len(m.rows(viewClients)))
	}

	// Cancel: nothing is kicked.
	keys(m, "down", "k")
	if m.confirm == nil || m.confirm.Client != "b9c8d7e6f5g4h3i2" {
		t.Fatalf("confirm = %+v, want bob's client", m.confirm)
	}
	if got := ansi.Strip(m.render()); !strings.Contains(got, "kick b9c8d7e6f5g4h3i2 (Bob, bob, 10.0.0.7:40112)? y/n") {
		t.Errorf("no confirmation prompt:\n%s", got)
	}
	// Other keys wait for the answer instead of acting.
	if cmd := keys(m, "q", "down", "s"); cmd != nil || m.confirm == nil {
		t.Fatalf("keys while confirming: cmd %v, confirm %v", cmd, m.confirm)
	}
	if cmd := keys(m, "n"); cmd != nil || m.confirm != nil || m.notice != "kick cancelled" {
		t.Fatalf("n: cmd=%v confirm=%v notice=%q", cmd, m.confirm, m.notice)
	}
	keys(m, "k", "esc")
	if m.confirm != nil || len(f.kicked()) != 0 {
		t.Fatalf("esc: confirm=%v kicks=%v", m.confirm, f.kicked())
	}

	// A refresh that reorders the clients does not move the selection
	// onto someone else.
	page := clientsPage()
	slices.Reverse(page.Clients)
	page.Clients = append(page.Clients, client.ClientInfo{Client: "00000000first"})
	m.Update(clientsMsg{seq: m.clientsSeq + 1, page: page})
	m.clientsSeq++

	// Confirm: the selected client is kicked, with a reason.
	cmd = keys(m, "k", "y")
	if m.confirm != nil || !strings.HasPrefix(m.notice, "kicking b9c8d7e6f5g4h3i2") {
		t.Fatalf("y: confirm=%v notice=%q", m.confirm, m.notice)
	}
	kick := tuitest.RunCmd(t, cmd, waitTimeout)
	if got := f.kicked(); !slices.Equal(got, []string{"b9c8d7e6f5g4h3i2"}) {
		t.Fatalf("kicked %v, want bob's client", got)
	}
	_, cmd = m.Update(kick)
	if m.notice != "kicked b9c8d7e6f5g4h3i2 (Bob, bob, 10.0.0.7:40112)" || m.noticeBad {
		t.Errorf("notice = %q (bad %v)", m.notice, m.noticeBad)
	}
	if _, ok := tuitest.RunCmd(t, cmd, waitTimeout).(clientsMsg); !ok {
		t.Error("the clients were not asked for again after the kick")
	}

	// A client that has gone, and a server that refuses.
	f.kickErr = &client.APIError{Method: "POST", Path: "/api/v1/clients/x/kick", Status: http.StatusNotFound, Code: "not_found"}
	m.Update(tuitest.RunCmd(t, keys(m, "k", "y"), waitTimeout))
	if !m.noticeBad || !strings.Contains(m.notice, "had already gone") {
		t.Errorf("notice = %q", m.notice)
	}
	f.kickErr = errors.New("boom")
	m.Update(tuitest.RunCmd(t, keys(m, "k", "y"), waitTimeout))
	if !m.noticeBad || !strings.HasSuffix(m.notice, ": boom") {
		t.Errorf("notice = %q", m.notice)
	}
	// The next key clears the message.
	keys(m, "down")
	if m.notice != "" {
		t.Errorf("notice %q stayed", m.notice)
	}
}

func TestUpdateQuitAndHelp(t *testing.T) {
	t.Parallel()
	m := plainModel(t, newFake())
	if !tuitest.IsQuit(keys(m, "q")) {
		t.Error("q does not quit")
	}
	keys(m, "?")
	if !m.showHelp {
		t.Fatal("? does not show the help")
	}
	keys(m, "s")
	if !m.showHelp || m.tables[viewRooms].sort.col != roomColRate {
		t.Error("a key acted behind the help")
	}
	keys(m, "esc")
	if m.showHelp {
		t.Error("esc does not close the help")
	}
	if !tuitest.IsQuit(keys(m, "ctrl+c")) {
		t.Error("ctrl+c does not quit")
	}
	keys(m, "/")
	if !tuitest.IsQuit(keys(m, "ctrl+c")) {
		t.Error("ctrl+c does not quit while typing a filter")
	}
}

func TestPollCommand(t *testing.T) {
	t.Parallel()
	f := newFake(snapshots(1, 2)...)
	f.clients = clientsPage()
	m := testModel(t.Context(), f)
	t.Cleanup(f.release)
	msg, ok := tuitest.RunCmd(t, m.Init(), waitTimeout).(statsMsg)
	if !ok || msg.err != nil || msg.clients != nil || msg.stats.Node != "n3kx9" {
		t.Fatalf("first round = %+v", msg)
	}
	if f.rooms[0] != DefaultRooms {
		t.Errorf("asked for %d rooms, want %d", f.rooms[0], DefaultRooms)
	}
	m.view = viewClients
	_, cmd := m.Update(msg)
	next := tuitest.RunCmd(t, cmd, waitTimeout).(statsMsg)
	if next.clients == nil || len(next.clients.page.Clients) != 4 || f.queries[0].Limit != DefaultClients {
		t.Fatalf("a round in the clients view = %+v, queries %+v", next.clients, f.queries)
	}
	// A stale clients answer (an older request) is dropped.
	m.Update(next)
	m.Update(clientsMsg{seq: next.clients.seq - 1, page: client.ClientsPage{}})
	if len(m.clients.Clients) != 4 {
		t.Error("an older clients answer replaced a newer one")
	}
}

// TestRates checks the rates from counter deltas: by the server's clock,
// no rate across a restart, none from nonsense.
func TestRates(t *testing.T) {
	t.Parallel()
	at := func(s float64) time.Time { return base.Add(time.Duration(s * float64(time.Second))) }
	tests := []struct {
		name      string
		prev, cur sample
		want      rates
		restarted bool
	}{
		{"steady", sample{node: "a", server: at(0), uptime: 10, messagesIn: 100, deliveries: 1000, cpu: 1},
			sample{node: "a", server: at(2), uptime: 12, messagesIn: 300, deliveries: 5000, dropped: 2, cpu: 2},
			rates{100, 2000, 1, 50}, false},
		{"server clock beats local", sample{node: "a", server: at(0), local: at(0), messagesIn: 0},
			sample{node: "a", server: at(1), local: at(5), messagesIn: 10},
			rates{10, 0, 0, 0}, false},
		{"uptime without a clock", sample{node: "a", uptime: 100}, sample{node: "a", uptime: 104, deliveries: 40},
			rates{0, 10, 0, 0}, false},
		{"local clock as a last resort", sample{node: "a", local: at(0)}, sample{node: "a", local: at(0.5), messagesIn: 5},
			rates{10, 0, 0, 0}, false},
		{"counter went back", sample{node: "a", server: at(0), messagesIn: 500}, sample{node: "a", server: at(1), messagesIn: 20},
			noRates, true},
		{"uptime went back", sample{node: "a", server: at(0), uptime: 500}, sample{node: "a", server: at(1), uptime: 1},
			noRates, true},
		{"new node name", sample{node: "a", server: at(0)}, sample{node: "b", server: at(1)}, noRates, true},
		{"same snapshot twice", sample{node: "a", server: at(1), messagesIn: 5}, sample{node: "a", server: at(1), messagesIn: 5},
			noRates, false},
		{"clock went back", sample{node: "a", server: at(5)}, sample{node: "a", server: at(1), messagesIn: 5}, noRates, false},
		{"huge", sample{node: "a", server: at(0)}, sample{node: "a", server: at(1e-9), messagesIn: math.MaxFloat64, cpu: 1e300},
			rates{math.NaN(), 0, 0, math.NaN()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, restarted := between(tt.prev, tt.cur)
			same := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
			if restarted != tt.restarted || !same(got.messagesIn, tt.want.messagesIn) || !same(got.deliveries, tt.want.deliveries) ||
				!same(got.dropped, tt.want.dropped) || !same(got.cpuPercent, tt.want.cpuPercent) {
				t.Errorf("between = %+v, %v; want %+v, %v", got, restarted, tt.want, tt.restarted)
			}
		})
	}
}

// TestRestart: a server that restarts (new node id, counters from zero)
// gets a gap in the rate charts and a note, not a negative spike.
func TestRestart(t *testing.T) {
	t.Parallel()
	m := plainModel(t, newFake())
	feed(m, snapshotAt(1), snapshotAt(2))
	fresh := snapshotAt(0)
	fresh.Node, fresh.Nodes[0].Node = "nfresh", "nfresh"
	fresh.MessagesIn, fresh.Deliveries, fresh.CPUSeconds, fresh.UptimeSeconds = 3, 0, 0.1, 1
	fresh.Time = base.Add(3 * time.Second)
	feed(m, fresh)
	if !m.restarted || !math.IsNaN(m.msgsIn.last()) || !math.IsNaN(m.deliveries.last()) {
		t.Fatalf("restarted=%v last rates %v %v", m.restarted, m.msgsIn.last(), m.deliveries.last())
	}
	if got := ansi.Strip(m.render()); !strings.Contains(got, "the server restarted") {
		t.Errorf("the restart is not explained:\n%s", got)
	}
	next := fresh
	next.MessagesIn, next.Time, next.UptimeSeconds = 13, base.Add(4*time.Second), 2
	feed(m, next)
	if m.restarted || m.msgsIn.last() != 10 {
		t.Errorf("after the restart: restarted=%v rate %v, want 10", m.restarted, m.msgsIn.last())
	}
	for _, v := range m.msgsIn {
		if v < 0 {
			t.Errorf("negative rate in the chart: %v", m.msgsIn)
		}
	}
}

// TestOddStats feeds snapshots no sane server sends, in every order: the
// model must draw them, at every size, without a panic, a negative rate,
// an infinite figure, or a line wider than the screen.
func TestOddStats(t *testing.T) {
	if testing.Short() {
		t.Skip("slow; runs without -short")
	}
	t.Parallel()
	odd := []client.ServerStats{
		{},
		{NodeStats: client.NodeStats{Node: "a"}},
		snapshotAt(5),
		snapshotAt(3), // counters went back
		{NodeStats: client.NodeStats{Node: "n3kx9", Connections: -5, Rooms: -1, MessagesIn: -100, CPUSeconds: -3, UptimeSeconds: -1, RSSBytes: -1}},
		{NodeStats: client.NodeStats{Node: "n3kx9", Connections: math.MaxInt64, MessagesIn: math.MaxInt64, Deliveries: math.MaxInt64,
			Dropped: math.MaxInt64, CPUSeconds: math.MaxFloat64, UptimeSeconds: math.MaxFloat64, RSSBytes: math.MaxInt64,
			Goroutines: math.MaxInt64, HistoryBytes: math.MaxInt64, Time: base.Add(time.Hour)}},
		{NodeStats: client.NodeStats{Node: "x", TopRooms: []client.RoomStats{
			{Room: "", Members: -1, MsgRate: math.Inf(1)}, {Room: strings.Repeat("r", 500), MsgRate: math.NaN()},
			{Room: "dup"}, {Room: "dup", Members: math.MaxInt64, MsgRate: -3},
		}}},
		{NodeStats: client.NodeStats{Node: "c"}, Nodes: []client.NodeStats{{}, {Node: "c"}, {Node: "c"}, {Node: strings.Repeat("n", 300), Version: "\x1b[31mred"}}},
		{Nodes: make([]client.NodeStats, 40)},
		clusterAt(3),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 30 {
		m := plainModel(t, newFake())
		m.Update(clientsMsg{seq: 1, page: client.ClientsPage{Total: -3, Clients: []client.ClientInfo{
			{Client: "x", ConnectedAt: base.Add(time.Hour), QueueBytes: -1},
			{Client: "y", ConnectedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), QueueBytes: math.MaxInt64, Rooms: make([]string, 50)},
			{Client: strings.Repeat("z", 300), Remote: "[" + strings.Repeat("f", 100) + "]:1"},
		}}})
		order := rng.Perm(len(odd))
		for i, j := range order {
			if rng.IntN(4) == 0 {
				m.Update(statsMsg{err: errRefused, at: base})
			}
			// Some rounds arrive with a local clock that goes back.
			at := base.Add(time.Duration(rng.IntN(10)-2) * time.Second)
			m.Update(statsMsg{stats: odd[j], started: at, at: at})
			m.view = view(i % int(numViews))
			for _, size := range []struct{ w, h int }{{80, 24}, {30, 10}, {200, 50}} {
				m.Update(tea.WindowSizeMsg{Width: size.w, Height: size.h})
				screen := m.render()
				lines := strings.Split(screen, "\n")
				if len(lines) != size.h {
					t.Fatalf("round %d, snapshot %d, %dx%d: %d lines", round, j, size.w, size.h, len(lines))
				}
				for _, l := range lines {
					if ansi.StringWidth(l) > size.w {
						t.Fatalf("round %d, snapshot %d: line %q wider than %d", round, j, ansi.Strip(l), size.w)
					}
				}
				if strings.Contains(screen, "Inf") || strings.Contains(screen, "NaN") {
					t.Fatalf("round %d, snapshot %d: a nonsense figure on screen:\n%s", round, j, ansi.Strip(screen))
				}
			}
			for _, s := range []series{m.msgsIn, m.deliveries, m.drops} {
				if v := s.last(); v < 0 || math.IsInf(v, 0) {
					t.Fatalf("round %d, snapshot %d: rate %v", round, j, v)
				}
			}
		}
	}
}

// FuzzStats decodes two answers as the API client would and draws them
// one after the other. Seeds are the contract's example and odd shapes.
func FuzzStats(f *testing.F) {
	example, err := json.Marshal(snapshotAt(3))
	if err != nil {
		f.Fatal(err)
	}
	later, _ := json.Marshal(snapshotAt(4))
	cluster, _ := json.Marshal(clusterAt(3))
	f.Add(example, later)
	f.Add(later, example)
	f.Add(cluster, example)
	f.Add([]byte(`{}`), []byte(`{"nodes":[{},{}]}`))
	f.Add([]byte(`{"connections":-1,"messages_in":-9e18,"cpu_seconds":1e308}`), []byte(`{"connections":1e30,"top_rooms":[{"room":"","msg_rate":-1}]}`))
	f.Add([]byte(`{"time":"2026-11-30T04:00:00Z","messages_in":5}`), []byte(`{"time":"2026-11-30T03:00:00Z","messages_in":7}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		m := plainModel(t, newFake())
		for i, raw := range [][]byte{a, b} {
			var st client.ServerStats
			if json.Unmarshal(raw, &st) != nil {
				continue
			}
			m.Update(statsMsg{stats: st, at: base.Add(time.Duration(i) * time.Second)})
			for _, v := range []view{viewRooms, viewClients} {
				m.view = v
				lines := strings.Split(m.render(), "\n")
				if len(lines) != m.height {
					t.Fatalf("%d lines, want %d", len(lines), m.height)
				}
				for _, l := range lines {
					if ansi.StringWidth(l) > m.width {
						t.Fatalf("line %q wider than %d", ansi.Strip(l), m.width)
					}
				}
			}
		}
	})
}

func TestSummary(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		stats client.ServerStats
		want  []string
	}{
		{"single", snapshotAt(30), []string{"rtsync top · http://127.0.0.1:7000 · node n3kx9 · v0.3.0 · up 1h00m",
			"connections   5,002 (tcp 2, ws 5,000)", "rss           58.4 MiB", "lobby", "NODE", "n3kx9"}},
		{"cluster", clusterAt(30), []string{"2 nodes", "n7q2m", "total"}},
		{"redis lost", func() client.ServerStats {
			s := clusterAt(30)
			s.Cluster = &client.ClusterStats{Healthy: false, Error: "redis broker: lost", Nodes: 0}
			return s
		}(), []string{"2 nodes · Redis lost"}},
		{"empty", client.ServerStats{}, []string{"connections   0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			if err := Summary(&b, testURL, tt.stats); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("summary lacks %q:\n%s", w, b.String())
				}
			}
			for i, l := range strings.Split(b.String(), "\n") {
				if strings.TrimRight(l, " ") != l {
					t.Errorf("line %d ends in blanks: %q", i, l)
				}
			}
		})
	}
}
