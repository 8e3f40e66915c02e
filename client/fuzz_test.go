package client_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
)

// FuzzServerFrames plays a hostile server: after a welcome, it answers
// every command the client sends with the input as one frame, "$ID"
// replaced by the command's id so that the input can settle calls, then
// with an error reply that settles the call if the input did not. The
// client joins, publishes, asks for history and presence and calls an
// rpc. The properties:
//   - nothing panics, and every call returns within its timeout, with a
//     result or an error;
//   - a call that succeeds returns what the frame said it should (history
//     messages are msg events of the room asked, a join's room is the
//     room), never a value from another reply;
//   - the events channel only carries known kinds, and Close ends the
//     client.
//
// Seeds beyond these are in testdata/fuzz/FuzzServerFrames. Run it with
//
//	go test -run '^$' -fuzz '^FuzzServerFrames$' -fuzztime 60s ./client
func FuzzServerFrames(f *testing.F) {
	for _, s := range []string{
		`{"type":"reply","id":$ID,"ok":true,"room":"r","seq":1,"epoch":"e"}`,
		`{"type":"reply","id":$ID,"ok":true,"room":"r","seq":0,"messages":[{"type":"msg","room":"r","seq":1,"epoch":"e","from":{"client":"c"},"data":1}],"more":true,"next_seq":0}`,
		`{"type":"reply","id":$ID,"ok":true,"members":[{"client":"c"}],"next":"c","total":-1}`,
		`{"type":"reply","id":$ID,"ok":false,"error":{"code":"not_joined","message":"\u001b]0;x\u0007"}}`,
		"{\"type\":\"msg\",\"room\":\"r\",\"seq\":18446744073709551615,\"epoch\":\"e\",\"from\":{\"client\":\"c\"},\"data\":\"\xff\"}\n{\"type\":\"reply\",\"id\":$ID,\"ok\":true}",
		`{"type":"welcome","client":"x","protocol":99}`,
		`{"type":"reply","id":"$ID","ok":true}`,
		`{"type":"reply","id":$ID,"ok":true,"messages":[null,1,"x",{"type":"msg","seq":-1}]}`,
		`{"type":"reply","id":$ID,"ok":true,"recovered":true,"replayed":5,"missed":[1,2,3]}`,
		`{"type":"direct","from":null,"data":` + string(bytes.Repeat([]byte("["), 100)) + string(bytes.Repeat([]byte("]"), 100)) + `}`,
		`{"type":"close","close_code":4000,"reason":"bye"}`,
		`{"type":"reply","id":$ID,"id":$ID,"ok":true,"ok":false}`,
		"\n\n\r\n",
		`[]`,
	} {
		f.Add([]byte(s))
	}
	var frame atomic.Pointer[[]byte]
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(time.Minute))
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"welcome","client":"c1","node":"fuzz","server":"fuzz","protocol":1,"heartbeat":25000}`))
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			_ = protocol.Split(b, func(obj []byte) error {
				cmd, e := protocol.Decode(obj)
				if e != nil {
					return nil
				}
				out := bytes.ReplaceAll(*frame.Load(), []byte("$ID"), cmd.ID)
				if err := ws.WriteMessage(websocket.TextMessage, out); err != nil || len(cmd.ID) == 0 {
					return err
				}
				// Settle the call if the input did not, so that each input
				// costs milliseconds, not request timeouts.
				fallback := `{"type":"reply","id":` + string(cmd.ID) + `,"ok":false,"error":{"code":"fuzz","message":"fallback"}}`
				return ws.WriteMessage(websocket.TextMessage, []byte(fallback))
			})
		}
	}))
	f.Cleanup(srv.Close)
	url := "ws" + srv.URL[len("http"):] + "/ws"
	f.Fuzz(func(t *testing.T, in []byte) {
		frame.Store(&in)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, url, client.Options{NoReconnect: true, RequestTimeout: time.Second, EventBuffer: 1024})
		if err != nil {
			return // the frame may refuse the hello
		}
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for ev := range c.Events() {
				if ev.Kind < client.KindMessage || ev.Kind > client.KindRecovered {
					t.Errorf("event of unknown kind %v", ev.Kind)
				}
			}
		}()
		call := func(what string, fn func(context.Context) error) {
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			defer ccancel()
			start := time.Now()
			err := fn(cctx)
			if time.Since(start) > 1500*time.Millisecond && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s took %v past the request timeout (err %v)", what, time.Since(start), err)
			}
		}
		call("join", func(ctx context.Context) error {
			res, err := c.Join(ctx, "r")
			if err == nil && res.Room != "" && res.Room != "r" {
				t.Errorf("Join(r) succeeded for room %q", res.Room)
			}
			return err
		})
		call("publish", func(ctx context.Context) error { _, err := c.Publish(ctx, "r", "hi"); return err })
		call("history", func(ctx context.Context) error {
			h, err := c.History(ctx, "r", client.HistoryOptions{Limit: 5})
			if err == nil {
				for _, m := range h.Messages {
					if m.Room != "" && m.Room != "r" {
						t.Errorf("History(r) returned a message of room %q", m.Room)
					}
				}
			}
			return err
		})
		call("presence", func(ctx context.Context) error { _, err := c.Presence(ctx, "r"); return err })
		call("rpc", func(ctx context.Context) error { _, err := c.RPC(ctx, "m", 1); return err })
		call("ping", func(ctx context.Context) error { _, err := c.Ping(ctx); return err })
		_ = c.Close()
		select {
		case <-drained:
		case <-time.After(5 * time.Second):
			t.Fatal("events channel not closed after Close")
		}
	})
}
