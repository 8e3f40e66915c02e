package client_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/server"
	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/memory"
)

// deadURL returns the URL of a loopback port nothing listens on: a
// connection to it is refused, as one to a node that was killed.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "ws://" + addr + "/ws"
}

// hostOf is the host:port of a ws:// URL.
func hostOf(url string) string {
	return strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/ws")
}

// TestDialFallback: Dial passes over a server that refuses connections
// and keeps the next that answers; URL, URLs and the Connected event say
// which it is.
func TestDialFallback(t *testing.T) {
	t.Parallel()
	live, _ := startServer(t, nil)
	dead := deadURL(t)
	// The live one in the bare host:port form: fallbacks are normalized
	// like the Dial URL, and a duplicate is dropped.
	c := dial(t, dead, client.Options{FallbackURLs: []string{hostOf(live), dead, live}})
	ev := expect(t, c, "connected", kind(client.KindConnected)).Connected
	if ev.URL != live || c.URL() != live {
		t.Errorf("Connected.URL = %q, URL() = %q; want %q", ev.URL, c.URL(), live)
	}
	if got := c.URLs(); !slices.Equal(got, []string{dead, live}) {
		t.Errorf("URLs() = %q; want %q", got, []string{dead, live})
	}
	if _, err := c.Ping(testCtx(t)); err != nil {
		t.Errorf("Ping on the fallback: %v", err)
	}
}

// TestDialFallbackErrors: a bad fallback URL fails Dial before any
// connection, naming it; when no server answers, the error names each
// URL with its own cause.
func TestDialFallbackErrors(t *testing.T) {
	t.Parallel()
	dead1, dead2 := deadURL(t), deadURL(t)
	tests := []struct {
		name      string
		url       string
		fallbacks []string
		want      []string
	}{
		{"bad scheme", dead1, []string{dead2, "ftp://127.0.0.1:1"}, []string{`fallback URL 2 of 2: server URL "ftp://127.0.0.1:1": scheme "ftp"`}},
		{"empty", dead1, []string{" "}, []string{"fallback URL 1 of 1: empty server URL"}},
		{"no host", dead1, []string{"ws:///ws"}, []string{`fallback URL 1 of 1: server URL "ws:///ws" has no host`}},
		{"none answered", dead1, []string{dead2}, []string{
			"none of the 2 server URLs answered: dial " + dead1 + ": ",
			"; then dial " + dead2 + ": ",
			"is `rtsync serve` running?",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := client.Dial(testCtx(t), tc.url, client.Options{FallbackURLs: tc.fallbacks})
			if err == nil {
				_ = c.Close()
				t.Fatal("Dial succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Dial error %q; want it to contain %q", err, w)
				}
			}
		})
	}
	_, err := client.Dial(testCtx(t), dead1, client.Options{FallbackURLs: []string{dead2}})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial error %v; want errors.Is ECONNREFUSED through it", err)
	}
}

// TestDialFallbackStopsOnAuth: a server that refuses the token is not
// passed over, since every node of a cluster would refuse it too.
func TestDialFallbackStopsOnAuth(t *testing.T) {
	t.Parallel()
	secret := "0123456789abcdef0123456789abcdef"
	guarded, _ := startServer(t, func(c *server.Config) { c.JWTSecret = secret })
	open, _ := startServer(t, nil)
	c, err := client.Dial(testCtx(t), guarded, client.Options{Token: "not-a-jwt", FallbackURLs: []string{open}})
	if err == nil {
		_ = c.Close()
		t.Fatal("Dial succeeded on the node without tokens; want the refusal")
	}
	if !strings.Contains(err.Error(), guarded) || strings.Contains(err.Error(), open) {
		t.Errorf("Dial error %q; want only %s's refusal", err, guarded)
	}
}

// TestFailoverRoundRobin: when the node of the connection dies, the
// client first tries it again, then each next URL in turn, wrapping
// around, and re-joins its rooms on the node that answers. A drop on a
// live node reconnects to that node.
func TestFailoverRoundRobin(t *testing.T) {
	t.Parallel()
	urlA, _ := startServer(t, func(c *server.Config) { c.Node = "node-a" })
	urlB, _ := startServer(t, func(c *server.Config) { c.Node = "node-b" })
	ctx := testCtx(t)
	pxA := newProxy(t, hostOf(urlA))
	pxB := newProxy(t, hostOf(urlB))
	a, dead, b := "ws://"+pxA.addr()+"/ws", deadURL(t), "ws://"+pxB.addr()+"/ws"
	c := dial(t, a, client.Options{FallbackURLs: []string{dead, b}, Backoff: fastBackoff})
	if ev := expect(t, c, "connected", kind(client.KindConnected)).Connected; ev.URL != a || ev.Node != "node-a" {
		t.Fatalf("Connected = %+v; want %s, node-a", ev, a)
	}
	if _, err := c.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "r", "on a"); err != nil {
		t.Fatal(err)
	}

	// failover waits for the client to connect to want, and returns the
	// URLs its attempts dialled on the way.
	failover := func(want, node string) []string {
		t.Helper()
		var tried []string
		for {
			ev := expect(t, c, "reconnection to "+want, func(ev client.Event) bool {
				return ev.Kind == client.KindReconnecting || ev.Kind == client.KindConnected
			})
			if r := ev.Reconnecting; r != nil {
				tried = append(tried, r.URL)
				if len(tried) > 10 {
					t.Fatalf("no reconnection to %s after dialling %q", want, tried)
				}
				continue
			}
			if ev.Connected.URL != want || ev.Connected.Node != node || !ev.Connected.Reconnect {
				t.Fatalf("Connected = %+v after trying %q; want a reconnection to %s (%s)", ev.Connected, tried, want, node)
			}
			if c.URL() != want {
				t.Errorf("URL() = %q; want %q", c.URL(), want)
			}
			r := expect(t, c, "recovery", kind(client.KindRecovered)).Recovered
			if r.Room != "r" || r.Err != nil {
				t.Fatalf("Recovered = %+v; want room r re-joined", r)
			}
			if _, err := c.Publish(ctx, "r", "on "+node); err != nil {
				t.Fatalf("Publish on %s: %v", node, err)
			}
			return tried
		}
	}

	pxA.down()
	if tried := failover(b, "node-b"); !slices.Equal(tried, []string{a, dead, b}) {
		t.Errorf("attempts dialled %q; want %q", tried, []string{a, dead, b})
	}
	members, err := c.Presence(ctx, "r")
	if err != nil || len(members) != 1 || members[0].Client != c.Identity().Client {
		t.Errorf("Presence(r) on node-b = %+v, %v; want this client", members, err)
	}

	// A drop on a node that is still up: back to the same node.
	pxB.sever()
	if tried := failover(b, "node-b"); !slices.Equal(tried, []string{b}) {
		t.Errorf("attempts dialled %q; want %q", tried, []string{b})
	}

	// Node a comes back, node b dies: the attempts wrap around to a.
	newProxyOn(t, hostOf(a), hostOf(urlA))
	pxB.down()
	if tried := failover(a, "node-a"); !slices.Equal(tried, []string{b, a}) {
		t.Errorf("attempts dialled %q; want %q", tried, []string{b, a})
	}
}

// TestFailoverGoingAway: a node that shuts down closes with 4012, and the
// client's first attempt goes to the next node rather than back to it.
func TestFailoverGoingAway(t *testing.T) {
	t.Parallel()
	urlA, stopA := startServer(t, func(c *server.Config) { c.Node = "node-a" })
	urlB, _ := startServer(t, func(c *server.Config) { c.Node = "node-b" })
	c := dial(t, urlA, client.Options{FallbackURLs: []string{urlB}, Backoff: fastBackoff})
	expect(t, c, "connected", kind(client.KindConnected))
	go stopA()
	if r := expect(t, c, "reconnecting", kind(client.KindReconnecting)).Reconnecting; r.URL != urlB || r.Attempt != 1 {
		t.Errorf("Reconnecting = %+v; want attempt 1 to %s", r, urlB)
	}
	if ev := expect(t, c, "connected", kind(client.KindConnected)).Connected; ev.URL != urlB || ev.Node != "node-b" {
		t.Errorf("Connected = %+v; want %s, node-b", ev, urlB)
	}
}

// sharedStore is one store behind several servers, as the nodes of a
// cluster share theirs; each server closes its store when it stops, so
// Close leaves it open for the others.
type sharedStore struct{ store.Store }

func (sharedStore) Close() error { return nil }

// TestFailoverRecovers: two nodes that share their history (one store;
// without a broker between them, a message published on one reaches only
// that node's members live). A client on node a misses what is published
// on node b; when node a dies it moves to node b and recovers exactly
// those messages, in the same epoch, after the seq it had.
func TestFailoverRecovers(t *testing.T) {
	t.Parallel()
	shared := sharedStore{memory.New(store.Options{})}
	open := func(c *server.Config) {
		c.OpenStore = func(store.Options) (store.Store, error) { return shared, nil }
	}
	urlA, _ := startServer(t, open)
	urlB, _ := startServer(t, open)
	ctx := testCtx(t)
	pxA := newProxy(t, hostOf(urlA))
	a := "ws://" + pxA.addr() + "/ws"

	sub := dial(t, a, client.Options{Name: "sub", FallbackURLs: []string{urlB}, Backoff: fastBackoff})
	pubA := dial(t, urlA, client.Options{Name: "pub-a"})
	pubB := dial(t, urlB, client.Options{Name: "pub-b"})
	j, err := sub.Join(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*client.Client{pubA, pubB} {
		if _, err := p.Join(ctx, "r"); err != nil {
			t.Fatal(err)
		}
	}
	seq, err := pubA.Publish(ctx, "r", "seen", client.NoEcho())
	if err != nil {
		t.Fatal(err)
	}
	if ev := expect(t, sub, "the message of node a", kind(client.KindMessage)); ev.Wire.Seq != seq {
		t.Fatalf("got seq %d; want %d", ev.Wire.Seq, seq)
	}
	const missed = 5
	for range missed {
		if _, err := pubB.Publish(ctx, "r", "missed", client.NoEcho()); err != nil {
			t.Fatal(err)
		}
	}
	pxA.down()

	ev := expect(t, sub, "connected to node b", kind(client.KindConnected)).Connected
	if ev.URL != urlB {
		t.Fatalf("Connected.URL = %q; want %q", ev.URL, urlB)
	}
	r := expect(t, sub, "recovery", kind(client.KindRecovered)).Recovered
	if !r.Recovered || r.EpochChanged || r.Replayed != missed || r.Epoch != j.Epoch && j.Epoch != "" {
		t.Fatalf("Recovered = %+v; want %d messages recovered in the same epoch", r, missed)
	}
	for i := range uint64(missed) {
		ev := expect(t, sub, "a missed message", kind(client.KindMessage))
		if ev.Wire.Seq != seq+1+i || string(ev.Wire.Data) != `"missed"` {
			t.Fatalf("got seq %d %s; want seq %d, missed", ev.Wire.Seq, ev.Wire.Data, seq+1+i)
		}
	}
	quiet(t, sub, 100*time.Millisecond, kind(client.KindMessage))
}

// TestFailoverContextShare: with a deadline on Dial's context, a first
// server that never answers takes only its share of it, and the next
// one is still tried.
func TestFailoverContextShare(t *testing.T) {
	t.Parallel()
	// A listener that accepts and never speaks: the handshake hangs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	live, _ := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws://"+ln.Addr().String()+"/ws", client.Options{FallbackURLs: []string{live}})
	if err != nil {
		t.Fatalf("Dial: %v; want the second URL after the first's share of the deadline", err)
	}
	defer c.Close()
	if c.URL() != live {
		t.Errorf("URL() = %q; want %q", c.URL(), live)
	}
}
