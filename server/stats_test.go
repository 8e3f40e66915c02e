package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/store"
)

// startTCPAPI runs a server with the TCP transport and returns a caller of
// its API (with key, when not empty), its ws:// URL and its TCP address.
func startTCPAPI(t *testing.T, cfg Config, key string) (*Server, *apiTester, string, string) {
	t.Helper()
	s, wsURL, tcpAddr := startTCPServer(t, cfg)
	base := "http://" + strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws://"), "/ws")
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return s, &apiTester{t: t, base: base, key: key, client: &http.Client{Transport: tr}}, wsURL, tcpAddr
}

// stats reads GET /api/v1/stats with query q ("" for none).
func (a *apiTester) stats(q string) Stats {
	a.t.Helper()
	var st Stats
	a.call("GET", "/api/v1/stats"+q, nil, 200, &st)
	return st
}

// historyBytes is what the stats should say a room's history takes: the
// sender and data of its stored messages, as the history route returns
// them, plus the fixed overhead of each (store.Message.Size).
func historyBytes(t *testing.T, api *apiTester, room string) int64 {
	t.Helper()
	var n int64
	for _, m := range historyEvents(t, api, room) {
		var ev struct {
			From json.RawMessage `json:"from"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(m, &ev); err != nil {
			t.Fatal(err)
		}
		n += int64(len(ev.From) + len(ev.Data) + store.MessageOverhead)
	}
	return n
}

// historyEvents returns a room's stored messages as the history route
// encodes them.
func historyEvents(t *testing.T, api *apiTester, room string) []json.RawMessage {
	t.Helper()
	var h HistoryPage
	api.call("GET", "/api/v1/rooms/"+url.PathEscape(room)+"/history?limit=1000", nil, 200, &h)
	return h.Messages
}

// TestStatsMatchTraffic drives WebSocket and TCP clients through joins,
// publishes, a direct message, an error and a kick, and checks every
// counter of GET /api/v1/stats against what was done. Presence events are
// off (rooms over one member), so every object written is known: a welcome
// per connection, a reply per command, the room messages and the direct.
func TestStatsMatchTraffic(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s, api, wsURL, tcpAddr := startTCPAPI(t, Config{Node: "node-1", Version: "v9.8.7", PresenceMaxMembers: 1}, "")
	a, b, c := dial(t, wsURL), dial(t, wsURL), dial(t, wsURL)
	d, e := dialTCPJSON(t, tcpAddr), dialTCPJSON(t, tcpAddr)
	in := 0
	ws := func(cl *wsClient, cmd map[string]any) protocol.Event { in++; return cl.cmd(cmd) }
	tcp := func(cl *tcpClient, cmd map[string]any) protocol.Event { in++; return cl.cmd(cmd) }

	mustOK(t, ws(a, map[string]any{"op": "hello", "uid": "ann"}))
	mustOK(t, ws(b, map[string]any{"op": "hello", "uid": "bob"}))
	for _, cl := range []*wsClient{a, b, c} {
		mustOK(t, ws(cl, map[string]any{"op": "join", "room": "lobby"}))
	}
	for _, cl := range []*tcpClient{d, e} {
		mustOK(t, tcp(cl, map[string]any{"op": "join", "room": "lobby"}))
	}
	mustOK(t, ws(a, map[string]any{"op": "join", "room": "ops"}))
	mustOK(t, ws(b, map[string]any{"op": "join", "room": "ops"}))
	const lobbyPubs, opsPubs = 4, 2
	for i := range lobbyPubs {
		mustOK(t, ws(a, map[string]any{"op": "pub", "room": "lobby", "data": i}))
	}
	for i := range opsPubs {
		mustOK(t, ws(b, map[string]any{"op": "pub", "room": "ops", "data": i, "noecho": true}))
	}
	mustOK(t, ws(c, map[string]any{"op": "send", "to_uid": "ann", "data": "psst"}))
	mustErr(t, tcp(e, map[string]any{"op": "pub", "room": "ops", "data": 1}), protocol.CodeNotJoined)

	const conns = 5
	deliveries := lobbyPubs*5 + opsPubs*1 // the publisher of ops said noecho
	wantOut := uint64(conns + in + deliveries + 1)
	// bytes_out is added by the writers in bulk, within a second.
	waitFor(t, func() bool { st := s.Stats(); return st.MessagesOut >= wantOut && st.BytesOut >= 2*wantOut })
	st := api.stats("")
	check := func(name string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("node", st.Node, "node-1")
	check("version", st.Version, "v9.8.7")
	check("connections", st.Connections, conns)
	check("connections_by_transport", st.ConnectionsByTransport, map[string]int64{"ws": 3, "tcp": 2})
	check("rooms", st.Rooms, 2)
	check("uids", st.UIDs, 2)
	check("accepted", st.Accepted, conns)
	check("rejected", st.Rejected, 0)
	check("messages_in", st.MessagesIn, in)
	check("published", st.Published, lobbyPubs+opsPubs)
	check("deliveries", st.Deliveries, deliveries)
	check("directs", st.Directs, 1)
	check("messages_out", st.MessagesOut, wantOut)
	check("errors", st.Errors, map[string]uint64{protocol.CodeNotJoined: 1})
	check("slow_consumers", st.SlowConsumers, 0)
	check("heartbeat_timeouts", st.HeartbeatTimeouts, 0)
	check("dropped", st.Dropped, 0)
	check("history_messages", st.HistoryMessages, lobbyPubs+opsPubs)
	check("history_bytes", st.HistoryBytes, historyBytes(t, api, "lobby")+historyBytes(t, api, "ops"))
	// The first API's names for three of them are still answered.
	check("commands", st.Commands, st.MessagesIn)
	check("frames", st.Frames, st.FramesOut)
	check("objects", st.Objects, st.MessagesOut)
	if st.FramesOut == 0 || st.FramesOut > st.MessagesOut || st.BytesOut < 2*st.MessagesOut {
		t.Errorf("frames_out %d, bytes_out %d for %d messages out", st.FramesOut, st.BytesOut, st.MessagesOut)
	}
	if st.Started.Before(start.Add(-time.Second)) || st.Time.Before(st.Started) || st.Time.After(time.Now().Add(time.Second)) ||
		st.UptimeSeconds <= 0 || st.UptimeSeconds > time.Since(start).Seconds()+1 {
		t.Errorf("started %v, time %v, uptime %v", st.Started, st.Time, st.UptimeSeconds)
	}
	if st.Goroutines < conns || st.RSSBytes < 1<<20 || st.CPUSeconds <= 0 {
		t.Errorf("goroutines %d, rss_bytes %d, cpu_seconds %v", st.Goroutines, st.RSSBytes, st.CPUSeconds)
	}
	wantRooms := []RoomStats{
		{Room: "lobby", Members: 5, Published: lobbyPubs, History: lobbyPubs, Seq: lobbyPubs},
		{Room: "ops", Members: 2, Published: opsPubs, History: opsPubs, Seq: opsPubs},
	}
	// lobby comes first whenever the rates were sampled: 4 messages
	// against 2, or, before any sample, two rates of 0 and more members.
	if len(st.TopRooms) != 2 {
		t.Fatalf("top_rooms = %+v", st.TopRooms)
	}
	for i, r := range st.TopRooms {
		r.MsgRate = 0
		check("top_rooms", r, wantRooms[i])
	}
	if len(st.Nodes) != 1 {
		t.Fatalf("nodes = %+v", st.Nodes)
	}
	top, _ := json.Marshal(st.NodeStats)
	node, _ := json.Marshal(st.Nodes[0])
	check("nodes[0]", string(node), string(top))

	// The rate: every message the room ever had is in the sampled
	// window, so it is 4 messages over a whole number of seconds.
	waitFor(t, func() bool { st = s.Stats(); return st.TopRooms[0].MsgRate > 0 })
	if r := st.TopRooms[0]; r.Room != "lobby" || math.Abs(lobbyPubs/r.MsgRate-math.Round(lobbyPubs/r.MsgRate)) > 1e-9 || lobbyPubs/r.MsgRate > rateWindow {
		t.Errorf("lobby = %+v, want msg_rate 4 over 1 to 10 s", r)
	}

	// A kick closes one connection and changes nothing else.
	api.call("POST", "/api/v1/clients/"+c.welcome.Client+"/kick", nil, 200, nil)
	if code, _ := closeWith(t, c); code != protocol.CloseKicked {
		t.Fatalf("kicked client closed with %d", code)
	}
	st = api.stats("?rooms=1")
	check("connections after kick", st.Connections, conns-1)
	check("connections_by_transport after kick", st.ConnectionsByTransport, map[string]int64{"ws": 2, "tcp": 2})
	check("accepted after kick", st.Accepted, conns)
	check("dropped after kick", st.Dropped, 0)
	check("slow_consumers after kick", st.SlowConsumers, 0)
	if len(st.TopRooms) != 1 || st.TopRooms[0].Room != "lobby" || st.TopRooms[0].Members != 4 {
		t.Errorf("top_rooms after kick = %+v", st.TopRooms)
	}
}

// TestStatsSlowConsumer fills a client that never reads until the server
// drops it, and checks that the stats say so and only that.
func TestStatsSlowConsumer(t *testing.T) {
	t.Parallel()
	s, api, wsURL := startAPI(t, Config{SendQueueBytes: 64 << 10, WriteTimeout: 5 * time.Minute, WriteCoalesce: -1}, "")
	slow, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.WriteMessage(websocket.TextMessage, []byte(`{"op":"join","room":"big"}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { info, _ := s.Room("big"); return info.Clients == 1 })
	data := json.RawMessage(`"` + strings.Repeat("x", 4000) + `"`)
	for i := 0; s.Stats().SlowConsumers == 0; i++ {
		if i == 400 {
			t.Fatal("80 MB published and the client that never reads is still there")
		}
		for range 50 {
			if _, _, err := s.Publish("big", data, PublishOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitEmpty(t, s)
	st := api.stats("")
	if st.SlowConsumers != 1 || st.Dropped != 1 || st.HeartbeatTimeouts != 0 || st.Accepted != 1 ||
		st.ConnectionsByTransport["ws"] != 0 || len(st.Errors) != 0 {
		t.Fatalf("stats = %+v", st.NodeStats)
	}
}

// TestStatsTopRooms checks ?rooms and the order of the busiest rooms.
func TestStatsTopRooms(t *testing.T) {
	t.Parallel()
	s, api, wsURL := startAPI(t, Config{}, "")
	// Idle rooms of 3, 2 and 1 members, and a busy one with 1.
	var clients []*wsClient
	for range 3 {
		clients = append(clients, dial(t, wsURL))
	}
	for i, room := range []string{"three", "two", "one"} {
		for _, c := range clients[:3-i] {
			mustOK(t, c.cmd(map[string]any{"op": "join", "room": room}))
		}
	}
	busy := dial(t, wsURL)
	mustOK(t, busy.cmd(map[string]any{"op": "join", "room": "busy"}))
	for i := range 5 {
		if _, _, err := s.Publish("busy", json.RawMessage(fmt.Sprint(i)), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(st Stats) []string {
		var out []string
		for _, r := range st.TopRooms {
			out = append(out, r.Room)
		}
		return out
	}
	waitFor(t, func() bool { return s.Stats().TopRooms[0].MsgRate > 0 })
	for _, tt := range []struct {
		q    string
		want []string
	}{
		{"", []string{"busy", "three", "two", "one"}},
		{"?rooms=2", []string{"busy", "three"}},
		{"?rooms=100", []string{"busy", "three", "two", "one"}},
	} {
		if got := names(api.stats(tt.q)); !slices.Equal(got, tt.want) {
			t.Errorf("stats%s: top rooms %v, want %v", tt.q, got, tt.want)
		}
	}
	if st := api.stats("?rooms=0"); st.TopRooms == nil || len(st.TopRooms) != 0 || st.Rooms != 4 {
		t.Errorf("?rooms=0: top_rooms %v, rooms %d", st.TopRooms, st.Rooms)
	}
	for _, q := range []string{"?rooms=101", "?rooms=-1", "?rooms=x"} {
		api.fail("GET", "/api/v1/stats"+q, nil, 400, protocol.CodeBadRequest)
	}
}

// TestAPIClientsList checks GET /api/v1/clients: each filter, paging with
// next_cursor, and every field of an entry.
func TestAPIClientsList(t *testing.T) {
	if testing.Short() {
		t.Skip("slow; runs without -short")
	}
	t.Parallel()
	// Writes within 2 s of the last one wait for the coalescing tick, so
	// room messages stay queued long enough to be seen in the listing;
	// replies go at once.
	s, api, wsURL, tcpAddr := startTCPAPI(t, Config{PresenceMaxMembers: 1, WriteCoalesce: 2 * time.Second}, "")
	before := time.Now().Add(-time.Second)
	type client struct {
		id, uid, transport string
		rooms              []string
		in, msgs           int
		ws                 *wsClient
	}
	var all []*client
	byID := map[string]*client{}
	add := func(id, transport string) *client {
		c := &client{id: id, transport: transport, rooms: []string{}}
		all = append(all, c)
		byID[id] = c
		return c
	}
	for i := range 5 {
		ws := dial(t, wsURL)
		c := add(ws.welcome.Client, "ws")
		c.ws = ws
		if i < 2 {
			mustOK(t, ws.cmd(map[string]any{"op": "hello", "uid": "ann"}))
			c.uid, c.in = "ann", c.in+1
		}
		for _, room := range []string{"lobby", "ops"}[:1+i%2] {
			mustOK(t, ws.cmd(map[string]any{"op": "join", "room": room}))
			c.rooms, c.in = append(c.rooms, room), c.in+1
		}
	}
	for range 2 {
		tc := dialTCPJSON(t, tcpAddr)
		c := add(tc.welcome.Client, "tcp")
		mustOK(t, tc.cmd(map[string]any{"op": "join", "room": "lobby"}))
		c.rooms, c.in = append(c.rooms, "lobby"), c.in+1
	}
	slices.SortFunc(all, func(a, b *client) int { return strings.Compare(a.id, b.id) })
	ids := func(cs []*client) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.id)
		}
		return out
	}
	where := func(keep func(*client) bool) []string {
		var out []*client
		for _, c := range all {
			if keep(c) {
				out = append(out, c)
			}
		}
		return ids(out)
	}

	// list follows next_cursor through the pages of a listing.
	list := func(t *testing.T, q string, limit int) []ClientSummary {
		api := api.on(t)
		var items []ClientSummary
		cursor := ""
		for range 20 {
			p := fmt.Sprintf("/api/v1/clients?limit=%d&%s", limit, q)
			if cursor != "" {
				p += "&cursor=" + cursor
			}
			var page struct {
				Clients []ClientSummary
				Total   int
				Next    *string `json:"next_cursor"`
				Old     *string `json:"next"` // what an unreleased build named it
			}
			api.call("GET", p, nil, 200, &page)
			if len(page.Clients) > limit || page.Old != nil {
				t.Fatalf("%s: %d clients, next %v", p, len(page.Clients), page.Old)
			}
			items = append(items, page.Clients...)
			if page.Next == nil {
				if page.Total != len(items) {
					t.Fatalf("%s: total %d, %d listed", p, page.Total, len(items))
				}
				return items
			}
			cursor = *page.Next
		}
		t.Fatal("paging did not end")
		return nil
	}
	for _, tt := range []struct {
		name, q string
		want    []string
	}{
		{"all", "", ids(all)},
		{"room", "room=ops", where(func(c *client) bool { return slices.Contains(c.rooms, "ops") })},
		{"uid", "uid=ann", where(func(c *client) bool { return c.uid == "ann" })},
		{"room and uid", "room=ops&uid=ann", where(func(c *client) bool { return c.uid == "ann" && slices.Contains(c.rooms, "ops") })},
		{"remote prefix", "remote=127.0.0.", ids(all)},
		{"remote elsewhere", "remote=10.", nil},
		{"room nobody is in", "room=nowhere", nil},
		{"uid nobody has", "uid=zed", nil},
	} {
		for _, limit := range []int{2, 3, 1000} {
			t.Run(fmt.Sprintf("%s limit %d", tt.name, limit), func(t *testing.T) {
				if got := clientIDs(list(t, tt.q, limit)); !slices.Equal(got, tt.want) {
					t.Fatalf("clients %v, want %v", got, tt.want)
				}
			})
		}
	}

	// Room messages wait in the queues for the coalescing tick: a ping
	// just before makes each member's last write recent.
	var ops []*client
	for _, c := range all {
		if slices.Contains(c.rooms, "ops") {
			mustOK(t, c.ws.cmd(map[string]any{"op": "ping"}))
			c.in++
			ops = append(ops, c)
		}
	}
	for i := range 3 {
		if _, _, err := s.Publish("ops", json.RawMessage(fmt.Sprint(i)), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var msgBytes int64
	for _, m := range historyEvents(t, api, "ops") {
		msgBytes += int64(len(m))
	}
	for _, cs := range list(t, "room=ops", 1000) {
		if cs.QueueMessages != 3 || cs.QueueBytes != int(msgBytes) {
			t.Errorf("%s: queue %d messages, %d bytes; want 3, %d", cs.Client, cs.QueueMessages, cs.QueueBytes, msgBytes)
		}
	}
	for _, c := range ops {
		for range 3 {
			c.ws.expect(protocol.TypeMsg)
		}
		c.msgs = 3
	}

	// Each entry, once every write is done (the listing's own counts say
	// when): a welcome, a reply per command, the room messages.
	waitFor(t, func() bool {
		for _, cs := range list(t, "", 1000) {
			if c := byID[cs.Client]; cs.MessagesOut != uint64(1+c.in+c.msgs) {
				return false
			}
		}
		return true
	})
	for _, cs := range list(t, "", 1000) {
		c := byID[cs.Client]
		if cs.UID != c.uid || cs.Name != "" || cs.Transport != c.transport || !strings.HasPrefix(cs.Remote, "127.0.0.1:") ||
			!slices.Equal(cs.Rooms, c.rooms) || cs.MessagesIn != uint64(c.in) || cs.MessagesOut != uint64(1+c.in+c.msgs) ||
			cs.QueueBytes != 0 || cs.QueueMessages != 0 ||
			cs.ConnectedAt.Before(before) || cs.ConnectedAt.After(time.Now()) {
			t.Errorf("entry %+v, want %+v", cs, *c)
		}
	}

	var count map[string]json.RawMessage
	api.call("GET", "/api/v1/clients?limit=0&uid=ann", nil, 200, &count)
	if string(count["total"]) != "2" || string(count["clients"]) != "[]" || count["next_cursor"] != nil {
		t.Fatalf("count only = %v", count)
	}
	api.fail("GET", "/api/v1/clients?room="+url.QueryEscape("$bad"), nil, 400, protocol.CodeBadRoom)
	api.fail("GET", "/api/v1/clients?limit=1001", nil, 400, protocol.CodeBadRequest)
	api.fail("GET", "/api/v1/clients?cursor=***", nil, 400, protocol.CodeBadRequest)
}

func clientIDs(cs []ClientSummary) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Client)
	}
	return out
}

// scrape reads GET /metrics and parses it with Prometheus's own parser.
func (a *apiTester) scrape() map[string]*dto.MetricFamily {
	a.t.Helper()
	status, h, body := a.raw("GET", "/metrics", "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		a.t.Fatalf("GET /metrics = %d (%s) %s", status, h.Get("Content-Type"), body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		a.t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// metric finds the sample of family name with exactly labels (name=value
// pairs), or fails.
func metric(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		ok := true
		for i, l := range m.GetLabel() {
			ok = ok && l.GetName() == labels[2*i] && l.GetValue() == labels[2*i+1]
		}
		if ok {
			return m
		}
	}
	t.Fatalf("no metric %s%v among %v", name, labels, f.GetMetric())
	return nil
}

// value is a counter's, gauge's or untyped sample's value.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := metric(t, fams, name, labels...)
	switch fams[name].GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// TestMetrics scrapes /metrics after known traffic and checks the figures.
func TestMetrics(t *testing.T) {
	t.Parallel()
	s, api, wsURL, tcpAddr := startTCPAPI(t, Config{Node: "prom-node", Version: "v1.2.3", PresenceMaxMembers: 1,
		Page: http.NotFoundHandler()}, "")
	a, b := dial(t, wsURL), dial(t, wsURL)
	d := dialTCPJSON(t, tcpAddr)
	mustOK(t, a.cmd(map[string]any{"op": "join", "room": "r"}))
	mustOK(t, b.cmd(map[string]any{"op": "join", "room": "r"}))
	mustOK(t, d.cmd(map[string]any{"op": "join", "room": "r"}))
	const pubs = 5
	for i := range pubs {
		mustOK(t, a.cmd(map[string]any{"op": "pub", "room": "r", "data": i}))
	}
	mustErr(t, b.cmd(map[string]any{"op": "leave", "room": "elsewhere"}), protocol.CodeNotJoined)
	for range pubs {
		b.expect(protocol.TypeMsg)
		d.expect(protocol.TypeMsg)
	}
	// The counters are added after each write, which the client may see
	// first: wait for the last of them. Three welcomes, a reply per
	// command, the room messages.
	const out = 3 + (3 + pubs + 1) + 3*pubs
	waitFor(t, func() bool { return s.Stats().MessagesOut == out })
	st := s.Stats()
	// The writers add to the histograms and bytes_out within a second
	// (writestats.go).
	var fams map[string]*dto.MetricFamily
	waitFor(t, func() bool {
		fams = api.scrape()
		return metric(t, fams, "rtsync_publish_to_write_seconds").GetHistogram().GetSampleCount() >= 3 &&
			value(t, fams, "rtsync_bytes_out_total") >= 2*out
	})
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"rtsync_build_info", []string{"node", "prom-node", "version", "v1.2.3"}, 1},
		{"rtsync_connections", []string{"transport", "ws"}, 2},
		{"rtsync_connections", []string{"transport", "tcp"}, 1},
		{"rtsync_connections_accepted_total", nil, 3},
		{"rtsync_connections_rejected_total", nil, 0},
		{"rtsync_rooms", nil, 1},
		{"rtsync_uids", nil, 0},
		{"rtsync_messages_in_total", nil, 3 + pubs + 1},
		{"rtsync_published_total", nil, pubs},
		{"rtsync_deliveries_total", nil, 3 * pubs},
		{"rtsync_directs_total", nil, 0},
		{"rtsync_messages_out_total", nil, out},
		{"rtsync_frames_out_total", nil, float64(st.FramesOut)},
		{"rtsync_slow_consumers_total", nil, 0},
		{"rtsync_heartbeat_timeouts_total", nil, 0},
		{"rtsync_errors_total", []string{"code", protocol.CodeNotJoined}, 1},
		{"rtsync_history_messages", nil, pubs},
		{"rtsync_history_bytes", nil, float64(historyBytes(t, api, "r"))},
		{"rtsync_hook_calls_total", []string{"event", "message"}, 0},
		{"rtsync_hook_in_flight", nil, 0},
	} {
		if got := value(t, fams, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	for _, name := range []string{"rtsync_publish_to_write_seconds", "rtsync_send_queue_bytes"} {
		if fams[name].GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("%s is a %v", name, fams[name].GetType())
		}
		// One sample per batch written, a batch holding one frame or more;
		// every member was written a batch with a room message.
		h := metric(t, fams, name).GetHistogram()
		if n := h.GetSampleCount(); n < 3 || n > uint64(st.FramesOut) || h.GetSampleSum() <= 0 {
			t.Errorf("%s: %d samples summing to %v, %d frames written", name, n, h.GetSampleSum(), st.FramesOut)
		}
	}
	// Publish to write on loopback: well under a second.
	if h := metric(t, fams, "rtsync_publish_to_write_seconds").GetHistogram(); h.GetSampleSum()/float64(h.GetSampleCount()) > 1 {
		t.Errorf("mean publish to write %vs", h.GetSampleSum()/float64(h.GetSampleCount()))
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}

// TestMetricsPerServer checks that two servers in one process keep their
// own metrics.
func TestMetricsPerServer(t *testing.T) {
	t.Parallel()
	_, one, oneURL := startAPI(t, Config{Node: "one"}, "")
	s2, two, _ := startAPI(t, Config{Node: "two"}, "")
	dial(t, oneURL)
	dial(t, oneURL)
	if n := value(t, one.scrape(), "rtsync_connections", "transport", "ws"); n != 2 {
		t.Errorf("one: %v connections", n)
	}
	fams := two.scrape()
	if n := value(t, fams, "rtsync_connections", "transport", "ws"); n != 0 {
		t.Errorf("two: %v connections", n)
	}
	metric(t, fams, "rtsync_build_info", "node", "two", "version", s2.Config().Version)
}

// TestStatsAndMetricsNeedKey checks that with API keys configured both
// /api/v1/stats and /metrics refuse callers without one, loopback or not.
func TestStatsAndMetricsNeedKey(t *testing.T) {
	t.Parallel()
	_, api, _ := startAPI(t, Config{APIKeys: []string{"sesame"}}, "")
	for _, path := range []string{"/api/v1/stats", "/metrics"} {
		for _, tt := range []struct {
			key    string
			status int
		}{{"", 401}, {"wrong", 401}, {"sesame", 200}} {
			a := *api
			a.key = tt.key
			status, h, body := a.raw("GET", path, "")
			if status != tt.status {
				t.Errorf("GET %s with key %q = %d %s, want %d", path, tt.key, status, body, tt.status)
			}
			if status == 401 && (!strings.Contains(string(body), `"code":"unauthorized"`) || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer")) {
				t.Errorf("GET %s with key %q: %s, WWW-Authenticate %q", path, tt.key, body, h.Get("WWW-Authenticate"))
			}
		}
	}
}

func TestRateMeter(t *testing.T) {
	t.Parallel()
	var m rateMeter
	rate := func() float64 { return math.Float64frombits(m.bits.Load()) }
	count := uint64(0)
	for i, tt := range []struct {
		add  uint64
		want float64
	}{
		{10, 10},     // 10 in the first second
		{0, 5},       // 10 over 2 s
		{20, 10},     // 30 over 3 s
		{0, 7.5},     // 30 over 4 s
		{0, 6},       // and so on
		{0, 5},       //
		{0, 30. / 7}, //
		{0, 30. / 8}, //
		{0, 30. / 9}, //
		{0, 3},       // 30 over the full window of 10 s
		{0, 2},       // the first second's 10 left the window
		{0, 2},       //
		{0, 0},       // the 20 left too
		{5, .5},      // 5 over 10 s
	} {
		count += tt.add
		m.sample(count)
		if got := rate(); math.Abs(got-tt.want) > 1e-9 {
			t.Fatalf("sample %d: rate %v, want %v", i, got, tt.want)
		}
	}
}

// failingMessages is an event handler whose message event always fails.
type failingMessages struct{}

func (failingMessages) Connect(context.Context, *ConnectEvent) (*ConnectResult, error) {
	return nil, nil
}
func (failingMessages) Message(context.Context, *MessageEvent) (*MessageResult, error) {
	return nil, errors.New("the application is down")
}
func (failingMessages) RPC(context.Context, *RPCEvent) (*RPCResult, error) { return nil, nil }
func (failingMessages) Close(context.Context, *CloseEvent)                 {}

// TestMetricsHooks checks the hook calls and failures by event.
func TestMetricsHooks(t *testing.T) {
	t.Parallel()
	_, api, wsURL := startAPI(t, Config{Events: failingMessages{}, HookFailOpen: true}, "")
	a := dial(t, wsURL)
	mustOK(t, a.cmd(map[string]any{"op": "join", "room": "r"}))
	mustOK(t, a.cmd(map[string]any{"op": "pub", "room": "r", "data": 1}))
	mustOK(t, a.cmd(map[string]any{"op": "pub", "room": "r", "data": 2}))
	fams := api.scrape()
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"rtsync_hook_calls_total", []string{"event", "connect"}, 1},
		{"rtsync_hook_calls_total", []string{"event", "message"}, 2},
		{"rtsync_hook_failures_total", []string{"event", "message", "kind", "error"}, 2},
		{"rtsync_hook_in_flight", nil, 0},
	} {
		if got := value(t, fams, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if n := len(fams["rtsync_hook_failures_total"].GetMetric()); n != 1 {
		t.Errorf("%d failure series, want 1", n)
	}
}

// TestRoomStatsTop checks that picking the busiest rooms as they go by
// gives what sorting them all would.
func TestRoomStatsTop(t *testing.T) {
	t.Parallel()
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var all []RoomStats
	for i := range 60 {
		r := s.hub.room(fmt.Sprintf("room-%02d", i), true)
		for range i % 4 {
			r.members[newConn(s, &discardTransport{})] = struct{}{}
		}
		rate := float64(i%5) / 2
		r.rate.bits.Store(math.Float64bits(rate))
		all = append(all, RoomStats{Room: r.name, Members: i % 4, MsgRate: rate})
	}
	slices.SortFunc(all, busier)
	for _, top := range []int{1, 7, 59, 60, 100} {
		n, got := s.roomStats(top)
		if want := all[:min(top, len(all))]; n != 60 || !slices.Equal(got, want) {
			t.Errorf("top %d: %d rooms, %v; want %v", top, n, got, want)
		}
	}
	if n, got := s.roomStats(0); n != 60 || len(got) != 0 {
		t.Errorf("top 0: %d rooms, %v", n, got)
	}
}
