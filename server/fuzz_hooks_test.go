package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

// FuzzHookAnswer plays a hostile application behind the event hooks: its
// connect, message and rpc hooks all answer with the input. A client then
// connects, joins a room, publishes and calls an rpc. The properties:
//   - every frame the client gets is UTF-8 and decodes, and it gets either
//     a welcome and an answer to each command, or a close with a 4xxx code
//     (a refusal) or 1013 (the failure policy), within fuzzWait;
//   - a member of the room gets only valid frames (a rewritten message's
//     data included), and the server still answers it.
//
// Seeds beyond these are in testdata/fuzz/FuzzHookAnswer. Run it with
//
//	go test -run '^$' -fuzz '^FuzzHookAnswer$' -fuzztime 60s ./server
func FuzzHookAnswer(f *testing.F) {
	for _, s := range []string{
		``,
		`{}`,
		`null`,
		`{"uid":"ada","name":"Ada","session":{"role":"admin"},"rooms":["r","lobby"]}`,
		`{"refuse":true,"reason":"` + strings.Repeat("no ", 100) + `"}`,
		`{"data":{"text":"rewritten"}}`,
		`{"data":"\ud800"}`,
		"{\"data\":\"\xff\xfe\",\"reason\":\"\xc3\"}",
		`{"data":` + strings.Repeat("[", protocol.MaxDepth+1) + strings.Repeat("]", protocol.MaxDepth+1) + `}`,
		`{"data":1e999999,"session":[1,2]}`,
		`{"error":{"code":"","message":"\u001b]52;c;cm0gLXJmIH4=\u0007"}}`,
		`{"error":{"code":"x","message":"y"},"data":1}`,
		`{"uid":"$server","name":"$server"}`,
		`{"rooms":["` + strings.Repeat("r", 200) + `"]}`,
		`{"data":{"a":1},"data":{"b":2}}`,
		`[1,2]`,
		`{"refuse":"yes"}`,
	} {
		f.Add([]byte(s))
	}
	var answer atomic.Pointer[[]byte]
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := answer.Load()
		if b == nil || r.Header.Get(headerEvent) == eventClose {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*b)
	}))
	f.Cleanup(app.Close)
	cfg := fuzzConfig()
	cfg.HookURL = app.URL
	cfg.HookTimeout = 2 * time.Second
	cfg.HookBreakerFailures = -1
	fs := startFuzzServer(f, cfg)
	obs := newFuzzObserver(f, fs.wsURL, "r")
	f.Fuzz(func(t *testing.T, in []byte) {
		answer.Store(&in)
		defer answer.Store(nil) // the observer reconnects with no hook in the way
		hookClient(t, fs.wsURL, in)
		answer.Store(nil)
		obs.check(t)
	})
}

// hookClient connects, joins r, publishes and calls an rpc, checking
// every frame the server sends.
func hookClient(t *testing.T, url string, in []byte) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("hook answer %q: dial: %v", in, err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(fuzzWait))
	welcomed := false
	want := map[string]bool{"1": true, "2": true, "3": true}
	for !welcomed || len(want) > 0 {
		typ, b, err := ws.ReadMessage()
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce):
			if (ce.Code != protocol.CloseTryAgainLater && (ce.Code < 4000 || ce.Code > 4999)) || !utf8.ValidString(ce.Text) {
				t.Fatalf("hook answer %q: close %d %q", in, ce.Code, ce.Text)
			}
			return
		case err != nil:
			t.Fatalf("hook answer %q: connection ended without a close (welcomed %v, waiting for %v): %v", in, welcomed, want, err)
		case typ != websocket.TextMessage || !utf8.Valid(b):
			t.Fatalf("hook answer %q: frame is not UTF-8 text: %q", in, b)
		}
		err = protocol.Split(b, func(obj []byte) error {
			e, err := protocol.DecodeEvent(obj)
			if err != nil {
				return fmt.Errorf("event %q does not decode: %w", obj, err)
			}
			switch {
			case e.Type == protocol.TypeWelcome && !welcomed:
				welcomed = true
				cmds := `{"op":"join","room":"r","id":1}` + "\n" +
					`{"op":"pub","room":"r","data":{"text":"hi"},"id":2}` + "\n" +
					`{"op":"rpc","method":"m","data":[1],"id":3}`
				return ws.WriteMessage(websocket.TextMessage, []byte(cmds))
			case e.Type == protocol.TypeReply:
				delete(want, string(e.ID))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("hook answer %q: %v", in, err)
		}
	}
}
