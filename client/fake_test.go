package client_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
)

// wsConn is the server side of a scripted connection, for behaviour the
// real server cannot be made to show on demand.
type wsConn struct {
	ws *websocket.Conn
	n  int // 1 for the first connection of the test server
}

func (c *wsConn) text(s string) {
	_ = c.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

func (c *wsConn) welcome() { c.welcomeHB(25000) }

func (c *wsConn) welcomeHB(ms int) {
	c.text(fmt.Sprintf(`{"type":"welcome","client":"c%d","node":"fake","server":"test","protocol":1,"heartbeat":%d}`, c.n, ms))
}

func (c *wsConn) close(code int) {
	msg := websocket.FormatCloseMessage(code, protocol.CloseReason(code))
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
}

// upgradeThen serves WebSocket connections that run script, then read
// until the peer goes away.
func upgradeThen(script func(*wsConn)) http.Handler {
	var n atomic.Int32
	up := websocket.Upgrader{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		script(&wsConn{ws: ws, n: int(n.Add(1))})
		_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	})
}

func wsURL(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") + "/ws" }

func TestCloseCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code      int
		reconnect bool
	}{
		{protocol.CloseKicked, false},
		{protocol.CloseUnauthorized, false},
		{protocol.CloseSlowConsumer, true},
		{protocol.CloseRateLimited, true},
		{protocol.CloseGoingAway, true},
		{protocol.CloseNoHeartbeat, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", tc.code, protocol.CloseReason(tc.code)), func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(upgradeThen(func(c *wsConn) {
				c.welcome()
				if c.n == 1 {
					time.Sleep(20 * time.Millisecond)
					c.close(tc.code)
				}
			}))
			t.Cleanup(srv.Close)
			c := dial(t, wsURL(srv), client.Options{Backoff: client.Backoff{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}})

			expect(t, c, "connected", kind(client.KindConnected))
			d := expect(t, c, "disconnected", kind(client.KindDisconnected)).Disconnected
			var ce *client.CloseError
			if d.Code != tc.code || d.Reconnect != tc.reconnect || !errors.As(d.Err, &ce) || ce.Code != tc.code {
				t.Fatalf("Disconnected = %+v; want code %d, reconnect %t, a *CloseError", d, tc.code, tc.reconnect)
			}
			if tc.reconnect {
				r := expect(t, c, "reconnecting", kind(client.KindReconnecting)).Reconnecting
				if r.Attempt != 1 || r.Delay <= 0 || r.Delay > 20*time.Millisecond {
					t.Errorf("Reconnecting = %+v; want attempt 1 within the backoff", r)
				}
				cn := expect(t, c, "reconnected", kind(client.KindConnected)).Connected
				if !cn.Reconnect || cn.Client != "c2" {
					t.Errorf("Connected = %+v; want the second connection", cn)
				}
				return
			}
			for ev := range c.Events() {
				if ev.Kind == client.KindReconnecting {
					t.Errorf("reconnecting after close code %d", tc.code)
				}
			}
			<-c.Done()
			if !errors.As(c.Err(), &ce) || ce.Code != tc.code {
				t.Errorf("Err() = %v; want a *CloseError with code %d", c.Err(), tc.code)
			}
			if _, err := c.Ping(testCtx(t)); !errors.Is(err, client.ErrClosed) || !errors.As(err, &ce) {
				t.Errorf("Ping after a final close: %v; want ErrClosed with the close error", err)
			}
		})
	}
}

// A reconnect whose hello the server refuses stops the client: trying
// again would be refused the same way.
func TestReconnectHelloRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(upgradeThen(func(c *wsConn) {
		c.welcome()
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var cmd protocol.Command
		if e := protocolDecode(msg, &cmd); e != nil {
			return
		}
		if c.n == 1 {
			c.text(fmt.Sprintf(`{"type":"reply","id":%s,"ok":true,"client":"c1","name":"x"}`, cmd.ID))
			time.Sleep(20 * time.Millisecond)
			c.close(protocol.CloseGoingAway)
			return
		}
		c.text(fmt.Sprintf(`{"type":"reply","id":%s,"ok":false,"error":{"code":"unauthorized","message":"token expired"}}`, cmd.ID))
	}))
	t.Cleanup(srv.Close)
	c := dial(t, wsURL(srv), client.Options{Name: "x", Token: "t", Backoff: client.Backoff{Min: 5 * time.Millisecond}})
	d := expect(t, c, "final disconnect", func(ev client.Event) bool {
		return ev.Kind == client.KindDisconnected && !ev.Disconnected.Reconnect
	}).Disconnected
	if wireCode(d.Err) != protocol.CodeUnauthorized {
		t.Fatalf("final Disconnected.Err = %v; want the refused hello", d.Err)
	}
	<-c.Done()
}

func protocolDecode(b []byte, cmd *protocol.Command) error {
	var err error
	_ = protocol.Split(b, func(obj []byte) error {
		c, e := protocol.Decode(obj)
		if e != nil {
			err = e
		}
		*cmd = c
		return nil
	})
	return err
}

// readCommand reads the next command from the client.
func (c *wsConn) readCommand(t *testing.T) protocol.Command {
	t.Helper()
	_, msg, err := c.ws.ReadMessage()
	if err != nil {
		t.Errorf("fake server %d: read: %v", c.n, err)
		return protocol.Command{}
	}
	var cmd protocol.Command
	if err := protocolDecode(msg, &cmd); err != nil {
		t.Errorf("fake server %d: bad command %s: %v", c.n, msg, err)
	}
	return cmd
}

func (c *wsConn) msg(room, epoch string, seq uint64) string {
	return fmt.Sprintf(`{"type":"msg","room":"%s","seq":%d,"epoch":"%s","ts":1,"from":{"client":"x"},"data":%d}`, room, seq, epoch, seq)
}

// TestRecoveryDedupAndEpoch scripts a server whose replay overlaps what
// the client already has (the overlap must be dropped), then one whose
// room restarted with a new epoch (seqs restart and must all pass).
func TestRecoveryDedupAndEpoch(t *testing.T) {
	t.Parallel()
	joins := make(chan protocol.Command, 3)
	srv := httptest.NewServer(upgradeThen(func(c *wsConn) {
		c.welcome()
		cmd := c.readCommand(t)
		joins <- cmd
		id := string(cmd.ID)
		var frames []string
		switch c.n {
		case 1: // first join: seq 5 so far, then live 6 and 7
			frames = []string{
				`{"type":"reply","id":` + id + `,"ok":true,"room":"r","seq":5,"epoch":"E1"}`,
				c.msg("r", "E1", 6) + "\n" + c.msg("r", "E1", 7),
			}
		case 2: // replay overlapping 5..7, then 8, then live 9
			frames = []string{
				`{"type":"reply","id":` + id + `,"ok":true,"room":"r","seq":8,"epoch":"E1","recovered":true,"replayed":4}` + "\n" +
					c.msg("r", "E1", 5) + "\n" + c.msg("r", "E1", 6),
				c.msg("r", "E1", 7) + "\n" + c.msg("r", "E1", 8),
				c.msg("r", "E1", 9),
			}
		case 3: // the room restarted: epoch E2 at seq 2
			frames = []string{
				`{"type":"reply","id":` + id + `,"ok":true,"room":"r","seq":2,"epoch":"E2","recovered":false,"replayed":0}`,
				c.msg("r", "E2", 3) + "\n" + c.msg("r", "E2", 4),
			}
		}
		for _, f := range frames {
			c.text(f)
		}
		if c.n < 3 {
			time.Sleep(20 * time.Millisecond)
			c.close(protocol.CloseGoingAway)
		}
	}))
	t.Cleanup(srv.Close)
	c := dial(t, wsURL(srv), client.Options{Backoff: client.Backoff{Min: 5 * time.Millisecond, Max: 10 * time.Millisecond}})
	if _, err := c.Join(testCtx(t), "r"); err != nil {
		t.Fatal(err)
	}

	type got struct {
		epoch string
		seq   uint64
	}
	want := []got{{"E1", 6}, {"E1", 7}, {"E1", 8}, {"E1", 9}, {"E2", 3}, {"E2", 4}}
	var msgs []got
	var recs []client.Recovered
	for len(msgs) < len(want) {
		ev := expect(t, c, "message or recovery", func(ev client.Event) bool {
			return ev.Kind == client.KindMessage || ev.Kind == client.KindRecovered
		})
		if ev.Kind == client.KindRecovered {
			recs = append(recs, *ev.Recovered)
			continue
		}
		msgs = append(msgs, got{ev.Wire.Epoch, ev.Wire.Seq})
	}
	if fmt.Sprint(msgs) != fmt.Sprint(want) {
		t.Errorf("messages = %v; want %v", msgs, want)
	}
	if len(recs) != 2 ||
		!recs[0].Recovered || recs[0].Replayed != 4 || recs[0].EpochChanged ||
		recs[1].Recovered || !recs[1].EpochChanged || recs[1].Epoch != "E2" {
		t.Errorf("recoveries = %+v; want one complete (4 replayed), then one with a new epoch", recs)
	}
	if d := c.Stats().Duplicates; d != 3 {
		t.Errorf("Stats().Duplicates = %d; want 3", d)
	}
	// What the client asked for on each connection.
	close(joins)
	var asked []string
	for j := range joins {
		s := "none"
		if j.Since != nil {
			s = fmt.Sprint(*j.Since)
		}
		asked = append(asked, fmt.Sprintf("%s since=%s epoch=%s", j.Room, s, j.Epoch))
	}
	wantAsked := []string{"r since=none epoch=", "r since=7 epoch=E1", "r since=9 epoch=E1"}
	if fmt.Sprint(asked) != fmt.Sprint(wantAsked) {
		t.Errorf("joins = %q; want %q", asked, wantAsked)
	}
}

// TestHeartbeat: a server that goes silent past two heartbeats is presumed
// dead and the client reconnects; one that pings in time is kept, and its
// pings are answered.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	var pongs atomic.Int32
	srv := httptest.NewServer(upgradeThen(func(c *wsConn) {
		c.welcomeHB(50)
		if c.n == 1 {
			return // silent: no pings, no frames
		}
		c.ws.SetPongHandler(func(string) error { pongs.Add(1); return nil })
		go func() {
			for range 20 {
				time.Sleep(20 * time.Millisecond)
				if c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)) != nil {
					return
				}
			}
		}()
	}))
	t.Cleanup(srv.Close)
	c := dial(t, wsURL(srv), client.Options{Backoff: client.Backoff{Min: 5 * time.Millisecond, Max: 10 * time.Millisecond}})
	start := time.Now()
	d := expect(t, c, "disconnected", kind(client.KindDisconnected)).Disconnected
	if took := time.Since(start); d.Code != 1006 || !d.Reconnect || !strings.Contains(fmt.Sprint(d.Err), "presumed dead") || took > 2*time.Second {
		t.Fatalf("Disconnected = %+v after %v; want 1006, presumed dead after ~150ms, reconnect", d, took)
	}
	expect(t, c, "reconnected", kind(client.KindConnected))
	quiet(t, c, 300*time.Millisecond, kind(client.KindDisconnected))
	if n := pongs.Load(); n < 5 {
		t.Errorf("server got %d pongs; want the pings answered", n)
	}
}

// TestNoEchoOrdering: the reply to a noecho publish may overtake messages
// published before it. They must still be delivered, and a recovery must
// not replay the client's own message.
func TestNoEchoOrdering(t *testing.T) {
	t.Parallel()
	joins := make(chan protocol.Command, 2)
	srv := httptest.NewServer(upgradeThen(func(c *wsConn) {
		c.welcome()
		join := c.readCommand(t)
		joins <- join
		id := string(join.ID)
		if c.n == 2 {
			// Replay 3 and 4 (the client's own), then live 5.
			c.text(`{"type":"reply","id":` + id + `,"ok":true,"room":"r","seq":4,"epoch":"E","recovered":true,"replayed":2}` + "\n" +
				c.msg("r", "E", 3) + "\n" + c.msg("r", "E", 4))
			c.text(c.msg("r", "E", 5))
			return
		}
		c.text(`{"type":"reply","id":` + id + `,"ok":true,"room":"r","seq":0,"epoch":"E"}`)
		// The reply for seq 2 comes before message 1 from someone else.
		pub := c.readCommand(t)
		c.text(`{"type":"reply","id":` + string(pub.ID) + `,"ok":true,"room":"r","seq":2,"epoch":"E"}`)
		c.text(c.msg("r", "E", 1))
		// The reply for seq 4 comes, and the connection breaks before 3.
		pub = c.readCommand(t)
		c.text(`{"type":"reply","id":` + string(pub.ID) + `,"ok":true,"room":"r","seq":4,"epoch":"E"}`)
		time.Sleep(20 * time.Millisecond)
		c.close(protocol.CloseGoingAway)
	}))
	t.Cleanup(srv.Close)
	c := dial(t, wsURL(srv), client.Options{Backoff: client.Backoff{Min: 5 * time.Millisecond, Max: 10 * time.Millisecond}})
	ctx := testCtx(t)
	if _, err := c.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []uint64{2, 4} {
		if seq, err := c.Publish(ctx, "r", "mine", client.NoEcho()); err != nil || seq != want {
			t.Fatalf("Publish = %d, %v; want seq %d", seq, err, want)
		}
	}
	var seqs []uint64
	for len(seqs) < 3 {
		seqs = append(seqs, expect(t, c, "message", kind(client.KindMessage)).Wire.Seq)
	}
	if fmt.Sprint(seqs) != "[1 3 5]" {
		t.Errorf("messages = %v; want [1 3 5]: 1 despite the early reply, never 2 or 4 (own, noecho)", seqs)
	}
	<-joins
	if j := <-joins; j.Since == nil || *j.Since != 2 {
		t.Errorf("re-join since = %v; want 2 (1 delivered, 2 own)", j.Since)
	}
}
