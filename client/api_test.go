package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server"
)

// statsExample is the example answer of the stats contract
// (notes/stats-api.md), with one node.
const statsExample = `{
  "node": "n3kx9", "version": "v0.3.0",
  "started": "2026-11-30T03:00:00Z", "uptime_seconds": 4123.5, "time": "2026-11-30T04:08:43.123Z",
  "connections": 5003, "connections_by_transport": {"ws": 5001, "tcp": 2},
  "rooms": 12, "uids": 4000, "accepted": 9000, "rejected": 3,
  "messages_in": 123456, "published": 1000, "directs": 20, "deliveries": 5000000,
  "messages_out": 5000100, "frames_out": 900000, "bytes_out": 1400000000,
  "slow_consumers": 2, "heartbeat_timeouts": 1, "dropped": 2,
  "errors": {"rate_limited": 5, "not_joined": 1},
  "history_messages": 12000, "history_bytes": 3400000,
  "goroutines": 5100, "rss_bytes": 61234567, "cpu_seconds": 812.4,
  "hooks": {"calls": {"connect": 0}},
  "future_field": {"nested": [1, 2, 3]},
  "top_rooms": [
    {"room": "lobby", "members": 5000, "published": 900, "msg_rate": 99.8, "history": 1000, "seq": 900},
    {"room": "ops", "members": 3, "published": 100, "msg_rate": 0.5, "history": 100, "seq": 100}
  ],
  "nodes": [{"node": "n3kx9", "version": "v0.3.0", "connections": 5003, "cpu_seconds": 812.4,
             "time": "2026-11-30T04:08:43.123Z"}]
}`

// canned serves body with status for every request, and records the last
// request it saw.
type canned struct {
	status int
	ctype  string
	body   string

	last chan *http.Request
}

func serveCanned(t *testing.T, status int, ctype, body string) (*httptest.Server, *canned) {
	t.Helper()
	c := &canned{status: status, ctype: ctype, body: body, last: make(chan *http.Request, 16)}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		select {
		case c.last <- r:
		default:
		}
		if c.ctype != "" {
			w.Header().Set("Content-Type", c.ctype)
		}
		w.WriteHeader(c.status)
		_, _ = io.WriteString(w, c.body)
	}))
	t.Cleanup(s.Close)
	return s, c
}

func (c *canned) request(t *testing.T) *http.Request {
	t.Helper()
	select {
	case r := <-c.last:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("no request reached the server")
		return nil
	}
}

func newAPI(t *testing.T, url, key string) *client.API {
	t.Helper()
	a, err := client.NewAPI(url, key, nil)
	if err != nil {
		t.Fatalf("NewAPI(%q): %v", url, err)
	}
	return a
}

func TestNewAPIURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		bad            bool
	}{
		{"http", "http://127.0.0.1:7000", "http://127.0.0.1:7000", false},
		{"trailing slash", "http://127.0.0.1:7000/", "http://127.0.0.1:7000", false},
		{"https", "https://rt.example.com", "https://rt.example.com", false},
		{"ws url", "ws://127.0.0.1:7000/ws", "http://127.0.0.1:7000", false},
		{"wss url", "wss://rt.example.com/ws", "https://rt.example.com", false},
		{"bare host:port", "127.0.0.1:7000", "http://127.0.0.1:7000", false},
		{"spaces", "  localhost:7000 ", "http://localhost:7000", false},
		{"api path", "http://h:1/api/v1/", "http://h:1", false},
		{"proxy prefix", "wss://example.com/rtsync/ws", "https://example.com/rtsync", false},
		{"query dropped", "http://h:1/?x=1#y", "http://h:1", false},
		{"empty", "", "", true},
		{"bad scheme", "ftp://h:1", "", true},
		{"no host", "http:///ws", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := client.NewAPI(tt.in, "", nil)
			if tt.bad {
				if err == nil {
					t.Fatalf("NewAPI(%q) = %q, want an error", tt.in, a.URL())
				}
				return
			}
			if err != nil {
				t.Fatalf("NewAPI(%q): %v", tt.in, err)
			}
			if a.URL() != tt.want {
				t.Errorf("NewAPI(%q).URL() = %q, want %q", tt.in, a.URL(), tt.want)
			}
		})
	}
}

func TestAPIStatsDecode(t *testing.T) {
	t.Parallel()
	s, c := serveCanned(t, 200, "application/json", statsExample)
	st, err := newAPI(t, s.URL, "k3y").Stats(testCtx(t), 25)
	if err != nil {
		t.Fatal(err)
	}
	r := c.request(t)
	if r.URL.Path != "/api/v1/stats" || r.URL.Query().Get("rooms") != "25" || r.Method != http.MethodGet {
		t.Errorf("request = %s %s, want GET /api/v1/stats?rooms=25", r.Method, r.URL)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer k3y" {
		t.Errorf("Authorization = %q, want Bearer k3y", got)
	}

	if st.Node != "n3kx9" || st.Version != "v0.3.0" || st.UptimeSeconds != 4123.5 {
		t.Errorf("identity = %q %q %v", st.Node, st.Version, st.UptimeSeconds)
	}
	if want := time.Date(2026, 11, 30, 4, 8, 43, 123e6, time.UTC); !st.Time.Equal(want) {
		t.Errorf("Time = %v, want %v", st.Time, want)
	}
	if want := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC); !st.Started.Equal(want) {
		t.Errorf("Started = %v, want %v", st.Started, want)
	}
	if st.Connections != 5003 || st.ConnectionsByTransport["ws"] != 5001 || st.ConnectionsByTransport["tcp"] != 2 {
		t.Errorf("connections = %d %v", st.Connections, st.ConnectionsByTransport)
	}
	if st.MessagesIn != 123456 || st.Deliveries != 5_000_000 || st.Dropped != 2 || st.BytesOut != 1_400_000_000 {
		t.Errorf("counters = %+v", st.NodeStats)
	}
	if st.Errors["rate_limited"] != 5 || st.RSSBytes != 61234567 || st.CPUSeconds != 812.4 || st.Goroutines != 5100 {
		t.Errorf("process = %+v", st.NodeStats)
	}
	if len(st.TopRooms) != 2 || st.TopRooms[0] != (client.RoomStats{Room: "lobby", Members: 5000, Published: 900, MsgRate: 99.8, History: 1000, Seq: 900}) {
		t.Errorf("TopRooms = %+v", st.TopRooms)
	}
	if len(st.Nodes) != 1 || st.Nodes[0].Node != "n3kx9" || st.Nodes[0].Connections != 5003 || st.Nodes[0].Time.IsZero() {
		t.Errorf("Nodes = %+v", st.Nodes)
	}
	if !strings.Contains(string(st.Raw), `"future_field"`) {
		t.Errorf("Raw lacks the fields Stats does not know: %s", st.Raw)
	}
	if !json.Valid(st.Hooks) {
		t.Errorf("Hooks = %s", st.Hooks)
	}
}

// TestAPIStatsLenient feeds partial and odd answers: top must keep going
// on whatever a server of another version says.
func TestAPIStatsLenient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, st client.ServerStats)
	}{
		{"empty object", `{}`, func(t *testing.T, st client.ServerStats) {
			if st.Connections != 0 || st.Nodes != nil || st.TopRooms != nil || !st.Time.IsZero() {
				t.Errorf("stats = %+v", st)
			}
		}},
		{"wrong types", `{"connections": "many", "rooms": 3, "errors": {"x": "y"}, "top_rooms": 7, "uids": 2}`,
			func(t *testing.T, st client.ServerStats) {
				if st.Connections != 0 || st.Rooms != 3 || st.UIDs != 2 || st.TopRooms != nil {
					t.Errorf("stats = %+v", st)
				}
			}},
		{"bad times", `{"started": "yesterday", "time": 12, "connections": 4}`, func(t *testing.T, st client.ServerStats) {
			if !st.Started.IsZero() || !st.Time.IsZero() || st.Connections != 4 {
				t.Errorf("stats = %+v", st)
			}
		}},
		{"huge and negative", `{"deliveries": 1e30, "published": -5, "cpu_seconds": 1e300, "connections": 9223372036854775807}`,
			func(t *testing.T, st client.ServerStats) {
				if st.Deliveries != 0 || st.Published != -5 || st.CPUSeconds != 1e300 || st.Connections != 1<<63-1 {
					t.Errorf("stats = %+v", st.NodeStats)
				}
			}},
		{"odd nodes", `{"nodes": [5, null, {"node": "b", "connections": "x"}, {"node": "c", "connections": 2}]}`,
			func(t *testing.T, st client.ServerStats) {
				var names []string
				for _, n := range st.Nodes {
					names = append(names, n.Node)
				}
				// null decodes as an empty node; the number is skipped.
				if strings.Join(names, ",") != ",b,c" || st.Nodes[2].Connections != 2 {
					t.Errorf("Nodes = %+v", st.Nodes)
				}
			}},
		{"nodes not a list", `{"nodes": {"a": 1}, "connections": 1}`, func(t *testing.T, st client.ServerStats) {
			if st.Nodes != nil || st.Connections != 1 {
				t.Errorf("stats = %+v", st)
			}
		}},
		{"null", ` {"connections": null} `, func(t *testing.T, st client.ServerStats) {
			if st.Connections != 0 {
				t.Errorf("stats = %+v", st)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := serveCanned(t, 200, "application/json", tt.body)
			st, err := newAPI(t, s.URL, "").Stats(testCtx(t), 0)
			if err != nil {
				t.Fatalf("Stats: %v", err)
			}
			tt.check(t, st)
		})
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		status       int
		ctype, body  string
		key          string
		want         []string
		unauthorized bool
	}{
		{"html page", 200, "text/html", "<!doctype html><title>hi</title>", "",
			[]string{"is not JSON", `"<!doctype html>`, "rtsync server?"}, false},
		{"json array", 200, "application/json", `[1,2]`, "", []string{"not a JSON object"}, false},
		{"empty body", 200, "application/json", ``, "", []string{"is not JSON (empty)"}, false},
		{"truncated", 200, "application/json", `{"connections": 5`, "", []string{"is not JSON"}, false},
		{"no key", 401, "application/json", `{"error":{"code":"unauthorized","message":"missing API key; send the header Authorization: Bearer KEY"}}`, "",
			[]string{"401 unauthorized", "missing API key", "pass it with --api-key"}, true},
		{"wrong key", 401, "application/json", `{"error":{"code":"unauthorized","message":"API key not accepted"}}`, "nope",
			[]string{"401", "--api-key given was not accepted"}, true},
		{"loopback only", 403, "application/json", `{"error":{"code":"forbidden","message":"this server has no API key"}}`, "",
			[]string{"403 forbidden", "--api-key"}, true},
		{"not rtsync", 404, "text/plain", "404 page not found", "", []string{"404 not found", "rtsync server?"}, false},
		{"server error", 500, "application/json", `{"error":{"code":"internal","message":"internal error; see the server's log"}}`, "",
			[]string{"500 internal server error", "see the server's log"}, false},
		{"proxy error", 502, "text/html", "<h1>Bad Gateway</h1>", "", []string{"502 bad gateway", "<h1>Bad Gateway"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := serveCanned(t, tt.status, tt.ctype, tt.body)
			_, err := newAPI(t, s.URL, tt.key).Stats(testCtx(t), 0)
			if err == nil {
				t.Fatal("Stats: want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var ae *client.APIError
			if got := errors.As(err, &ae) && ae.Unauthorized(); got != tt.unauthorized {
				t.Errorf("Unauthorized = %v, want %v (%v)", got, tt.unauthorized, err)
			}
		})
	}
}

func TestAPIUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	a := newAPI(t, addr, "")
	_, err = a.Stats(testCtx(t), 0)
	want := "no rtsync server at http://" + addr + " (is it running?)"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Stats = %v, want an error starting %q", err, want)
	}

	// A server that accepts and never answers is a timeout, not a hang.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	slow, err := client.NewAPI(hang.URL, "", &http.Client{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = slow.Stats(testCtx(t), 0)
	if err == nil || !strings.Contains(err.Error(), "did not answer in time") {
		t.Fatalf("Stats from a hung server = %v, want a timeout", err)
	}

	// A cancelled context says so, whatever the transport saw.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Stats(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stats with a cancelled context = %v", err)
	}
}

func TestAPIClientsDecode(t *testing.T) {
	t.Parallel()
	body := `{"clients": [
	  {"client": "k3j", "uid": "ann", "name": "Ann", "remote": "127.0.0.1:53412", "transport": "ws",
	   "rooms": ["lobby", "ops"], "connected_at": "2026-11-30T04:00:01Z",
	   "queue_bytes": 10, "queue_messages": 1, "messages_in": 12, "messages_out": 340, "extra": true},
	  {"client": "k4x", "connected_at": "soon", "queue_bytes": "lots"},
	  {"uid": "no id"}, 7
	], "total": 5003, "next_cursor": "abc"}`
	s, c := serveCanned(t, 200, "application/json", body)
	p, err := newAPI(t, s.URL, "").Clients(testCtx(t), client.ClientsQuery{Room: "a b", UID: "ann", Remote: "10.0.", Limit: 50, Cursor: "xyz"})
	if err != nil {
		t.Fatal(err)
	}
	q := c.request(t).URL.Query()
	if q.Get("room") != "a b" || q.Get("uid") != "ann" || q.Get("remote") != "10.0." || q.Get("limit") != "50" || q.Get("cursor") != "xyz" {
		t.Errorf("query = %v", q)
	}
	if p.Total != 5003 || p.Next != "abc" || len(p.Clients) != 2 {
		t.Fatalf("page = %+v", p)
	}
	ann := p.Clients[0]
	if ann.Client != "k3j" || ann.UID != "ann" || ann.Name != "Ann" || ann.Remote != "127.0.0.1:53412" ||
		ann.Transport != "ws" || strings.Join(ann.Rooms, ",") != "lobby,ops" || ann.QueueBytes != 10 ||
		ann.MessagesOut != 340 || !ann.ConnectedAt.Equal(time.Date(2026, 11, 30, 4, 0, 1, 0, time.UTC)) {
		t.Errorf("ann = %+v", ann)
	}
	if k := p.Clients[1]; k.Client != "k4x" || !k.ConnectedAt.IsZero() || k.QueueBytes != 0 {
		t.Errorf("odd client = %+v", k)
	}
}

// TestAPIClientsIDsOnly reads the listing of servers from before the
// detailed one: ids only, and next_cursor.
func TestAPIClientsIDsOnly(t *testing.T) {
	t.Parallel()
	s, _ := serveCanned(t, 200, "application/json", `{"clients": ["a1", "b2"], "total": 3, "next_cursor": "YjI"}`)
	p, err := newAPI(t, s.URL, "").Clients(testCtx(t), client.ClientsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Clients) != 2 || p.Clients[0].Client != "a1" || p.Clients[1].Client != "b2" || p.Total != 3 || p.Next != "YjI" {
		t.Fatalf("page = %+v", p)
	}
}

func TestAPIKick(t *testing.T) {
	t.Parallel()
	s, c := serveCanned(t, 200, "application/json", `{"kicked": 1}`)
	a := newAPI(t, s.URL, "")
	if err := a.Kick(testCtx(t), "a/b c", "spam"); err != nil {
		t.Fatal(err)
	}
	r := c.request(t)
	b, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.EscapedPath() != "/api/v1/clients/a%2Fb%20c/kick" || string(b) != `{"reason":"spam"}` {
		t.Errorf("request = %s %s %s", r.Method, r.URL.EscapedPath(), b)
	}
	if err := a.Kick(testCtx(t), "x", ""); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(c.request(t).Body); len(b) != 0 {
		t.Errorf("kick without a reason sent %q", b)
	}
	if err := a.Kick(testCtx(t), "", ""); err == nil {
		t.Error("Kick with no id: want an error")
	}

	gone, _ := serveCanned(t, 404, "application/json", `{"error":{"code":"not_found","message":"no client x"}}`)
	err := newAPI(t, gone.URL, "").Kick(testCtx(t), "x", "")
	var ae *client.APIError
	if !errors.As(err, &ae) || !ae.NotFound() || ae.Code != "not_found" || !strings.Contains(err.Error(), "no client x") {
		t.Fatalf("Kick of a gone client = %v, want a not-found APIError", err)
	}
}

// TestAPIRealServer runs the API client against a real server in this
// process, so that the types here and the server's answers are checked
// against each other, not each against its own reading of the contract.
func TestAPIRealServer(t *testing.T) {
	t.Parallel()
	wsURL, _ := startServer(t, nil)
	a := newAPI(t, wsURL, "") // a ws:// URL is accepted
	ctx := testCtx(t)

	ann := dial(t, wsURL, client.Options{Name: "ann", UID: "ann"})
	bob := dial(t, wsURL, client.Options{Name: "bob", UID: "bob"})
	for _, c := range []*client.Client{ann, bob} {
		if _, err := c.Join(ctx, "lobby"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bob.Join(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := ann.Publish(ctx, "lobby", "hi"); err != nil {
			t.Fatal(err)
		}
	}

	st, err := a.Stats(ctx, 5)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Node != "test-node" || st.Connections != 2 || st.Rooms != 2 || st.UIDs != 2 || st.Accepted != 2 {
		t.Errorf("stats = %+v", st.NodeStats)
	}
	if st.Version == "" || st.UptimeSeconds <= 0 || st.Time.IsZero() || st.Started.IsZero() || st.Started.After(st.Time) {
		t.Errorf("version %q uptime %v started %v time %v", st.Version, st.UptimeSeconds, st.Started, st.Time)
	}
	if st.ConnectionsByTransport["ws"] != 2 {
		t.Errorf("connections_by_transport = %v, want ws: 2", st.ConnectionsByTransport)
	}
	if st.MessagesIn < 3 || st.Published != 3 || st.Deliveries < 6 || st.MessagesOut == 0 || st.FramesOut == 0 {
		t.Errorf("counters = %+v", st.NodeStats)
	}
	if st.Goroutines <= 0 || st.RSSBytes <= 0 || st.CPUSeconds <= 0 || st.HistoryMessages != 3 {
		t.Errorf("process = goroutines %d rss %d cpu %v history %d", st.Goroutines, st.RSSBytes, st.CPUSeconds, st.HistoryMessages)
	}
	if len(st.TopRooms) != 2 || st.TopRooms[0].Room != "lobby" || st.TopRooms[0].Members != 2 ||
		st.TopRooms[0].Published != 3 || st.TopRooms[0].Seq != 3 || st.TopRooms[0].History != 3 {
		t.Errorf("top_rooms = %+v", st.TopRooms)
	}
	if len(st.Nodes) != 1 || st.Nodes[0].Node != "test-node" || st.Nodes[0].Connections != 2 {
		t.Errorf("nodes = %+v", st.Nodes)
	}

	all, err := a.Clients(ctx, client.ClientsQuery{})
	if err != nil {
		t.Fatalf("Clients: %v", err)
	}
	if all.Total != 2 || len(all.Clients) != 2 || all.Next != "" {
		t.Fatalf("clients = %+v", all)
	}
	for _, c := range all.Clients {
		if c.Client == "" || c.Transport != "ws" || !strings.HasPrefix(c.Remote, "127.0.0.1:") || c.ConnectedAt.IsZero() || len(c.Rooms) == 0 {
			t.Errorf("client = %+v", c)
		}
	}
	inOps, err := a.Clients(ctx, client.ClientsQuery{Room: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	bobID := bob.Identity().Client
	if inOps.Total != 1 || len(inOps.Clients) != 1 || inOps.Clients[0].Client != bobID || inOps.Clients[0].UID != "bob" {
		t.Errorf("clients in ops = %+v, want bob (%s)", inOps, bobID)
	}
	first, err := a.Clients(ctx, client.ClientsQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Clients) != 1 || first.Next == "" || first.Total != 2 {
		t.Fatalf("first page = %+v", first)
	}
	second, err := a.Clients(ctx, client.ClientsQuery{Limit: 1, Cursor: first.Next})
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Clients) != 1 || second.Clients[0].Client == first.Clients[0].Client || second.Next != "" {
		t.Fatalf("second page = %+v after %+v", second, first)
	}

	if err := a.Kick(ctx, bobID, "from the API test"); err != nil {
		t.Fatalf("Kick: %v", err)
	}
	d := expect(t, bob, "kicked", kind(client.KindDisconnected)).Disconnected
	if d.Code != protocol.CloseKicked {
		t.Errorf("bob closed with %d, want %d (kicked)", d.Code, protocol.CloseKicked)
	}
	err = a.Kick(ctx, bobID, "")
	var ae *client.APIError
	if !errors.As(err, &ae) || !ae.NotFound() {
		t.Errorf("second kick = %v, want not found", err)
	}
}

func TestAPIRealServerKey(t *testing.T) {
	t.Parallel()
	wsURL, _ := startServer(t, func(c *server.Config) { c.APIKeys = []string{"s3cret"} })
	_, err := newAPI(t, wsURL, "").Stats(testCtx(t), 0)
	var ae *client.APIError
	if !errors.As(err, &ae) || !ae.Unauthorized() || !strings.Contains(err.Error(), "--api-key") {
		t.Fatalf("Stats without the key = %v, want an unauthorized error naming --api-key", err)
	}
	if _, err := newAPI(t, wsURL, "wrong").Stats(testCtx(t), 0); err == nil || !strings.Contains(err.Error(), "not accepted") {
		t.Fatalf("Stats with a wrong key = %v", err)
	}
	st, err := newAPI(t, wsURL, "s3cret").Stats(testCtx(t), 0)
	if err != nil || st.Node != "test-node" {
		t.Fatalf("Stats with the key = %+v, %v", st.NodeStats, err)
	}
}
