package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

// apiTester calls a running server's HTTP API.
type apiTester struct {
	t      *testing.T
	base   string // http://host:port
	key    string
	client *http.Client
}

// startAPI runs a server and returns a caller of its API (with key, when
// not empty) and its WebSocket URL.
func startAPI(t *testing.T, cfg Config, key string) (*Server, *apiTester, string) {
	t.Helper()
	s, wsURL := startServer(t, cfg)
	base := "http://" + strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws://"), "/ws")
	tr := &http.Transport{}
	// Before the server's cleanup (they run last first): a connection the
	// transport dialled and never used would hold up its shutdown.
	t.Cleanup(tr.CloseIdleConnections)
	return s, &apiTester{t: t, base: base, key: key, client: &http.Client{Transport: tr}}, wsURL
}

// on returns a in the hands of the (sub)test t.
func (a *apiTester) on(t *testing.T) *apiTester {
	b := *a
	b.t = t
	return &b
}

// raw sends a request whose body is body as is ("" for none) and returns
// the status, the response headers and the body.
func (a *apiTester) raw(method, path, body string) (int, http.Header, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// call sends body (nil: none; a string: as is; anything else as JSON),
// fails unless the status is want, and decodes the answer into out (when
// not nil).
func (a *apiTester) call(method, path string, body any, want int, out any) {
	a.t.Helper()
	var s string
	switch b := body.(type) {
	case nil:
	case string:
		s = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		s = string(j)
	}
	status, h, resp := a.raw(method, path, s)
	if status != want {
		a.t.Fatalf("%s %s = %d %s, want %d", method, path, status, resp, want)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		a.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			a.t.Fatalf("%s %s: decode %s: %v", method, path, resp, err)
		}
	}
}

// fail calls and checks the status and error code of a failure, returning
// the error.
func (a *apiTester) fail(method, path string, body any, status int, code string) protocol.Error {
	a.t.Helper()
	var eb apiErrorBody
	a.call(method, path, body, status, &eb)
	if eb.Error.Code != code || eb.Error.Message == "" {
		a.t.Fatalf("%s %s: error %+v, want code %s and a message", method, path, eb.Error, code)
	}
	return eb.Error
}

// apiDirect reads the next event of c, which must be a direct message from
// the server with data want.
func apiDirect(t *testing.T, c *wsClient, want string) {
	t.Helper()
	e := c.expect(protocol.TypeDirect)
	if e.From == nil || e.From.Client != ServerClientID || e.From.UID != "" || string(e.Data) != want || e.TS == 0 {
		t.Fatalf("direct = %+v (data %s), want from $server with %s", e, e.Data, want)
	}
}

// closeWith reads until the server closes c and returns the close code and
// reason.
func closeWith(t *testing.T, c *wsClient) (int, string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, err := c.tryRead(time.Until(deadline))
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		if err != nil && !errors.Is(err, errTimeout) {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
	}
	t.Fatal("no close within 5s")
	return 0, ""
}

func TestAPISend(t *testing.T) {
	t.Parallel()
	_, api, wsURL := startAPI(t, Config{}, "")
	a, b1, b2, c := dial(t, wsURL), dial(t, wsURL), dial(t, wsURL), dial(t, wsURL)
	mustOK(t, a.cmd(map[string]any{"op": "hello", "uid": "alice"}))
	mustOK(t, b1.cmd(map[string]any{"op": "hello", "uid": "bob"}))
	mustOK(t, b2.cmd(map[string]any{"op": "hello", "uid": "bob"}))
	id := func(c *wsClient) string { return c.welcome.Client }

	var res struct{ Delivered int }
	// Pretty-printed data arrives compact: clients split frames on newlines.
	api.call("POST", "/api/v1/clients/"+id(a)+"/send", "{\"data\": {\n  \"x\": 1\n}}", 200, &res)
	if res.Delivered != 1 {
		t.Fatalf("delivered = %d", res.Delivered)
	}
	apiDirect(t, a, `{"x":1}`)

	api.call("POST", "/api/v1/uids/bob/send", map[string]any{"data": "hi bob"}, 200, &res)
	if res.Delivered != 2 {
		t.Fatalf("delivered to bob = %d, want 2", res.Delivered)
	}
	apiDirect(t, b1, `"hi bob"`)
	apiDirect(t, b2, `"hi bob"`)

	api.call("POST", "/api/v1/uids/nobody/send", map[string]any{"data": 1}, 200, &res)
	if res.Delivered != 0 {
		t.Fatalf("delivered to an offline uid = %d", res.Delivered)
	}

	api.call("POST", "/api/v1/broadcast", map[string]any{"data": []int{1, 2}, "exclude": []string{id(c), "nosuchclient"}}, 200, &res)
	if res.Delivered != 3 {
		t.Fatalf("broadcast delivered = %d, want 3", res.Delivered)
	}
	for _, x := range []*wsClient{a, b1, b2} {
		apiDirect(t, x, `[1,2]`)
	}
	api.call("POST", "/api/v1/broadcast", map[string]any{"data": "everyone"}, 200, &res)
	if res.Delivered != 4 {
		t.Fatalf("broadcast delivered = %d, want 4", res.Delivered)
	}
	for _, x := range []*wsClient{a, b1, b2, c} {
		apiDirect(t, x, `"everyone"`)
	}
	for _, x := range []*wsClient{a, b1, b2, c} {
		x.quiet(50 * time.Millisecond)
	}

	api.fail("POST", "/api/v1/clients/nosuchclient/send", map[string]any{"data": 1}, 404, protocol.CodeNotFound)
	api.fail("POST", "/api/v1/clients/"+id(a)+"/send", map[string]any{}, 400, protocol.CodeBadRequest)
	api.fail("POST", "/api/v1/uids/"+url.PathEscape("has space")+"/send", map[string]any{"data": 1}, 400, protocol.CodeBadRequest)
}

func TestAPIPublish(t *testing.T) {
	t.Parallel()
	_, api, wsURL := startAPI(t, Config{}, "")
	a, b := dial(t, wsURL), dial(t, wsURL)
	for _, c := range []*wsClient{a, b} {
		mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
	}
	a.expect(protocol.TypeJoin)
	mustOK(t, a.cmd(map[string]any{"op": "pub", "room": "r", "data": "first", "noecho": true}))
	b.expect(protocol.TypeMsg)

	var res struct {
		Room  string
		Seq   uint64
		Epoch string
	}
	api.call("POST", "/api/v1/rooms/r/publish", map[string]any{"data": map[string]any{"text": "from the app"}, "name": "bot"}, 200, &res)
	if res.Room != "r" || res.Seq != 2 || res.Epoch == "" {
		t.Fatalf("publish = %+v, want seq 2", res)
	}
	for _, c := range []*wsClient{a, b} {
		m := c.expect(protocol.TypeMsg)
		if m.Seq != 2 || m.Epoch != res.Epoch || m.From == nil || *m.From != (protocol.From{Client: ServerClientID, Name: "bot"}) || string(m.Data) != `{"text":"from the app"}` {
			t.Fatalf("msg = %+v from %+v", m, m.From)
		}
	}
	// Excluded members are skipped; the message still gets its seq and
	// goes into history.
	api.call("POST", "/api/v1/rooms/r/publish", map[string]any{"data": 3, "exclude": []string{b.welcome.Client}}, 200, &res)
	if res.Seq != 3 {
		t.Fatalf("seq = %d, want 3", res.Seq)
	}
	if m := a.expect(protocol.TypeMsg); m.Seq != 3 || *m.From != (protocol.From{Client: ServerClientID}) {
		t.Fatalf("msg = %+v from %+v", m, m.From)
	}
	b.quiet(50 * time.Millisecond)
	mustOK(t, a.cmd(map[string]any{"op": "pub", "room": "r", "data": 4}))
	if m := b.expect(protocol.TypeMsg); m.Seq != 4 {
		t.Fatalf("next msg = %+v, want seq 4", m)
	}
	a.expect(protocol.TypeMsg)

	// History through the API and through the op agree.
	var h HistoryPage
	api.call("GET", "/api/v1/rooms/r/history", nil, 200, &h)
	if h.Room != "r" || h.Seq != 4 || h.Epoch != res.Epoch || len(h.Messages) != 4 || h.More {
		t.Fatalf("history = %+v", h)
	}
	var m2 protocol.Message
	if err := json.Unmarshal(h.Messages[1], &m2); err != nil || m2.Seq != 2 || m2.From.Client != ServerClientID || m2.From.Name != "bot" {
		t.Fatalf("history message 2 = %s", h.Messages[1])
	}
	op := mustOK(t, b.cmd(map[string]any{"op": "history", "room": "r"}))
	if len(op.Messages) != 4 || op.Messages[2].Seq != 3 || op.Messages[2].From.Client != ServerClientID {
		t.Fatalf("history op = %+v", op.Messages)
	}
	for _, tt := range []struct {
		query string
		seqs  []uint64
		more  bool
	}{
		{"since=1&limit=2", []uint64{2, 3}, true},
		{"since=3", []uint64{4}, false},
		{"before=3", []uint64{1, 2}, false},
		{"before=4&limit=1", []uint64{3}, true},
		{"limit=1", []uint64{4}, true},
	} {
		t.Run(tt.query, func(t *testing.T) {
			var h HistoryPage
			api.on(t).call("GET", "/api/v1/rooms/r/history?"+tt.query, nil, 200, &h)
			var seqs []uint64
			for _, raw := range h.Messages {
				var m protocol.Message
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, m.Seq)
			}
			if !slices.Equal(seqs, tt.seqs) || h.More != tt.more {
				t.Fatalf("seqs %v more %v, want %v more %v", seqs, h.More, tt.seqs, tt.more)
			}
		})
	}

	// A room nobody is in: the message is stored, and a client joining
	// with since recovers it.
	api.call("POST", "/api/v1/rooms/"+url.PathEscape("team/news#eu")+"/publish", map[string]any{"data": "stored"}, 200, &res)
	if res.Seq != 1 || res.Room != "team/news#eu" {
		t.Fatalf("publish to an empty room = %+v", res)
	}
	var info RoomInfo
	api.call("GET", "/api/v1/rooms/"+url.PathEscape("team/news#eu"), nil, 200, &info)
	if info.Clients != 0 || info.Seq != 1 || info.Stored != 1 || info.Epoch != res.Epoch {
		t.Fatalf("room = %+v", info)
	}
	j := mustOK(t, a.cmd(map[string]any{"op": "join", "room": "team/news#eu", "since": 0}))
	if *j.Replayed != 1 || !*j.Recovered {
		t.Fatalf("join = %+v", j)
	}
	if m := a.expect(protocol.TypeMsg); string(m.Data) != `"stored"` || m.From.Client != ServerClientID {
		t.Fatalf("replayed = %+v", m)
	}

	// A room that does not exist has an empty history.
	api.call("GET", "/api/v1/rooms/none/history", nil, 200, &h)
	if len(h.Messages) != 0 || h.Seq != 0 || h.Epoch != "" {
		t.Fatalf("history of no room = %+v", h)
	}

	api.fail("POST", "/api/v1/rooms/"+url.PathEscape("bad room")+"/publish", map[string]any{"data": 1}, 400, protocol.CodeBadRoom)
	api.fail("POST", "/api/v1/rooms/r/publish", map[string]any{"name": "x"}, 400, protocol.CodeBadRequest)
	api.fail("POST", "/api/v1/rooms/r/publish", map[string]any{"data": 1, "name": strings.Repeat("n", 65)}, 400, protocol.CodeBadRequest)
	api.fail("POST", "/api/v1/rooms/r/publish", map[string]any{"data": 1, "exclude": "x"}, 400, protocol.CodeBadRequest)
	api.fail("GET", "/api/v1/rooms/r/history?since=1&before=3", nil, 400, protocol.CodeBadRequest)
	api.fail("GET", "/api/v1/rooms/r/history?since=-1", nil, 400, protocol.CodeBadRequest)
	api.fail("GET", "/api/v1/rooms/r/history?limit=1001", nil, 400, protocol.CodeBadRequest)
	api.fail("GET", "/api/v1/rooms/r/history?limit=0", nil, 400, protocol.CodeBadRequest)
}

func TestAPIKick(t *testing.T) {
	if testing.Short() {
		t.Skip("slow; runs without -short")
	}
	t.Parallel()
	_, api, wsURL := startAPI(t, Config{}, "")
	a, b1, b2, other := dial(t, wsURL), dial(t, wsURL), dial(t, wsURL), dial(t, wsURL)
	for _, c := range []*wsClient{b1, b2} {
		mustOK(t, c.cmd(map[string]any{"op": "hello", "uid": "bob"}))
	}
	mustOK(t, other.cmd(map[string]any{"op": "join", "room": "r"}))
	mustOK(t, a.cmd(map[string]any{"op": "join", "room": "r"}))
	other.expect(protocol.TypeJoin)

	// A message sent just before the kick is delivered before the close.
	api.call("POST", "/api/v1/clients/"+a.welcome.Client+"/send", map[string]any{"data": "you are banned"}, 200, nil)
	var res struct{ Kicked int }
	api.call("POST", "/api/v1/clients/"+a.welcome.Client+"/kick", map[string]any{"reason": "banned for spam"}, 200, &res)
	if res.Kicked != 1 {
		t.Fatalf("kicked = %d", res.Kicked)
	}
	// Offline as soon as the call returns.
	api.fail("GET", "/api/v1/clients/"+a.welcome.Client, nil, 404, protocol.CodeNotFound)
	apiDirect(t, a, `"you are banned"`)
	if code, reason := closeWith(t, a); code != protocol.CloseKicked || reason != "banned for spam" {
		t.Fatalf("close = %d %q, want 4010 with the reason", code, reason)
	}
	if e := other.expect(protocol.TypeLeave); e.Client != a.welcome.Client {
		t.Fatalf("leave = %+v", e)
	}

	// Kicking a uid closes all its connections; no body means the
	// standard reason.
	api.call("POST", "/api/v1/uids/bob/kick", nil, 200, &res)
	if res.Kicked != 2 {
		t.Fatalf("kicked bob = %d, want 2", res.Kicked)
	}
	for _, c := range []*wsClient{b1, b2} {
		if code, reason := closeWith(t, c); code != protocol.CloseKicked || reason != "kicked" {
			t.Fatalf("close = %d %q, want 4010 kicked", code, reason)
		}
	}
	var u struct {
		Online  bool
		Clients []string
	}
	api.call("GET", "/api/v1/uids/bob", nil, 200, &u)
	if u.Online || len(u.Clients) != 0 {
		t.Fatalf("bob after kick = %+v", u)
	}
	api.call("POST", "/api/v1/uids/bob/kick", nil, 200, &res)
	if res.Kicked != 0 {
		t.Fatalf("kicked an offline uid = %d", res.Kicked)
	}
	api.fail("POST", "/api/v1/clients/"+a.welcome.Client+"/kick", nil, 404, protocol.CodeNotFound)
	api.fail("POST", "/api/v1/clients/"+other.welcome.Client+"/kick", map[string]any{"reason": strings.Repeat("x", 124)}, 400, protocol.CodeBadRequest)
	other.quiet(50 * time.Millisecond)
}

func TestAPIOnlineAndUID(t *testing.T) {
	t.Parallel()
	_, api, wsURL := startAPI(t, Config{}, "")
	a, b := dial(t, wsURL), dial(t, wsURL)
	mustOK(t, a.cmd(map[string]any{"op": "hello", "name": "Ann", "meta": map[string]any{"k": 1}}))
	mustOK(t, a.cmd(map[string]any{"op": "join", "room": "r"}))
	mustOK(t, b.cmd(map[string]any{"op": "join", "room": "r"}))
	a.expect(protocol.TypeJoin)
	id := a.welcome.Client

	var info ClientInfo
	api.call("GET", "/api/v1/clients/"+id, nil, 200, &info)
	if info.Client != id || info.UID != "" || info.Name != "Ann" || string(info.Meta) != `{"k":1}` || string(info.Session) != `{}` ||
		!slices.Equal(info.Rooms, []string{"r"}) || info.Transport != "ws" || !strings.HasPrefix(info.RemoteAddr, "127.0.0.1:") {
		t.Fatalf("client = %+v", info)
	}

	var bound map[string]string
	api.call("PUT", "/api/v1/clients/"+id+"/uid", map[string]any{"uid": "zed"}, 200, &bound)
	if bound["uid"] != "zed" || bound["client"] != id {
		t.Fatalf("bind = %v", bound)
	}
	var u struct {
		UID     string
		Online  bool
		Clients []string
	}
	api.call("GET", "/api/v1/uids/zed", nil, 200, &u)
	if u.UID != "zed" || !u.Online || !slices.Equal(u.Clients, []string{id}) {
		t.Fatalf("uid zed = %+v", u)
	}
	// The binding shows in what the client sends and receives.
	mustOK(t, a.cmd(map[string]any{"op": "pub", "room": "r", "data": 1, "noecho": true}))
	if m := b.expect(protocol.TypeMsg); m.From.UID != "zed" || m.From.Name != "Ann" {
		t.Fatalf("msg from %+v, want uid zed", m.From)
	}
	api.call("POST", "/api/v1/uids/zed/send", map[string]any{"data": "to zed"}, 200, nil)
	apiDirect(t, a, `"to zed"`)
	// Binding another uid replaces the first.
	api.call("PUT", "/api/v1/clients/"+id+"/uid", map[string]any{"uid": "yan"}, 200, nil)
	api.call("GET", "/api/v1/uids/zed", nil, 200, &u)
	if u.Online {
		t.Fatalf("zed still online after rebinding: %+v", u)
	}
	api.call("DELETE", "/api/v1/clients/"+id+"/uid", nil, 200, nil)
	api.call("GET", "/api/v1/uids/yan", nil, 200, &u)
	if u.Online || len(u.Clients) != 0 {
		t.Fatalf("yan after unbind = %+v", u)
	}
	api.call("GET", "/api/v1/clients/"+id, nil, 200, &info)
	if info.UID != "" {
		t.Fatalf("uid after unbind = %q", info.UID)
	}

	api.fail("PUT", "/api/v1/clients/"+id+"/uid", map[string]any{"uid": 7}, 400, protocol.CodeBadRequest)
	api.fail("PUT", "/api/v1/clients/"+id+"/uid", map[string]any{"uid": ""}, 400, protocol.CodeBadRequest)
	api.fail("PUT", "/api/v1/clients/"+id+"/uid", nil, 400, protocol.CodeBadRequest)
	api.fail("PUT", "/api/v1/clients/nosuch/uid", map[string]any{"uid": "x"}, 404, protocol.CodeNotFound)
	api.fail("DELETE", "/api/v1/clients/nosuch/uid", nil, 404, protocol.CodeNotFound)
	api.fail("GET", "/api/v1/clients/"+url.PathEscape(ServerClientID), nil, 404, protocol.CodeNotFound)
}

func TestAPIRooms(t *testing.T) {
	t.Parallel()
	_, api, wsURL := startAPI(t, Config{MaxRoomsPerConn: 2}, "")
	a, b := dial(t, wsURL), dial(t, wsURL)
	mustOK(t, a.cmd(map[string]any{"op": "hello", "uid": "ann", "name": "Ann"}))
	mustOK(t, b.cmd(map[string]any{"op": "hello", "uid": "bob"}))
	mustOK(t, b.cmd(map[string]any{"op": "join", "room": "team/general"}))
	room := "/api/v1/rooms/" + url.PathEscape("team/general")
	member := "/api/v1/clients/" + a.welcome.Client + "/rooms/" + url.PathEscape("team/general")

	// The joined client is told with its own join event, the others with
	// the usual one; then it gets the room's messages.
	var jr map[string]string
	api.call("PUT", member, nil, 200, &jr)
	if jr["room"] != "team/general" || jr["client"] != a.welcome.Client {
		t.Fatalf("join = %v", jr)
	}
	if e := a.expect(protocol.TypeJoin); e.Client != a.welcome.Client || e.Room != "team/general" || e.UID != "ann" || e.Name != "Ann" {
		t.Fatalf("own join event = %+v", e)
	}
	if e := b.expect(protocol.TypeJoin); e.Client != a.welcome.Client {
		t.Fatalf("presence join = %+v", e)
	}
	api.call("PUT", member, nil, 200, nil) // already in: nothing happens
	mustOK(t, b.cmd(map[string]any{"op": "pub", "room": "team/general", "data": "hello", "noecho": true}))
	if m := a.expect(protocol.TypeMsg); string(m.Data) != `"hello"` {
		t.Fatalf("msg = %+v", m)
	}
	a.quiet(50 * time.Millisecond)
	p := mustOK(t, a.cmd(map[string]any{"op": "presence", "room": "team/general"}))
	if len(p.Members) != 2 {
		t.Fatalf("presence = %+v", p.Members)
	}

	var info RoomInfo
	api.call("GET", room, nil, 200, &info)
	if info.Room != "team/general" || info.Clients != 2 || info.UIDs != 2 || info.Seq != 1 || info.Stored != 1 {
		t.Fatalf("room = %+v", info)
	}
	var ids struct {
		Clients []string
		Total   int
	}
	api.call("GET", room+"/clients", nil, 200, &ids)
	want := []string{a.welcome.Client, b.welcome.Client}
	slices.Sort(want)
	if !slices.Equal(ids.Clients, want) || ids.Total != 2 {
		t.Fatalf("room clients = %+v, want %v", ids, want)
	}
	var uids struct {
		UIDs  []string `json:"uids"`
		Total int
	}
	api.call("GET", room+"/uids", nil, 200, &uids)
	if !slices.Equal(uids.UIDs, []string{"ann", "bob"}) || uids.Total != 2 {
		t.Fatalf("room uids = %+v", uids)
	}
	var rooms struct{ Rooms []string }
	api.call("GET", "/api/v1/rooms", nil, 200, &rooms)
	if !slices.Equal(rooms.Rooms, []string{"team/general"}) {
		t.Fatalf("rooms = %+v", rooms)
	}

	// Leaving: the client gets its own leave event after the room's last
	// message to it; the others get the usual one.
	api.call("DELETE", member, nil, 200, nil)
	if e := a.expect(protocol.TypeLeave); e.Client != a.welcome.Client || e.Room != "team/general" {
		t.Fatalf("own leave event = %+v", e)
	}
	if e := b.expect(protocol.TypeLeave); e.Client != a.welcome.Client {
		t.Fatalf("presence leave = %+v", e)
	}
	mustErr(t, a.cmd(map[string]any{"op": "pub", "room": "team/general", "data": 1}), protocol.CodeNotJoined)
	api.fail("DELETE", member, nil, 404, protocol.CodeNotJoined)

	// The room limit applies to joins made for the client too.
	for _, r := range []string{"x", "y"} {
		api.call("PUT", "/api/v1/clients/"+a.welcome.Client+"/rooms/"+r, nil, 200, nil)
		a.expect(protocol.TypeJoin)
	}
	api.fail("PUT", member, nil, 409, protocol.CodeTooManyRooms)

	// Ungroup: every member leaves and is told so; nobody is told about
	// the others.
	api.call("PUT", "/api/v1/clients/"+b.welcome.Client+"/rooms/x", nil, 200, nil)
	b.expect(protocol.TypeJoin)
	if e := a.expect(protocol.TypeJoin); e.Client != b.welcome.Client {
		t.Fatalf("presence join = %+v", e)
	}
	var ug struct {
		Room    string
		Removed int
	}
	api.call("DELETE", "/api/v1/rooms/x", nil, 200, &ug)
	if ug.Room != "x" || ug.Removed != 2 {
		t.Fatalf("ungroup = %+v", ug)
	}
	for _, c := range []*wsClient{a, b} {
		if e := c.expect(protocol.TypeLeave); e.Client != c.welcome.Client || e.Room != "x" {
			t.Fatalf("leave event = %+v, want its own", e)
		}
		c.quiet(50 * time.Millisecond)
		mustErr(t, c.cmd(map[string]any{"op": "presence", "room": "x"}), protocol.CodeNotJoined)
	}
	api.call("GET", "/api/v1/rooms/x/clients", nil, 200, &ids)
	if len(ids.Clients) != 0 || ids.Total != 0 {
		t.Fatalf("clients after ungroup = %+v", ids)
	}
	// The client may join again.
	mustOK(t, a.cmd(map[string]any{"op": "join", "room": "x"}))
	api.call("DELETE", "/api/v1/rooms/nosuchroom", nil, 200, &ug)
	if ug.Removed != 0 {
		t.Fatalf("ungroup of no room = %+v", ug)
	}

	api.call("GET", "/api/v1/rooms/nosuchroom", nil, 200, &info)
	if info != (RoomInfo{Room: "nosuchroom"}) {
		t.Fatalf("room that does not exist = %+v", info)
	}
	api.fail("PUT", "/api/v1/clients/nosuch/rooms/x", nil, 404, protocol.CodeNotFound)
	api.fail("PUT", "/api/v1/clients/"+a.welcome.Client+"/rooms/"+url.PathEscape("$x"), nil, 400, protocol.CodeBadRoom)
	api.fail("GET", "/api/v1/rooms/"+url.PathEscape("no spaces"), nil, 400, protocol.CodeBadRoom)
}

func TestAPISessions(t *testing.T) {
	t.Parallel()
	_, api, wsURL := startAPI(t, Config{MaxMessageSize: 1024}, "")
	a, b := dial(t, wsURL), dial(t, wsURL)
	mustOK(t, a.cmd(map[string]any{"op": "hello", "uid": "ann"}))
	mustOK(t, a.cmd(map[string]any{"op": "join", "room": "r"}))
	path := "/api/v1/clients/" + a.welcome.Client + "/session"

	check := func(want string) {
		t.Helper()
		status, _, body := api.raw("GET", path, "")
		if status != 200 || strings.TrimSpace(string(body)) != want {
			t.Fatalf("session = %d %s, want %s", status, body, want)
		}
	}
	check(`{}`)
	var got json.RawMessage
	api.call("PUT", path, "{\"plan\": \"pro\",\n \"n\": 1, \"tags\": [\"a\"]}", 200, &got)
	if string(got) != `{"plan":"pro","n":1,"tags":["a"]}` {
		t.Fatalf("set = %s", got)
	}
	check(`{"plan":"pro","n":1,"tags":["a"]}`)
	api.call("PATCH", path, `{"n": 2, "tags": null, "html": "<b>&"}`, 200, &got)
	want := `{"html":"<b>&","n":2,"plan":"pro"}`
	if string(got) != want {
		t.Fatalf("update = %s, want %s", got, want)
	}
	check(want)

	// Concurrent updates of different keys all land.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			api.call("PATCH", path, map[string]any{fmt.Sprintf("k%02d", i): i}, 200, nil)
		})
	}
	wg.Wait()
	var all map[string]any
	api.call("GET", path, nil, 200, &all)
	if len(all) != 23 {
		t.Fatalf("session after concurrent updates has %d keys, want 23: %v", len(all), all)
	}
	api.call("PUT", path, map[string]any{"plan": "free"}, 200, nil)

	var list struct {
		Sessions []ClientSession
		Total    int
	}
	api.call("GET", "/api/v1/sessions", nil, 200, &list)
	if list.Total != 2 || len(list.Sessions) != 2 {
		t.Fatalf("sessions = %+v", list)
	}
	for _, cs := range list.Sessions {
		switch cs.Client {
		case a.welcome.Client:
			if cs.UID != "ann" || string(cs.Session) != `{"plan":"free"}` {
				t.Fatalf("session of a = %+v", cs)
			}
		case b.welcome.Client:
			if string(cs.Session) != `{}` {
				t.Fatalf("session of b = %+v", cs)
			}
		default:
			t.Fatalf("unknown client in %+v", cs)
		}
	}
	api.call("GET", "/api/v1/rooms/r/sessions", nil, 200, &list)
	if list.Total != 1 || list.Sessions[0].Client != a.welcome.Client || string(list.Sessions[0].Session) != `{"plan":"free"}` {
		t.Fatalf("room sessions = %+v", list)
	}

	for _, tt := range []struct {
		name, method, body string
		status             int
		code               string
	}{
		{"array", "PUT", `[1]`, 400, protocol.CodeBadRequest},
		{"string", "PATCH", `"x"`, 400, protocol.CodeBadRequest},
		{"empty", "PUT", ``, 400, protocol.CodeBadRequest},
		{"broken", "PUT", `{"a":`, 400, protocol.CodeBadJSON},
		{"over the message size", "PUT", `{"a":"` + strings.Repeat("x", 1100) + `"}`, 413, protocol.CodeTooLarge},
		{"merged over the message size", "PATCH", `{"a":"` + strings.Repeat("x", 1010) + `"}`, 413, protocol.CodeTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api.on(t).fail(tt.method, path, tt.body, tt.status, tt.code)
		})
	}
	check(`{"plan":"free"}`)
	api.fail("GET", "/api/v1/clients/nosuch/session", nil, 404, protocol.CodeNotFound)
	api.fail("PUT", "/api/v1/clients/nosuch/session", `{}`, 404, protocol.CodeNotFound)
}

func TestAPIListPaging(t *testing.T) {
	t.Parallel()
	s, api, wsURL := startAPI(t, Config{}, "")
	var all []string
	for i := range 7 {
		c := dial(t, wsURL)
		mustOK(t, c.cmd(map[string]any{"op": "hello", "uid": fmt.Sprintf("u%d", i%4)}))
		mustOK(t, c.cmd(map[string]any{"op": "join", "room": fmt.Sprintf("room-%d", i)}))
		mustOK(t, c.cmd(map[string]any{"op": "join", "room": "shared"}))
		all = append(all, c.welcome.Client)
	}
	slices.Sort(all)

	// pages follows next_cursor through a listing and returns every item
	// and the totals seen.
	pages := func(t *testing.T, path, key string, limit int) ([]string, []int) {
		api := api.on(t)
		var items []string
		var totals []int
		cursor := ""
		for range 20 {
			q := fmt.Sprintf("?limit=%d", limit)
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			var page map[string]json.RawMessage
			api.call("GET", path+q, nil, 200, &page)
			var got []string
			var total int
			_ = json.Unmarshal(page[key], &got)
			_ = json.Unmarshal(page["total"], &total)
			if len(got) > limit {
				t.Fatalf("page of %d items, limit %d", len(got), limit)
			}
			items, totals = append(items, got...), append(totals, total)
			next, ok := page["next_cursor"]
			if !ok {
				return items, totals
			}
			_ = json.Unmarshal(next, &cursor)
		}
		t.Fatal("paging did not end")
		return nil, nil
	}
	for _, tt := range []struct {
		path, key string
		limit     int
		want      []string
	}{
		{"/api/v1/rooms/shared/clients", "clients", 3, all},
		{"/api/v1/rooms/shared/clients", "clients", 1000, all},
		{"/api/v1/uids", "uids", 3, []string{"u0", "u1", "u2", "u3"}},
		{"/api/v1/rooms", "rooms", 2, []string{"room-0", "room-1", "room-2", "room-3", "room-4", "room-5", "room-6", "shared"}},
	} {
		t.Run(fmt.Sprintf("%s limit %d", tt.key, tt.limit), func(t *testing.T) {
			items, totals := pages(t, tt.path, tt.key, tt.limit)
			if !slices.Equal(items, tt.want) {
				t.Fatalf("items %v, want %v", items, tt.want)
			}
			for _, n := range totals {
				if n != len(tt.want) {
					t.Fatalf("totals %v, want %d each", totals, len(tt.want))
				}
			}
		})
	}
	var count map[string]json.RawMessage
	api.call("GET", "/api/v1/clients?limit=0", nil, 200, &count)
	if string(count["total"]) != "7" || string(count["clients"]) != "[]" || count["next_cursor"] != nil {
		t.Fatalf("count only = %v", count)
	}
	api.call("GET", "/api/v1/rooms/shared/clients?limit=0", nil, 200, &count)
	if string(count["total"]) != "7" || string(count["clients"]) != "[]" || count["next_cursor"] != nil {
		t.Fatalf("count only = %v", count)
	}
	if n := s.ClientCount(); n != 7 {
		t.Fatalf("ClientCount = %d", n)
	}
	api.fail("GET", "/api/v1/clients?limit=1001", nil, 400, protocol.CodeBadRequest)
	api.fail("GET", "/api/v1/clients?limit=x", nil, 400, protocol.CodeBadRequest)
	api.fail("GET", "/api/v1/clients?cursor=***", nil, 400, protocol.CodeBadRequest)
}

func TestAPIBatch(t *testing.T) {
	t.Parallel()
	_, api, wsURL := startAPI(t, Config{}, "")
	a := dial(t, wsURL)
	mustOK(t, a.cmd(map[string]any{"op": "join", "room": "r"}))
	send := "/api/v1/clients/" + a.welcome.Client + "/send"

	type result struct {
		Status int
		Result json.RawMessage
		Error  *protocol.Error
	}
	var res struct{ Results []result }
	api.call("POST", "/api/v1/batch", map[string]any{"ops": []map[string]any{
		{"method": "POST", "path": send, "body": map[string]any{"data": 1}},
		{"method": "POST", "path": "/api/v1/clients/nosuch/kick"},
		{"method": "post", "path": "/api/v1/rooms/r/publish", "body": map[string]any{"data": 3}},
		{"method": "GET", "path": "/api/v1/rooms/r/history?limit=1"},
		{"method": "POST", "path": "/api/v1/batch", "body": map[string]any{"ops": []any{}}},
		{"method": "GET", "path": "/elsewhere"},
		{"method": "TRACE", "path": "/api/v1/stats"},
		{"method": "DELETE", "path": "/api/v1/stats"},
		{"method": "POST", "path": send, "body": map[string]any{"data": 4, "extra": true}},
		{"method": "POST", "path": send, "body": map[string]any{"data": 5}},
	}}, 200, &res)
	want := []int{200, 404, 200, 200, 400, 400, 400, 405, 400, 200}
	if len(res.Results) != len(want) {
		t.Fatalf("results = %+v", res.Results)
	}
	for i, r := range res.Results {
		if r.Status != want[i] || (r.Status == 200) != (r.Error == nil) || (r.Status == 200) != (len(r.Result) > 0) {
			t.Fatalf("result %d = %+v (result %s), want status %d", i, r, r.Result, want[i])
		}
	}
	if res.Results[1].Error.Code != protocol.CodeNotFound || string(res.Results[0].Result) != `{"delivered":1}` {
		t.Fatalf("results = %+v", res.Results)
	}
	var pub struct{ Seq uint64 }
	if err := json.Unmarshal(res.Results[2].Result, &pub); err != nil || pub.Seq != 1 {
		t.Fatalf("publish result = %s", res.Results[2].Result)
	}
	var h HistoryPage
	if err := json.Unmarshal(res.Results[3].Result, &h); err != nil || len(h.Messages) != 1 {
		t.Fatalf("history result = %s", res.Results[3].Result)
	}
	// In order, the failures in the middle skipped.
	apiDirect(t, a, `1`)
	if m := a.expect(protocol.TypeMsg); string(m.Data) != `3` {
		t.Fatalf("msg = %+v", m)
	}
	apiDirect(t, a, `5`)
	a.quiet(50 * time.Millisecond)

	// stop_on_error ends at the first failure.
	api.call("POST", "/api/v1/batch", map[string]any{"stop_on_error": true, "ops": []map[string]any{
		{"method": "POST", "path": send, "body": map[string]any{"data": 6}},
		{"method": "POST", "path": send, "body": map[string]any{}},
		{"method": "POST", "path": send, "body": map[string]any{"data": 7}},
	}}, 200, &res)
	if len(res.Results) != 2 || res.Results[1].Status != 400 {
		t.Fatalf("results = %+v", res.Results)
	}
	apiDirect(t, a, `6`)
	a.quiet(50 * time.Millisecond)

	tooMany := make([]map[string]any, apiMaxBatchOps+1)
	for i := range tooMany {
		tooMany[i] = map[string]any{"method": "GET", "path": "/api/v1/stats"}
	}
	api.fail("POST", "/api/v1/batch", map[string]any{"ops": tooMany}, 400, protocol.CodeBadRequest)
	api.fail("POST", "/api/v1/batch", map[string]any{"ops": "x"}, 400, protocol.CodeBadRequest)
	api.call("POST", "/api/v1/batch", map[string]any{"ops": []any{}}, 200, &res)
	if len(res.Results) != 0 {
		t.Fatalf("empty batch = %+v", res.Results)
	}
}

func TestAPIBadRequests(t *testing.T) {
	t.Parallel()
	_, api, wsURL := startAPI(t, Config{MaxMessageSize: 1024}, "")
	a := dial(t, wsURL)
	send := "/api/v1/clients/" + a.welcome.Client + "/send"
	bodyLimit := 2*1024 + apiBodySlack
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"broken JSON", "POST", send, `{"data":`, 400, protocol.CodeBadJSON},
		{"syntax error", "POST", send, `{"data":1,,}`, 400, protocol.CodeBadJSON},
		{"not an object", "POST", send, `[1]`, 400, protocol.CodeBadRequest},
		{"two values", "POST", send, `{"data":1}{"data":2}`, 400, protocol.CodeBadJSON},
		{"a stray bracket after the value", "POST", send, `{"data":1}]`, 400, protocol.CodeBadJSON},
		{"a stray brace after the value", "POST", send, `{"data":1} }`, 400, protocol.CodeBadJSON},
		{"no body", "POST", send, ``, 400, protocol.CodeBadRequest},
		{"unknown field", "POST", send, `{"data":1,"dta":2}`, 400, protocol.CodeBadRequest},
		{"wrong type", "POST", "/api/v1/broadcast", `{"data":1,"exclude":"abc"}`, 400, protocol.CodeBadRequest},
		{"wrong element type", "POST", "/api/v1/broadcast", `{"data":1,"exclude":[1]}`, 400, protocol.CodeBadRequest},
		{"reason not a string", "POST", "/api/v1/clients/" + a.welcome.Client + "/kick", `{"reason":5}`, 400, protocol.CodeBadRequest},
		{"data over the message size", "POST", send, `{"data":"` + strings.Repeat("x", 1100) + `"}`, 413, protocol.CodeTooLarge},
		{"body over the limit", "POST", send, `{"data":"` + strings.Repeat("x", bodyLimit) + `"}`, 413, protocol.CodeTooLarge},
		{"wrong method", "DELETE", send, ``, 405, "method_not_allowed"},
		{"unknown route", "GET", "/api/v1/nothing/here", ``, 404, protocol.CodeNotFound},
		{"unknown client", "POST", "/api/v1/clients/zzzz/send", `{"data":1}`, 404, protocol.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := api.on(t).fail(tt.method, tt.path, tt.body, tt.status, tt.code)
			t.Logf("%d %s: %s", tt.status, e.Code, e.Message)
		})
	}
	t.Run("allow header", func(t *testing.T) {
		t.Parallel()
		status, h, _ := api.on(t).raw("PATCH", "/api/v1/clients/"+a.welcome.Client+"/uid", "")
		if status != 405 || !strings.Contains(h.Get("Allow"), "PUT") || !strings.Contains(h.Get("Allow"), "DELETE") {
			t.Fatalf("status %d, Allow %q", status, h.Get("Allow"))
		}
	})
	t.Run("client untouched", func(t *testing.T) {
		a.quiet(50 * time.Millisecond)
	})
}

func TestAPIAuth(t *testing.T) {
	t.Parallel()
	s, api, _ := startAPI(t, Config{APIKeys: []string{"key-one", "key-two"}}, "")
	for _, tt := range []struct {
		name, header string
		status       int
	}{
		{"missing", "", 401},
		{"wrong", "Bearer nope", 401},
		{"prefix of a key", "Bearer key-on", 401},
		{"not bearer", "Basic a2V5LW9uZQ==", 401},
		{"empty bearer", "Bearer ", 401},
		{"first key", "Bearer key-one", 200},
		{"second key", "Bearer key-two", 200},
		{"scheme in lower case", "bearer key-one", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", api.base+"/api/v1/stats", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := api.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if tt.status == 401 {
				var eb apiErrorBody
				if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != protocol.CodeUnauthorized {
					t.Fatalf("body %s", body)
				}
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	// Authentication comes before routing: an unknown route says 401, not
	// 404, to a caller without a key.
	api.fail("GET", "/api/v1/nothing", nil, 401, protocol.CodeUnauthorized)

	// Rotation: new keys work at once, old ones stop.
	s.SetAPIKeys([]string{"key-three", " "})
	api.key = "key-one"
	api.fail("GET", "/api/v1/stats", nil, 401, protocol.CodeUnauthorized)
	api.key = "key-three"
	api.call("GET", "/api/v1/stats", nil, 200, nil)
	// No keys: loopback callers (this test) need none.
	s.SetAPIKeys(nil)
	api.key = ""
	api.call("GET", "/api/v1/stats", nil, 200, nil)

	// Rotating while requests run is safe (run with -race).
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.SetAPIKeys([]string{"k", fmt.Sprint("k", i)})
		}
	})
	api.key = "k"
	for range 50 {
		api.call("GET", "/api/v1/stats", nil, 200, nil)
	}
	close(stop)
	wg.Wait()
}

// TestAPILoopbackOnly checks, by injecting remote addresses, that a server
// with no API key answers loopback callers only, on the API and on
// /metrics alike.
func TestAPILoopbackOnly(t *testing.T) {
	t.Parallel()
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, remote string
		header       string
		status       int
	}{
		{"IPv4 loopback", "127.0.0.1:5000", "", 200},
		{"all of 127/8", "127.200.0.9:5000", "", 200},
		{"IPv6 loopback", "[::1]:5000", "", 200},
		{"IPv4-mapped loopback", "[::ffff:127.0.0.1]:5000", "", 200},
		{"private address", "10.0.0.7:5000", "", 403},
		{"public address", "203.0.113.5:5000", "", 403},
		{"IPv6 address", "[2001:db8::1]:5000", "", 403},
		{"garbage", "nonsense", "", 403},
		{"through a proxy", "127.0.0.1:5000", "X-Forwarded-For", 403},
		{"through a proxy, Forwarded", "127.0.0.1:5000", "Forwarded", 403},
	} {
		for _, path := range []string{"/api/v1/clients", "/api/v1/stats", "/metrics"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				t.Parallel()
				req := httptest.NewRequest("GET", path, nil)
				req.RemoteAddr = tt.remote
				if tt.header != "" {
					req.Header.Set(tt.header, "for=203.0.113.5")
				}
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, req)
				if rec.Code != tt.status {
					t.Fatalf("status %d %s, want %d", rec.Code, rec.Body, tt.status)
				}
				if tt.status == 403 && !strings.Contains(rec.Body.String(), `"code":"forbidden"`) {
					t.Fatalf("body %s", rec.Body)
				}
			})
		}
	}
}

// TestAPIGoErrors checks that the Go API's errors carry their kind.
func TestAPIGoErrors(t *testing.T) {
	t.Parallel()
	s, err := New(Config{MaxMessageSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	big := json.RawMessage(`"` + strings.Repeat("x", 400) + `"`)
	_, _, errPublish := s.Publish("r", big, PublishOptions{})
	_, errUngroup := s.Ungroup("bad room")
	for _, tt := range []struct {
		name string
		err  error
		kind error
		code string
	}{
		{"send to nobody", s.SendToClient("nobody", json.RawMessage(`1`)), ErrNotFound, protocol.CodeNotFound},
		{"invalid data", s.SendToClient("nobody", json.RawMessage(`{`)), ErrInvalid, protocol.CodeBadRequest},
		{"no data", s.SendToClient("nobody", nil), ErrInvalid, protocol.CodeBadRequest},
		{"too large", errPublish, ErrTooLarge, protocol.CodeTooLarge},
		{"bad room", errUngroup, ErrInvalid, protocol.CodeBadRoom},
		{"session not an object", s.SetSession("nobody", json.RawMessage(`[]`)), ErrInvalid, protocol.CodeBadRequest},
		{"kick nobody", s.Kick("nobody", ""), ErrNotFound, protocol.CodeNotFound},
		{"reason not UTF-8", s.Kick("nobody", "\xff"), ErrInvalid, protocol.CodeBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var oe *OpError
			if !errors.Is(tt.err, tt.kind) || !errors.As(tt.err, &oe) || oe.Code != tt.code || oe.Error() == "" {
				t.Fatalf("err = %v (%T), want kind %v and code %s", tt.err, tt.err, tt.kind, tt.code)
			}
		})
	}
	if s.IsOnline("nobody") || s.IsUIDOnline("nobody") || len(s.ClientIDsByUID("nobody")) != 0 {
		t.Fatal("nobody is online")
	}
	if p, _ := s.ClientIDs(ListOptions{}); p.Total != 0 || len(p.Items) != 0 || p.Next != "" {
		t.Fatalf("ClientIDs = %+v", p)
	}
}

func TestAPIPageOf(t *testing.T) {
	t.Parallel()
	keys := []string{"d", "b", "a", "e", "c"}
	for _, tt := range []struct {
		opts  ListOptions
		items []string
		next  string
	}{
		{ListOptions{}, []string{"a", "b", "c", "d", "e"}, ""},
		{ListOptions{Limit: 2}, []string{"a", "b"}, "b"},
		{ListOptions{After: "b", Limit: 2}, []string{"c", "d"}, "d"},
		{ListOptions{After: "d", Limit: 2}, []string{"e"}, ""},
		{ListOptions{After: "bb", Limit: 2}, []string{"c", "d"}, "d"},
		{ListOptions{After: "e"}, []string{}, ""},
		{ListOptions{After: "0", Limit: 5}, []string{"a", "b", "c", "d", "e"}, ""},
	} {
		t.Run(fmt.Sprintf("%+v", tt.opts), func(t *testing.T) {
			p := stringPage(slices.Clone(keys), tt.opts)
			if !slices.Equal(p.Items, tt.items) || p.Next != tt.next || p.Total != 5 {
				t.Fatalf("page = %+v, want %v next %q", p, tt.items, tt.next)
			}
		})
	}
}

// TestAPIEscapedPath checks that ids with characters that need escaping in
// a URL path reach the handlers intact.
func TestAPIEscapedPath(t *testing.T) {
	t.Parallel()
	_, api, wsURL := startAPI(t, Config{}, "")
	a := dial(t, wsURL)
	uid := "ann/o'neil?#100%"
	mustOK(t, a.cmd(map[string]any{"op": "hello", "uid": uid}))
	var u struct {
		UID     string
		Clients []string
	}
	api.call("GET", "/api/v1/uids/"+url.PathEscape(uid), nil, 200, &u)
	if u.UID != uid || len(u.Clients) != 1 {
		t.Fatalf("uid = %+v", u)
	}
	api.call("POST", "/api/v1/uids/"+url.PathEscape(uid)+"/send", map[string]any{"data": 1}, 200, nil)
	apiDirect(t, a, `1`)
}

// TestAPIRoomChurn races server-side joins, leaves and ungroups against the
// clients' own joins and leaves, then checks that every connection's view
// of its rooms and every room's member list agree.
func TestAPIRoomChurn(t *testing.T) {
	t.Parallel()
	s, _, wsURL := startAPI(t, Config{PresenceMaxMembers: 2}, "")
	var clients []*wsClient
	for range 4 {
		clients = append(clients, dial(t, wsURL))
	}
	rooms := []string{"x", "y"}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			for j := range 200 {
				room := rooms[(i+j)%2]
				switch j % 3 {
				case 0:
					_ = s.JoinRoom(c.welcome.Client, room)
				case 1:
					_ = s.LeaveRoom(c.welcome.Client, room)
				case 2:
					if i == 0 {
						_, _ = s.Ungroup(room)
					}
				}
			}
		})
		wg.Go(func() {
			for j := range 200 {
				op := "join"
				if j%2 == 1 {
					op = "leave"
				}
				c.sendRaw(fmt.Sprintf(`{"op":%q,"room":%q}`, op, rooms[j%2]))
			}
		})
	}
	wg.Wait()
	for _, c := range clients {
		mustOK(t, c.cmd(map[string]any{"op": "ping"})) // its commands are done
	}
	for _, room := range rooms {
		p, err := s.RoomClientIDs(room, ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range clients {
			info, err := s.Client(c.welcome.Client)
			if err != nil {
				t.Fatal(err)
			}
			inRoom := slices.Contains(p.Items, c.welcome.Client)
			thinks := slices.Contains(info.Rooms, room)
			if inRoom != thinks {
				t.Errorf("client %s: member of %s %v, but its rooms say %v", c.welcome.Client, room, inRoom, thinks)
			}
			if inRoom {
				// A member gets the room's messages.
				if e := c.cmd(map[string]any{"op": "presence", "room": room}); !e.OK {
					t.Errorf("presence of %s by a member: %+v", room, e.Error)
				}
			}
		}
	}
}
