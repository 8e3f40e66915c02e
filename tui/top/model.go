package top

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/internal/termtext"
)

// view is which table the lower half shows.
type view int

const (
	viewRooms view = iota
	viewClients
	numViews
)

// statsMsg is one round of polling: the snapshot or why there is none,
// and the clients page when the clients view asked for it.
type statsMsg struct {
	stats client.ServerStats
	err   error
	// started and at are when the round began and ended, by the local
	// clock.
	started, at time.Time
	clients     *clientsMsg
}

// clientsMsg is a clients page. seq orders the requests, so an answer
// that arrives after a newer one is dropped.
type clientsMsg struct {
	seq  int
	page client.ClientsPage
	err  error
}

// kickMsg is the result of a kick.
type kickMsg struct {
	target client.ClientInfo
	err    error
}

// model is top's bubbletea model. It belongs to the program's goroutine;
// commands capture what they need before they are returned, and never
// touch the model.
type model struct {
	ctx  context.Context
	opts Options
	api  API
	st   styles
	keys keyMap
	help help.Model
	// now and sleep are the clock; tests replace them to get the same
	// frame however fast the machine is.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) bool

	width, height int

	// The latest snapshot, and when it arrived.
	stats  client.ServerStats
	have   bool
	lastOK time.Time
	// prev is the previous sample of each node, and of the totals under
	// totalsKey, for rates.
	prev      map[string]sample
	rates     rates
	nodeRates map[string]rates
	// restarted is set when the last snapshot's counters went back.
	restarted bool
	// The charts.
	conns, msgsIn, deliveries, drops series

	// err is why the last round failed; nil after a good one.
	err error

	clients    client.ClientsPage
	clientsErr error
	clientsHas bool
	clientsSeq int // the last request made
	clientsGot int // the last answer applied

	view     view
	tables   [numViews]tableState
	filters  [numViews]string
	editing  bool
	showHelp bool

	// confirm is the client a kick waits for y or n on.
	confirm *client.ClientInfo
	// notice is the status line's message (a kick's outcome); noticeBad
	// draws it as an error.
	notice    string
	noticeBad bool
}

// totalsKey keys the totals' sample in model.prev: no node is named so.
const totalsKey = "\x00totals"

func newModel(ctx context.Context, opts Options) *model {
	h := help.New()
	h.Styles = opts.Styles.Help
	m := &model{
		ctx:       ctx,
		opts:      opts,
		api:       opts.API,
		st:        newStyles(opts.Styles),
		keys:      defaultKeyMap(),
		help:      h,
		now:       time.Now,
		sleep:     sleepCtx,
		width:     80,
		height:    24,
		prev:      map[string]sample{},
		nodeRates: map[string]rates{},
		rates:     noRates,
	}
	m.tables[viewRooms].sort = sortState{col: roomColRate, desc: true}
	m.tables[viewClients].sort = sortState{col: clientColID}
	return m
}

// sleepCtx waits d, or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Init starts the first round at once.
func (m *model) Init() tea.Cmd { return m.poll(0) }

// poll returns the command for one round of polling after delay: the
// stats, and the clients page when the clients view is up. It is issued
// again each time a round's result arrives (bubbletea's realtime
// pattern), so one round is in flight at a time and a slow server is
// never asked twice at once.
func (m *model) poll(delay time.Duration) tea.Cmd {
	ctx, api, rooms, sleep, now := m.ctx, m.api, m.opts.Rooms, m.sleep, m.now
	var q *client.ClientsQuery
	seq := 0
	if m.view == viewClients {
		m.clientsSeq++
		seq = m.clientsSeq
		cq := m.clientsQuery()
		q = &cq
	}
	return func() tea.Msg {
		if delay > 0 && !sleep(ctx, delay) {
			return nil
		}
		started := now()
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		st, err := api.Stats(rctx, rooms)
		msg := statsMsg{stats: st, err: err, started: started}
		if err == nil && q != nil {
			p, cerr := api.Clients(rctx, *q)
			msg.clients = &clientsMsg{seq: seq, page: p, err: cerr}
		}
		if ctx.Err() != nil {
			return nil // the program is ending
		}
		msg.at = now()
		return msg
	}
}

// fetchClients asks for the clients page now, outside the polling
// rounds: when the clients view opens, and after a kick.
func (m *model) fetchClients() tea.Cmd {
	m.clientsSeq++
	ctx, api, q, seq := m.ctx, m.api, m.clientsQuery(), m.clientsSeq
	return func() tea.Msg {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		p, err := api.Clients(rctx, q)
		if ctx.Err() != nil {
			return nil
		}
		return clientsMsg{seq: seq, page: p, err: err}
	}
}

func (m *model) clientsQuery() client.ClientsQuery {
	return client.ClientsQuery{Limit: DefaultClients}
}

func (m *model) kick(target client.ClientInfo) tea.Cmd {
	ctx, api := m.ctx, m.api
	return func() tea.Msg {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		return kickMsg{target: target, err: api.Kick(rctx, target.Client, kickReason)}
	}
}

// Update applies one message.
func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		if msg.Width > 0 && msg.Height > 0 {
			m.width, m.height = msg.Width, msg.Height
			m.help.SetWidth(msg.Width)
		}
	case tea.KeyPressMsg:
		return m, m.handleKey(msg)
	case tea.PasteMsg:
		if m.editing {
			m.filters[m.view] += cleanFilter(msg.Content)
		}
	case statsMsg:
		if msg.err != nil {
			m.fail(msg.err)
		} else {
			m.observe(msg.stats, msg.at)
		}
		if msg.clients != nil {
			m.applyClients(*msg.clients)
		}
		delay := m.opts.Interval - msg.at.Sub(msg.started)
		return m, m.poll(max(0, delay))
	case clientsMsg:
		m.applyClients(msg)
	case kickMsg:
		m.kicked(msg)
		return m, m.fetchClients()
	}
	return m, nil
}

// observe records a good snapshot taken at local time at.
func (m *model) observe(st client.ServerStats, at time.Time) {
	m.stats, m.have, m.lastOK, m.err = st, true, at, nil

	// In a cluster the top level's node, time and uptime are those of
	// whichever node answered, which a load balancer may vary; only the
	// counters are the cluster's, so only they say whether it restarted.
	tot := sampleOf(st.NodeStats, at)
	if len(st.Nodes) > 1 {
		tot.node, tot.uptime = "", 0
	}
	m.rates, m.restarted = noRates, false
	if prev, ok := m.prev[totalsKey]; ok {
		m.rates, m.restarted = between(prev, tot)
	}
	m.prev[totalsKey] = tot

	seen := map[string]bool{totalsKey: true}
	nodeRates := make(map[string]rates, len(st.Nodes))
	for _, n := range st.Nodes {
		if seen[n.Node] {
			continue // a node listed twice counts once
		}
		seen[n.Node] = true
		s := sampleOf(n, at)
		r := noRates
		if prev, ok := m.prev[n.Node]; ok {
			r, _ = between(prev, s)
		}
		nodeRates[n.Node] = r
		m.prev[n.Node] = s
	}
	for k := range m.prev {
		if !seen[k] {
			delete(m.prev, k) // a node that left
		}
	}
	m.nodeRates = nodeRates

	m.conns = m.conns.push(float64(st.Connections))
	m.msgsIn = m.msgsIn.push(m.rates.messagesIn)
	m.deliveries = m.deliveries.push(m.rates.deliveries)
	m.drops = m.drops.push(m.rates.dropped)
}

// fail records a round that got no snapshot. The last data stays on
// screen, greyed, and the charts get a gap so the outage shows in them.
func (m *model) fail(err error) {
	m.err = err
	if m.have {
		gap := math.NaN()
		m.conns = m.conns.push(gap)
		m.msgsIn = m.msgsIn.push(gap)
		m.deliveries = m.deliveries.push(gap)
		m.drops = m.drops.push(gap)
	}
}

func (m *model) applyClients(msg clientsMsg) {
	if msg.seq <= m.clientsGot {
		return
	}
	m.clientsGot = msg.seq
	if msg.err != nil {
		m.clientsErr = msg.err
		return
	}
	m.clients, m.clientsErr, m.clientsHas = msg.page, nil, true
}

func (m *model) kicked(msg kickMsg) {
	who := clientLabel(msg.target)
	var ae *client.APIError
	switch {
	case msg.err == nil:
		m.notice, m.noticeBad = "kicked "+who, false
	case errors.As(msg.err, &ae) && ae.NotFound():
		m.notice, m.noticeBad = "kick "+who+": it had already gone", true
	default:
		m.notice, m.noticeBad = fmt.Sprintf("kick %s: %s", who, termtext.Line(msg.err.Error())), true
	}
}

// clientLabel names a client for a message: its id, and who it is,
// cleaned for the terminal (the client chose its name and uid).
func clientLabel(c client.ClientInfo) string {
	return termtext.Line(rawClientLabel(c))
}

func rawClientLabel(c client.ClientInfo) string {
	var extra []string
	for _, s := range []string{c.Name, c.UID, c.Remote} {
		if s != "" && !slices.Contains(extra, s) {
			extra = append(extra, s)
		}
	}
	if len(extra) == 0 {
		return c.Client
	}
	return c.Client + " (" + strings.Join(extra, ", ") + ")"
}

// handleKey applies a key press.
func (m *model) handleKey(msg tea.KeyPressMsg) tea.Cmd {
	if msg.Keystroke() == "ctrl+c" {
		return tea.Quit
	}
	if m.confirm != nil {
		switch {
		case matches(msg, m.keys.Confirm):
			target := *m.confirm
			m.confirm = nil
			m.notice, m.noticeBad = "kicking "+clientLabel(target)+"…", false
			return m.kick(target)
		case matches(msg, m.keys.Cancel):
			m.confirm = nil
			m.notice, m.noticeBad = "kick cancelled", false
		}
		return nil
	}
	if m.editing {
		return m.handleFilterKey(msg)
	}
	if m.showHelp {
		switch {
		case matches(msg, m.keys.Quit):
			return tea.Quit
		case matches(msg, m.keys.Help), msg.Keystroke() == "esc":
			m.showHelp = false
		}
		return nil
	}
	m.notice = ""
	k := m.keys
	switch {
	case matches(msg, k.Quit):
		return tea.Quit
	case matches(msg, k.Help):
		m.showHelp = true
	case matches(msg, k.NextView):
		return m.switchView((m.view + 1) % numViews)
	case matches(msg, k.Rooms):
		return m.switchView(viewRooms)
	case matches(msg, k.Clients):
		return m.switchView(viewClients)
	case matches(msg, k.Up):
		m.moveSelection(-1)
	case matches(msg, k.Down):
		m.moveSelection(1)
	case matches(msg, k.PageUp):
		m.moveSelection(-max(1, m.layout().tableRows))
	case matches(msg, k.PageDown):
		m.moveSelection(max(1, m.layout().tableRows))
	case matches(msg, k.Home):
		m.moveSelection(-math.MaxInt32)
	case matches(msg, k.End):
		m.moveSelection(math.MaxInt32)
	case matches(msg, k.Sort):
		m.cycleSort(1)
	case matches(msg, k.SortPrev):
		m.cycleSort(-1)
	case matches(msg, k.Reverse):
		t := &m.tables[m.view]
		t.sort.desc = !t.sort.desc
	case matches(msg, k.Filter):
		m.editing = true
	case matches(msg, k.Clear):
		m.filters[m.view] = ""
	case matches(msg, k.Kick):
		m.askKick()
	}
	return nil
}

// handleFilterKey edits the filter: text is typed, backspace deletes,
// ctrl+u empties it, enter keeps it, esc drops it. The selection keys
// still move, so one can type a few letters and pick a row.
func (m *model) handleFilterKey(msg tea.KeyPressMsg) tea.Cmd {
	f := &m.filters[m.view]
	switch {
	case matches(msg, m.keys.FilterDone):
		m.editing = false
	case msg.Keystroke() == "esc":
		m.editing = false
		*f = ""
	case matches(msg, m.keys.Up):
		m.moveSelection(-1)
	case matches(msg, m.keys.Down):
		m.moveSelection(1)
	case msg.Keystroke() == "backspace" || msg.Keystroke() == "ctrl+h":
		if r := []rune(*f); len(r) > 0 {
			*f = string(r[:len(r)-1])
		}
	case msg.Keystroke() == "ctrl+u" || msg.Keystroke() == "ctrl+w":
		*f = ""
	default:
		if msg.Text != "" && !msg.Mod.Contains(tea.ModCtrl) && !msg.Mod.Contains(tea.ModAlt) {
			*f += cleanFilter(msg.Text)
		}
	}
	return nil
}

// cleanFilter keeps what a filter can hold: one line of printable text.
func cleanFilter(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func (m *model) switchView(v view) tea.Cmd {
	if v == m.view {
		return nil
	}
	m.view = v
	if v == viewClients {
		return m.fetchClients()
	}
	return nil
}

// cycleSort moves the sort to the next (or previous) column, in that
// column's natural direction.
func (m *model) cycleSort(step int) {
	cols := m.columns(m.view)
	t := &m.tables[m.view]
	t.sort.col = ((t.sort.col+step)%len(cols) + len(cols)) % len(cols)
	t.sort.desc = cols[t.sort.col].desc
}

func (m *model) moveSelection(delta int) {
	m.tables[m.view].move(m.rows(m.view), delta)
}

// askKick asks to confirm kicking the selected client.
func (m *model) askKick() {
	if m.view != viewClients {
		m.notice, m.noticeBad = "k kicks a client: switch to the clients view (2) and select one", false
		return
	}
	rows := m.rows(viewClients)
	i := m.tables[viewClients].selection(rows)
	if i < 0 {
		m.notice, m.noticeBad = "no client selected", false
		return
	}
	for _, c := range m.clients.Clients {
		if c.Client == rows[i].key {
			c := c
			m.confirm = &c
			return
		}
	}
}

// The tables' rows.

// Columns of the rooms table.
const (
	roomColName = iota
	roomColMembers
	roomColRate
	roomColHistory
	roomColSeq
)

// Columns of the clients table.
const (
	clientColID = iota
	clientColUID
	clientColName
	clientColAddr
	clientColRooms
	clientColQueue
	clientColAge
)

var (
	roomColumns = []column{
		{title: "ROOM", min: 8, max: 40, shrink: 1},
		{title: "MEMBERS", min: 7, max: 12, right: true, desc: true},
		{title: "MSG/S", min: 7, max: 12, right: true, desc: true},
		{title: "HISTORY", min: 7, max: 12, right: true, desc: true},
		{title: "SEQ", min: 7, max: 14, right: true, desc: true},
	}
	clientColumns = []column{
		{title: "CLIENT", min: 6, max: 16},
		{title: "UID", min: 3, max: 16, shrink: 2},
		{title: "NAME", min: 4, max: 16, shrink: 2},
		{title: "ADDR", min: 9, max: 28, shrink: 1},
		{title: "ROOMS", min: 5, max: 30, shrink: 3},
		{title: "QUEUE", min: 5, max: 10, right: true, desc: true},
		{title: "AGE", min: 6, max: 7, right: true, desc: true},
	}
	nodeColumns = []column{
		{title: "NODE", min: 5, max: 20, shrink: 1},
		{title: "VERSION", min: 7, max: 12, shrink: 2},
		{title: "UP", min: 6, max: 7, right: true},
		{title: "CONNS", min: 6, max: 12, right: true},
		{title: "IN/S", min: 6, max: 10, right: true},
		{title: "DELIV/S", min: 7, max: 12, right: true},
		{title: "DROPS/S", min: 7, max: 10, right: true},
		{title: "CPU", min: 4, max: 6, right: true},
		{title: "RSS", min: 8, max: 10, right: true},
	}
)

func (m *model) columns(v view) []column {
	if v == viewClients {
		return clientColumns
	}
	return roomColumns
}

// rows returns a view's rows, filtered and sorted as the user set.
func (m *model) rows(v view) []row {
	var rows []row
	if v == viewClients {
		rows = m.clientRows()
	} else {
		rows = m.roomRows()
	}
	rows = filterRows(rows, m.filters[v])
	sortRows(rows, m.tables[v].sort)
	return rows
}

func (m *model) roomRows() []row {
	rows := make([]row, 0, len(m.stats.TopRooms))
	for _, r := range m.stats.TopRooms {
		rows = append(rows, row{key: r.Room, cells: []cell{
			textCell(r.Room),
			intCell(r.Members),
			numCell(finite(r.MsgRate), formatRate(r.MsgRate)),
			intCell(r.History),
			intCell(r.Seq),
		}})
	}
	return rows
}

func (m *model) clientRows() []row {
	// Ages count from the server's clock when it sent one, so they do
	// not depend on this machine's clock agreeing with the server's.
	ref := m.stats.Time
	if ref.IsZero() {
		ref = m.lastOK
	}
	rows := make([]row, 0, len(m.clients.Clients))
	for _, c := range m.clients.Clients {
		age := math.NaN()
		ageText := "-"
		if !c.ConnectedAt.IsZero() && !ref.IsZero() {
			d := max(0, ref.Sub(c.ConnectedAt))
			age, ageText = d.Seconds(), formatAge(d)
		}
		queue := numCell(float64(c.QueueBytes), formatBytes(c.QueueBytes))
		if c.QueueBytes == 0 {
			queue.text = "0"
		}
		rows = append(rows, row{key: c.Client, cells: []cell{
			textCell(c.Client),
			textCell(c.UID),
			textCell(c.Name),
			textCell(c.Remote),
			textCell(strings.Join(c.Rooms, ",")),
			queue,
			numCell(age, ageText),
		}})
	}
	return rows
}

// nodeRows is the cluster's nodes, by name, then the totals.
func (m *model) nodeRows() []row {
	rows := make([]row, 0, len(m.stats.Nodes)+1)
	for _, n := range m.stats.Nodes {
		r, ok := m.nodeRates[n.Node]
		if !ok {
			r = noRates
		}
		name := n.Node
		if name == "" {
			name = "?"
		}
		rows = append(rows, m.nodeRow(name, n, r, false))
	}
	sortRows(rows, sortState{col: 0})
	rows = append(rows, m.nodeRow("total", m.stats.NodeStats, m.rates, true))
	return rows
}

func (m *model) nodeRow(name string, n client.NodeStats, r rates, total bool) row {
	version, up := n.Version, textCell(formatAge(seconds(n.UptimeSeconds)))
	if total {
		version, up = "", textCell("")
	}
	return row{key: name, total: total, cells: []cell{
		textCell(name),
		textCell(version),
		up,
		intCell(n.Connections),
		numCell(r.messagesIn, formatRate(r.messagesIn)),
		numCell(r.deliveries, formatRate(r.deliveries)),
		numCell(r.dropped, formatRate(r.dropped)),
		numCell(r.cpuPercent, formatPercent(r.cpuPercent)),
		numCell(float64(n.RSSBytes), formatBytes(n.RSSBytes)),
	}}
}

func intCell(n int64) cell { return numCell(float64(n), human.Int(n)) }
