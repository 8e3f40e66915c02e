package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server"
)

const authSecret = "client-test-secret-0123456789abcdef"

func hsToken(t *testing.T, uid string, exp time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": uid, "exp": exp.Unix()}).SignedString([]byte(authSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuthToken checks Options.Token reaches a server with authentication
// and a refused token fails Dial with the server's reason.
func TestAuthToken(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, func(c *server.Config) { c.JWTSecret = authSecret })

	c := dial(t, url, client.Options{Token: hsToken(t, "alice", time.Now().Add(time.Hour))})
	cn := expect(t, c, "connected", kind(client.KindConnected)).Connected
	if cn.UID != "alice" {
		t.Fatalf("connected as uid %q, want alice (from the token)", cn.UID)
	}
	if _, err := c.Join(testCtx(t), "lobby"); err != nil {
		t.Fatalf("join: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err := client.Dial(ctx, url, client.Options{Token: hsToken(t, "alice", time.Now().Add(-time.Minute))})
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseUnauthorized || !strings.Contains(ce.Reason, "token expired") {
		t.Fatalf("Dial with an expired token: %v; want a 4001 close saying token expired", err)
	}
}

// TestReconnectTokenRefused: a reconnect the server closes with 4001
// before its welcome (the token expired while the client was away) stops
// the client instead of retrying for ever.
func TestReconnectTokenRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(upgradeThen(func(c *wsConn) {
		if c.n == 1 {
			c.welcome()
			_, msg, err := c.ws.ReadMessage()
			if err != nil {
				return
			}
			var cmd protocol.Command
			if protocolDecode(msg, &cmd) != nil {
				return
			}
			c.text(fmt.Sprintf(`{"type":"reply","id":%s,"ok":true,"client":"c1","uid":"alice"}`, cmd.ID))
			time.Sleep(20 * time.Millisecond)
			c.close(protocol.CloseGoingAway)
			return
		}
		msg := websocket.FormatCloseMessage(protocol.CloseUnauthorized, "token expired")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	}))
	t.Cleanup(srv.Close)
	c := dial(t, wsURL(srv), client.Options{Token: "t", Backoff: client.Backoff{Min: 5 * time.Millisecond, Max: 10 * time.Millisecond}})
	d := expect(t, c, "final disconnect", func(ev client.Event) bool {
		return ev.Kind == client.KindDisconnected && !ev.Disconnected.Reconnect
	}).Disconnected
	if d.Code != protocol.CloseUnauthorized || d.Reason != "token expired" {
		t.Fatalf("final Disconnected = %+v; want 4001 token expired", d)
	}
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatal("client still running after a 4001 refusal")
	}
}

// TestReconnectRefreshedToken: after Hello refreshed the token, a
// reconnect presents the fresh one, not the expired one Dial started with.
func TestReconnectRefreshedToken(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for a token to expire; runs without -short")
	}
	t.Parallel()
	url, _ := startServer(t, func(c *server.Config) { c.JWTSecret = authSecret })
	p := newProxy(t, strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/ws"))
	short := hsToken(t, "alice", time.Now().Add(2*time.Second))
	c := dial(t, "ws://"+p.addr()+"/ws", client.Options{Token: short, Backoff: client.Backoff{Min: 5 * time.Millisecond, Max: 10 * time.Millisecond}})
	expect(t, c, "connected", kind(client.KindConnected))
	if _, err := c.Hello(testCtx(t), client.HelloOptions{Token: hsToken(t, "alice", time.Now().Add(time.Hour))}); err != nil {
		t.Fatalf("hello with a fresh token: %v", err)
	}
	time.Sleep(2100 * time.Millisecond) // past the first token's exp
	p.sever()
	cn := expect(t, c, "reconnected", kind(client.KindConnected)).Connected
	if !cn.Reconnect || cn.UID != "alice" {
		t.Fatalf("Connected = %+v; want alice reconnected", cn)
	}
}
