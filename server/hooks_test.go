package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/internal/syncbuf"
	"github.com/rtsync/rtsync/protocol"
)

// hookReq is one request a hookBackend received.
type hookReq struct {
	Event  string
	Header http.Header
	Body   []byte
	Fields map[string]any
}

// hookBackend stands in for the application behind --hook-url: it records
// every request, tracks how many are in flight, and answers with answer
// (nil: 204).
type hookBackend struct {
	*httptest.Server
	answer func(w http.ResponseWriter, r *http.Request, req hookReq)

	mu   sync.Mutex
	reqs []hookReq
	// arrived is closed, and replaced, when a request is recorded.
	arrived     chan struct{}
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
}

func newHookBackend(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, req hookReq)) *hookBackend {
	t.Helper()
	b := &hookBackend{answer: answer, arrived: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.Close)
	return b
}

func (b *hookBackend) serve(w http.ResponseWriter, r *http.Request) {
	n := b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	for {
		m := b.maxInFlight.Load()
		if n <= m || b.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	body, _ := io.ReadAll(r.Body)
	req := hookReq{Event: r.Header.Get(headerEvent), Header: r.Header.Clone(), Body: body}
	_ = json.Unmarshal(body, &req.Fields)
	b.mu.Lock()
	b.reqs = append(b.reqs, req)
	close(b.arrived)
	b.arrived = make(chan struct{})
	b.mu.Unlock()
	if b.answer == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	b.answer(w, r, req)
}

// requests returns the requests received so far for event ("" for all).
func (b *hookBackend) requests(event string) []hookReq {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []hookReq
	for _, r := range b.reqs {
		if event == "" || r.Event == event {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits until n requests for event arrived and returns them.
func (b *hookBackend) waitFor(t *testing.T, event string, n int) []hookReq {
	t.Helper()
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		b.mu.Lock()
		arrived := b.arrived
		b.mu.Unlock()
		if reqs := b.requests(event); len(reqs) >= n {
			return reqs
		}
		select {
		case <-arrived:
		case <-timeout.C:
			t.Fatalf("got %d %s hook requests, want %d", len(b.requests(event)), event, n)
		}
	}
}

// answerJSON answers every event with the JSON result results[event]
// (204 when there is none).
func answerJSON(results map[string]any) func(http.ResponseWriter, *http.Request, hookReq) {
	return func(w http.ResponseWriter, _ *http.Request, req hookReq) {
		res, ok := results[req.Event]
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	}
}

// deadURL returns a URL on a loopback port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr + "/hook"
}

// dialClosed dials a server expected to refuse the connection after the
// upgrade, and returns the close code and reason it sent.
func dialClosed(t *testing.T, url string) (int, string) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer func() { _ = ws.Close() }()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, b, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		if err != nil {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		t.Fatalf("got %s before the close, want nothing", b)
	}
}

func TestHookConnect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		result any // connect result; nil: 204
		check  func(t *testing.T, url string, b *hookBackend)
	}{
		{
			name: "accepted unchanged",
			check: func(t *testing.T, url string, b *hookBackend) {
				c := dial(t, url+"?user=ann&x=1")
				if c.welcome.UID != "" || c.welcome.Name != "" {
					t.Fatalf("welcome = %+v, want no uid or name", c.welcome)
				}
				ev := b.waitFor(t, eventConnect, 1)[0].Fields
				if ev["client"] != c.welcome.Client || ev["transport"] != "ws" || !strings.HasPrefix(ev["remote_addr"].(string), "127.0.0.1:") {
					t.Fatalf("connect event = %v", ev)
				}
				q := ev["query"].(map[string]any)
				if q["user"].([]any)[0] != "ann" || q["x"].([]any)[0] != "1" {
					t.Fatalf("connect event query = %v", q)
				}
				if h := ev["headers"].(map[string]any); h["Sec-Websocket-Version"] == nil {
					t.Fatalf("connect event headers = %v", h)
				}
			},
		},
		{
			name:   "refused with reason",
			result: map[string]any{"refuse": true, "reason": "banned until tomorrow"},
			check: func(t *testing.T, url string, b *hookBackend) {
				code, reason := dialClosed(t, url)
				if code != protocol.CloseForbidden || reason != "banned until tomorrow" {
					t.Fatalf("close = %d %q, want 4003 with the reason", code, reason)
				}
			},
		},
		{
			name:   "refused without reason",
			result: map[string]any{"refuse": true},
			check: func(t *testing.T, url string, b *hookBackend) {
				if code, reason := dialClosed(t, url); code != protocol.CloseForbidden || reason != "forbidden" {
					t.Fatalf("close = %d %q, want 4003 forbidden", code, reason)
				}
			},
		},
		{
			name:   "refused with a reason too long for a close frame",
			result: map[string]any{"refuse": true, "reason": strings.Repeat("é", 100)},
			check: func(t *testing.T, url string, b *hookBackend) {
				code, reason := dialClosed(t, url)
				if code != protocol.CloseForbidden || reason != strings.Repeat("é", 61) {
					t.Fatalf("close = %d %q (%d bytes), want 4003 with the reason cut to 122 bytes", code, reason, len(reason))
				}
			},
		},
		{
			name: "identity, session and rooms set",
			result: map[string]any{"uid": "u-ann", "name": "Ann", "session": map[string]any{"plan": "pro", "n": 1},
				"rooms": []string{"lobby", "user:u-ann"}},
			check: func(t *testing.T, url string, b *hookBackend) {
				c := dial(t, url)
				if c.welcome.UID != "u-ann" || c.welcome.Name != "Ann" {
					t.Fatalf("welcome = %+v, want the uid and name the application set", c.welcome)
				}
				// The rooms were joined on the client's behalf: presence
				// lists it, and another member sees its messages.
				for _, room := range []string{"lobby", "user:u-ann"} {
					r := mustOK(t, c.cmd(map[string]any{"op": "presence", "room": room}))
					if len(r.Members) != 1 || r.Members[0].Client != c.welcome.Client || r.Members[0].UID != "u-ann" || r.Members[0].Name != "Ann" {
						t.Fatalf("presence of %s = %+v", room, r.Members)
					}
				}
				d := dial(t, url) // joins the same two rooms
				for _, room := range []string{"lobby", "user:u-ann"} {
					if e := c.expect(protocol.TypeJoin); e.Client != d.welcome.Client || e.Room != room {
						t.Fatalf("presence event = %+v, want %s joining %s", e, d.welcome.Client, room)
					}
				}
				mustOK(t, d.cmd(map[string]any{"op": "pub", "room": "lobby", "data": "hi"}))
				if m := c.expect(protocol.TypeMsg); string(m.Data) != `"hi"` {
					t.Fatalf("msg = %+v", m)
				}
				// The session rides along with later events.
				mustOK(t, c.cmd(map[string]any{"op": "rpc", "method": "x"}))
				rpc := b.waitFor(t, eventRPC, 1)[0].Fields
				if rpc["uid"] != "u-ann" || rpc["name"] != "Ann" || !jsonEqual(rpc["session"], map[string]any{"plan": "pro", "n": 1.0}) {
					t.Fatalf("rpc event = %v, want the connect result's identity and session", rpc)
				}
			},
		},
		{
			name:   "invalid uid in the result fails closed",
			result: map[string]any{"uid": "has space"},
			check: func(t *testing.T, url string, b *hookBackend) {
				if code, _ := dialClosed(t, url); code != protocol.CloseTryAgainLater {
					t.Fatalf("close = %d, want 1013", code)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			results := map[string]any{}
			if tt.result != nil {
				results[eventConnect] = tt.result
			}
			b := newHookBackend(t, answerJSON(results))
			_, url := startServer(t, Config{HookURL: b.URL})
			tt.check(t, url, b)
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestHookMessage(t *testing.T) {
	t.Parallel()
	b := newHookBackend(t, func(w http.ResponseWriter, _ *http.Request, req hookReq) {
		if req.Event != eventMessage {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		data, _ := req.Fields["data"].(map[string]any)
		switch data["text"] {
		case "refuse":
			_, _ = io.WriteString(w, `{"refuse":true,"reason":"no shouting"}`)
		case "refuse silently":
			_, _ = io.WriteString(w, `{"refuse":true}`)
		case "rewrite":
			// Pretty-printed: the server must compact it.
			_, _ = io.WriteString(w, "{\"data\": {\n  \"text\": \"***\",\n  \"censored\": true\n}}")
		case "empty":
			w.WriteHeader(http.StatusOK) // empty body: unchanged
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	_, url := startServer(t, Config{HookURL: b.URL})
	pub, sub := dial(t, url), dial(t, url)
	mustOK(t, pub.cmd(map[string]any{"op": "hello", "uid": "p1", "name": "Pub"}))
	for _, c := range []*wsClient{pub, sub} {
		mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
	}
	pub.expect(protocol.TypeJoin)

	e := pub.cmd(map[string]any{"op": "pub", "room": "r", "data": map[string]any{"text": "refuse"}})
	mustErr(t, e, protocol.CodeForbidden)
	if e.Error.Message != "no shouting" {
		t.Fatalf("refusal message = %q, want the application's reason", e.Error.Message)
	}
	mustErr(t, pub.cmd(map[string]any{"op": "pub", "room": "r", "data": map[string]any{"text": "refuse silently"}}), protocol.CodeForbidden)
	sub.quiet(50 * time.Millisecond)

	mustOK(t, pub.cmd(map[string]any{"op": "pub", "room": "r", "data": map[string]any{"text": "rewrite"}, "noecho": true}))
	if m := sub.expect(protocol.TypeMsg); string(m.Data) != `{"text":"***","censored":true}` || m.Seq != 1 {
		t.Fatalf("rewritten msg = %s (seq %d)", m.Data, m.Seq)
	}
	for _, text := range []string{"pass", "empty"} {
		mustOK(t, pub.cmd(map[string]any{"op": "pub", "room": "r", "data": map[string]any{"text": text}, "noecho": true}))
		if m := sub.expect(protocol.TypeMsg); string(m.Data) != `{"text":"`+text+`"}` {
			t.Fatalf("msg = %s, want it unchanged", m.Data)
		}
	}
	// History holds what was sent, not what was published.
	h := mustOK(t, sub.cmd(map[string]any{"op": "history", "room": "r"}))
	if len(h.Messages) != 3 || string(h.Messages[0].Data) != `{"text":"***","censored":true}` {
		t.Fatalf("history = %+v", h.Messages)
	}
	ev := b.waitFor(t, eventMessage, 5)[0].Fields
	if ev["room"] != "r" || ev["uid"] != "p1" || ev["name"] != "Pub" || ev["client"] != pub.welcome.Client {
		t.Fatalf("message event = %v", ev)
	}
}

func TestHookRPC(t *testing.T) {
	t.Parallel()
	b := newHookBackend(t, func(w http.ResponseWriter, _ *http.Request, req hookReq) {
		if req.Event != eventRPC {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		switch req.Fields["method"] {
		case "time":
			_, _ = io.WriteString(w, `{"data":{"now":123,"echo":`+string(mustJSON(req.Fields["data"]))+`}}`)
		case "fail":
			_, _ = io.WriteString(w, `{"error":{"code":"not_allowed","message":"admins only"}}`)
		case "nocode":
			_, _ = io.WriteString(w, `{"error":{"message":"plain"}}`)
		case "void":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	})
	_, url := startServer(t, Config{HookURL: b.URL})
	c := dial(t, url)
	r := mustOK(t, c.cmd(map[string]any{"op": "rpc", "method": "time", "data": map[string]any{"a": 1}}))
	if string(r.Data) != `{"now":123,"echo":{"a":1}}` {
		t.Fatalf("rpc reply data = %s", r.Data)
	}
	e := c.cmd(map[string]any{"op": "rpc", "method": "fail"})
	mustErr(t, e, "not_allowed")
	if e.Error.Message != "admins only" {
		t.Fatalf("rpc error = %+v", e.Error)
	}
	mustErr(t, c.cmd(map[string]any{"op": "rpc", "method": "nocode"}), protocol.CodeRPCError)
	if r := mustOK(t, c.cmd(map[string]any{"op": "rpc", "method": "void"})); r.Data != nil {
		t.Fatalf("rpc reply data = %s, want none", r.Data)
	}
	mustErr(t, c.cmd(map[string]any{"op": "rpc", "method": "500"}), protocol.CodeUnavailable)
	ev := b.waitFor(t, eventRPC, 1)[0]
	if ev.Fields["method"] != "time" || ev.Fields["client"] != c.welcome.Client || !jsonEqual(ev.Fields["data"], map[string]any{"a": 1}) {
		t.Fatalf("rpc event = %v", ev.Fields)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestHookRPCNotConfigured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  func(url string) Config
	}{
		{"no hook", func(string) Config { return Config{} }},
		{"hooks without an rpc URL", func(u string) Config { return Config{HookConnectURL: u, HookCloseURL: u} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newHookBackend(t, nil)
			_, url := startServer(t, tt.cfg(b.URL))
			c := dial(t, url)
			mustErr(t, c.cmd(map[string]any{"op": "rpc", "method": "time"}), protocol.CodeUnknownOp)
			if n := len(b.requests(eventRPC)); n != 0 {
				t.Fatalf("%d rpc requests sent, want none", n)
			}
		})
	}
}

func TestHookClose(t *testing.T) {
	t.Parallel()
	b := newHookBackend(t, answerJSON(map[string]any{eventConnect: map[string]any{"uid": "u1", "session": map[string]any{"k": "v"}}}))
	s, url := startServer(t, Config{HookURL: b.URL, PublishRate: 1, PublishBurst: 1})

	// The client closes with a code and reason.
	c := dial(t, url)
	_ = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	ev := b.waitFor(t, eventClose, 1)[0].Fields
	if ev["client"] != c.welcome.Client || ev["uid"] != "u1" || ev["code"] != 1000.0 || ev["reason"] != "bye" || !jsonEqual(ev["session"], map[string]any{"k": "v"}) {
		t.Fatalf("close event = %v", ev)
	}

	// The connection just drops.
	c = dial(t, url)
	_ = c.ws.NetConn().Close()
	ev = b.waitFor(t, eventClose, 2)[1].Fields
	if ev["client"] != c.welcome.Client || ev["code"] != 1006.0 || ev["reason"] != nil {
		t.Fatalf("close event = %v, want code 1006 and no reason", ev)
	}

	// The server closes it (flooding).
	c = dial(t, url)
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
	for range 50 {
		// The server may close the connection before the 50th: a
		// refused write is the point, not a failure.
		if c.ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"pub","room":"r","data":1}`)) != nil {
			break
		}
	}
	ev = b.waitFor(t, eventClose, 3)[2].Fields
	if ev["client"] != c.welcome.Client || ev["code"] != float64(protocol.CloseRateLimited) || ev["reason"] != "rate limited" {
		t.Fatalf("close event = %v, want 4009", ev)
	}

	if st := s.Stats().Hooks; st.Calls[eventClose] != 3 || st.CloseQueued != 0 {
		t.Fatalf("hook stats = %+v", st)
	}
}

func TestHookSignature(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		secret string
	}{
		{"signed", "s3cret-key"},
		{"unsigned", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newHookBackend(t, nil)
			_, url := startServer(t, Config{HookURL: b.URL, HookSecret: tt.secret, Node: "node-7", Version: "v1.2"})
			before := time.Now()
			dial(t, url)
			r := b.waitFor(t, eventConnect, 1)[0]
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q", ct)
			}
			if ua := r.Header.Get("User-Agent"); ua != "rtsync/v1.2" {
				t.Fatalf("User-Agent = %q", ua)
			}
			if r.Fields["event"] != "connect" || r.Fields["node"] != "node-7" {
				t.Fatalf("body = %s", r.Body)
			}
			if ms := int64(r.Fields["time"].(float64)); ms < before.UnixMilli() || ms > time.Now().UnixMilli() {
				t.Fatalf("time = %d, want now (unix ms)", ms)
			}
			if !bytes.HasPrefix(r.Body, []byte(`{"event":"connect","node":"node-7","time":`)) {
				t.Fatalf("body = %s, want event, node and time first", r.Body)
			}
			ts := r.Header.Get(headerTimestamp)
			sec, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || sec < before.Unix() || sec > time.Now().Unix() {
				t.Fatalf("timestamp %q, want now in unix seconds", ts)
			}
			sig := r.Header.Get(headerSignature)
			if tt.secret == "" {
				if sig != "" {
					t.Fatalf("unsigned request has signature %q", sig)
				}
				return
			}
			mac := hmac.New(sha256.New, []byte(tt.secret))
			mac.Write([]byte(ts + "." + string(r.Body)))
			if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); sig != want {
				t.Fatalf("signature = %q, want %q", sig, want)
			}
			if Sign([]byte(tt.secret), ts, r.Body) != sig {
				t.Fatal("Sign disagrees with the request's signature")
			}
		})
	}
}

func TestHookFailurePolicy(t *testing.T) {
	t.Parallel()
	slow := func(t *testing.T) string {
		b := newHookBackend(t, func(w http.ResponseWriter, r *http.Request, _ hookReq) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			w.WriteHeader(http.StatusNoContent)
		})
		return b.URL
	}
	broken := func(t *testing.T) string {
		return newHookBackend(t, func(w http.ResponseWriter, _ *http.Request, _ hookReq) {
			_, _ = io.WriteString(w, "<html>not json</html>")
		}).URL
	}
	hooks := []struct {
		name string
		url  func(t *testing.T) string
		kind string
	}{
		{"slow", slow, failTimeout},
		{"dead", deadURL, failConnection},
		{"broken", broken, failBadResponse},
	}
	for _, hk := range hooks {
		for _, open := range []bool{false, true} {
			name := hk.name + "/fail closed"
			if open {
				name = hk.name + "/fail open"
			}
			t.Run(name+"/connect", func(t *testing.T) {
				t.Parallel()
				s, url := startServer(t, Config{HookConnectURL: hk.url(t), HookTimeout: 200 * time.Millisecond, HookFailOpen: open})
				start := time.Now()
				if open {
					dial(t, url)
				} else if code, reason := dialClosed(t, url); code != protocol.CloseTryAgainLater || !strings.Contains(reason, "try again later") {
					t.Fatalf("close = %d %q, want 1013", code, reason)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Fatalf("took %s with a 200ms hook timeout", d)
				}
				if f := s.Stats().Hooks.Failures; f[hk.kind] != 1 {
					t.Fatalf("failures = %v, want one %s", f, hk.kind)
				}
			})
			t.Run(name+"/message", func(t *testing.T) {
				t.Parallel()
				_, url := startServer(t, Config{HookMessageURL: hk.url(t), HookTimeout: 200 * time.Millisecond, HookFailOpen: open})
				c := dial(t, url) // no connect URL: accepted without a call
				mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
				e := c.cmd(map[string]any{"op": "pub", "room": "r", "data": 1, "noecho": true})
				if open {
					mustOK(t, e)
				} else {
					mustErr(t, e, protocol.CodeUnavailable)
				}
			})
			t.Run(name+"/rpc", func(t *testing.T) {
				t.Parallel()
				_, url := startServer(t, Config{HookRPCURL: hk.url(t), HookTimeout: 200 * time.Millisecond, HookFailOpen: open})
				c := dial(t, url)
				mustErr(t, c.cmd(map[string]any{"op": "rpc", "method": "m"}), protocol.CodeUnavailable)
			})
		}
	}
}

func TestHookConcurrencyLimit(t *testing.T) {
	t.Parallel()
	b := newHookBackend(t, func(w http.ResponseWriter, _ *http.Request, _ hookReq) {
		time.Sleep(100 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	})
	s, url := startServer(t, Config{HookMessageURL: b.URL, HookConcurrency: 2})
	const clients = 8
	cs := make([]*wsClient, clients)
	for i := range cs {
		cs[i] = dial(t, url)
		mustOK(t, cs[i].cmd(map[string]any{"op": "join", "room": "r" + itoa(i)}))
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { c.sendRaw(`{"op":"pub","room":"r` + itoa(i) + `","data":1,"id":"p","noecho":true}`) })
	}
	wg.Wait()
	for _, c := range cs {
		mustOK(t, c.expect(protocol.TypeReply))
	}
	if m := b.maxInFlight.Load(); m != 2 {
		t.Fatalf("at most %d requests in flight at the application, want 2 (the limit, reached)", m)
	}
	if st := s.Stats().Hooks; st.Calls[eventMessage] != clients || len(st.Failures) != 0 || st.InFlight != 0 || st.Waiting != 0 {
		t.Fatalf("hook stats = %+v", st)
	}
}

func TestHookSaturated(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	b := newHookBackend(t, func(w http.ResponseWriter, r *http.Request, _ hookReq) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	})
	defer close(release)
	var m hookMetrics
	cfg, _ := Config{HookURL: b.URL, HookConcurrency: 1}.withDefaults()
	h := newHTTPHooks(cfg, &m, slog.New(slog.DiscardHandler))
	errc := make(chan error, 1)
	go func() {
		_, err := h.Message(context.Background(), &MessageEvent{Who: Who{Client: "a"}, Room: "r", Data: json.RawMessage("1")})
		errc <- err
	}()
	b.waitFor(t, eventMessage, 1) // the one slot is taken
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := h.Message(ctx, &MessageEvent{Who: Who{Client: "b"}, Room: "r", Data: json.RawMessage("1")})
	var he *hookErr
	if !errors.As(err, &he) || he.kind != failSaturated {
		t.Fatalf("err = %v, want saturated", err)
	}
	release <- struct{}{}
	if err := <-errc; err != nil {
		t.Fatalf("first call: %v", err)
	}
	if n := len(b.requests("")); n != 1 {
		t.Fatalf("%d requests reached the application, want 1", n)
	}
}

func TestHookBreaker(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits out breaker cooldowns; runs without -short")
	}
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	b := newHookBackend(t, func(w http.ResponseWriter, _ *http.Request, _ hookReq) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	var logs syncbuf.Buffer
	// Long enough that the five calls below always fit inside it on a
	// loaded 2-core CI machine.
	const cooldown = time.Second
	s, url := startServer(t, Config{
		HookURL: b.URL + "/events?key=QUERYSECRET", HookSecret: "HOOKSECRET", HookFailOpen: true,
		HookBreakerFailures: 3, HookBreakerCooldown: cooldown,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	c := dial(t, url) // connect fails (1), fail open
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
	pub := func() { mustOK(t, c.cmd(map[string]any{"op": "pub", "room": "r", "data": 1, "noecho": true})) }
	pub()
	pub() // third failure in a row: the breaker opens
	if n := len(b.requests("")); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	st := s.Stats().Hooks
	if len(st.OpenBreakers) != 1 || st.OpenBreakers[0] != b.URL+"/events?…" {
		t.Fatalf("open breakers = %q", st.OpenBreakers)
	}
	// Open: calls fail at once, the policy applies, nothing is sent.
	start := time.Now()
	for range 5 {
		pub()
	}
	if d := time.Since(start); d > cooldown {
		t.Fatalf("5 publishes took %s with the breaker open", d)
	}
	if n := len(b.requests("")); n != 3 {
		t.Fatalf("%d requests with the breaker open, want still 3", n)
	}
	// After the cooldown a probe goes out; it fails: open again.
	time.Sleep(cooldown + 50*time.Millisecond)
	pub()
	pub()
	if n := len(b.requests("")); n != 4 {
		t.Fatalf("%d requests after the cooldown, want one probe more (4)", n)
	}
	// The application is back: the next probe closes the breaker.
	down.Store(false)
	time.Sleep(cooldown + 50*time.Millisecond)
	pub()
	pub()
	if n := len(b.requests("")); n != 6 {
		t.Fatalf("%d requests after recovery, want 6", n)
	}
	st = s.Stats().Hooks
	if len(st.OpenBreakers) != 0 || st.Failures[failStatus] != 4 || st.Failures[failBreakerOpen] != 6 || st.Calls[eventConnect] != 1 || st.Calls[eventMessage] != 11 {
		t.Fatalf("hook stats = %+v", st)
	}
	if st.LatencySeconds <= 0 || st.InFlight != 0 {
		t.Fatalf("hook stats = %+v", st)
	}
	out := logs.String()
	for _, want := range []string{"circuit breaker open", "circuit breaker closed", "kind=status", "kind=breaker_open"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"QUERYSECRET", "HOOKSECRET"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs show the secret %s:\n%s", secret, out)
		}
	}
	// One warn line per failure kind per 10s, however many failures.
	if n := strings.Count(out, `msg="event hook failed"`); n != 2 {
		t.Errorf("%d failure lines, want 2 (status, breaker_open):\n%s", n, out)
	}
}

func TestHookPerEventURL(t *testing.T) {
	t.Parallel()
	main := newHookBackend(t, nil)
	msgs := newHookBackend(t, answerJSON(map[string]any{eventMessage: map[string]any{"data": "from override"}}))
	_, url := startServer(t, Config{HookURL: main.URL, HookMessageURL: msgs.URL})
	c := dial(t, url)
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
	mustOK(t, c.cmd(map[string]any{"op": "pub", "room": "r", "data": 1}))
	if m := c.expect(protocol.TypeMsg); string(m.Data) != `"from override"` {
		t.Fatalf("msg = %s", m.Data)
	}
	mustOK(t, c.cmd(map[string]any{"op": "rpc", "method": "m"}))
	if len(main.requests(eventConnect)) != 1 || len(main.requests(eventRPC)) != 1 || len(main.requests(eventMessage)) != 0 {
		t.Fatalf("main hook got %d requests", len(main.requests("")))
	}
	if len(msgs.requests(eventMessage)) != 1 || len(msgs.requests("")) != 1 {
		t.Fatalf("message hook got %d requests", len(msgs.requests("")))
	}
}

// blockingEvents is an in-process handler whose Close blocks until
// released, and whose Connect panics when asked to.
type blockingEvents struct {
	release chan struct{}
	closes  atomic.Int64
}

func (e *blockingEvents) Connect(_ context.Context, ev *ConnectEvent) (*ConnectResult, error) {
	if ev.Query.Get("panic") != "" {
		panic("boom")
	}
	return nil, nil
}

func (e *blockingEvents) Message(context.Context, *MessageEvent) (*MessageResult, error) {
	return nil, errors.New("no messages today")
}

func (e *blockingEvents) RPC(context.Context, *RPCEvent) (*RPCResult, error) {
	return &RPCResult{Data: json.RawMessage("not json")}, nil
}

func (e *blockingEvents) Close(context.Context, *CloseEvent) {
	<-e.release
	e.closes.Add(1)
}

func TestHookInProcess(t *testing.T) {
	t.Parallel()
	ev := &blockingEvents{release: make(chan struct{})}
	s, url := startServer(t, Config{Events: ev, HookURL: "http://127.0.0.1:1/ignored", HookConcurrency: 2})
	if code, _ := dialClosed(t, url+"?panic=1"); code != protocol.CloseTryAgainLater {
		t.Fatalf("close = %d after a panicking connect handler, want 1013", code)
	}
	c := dial(t, url)
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
	mustErr(t, c.cmd(map[string]any{"op": "pub", "room": "r", "data": 1}), protocol.CodeUnavailable)
	mustErr(t, c.cmd(map[string]any{"op": "rpc", "method": "m"}), protocol.CodeUnavailable)
	f := s.Stats().Hooks.Failures
	if f[failPanic] != 1 || f[failError] != 1 || f[failBadResult] != 1 {
		t.Fatalf("failures = %v", f)
	}

	// Close events: one worker (half of 2 slots), three waiting at most;
	// the rest are dropped and counted.
	s.closes.mu.Lock()
	s.closes.limit = 3
	s.closes.mu.Unlock()
	for range 6 {
		d := dial(t, url)
		_ = d.ws.NetConn().Close()
	}
	_ = c.ws.NetConn().Close()
	// A connection leaves the hub after its close event was queued or
	// dropped: once the hub is empty, the count is final.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !s.hub.waitEmpty(ctx) {
		t.Fatalf("%d connections still open", s.hub.count.Load())
	}
	if n := s.Stats().Hooks.Failures[failDropped]; n != 3 {
		t.Fatalf("hook stats = %+v, want 3 close events dropped", s.Stats().Hooks)
	}
	s.closes.mu.Lock()
	workers := s.closes.workers
	s.closes.mu.Unlock()
	if workers != 1 {
		t.Fatalf("%d close workers, want 1", workers)
	}
	close(ev.release)
	s.closes.wait(ctx)
	if n := ev.closes.Load(); n != 4 {
		t.Fatalf("%d close events handled, want 4", n)
	}
}

func TestHookConfigErrors(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{HookURL: "ftp://example.com/x"},
		{HookMessageURL: "/relative"},
		{HookCloseURL: "http://"},
		{HookConcurrency: -1},
		{HookTimeout: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted it", cfg)
		}
	}
}

func TestHookCloseReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty is the code's text", "", "forbidden"},
		{"short kept", "go away", "go away"},
		{"long ascii cut", strings.Repeat("a", 200), strings.Repeat("a", 123)},
		{"cut at a character boundary", strings.Repeat("€", 50), strings.Repeat("€", 41)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := closeReason(protocol.CloseForbidden, tt.in); got != tt.want {
				t.Fatalf("closeReason = %q (%d bytes), want %q", got, len(got), tt.want)
			}
		})
	}
}
