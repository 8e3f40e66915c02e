package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rtsync/rtsync/protocol"
)

// Every input path validates what the WebSocket path validates: UTF-8 and
// depth. Invalid UTF-8 relayed in a text frame makes browsers fail the
// connection (and every later visitor of the room, through history); a
// value nested past Go's decoder's limit once wrapped in a history reply
// made the room unreadable for Go clients.
func TestEveryInputPathValidates(t *testing.T) {
	t.Parallel()
	s, api, wsURL := startAPI(t, Config{}, "")
	member := dial(t, wsURL)
	mustOK(t, member.cmd(map[string]any{"op": "join", "room": "lobby"}))
	client := member.welcome.Client

	bad := "{\"text\":\"a\xffb\"}"
	deep := strings.Repeat("[", protocol.MaxDepth+1) + strings.Repeat("]", protocol.MaxDepth+1)
	atLimit := strings.Repeat("[", protocol.MaxDepth) + strings.Repeat("]", protocol.MaxDepth)
	for _, tt := range []struct{ name, method, path, body string }{
		{"publish: bad UTF-8 data", "POST", "/api/v1/rooms/lobby/publish", `{"data":` + bad + `}`},
		{"publish: bad UTF-8 name", "POST", "/api/v1/rooms/lobby/publish", "{\"data\":1,\"name\":\"\xc3\"}"},
		{"publish: too deep", "POST", "/api/v1/rooms/lobby/publish", `{"data":` + deep + `}`},
		{"publish: far too deep for the body", "POST", "/api/v1/rooms/lobby/publish", `{"data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`},
		{"publish: reserved name", "POST", "/api/v1/rooms/lobby/publish", `{"data":1,"name":"$server"}`},
		{"broadcast: bad UTF-8", "POST", "/api/v1/broadcast", `{"data":` + bad + `}`},
		{"broadcast: too deep", "POST", "/api/v1/broadcast", `{"data":` + deep + `}`},
		{"send: bad UTF-8", "POST", "/api/v1/clients/" + client + "/send", `{"data":` + bad + `}`},
		{"send to uid: too deep", "POST", "/api/v1/uids/ann/send", `{"data":` + deep + `}`},
		{"session: bad UTF-8", "PUT", "/api/v1/clients/" + client + "/session", bad},
		{"session: too deep", "PUT", "/api/v1/clients/" + client + "/session", `{"a":` + deep + `}`},
		{"session patch: bad UTF-8", "PATCH", "/api/v1/clients/" + client + "/session", bad},
		{"bind uid: bad UTF-8", "PUT", "/api/v1/clients/" + client + "/uid", "{\"uid\":\"a\xffb\"}"},
		{"bind uid: reserved", "PUT", "/api/v1/clients/" + client + "/uid", `{"uid":"$server"}`},
		{"batch: bad UTF-8 inside", "POST", "/api/v1/batch", `{"ops":[{"method":"POST","path":"/api/v1/broadcast","body":{"data":` + bad + `}}]}`},
		{"batch: too deep inside", "POST", "/api/v1/batch", `{"ops":[{"method":"POST","path":"/api/v1/broadcast","body":{"data":` + deep + `}}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, _, b := api.on(t).raw(tt.method, tt.path, tt.body)
			if status != 400 {
				t.Fatalf("%s %s = %d %s, want 400", tt.method, tt.path, status, b)
			}
		})
	}
	// The path's own parameters: a uid in the URL.
	if status, _, b := api.raw("GET", "/api/v1/uids/%24server", ""); status != 200 && status != 404 && status != 400 {
		t.Fatalf("GET uid $server = %d %s", status, b)
	}

	// Nothing reached the member; a value at the limit does, and comes back
	// readable through history.
	api.call("POST", "/api/v1/rooms/lobby/publish", map[string]any{"data": json.RawMessage(atLimit)}, 200, nil)
	e := member.expect(protocol.TypeMsg)
	if string(e.Data) != atLimit {
		t.Fatalf("member got %.80s, want the value at the depth limit", e.Data)
	}
	h := member.cmd(map[string]any{"op": "history", "room": "lobby"})
	mustOK(t, h)
	if len(h.Messages) != 1 {
		t.Fatalf("history holds %d messages, want only the valid one", len(h.Messages))
	}
	if st := s.Stats(); st.Published != 1 {
		t.Fatalf("published = %d, want 1", st.Published)
	}
}

// The WebSocket path itself: a frame nested past the limit gets an error
// reply that names the limit, and the connection goes on.
func TestWebSocketDepthLimit(t *testing.T) {
	t.Parallel()
	_, wsURL := startServer(t, Config{})
	c := dial(t, wsURL)
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
	c.sendRaw(`{"op":"pub","id":1,"room":"r","data":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`)
	e := c.expect(protocol.TypeReply)
	mustErr(t, e, protocol.CodeBadRequest)
	if !strings.Contains(e.Error.Message, "levels deep") {
		t.Fatalf("error %q does not name the depth limit", e.Error.Message)
	}
	mustOK(t, c.cmd(map[string]any{"op": "ping"}))
}

// A client may not take the server's identity: not in open mode's hello,
// not through a token's sub or name claim.
func TestReservedServerIdentity(t *testing.T) {
	t.Parallel()
	_, open := startServer(t, Config{})
	c := dial(t, open)
	mustErr(t, c.cmd(map[string]any{"op": "hello", "uid": "$server"}), protocol.CodeBadRequest)
	mustErr(t, c.cmd(map[string]any{"op": "hello", "name": "$server"}), protocol.CodeBadRequest)

	_, jwtURL := startServer(t, Config{JWTSecret: testSecret})
	if ce := refused(t, jwtURL, hs(t, claims("$server", nil))); !strings.Contains(ce.Text, "reserved") {
		t.Fatalf("token sub $server: close %q, want it to say reserved", ce.Text)
	}
	if ce := refused(t, jwtURL, hs(t, claims("ann", map[string]any{"name": "$server"}))); !strings.Contains(ce.Text, "reserved") {
		t.Fatalf("token name $server: close %q, want it to say reserved", ce.Text)
	}
}

// hostileApp is an application (in-process hooks) that answers with what
// the server must not relay.
type hostileApp struct{ data, session string }

func (a hostileApp) Connect(context.Context, *ConnectEvent) (*ConnectResult, error) {
	if a.session == "" {
		return nil, nil
	}
	return &ConnectResult{Session: json.RawMessage(a.session)}, nil
}

func (a hostileApp) Message(context.Context, *MessageEvent) (*MessageResult, error) {
	return &MessageResult{Data: json.RawMessage(a.data)}, nil
}

func (a hostileApp) RPC(context.Context, *RPCEvent) (*RPCResult, error) {
	return &RPCResult{Error: &protocol.Error{Code: "x\xff", Message: "bad \xc3 text"}}, nil
}

func (hostileApp) Close(context.Context, *CloseEvent) {}

// The application behind the hooks is an input path too.
func TestHookResultsValidated(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, data string }{
		{"bad UTF-8 rewrite", "\"a\xffb\""},
		{"too deep rewrite", strings.Repeat("[", protocol.MaxDepth+1) + strings.Repeat("]", protocol.MaxDepth+1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, wsURL := startServer(t, Config{Events: hostileApp{data: tt.data}})
			c := dial(t, wsURL)
			mustOK(t, c.cmd(map[string]any{"op": "join", "room": "r"}))
			// Fail closed (the default): the publisher is told, nothing is relayed.
			mustErr(t, c.cmd(map[string]any{"op": "pub", "room": "r", "data": 1}), protocol.CodeUnavailable)
			c.quiet(50 * time.Millisecond)
			if f := s.Stats().Hooks.Failures[failBadResult]; f != 1 {
				t.Fatalf("bad_result failures = %d, want 1", f)
			}
			// An rpc error's text is made valid before it is relayed.
			e := c.cmd(map[string]any{"op": "rpc", "method": "m"})
			if e.Error == nil || !utf8.ValidString(e.Error.Message) || !utf8.ValidString(e.Error.Code) {
				t.Fatalf("rpc error = %+v, want valid UTF-8", e.Error)
			}
		})
	}
	t.Run("bad UTF-8 session", func(t *testing.T) {
		t.Parallel()
		_, wsURL := startServer(t, Config{Events: hostileApp{data: "1", session: "{\"a\":\"\xff\"}"}})
		if code, _ := dialClosed(t, wsURL); code != protocol.CloseTryAgainLater {
			t.Fatalf("close = %d, want 1013 (the connect result is refused, fail closed)", code)
		}
	})
}
