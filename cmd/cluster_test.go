//go:build unix

package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/redistest"
	"github.com/rtsync/rtsync/protocol"
)

// Cluster tests: real `rtsync serve --redis` processes on one real
// redis-server (the test command installs it; these tests fail when it
// cannot start), real WebSocket clients, kill -9 and Redis restarts.

// clusterLeaveWithin bounds how long the clients of a node killed with
// SIGKILL stay in presence: the node TTL (5s) and a heartbeat (1s), with
// room for a loaded machine.
const clusterLeaveWithin = 20 * time.Second

// startNode runs `rtsync serve --redis` as node name.
func startNode(t *testing.T, redisURL, name string, extra ...string) *crashServer {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"serve", "--addr", addr, "--redis", redisURL, "--node", name, "--api-key", crashKey,
		"--publish-rate", "1000000", "--publish-burst", "1000000", "--history-size", "100000"}, extra...)
	return startServeProcess(t, addr, "", args)
}

// clusterClient is a raw protocol client that reads in the background.
type clusterClient struct {
	t      *testing.T
	ws     *websocket.Conn
	id     string
	node   string
	events chan protocol.Event
	// closed receives the close error once the connection ends.
	closed chan error
	wmu    sync.Mutex
	// kept are the events a request read before its reply: next looks
	// at them first (a message's echo may come before the pub's reply).
	kept []protocol.Event
}

func dialNode(t *testing.T, n *crashServer) *clusterClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+n.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &clusterClient{t: t, ws: ws, events: make(chan protocol.Event, 100_000), closed: make(chan error, 1)}
	t.Cleanup(func() { _ = ws.Close() })
	go func() {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				c.closed <- err
				close(c.events)
				return
			}
			for _, line := range bytes.Split(b, []byte{'\n'}) {
				var e protocol.Event
				if json.Unmarshal(line, &e) == nil {
					c.events <- e
				}
			}
		}
	}()
	w := c.next(func(e protocol.Event) bool { return e.Type == protocol.TypeWelcome }, 10*time.Second)
	c.id, c.node = w.Client, w.Node
	return c
}

func (c *clusterClient) send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("client %s: send: %v", c.id, err)
	}
}

// next returns the first event f accepts, skipping others; the test
// fails if none comes within d.
func (c *clusterClient) next(f func(protocol.Event) bool, d time.Duration) protocol.Event {
	c.t.Helper()
	for i, e := range c.kept {
		if f(e) {
			c.kept = append(c.kept[:i:i], c.kept[i+1:]...)
			return e
		}
	}
	c.kept = nil
	return c.nextKeeping(f, d, false)
}

// nextKeeping is next; with keep, the events that do not match are kept
// for the next call instead of dropped.
func (c *clusterClient) nextKeeping(f func(protocol.Event) bool, d time.Duration, keep bool) protocol.Event {
	c.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				c.t.Fatalf("client %s: connection closed while waiting", c.id)
			}
			if f(e) {
				return e
			}
			if keep {
				c.kept = append(c.kept, e)
			}
		case <-timer.C:
			c.t.Fatalf("client %s: nothing matching within %s", c.id, d)
		}
	}
}

// request sends a command with id and returns its reply.
func (c *clusterClient) request(cmd map[string]any) protocol.Event {
	c.t.Helper()
	id := fmt.Sprint(time.Now().UnixNano())
	cmd["id"] = id
	c.send(cmd)
	return c.nextKeeping(func(e protocol.Event) bool { return e.Type == protocol.TypeReply && string(e.ID) == `"`+id+`"` }, 10*time.Second, true)
}

func (c *clusterClient) join(room string) protocol.Event {
	c.t.Helper()
	r := c.request(map[string]any{"op": "join", "room": room})
	if !r.OK {
		c.t.Fatalf("client %s: join %s: %+v", c.id, room, r.Error)
	}
	return r
}

// msgs collects n msg events of room, failing unless their seqs run on
// from after, one by one.
func (c *clusterClient) msgs(room string, after uint64, n int) []protocol.Event {
	c.t.Helper()
	out := make([]protocol.Event, 0, n)
	for len(out) < n {
		e := c.next(func(e protocol.Event) bool { return e.Type == protocol.TypeMsg && e.Room == room }, 15*time.Second)
		if e.Seq != after+1 {
			c.t.Fatalf("client %s on %s: seq %d after %d", c.id, c.node, e.Seq, after)
		}
		after = e.Seq
		out = append(out, e)
	}
	return out
}

// api calls a node's HTTP API and decodes the answer into out (when not
// nil); it returns the status.
func api(t *testing.T, n *crashServer, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+n.addr+"/api/v1"+path, rd)
	req.Header.Set("Authorization", "Bearer "+crashKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s on %s: %d %s", method, path, n.addr, resp.StatusCode, b)
	}
	return resp.StatusCode
}

func readyz(n *crashServer) int {
	resp, err := http.Get("http://" + n.addr + "/readyz")
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// eventually retries f until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterThreeNodes runs three nodes on one Redis and checks that
// they act as one server: a room spans them in one seq order, direct
// messages and offline inboxes find their user on any node, presence and
// counts are the cluster's, and every API call on any node acts on
// clients of the others. Then one node is killed with SIGKILL: a client
// of it reconnects to another node and recovers exactly what it missed,
// and its clients leave presence within the documented time.
func TestClusterThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs redis-server and three servers; runs without -short")
	}
	t.Parallel()
	rs := redistest.Start(t)
	tcpAddr := freeAddr(t)
	nodes := []*crashServer{startNode(t, rs.URL, "na"), startNode(t, rs.URL, "nb", "--tcp-addr", tcpAddr), startNode(t, rs.URL, "nc")}
	for _, n := range nodes {
		if code := readyz(n); code != 200 {
			t.Fatalf("readyz of %s: %d", n.addr, code)
		}
	}

	// One subscriber per node; each sees the others join.
	subs := make([]*clusterClient, 3)
	for i, n := range nodes {
		subs[i] = dialNode(t, n)
		subs[i].join("lobby")
	}
	for i, id := range []string{subs[1].id, subs[2].id} {
		subs[0].next(func(e protocol.Event) bool { return e.Type == protocol.TypeJoin && e.Client == id }, 10*time.Second)
		_ = i
	}
	subs[2].request(map[string]any{"op": "hello", "uid": "ada"})

	// Two publishers on two nodes, pipelining: every subscriber sees one
	// seq order, each seq once.
	const perPub = 300
	pubs := []*clusterClient{dialNode(t, nodes[0]), dialNode(t, nodes[1])}
	var wg sync.WaitGroup
	for p, pc := range pubs {
		pc.join("lobby")
		wg.Go(func() {
			for k := range perPub {
				pc.send(map[string]any{"op": "pub", "room": "lobby", "id": k, "noecho": true, "data": map[string]int{"p": p, "k": k}})
			}
		})
	}
	wg.Wait()
	var epoch string
	for _, s := range subs {
		got := s.msgs("lobby", 0, 2*perPub)
		epoch = got[0].Epoch
		seen := map[string]bool{}
		for _, e := range got {
			if e.Epoch != epoch {
				t.Fatalf("epoch %q after %q", e.Epoch, epoch)
			}
			if seen[string(e.Data)] {
				t.Fatalf("client on %s got %s twice", s.node, e.Data)
			}
			seen[string(e.Data)] = true
		}
	}

	// Counts and listings on any node are the cluster's.
	var room struct {
		Clients int    `json:"clients"`
		Seq     uint64 `json:"seq"`
	}
	api(t, nodes[2], "GET", "/rooms/lobby", nil, &room)
	if room.Clients != 5 || room.Seq != 2*perPub {
		t.Fatalf("room info on nc: %+v; want 5 clients, seq %d", room, 2*perPub)
	}
	var clients struct {
		Clients []struct {
			Client string `json:"client"`
		} `json:"clients"`
		Total int `json:"total"`
	}
	api(t, nodes[0], "GET", "/clients?limit=2", nil, &clients)
	if clients.Total != 5 || len(clients.Clients) != 2 {
		t.Fatalf("clients on na: %+v; want a page of 2 of 5", clients)
	}
	var stats struct {
		Connections int `json:"connections"`
		Nodes       []struct {
			Node        string `json:"node"`
			Connections int    `json:"connections"`
		} `json:"nodes"`
	}
	api(t, nodes[1], "GET", "/stats", nil, &stats)
	if len(stats.Nodes) != 3 || stats.Connections != 5 || stats.Nodes[0].Node != "nb" {
		t.Fatalf("stats on nb: %+v; want 3 nodes (nb first), 5 connections", stats)
	}
	pres := subs[1].request(map[string]any{"op": "presence", "room": "lobby"})
	if pres.Total != 5 || len(pres.Members) != 5 {
		t.Fatalf("presence on nb: total %d, %d members; want 5", pres.Total, len(pres.Members))
	}

	// The TCP transport is a client like any other: a TCP member on nb
	// gets a message the API publishes on na.
	tc, err := net.DialTimeout("tcp", tcpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	lines := bufio.NewScanner(tc)
	expectLine := func(what string, f func(protocol.Event) bool) {
		t.Helper()
		_ = tc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for lines.Scan() {
			var e protocol.Event
			if json.Unmarshal(lines.Bytes(), &e) == nil && f(e) {
				return
			}
		}
		t.Fatalf("tcp client: no %s: %v", what, lines.Err())
	}
	expectLine("welcome", func(e protocol.Event) bool { return e.Type == protocol.TypeWelcome })
	if _, err := tc.Write([]byte(`{"op":"join","room":"lobby","id":"t1"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	expectLine("join reply", func(e protocol.Event) bool { return e.Type == protocol.TypeReply && e.OK })
	var pubReply struct {
		Seq uint64 `json:"seq"`
	}
	if code := api(t, nodes[0], "POST", "/rooms/lobby/publish", map[string]any{"data": "to tcp"}, &pubReply); code != 200 {
		t.Fatalf("publish via na's API: %d", code)
	}
	expectLine("message", func(e protocol.Event) bool {
		return e.Type == protocol.TypeMsg && e.Seq == pubReply.Seq && string(e.Data) == `"to tcp"`
	})
	for _, s := range subs {
		s.msgs("lobby", 2*perPub, 1)
	}
	_ = tc.Close()
	head := uint64(2*perPub + 1)

	// Direct messages: to a uid on another node, to a client on another
	// node, and to an offline uid, kept until it connects anywhere.
	var sent struct {
		Delivered int  `json:"delivered"`
		Stored    bool `json:"stored"`
	}
	if code := api(t, nodes[0], "POST", "/uids/ada/send", map[string]any{"data": "hi ada"}, &sent); code != 200 || sent.Delivered == 0 {
		t.Fatalf("send to ada via na: %d %+v", code, sent)
	}
	subs[2].next(func(e protocol.Event) bool { return e.Type == protocol.TypeDirect && string(e.Data) == `"hi ada"` }, 10*time.Second)
	if code := api(t, nodes[2], "POST", "/clients/"+subs[1].id+"/send", map[string]any{"data": "hi b"}, nil); code != 200 {
		t.Fatalf("send to a client of nb via nc: %d", code)
	}
	subs[1].next(func(e protocol.Event) bool { return e.Type == protocol.TypeDirect && string(e.Data) == `"hi b"` }, 10*time.Second)
	if code := api(t, nodes[1], "POST", "/uids/bob/send", map[string]any{"data": "while away"}, &sent); code != 200 || !sent.Stored {
		t.Fatalf("send to offline bob via nb: %d %+v", code, sent)
	}
	bob := dialNode(t, nodes[2])
	bob.send(map[string]any{"op": "hello", "uid": "bob"})
	bob.next(func(e protocol.Event) bool {
		return e.Type == protocol.TypeDirect && string(e.Data) == `"while away"` && e.Inbox > 0
	}, 10*time.Second)

	// The API of one node acts on clients of another: join, session,
	// kick.
	if code := api(t, nodes[2], "PUT", "/clients/"+subs[1].id+"/rooms/extra", nil, nil); code >= 300 {
		t.Fatalf("join a client of nb to extra via nc: %d", code)
	}
	subs[1].next(func(e protocol.Event) bool {
		return e.Type == protocol.TypeJoin && e.Room == "extra" && e.Client == subs[1].id
	}, 10*time.Second)
	if code := api(t, nodes[0], "PUT", "/clients/"+subs[1].id+"/session", map[string]any{"team": "blue"}, nil); code >= 300 {
		t.Fatalf("set the session of a client of nb via na: %d", code)
	}
	var sess map[string]any
	if api(t, nodes[2], "GET", "/clients/"+subs[1].id+"/session", nil, &sess); sess["team"] != "blue" {
		t.Fatalf("session of a client of nb read via nc: %v", sess)
	}
	if code := api(t, nodes[1], "POST", "/clients/"+subs[0].id+"/kick", map[string]any{"reason": "bye"}, nil); code >= 300 {
		t.Fatalf("kick a client of na via nb: %d", code)
	}
	select {
	case err := <-subs[0].closed:
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != protocol.CloseKicked {
			t.Fatalf("kicked client: %v; want close %d", err, protocol.CloseKicked)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client of na kicked via nb is still connected")
	}
	if code := api(t, nodes[0], "GET", "/clients/"+subs[0].id, nil, nil); code != 404 {
		t.Fatalf("kicked client still found: %d", code)
	}

	// A Go client on nc that knows the other nodes (FallbackURLs).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gc, err := client.Dial(ctx, "ws://"+nodes[2].addr+"/ws", client.Options{FallbackURLs: []string{"ws://" + nodes[0].addr + "/ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	if jr, err := gc.Join(ctx, "lobby"); err != nil || jr.Seq != head {
		t.Fatalf("go client join on nc: %+v %v", jr, err)
	}

	// kill -9 node nc; messages published meanwhile are recovered by its
	// subscribers on another node, and its clients leave presence.
	lastSeen := head
	nodes[2].kill()
	for k := range 50 {
		if r := pubs[0].request(map[string]any{"op": "pub", "room": "lobby", "data": map[string]int{"after": k}}); !r.OK {
			t.Fatalf("publish after the kill: %+v", r.Error)
		}
	}
	back := dialNode(t, nodes[1])
	r := back.request(map[string]any{"op": "join", "room": "lobby", "since": lastSeen, "epoch": epoch})
	if !r.OK || r.Recovered == nil || !*r.Recovered || r.Replayed == nil || *r.Replayed != 50 {
		t.Fatalf("rejoin on nb after nc died: %+v (replayed %v)", r, r.Replayed)
	}
	back.msgs("lobby", lastSeen, 50)
	// The Go client fails over to na by itself and recovers the same 50.
	next := lastSeen + 1
	var failedOver, recovered bool
	for next <= lastSeen+50 {
		var ev client.Event
		select {
		case ev = <-gc.Events():
		case <-ctx.Done():
			t.Fatalf("go client: waiting for seq %d after failing over (failed over %v, recovered %v)", next, failedOver, recovered)
		}
		switch ev.Kind {
		case client.KindConnected:
			switch ev.Connected.URL {
			case "ws://" + nodes[2].addr + "/ws": // its first connection
			case "ws://" + nodes[0].addr + "/ws":
				failedOver = true
			default:
				t.Fatalf("go client connected to %s; want nc, then na", ev.Connected.URL)
			}
		case client.KindRecovered:
			if !ev.Recovered.Recovered || ev.Recovered.Replayed != 50 {
				t.Fatalf("go client recovery on na: %+v; want all 50", ev.Recovered)
			}
			recovered = true
		case client.KindMessage:
			if ev.Wire.Seq != next {
				t.Fatalf("go client: seq %d, want %d", ev.Wire.Seq, next)
			}
			next++
		}
	}
	if !failedOver || !recovered {
		t.Fatalf("go client: failed over %v, recovered %v", failedOver, recovered)
	}
	for _, id := range []string{subs[2].id, bob.id} {
		if id == bob.id {
			continue // not in lobby
		}
		subs[1].next(func(e protocol.Event) bool { return e.Type == protocol.TypeLeave && e.Client == id }, clusterLeaveWithin)
	}
	eventually(t, clusterLeaveWithin, func() error {
		var room struct {
			Clients int `json:"clients"`
		}
		if code := api(t, nodes[0], "GET", "/rooms/lobby", nil, &room); code != 200 {
			return fmt.Errorf("room info: %d", code)
		}
		if room.Clients != 5 { // subs[1], two publishers, back, the Go client
			return fmt.Errorf("room has %d clients; want 5 once nc is gone", room.Clients)
		}
		return nil
	})
	var after struct {
		Nodes []struct {
			Node string `json:"node"`
		} `json:"nodes"`
	}
	api(t, nodes[0], "GET", "/stats", nil, &after)
	if len(after.Nodes) != 2 {
		t.Fatalf("stats after nc died list %d nodes; want 2", len(after.Nodes))
	}
}

// TestClusterRedisRestart restarts Redis under two nodes. With Redis's
// append-only file on, everything acknowledged is still there and seqs
// go on; meanwhile /readyz says not ready, publishes are refused with
// store_unavailable, the log says so once, and the nodes come back
// without a restart. With persistence off, history is gone: the epoch
// changes and a rejoin is told recovery was incomplete.
func TestClusterRedisRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs redis-server and two servers; runs without -short")
	}
	t.Parallel()
	for _, persist := range []bool{true, false} {
		t.Run(fmt.Sprintf("appendonly=%v", persist), func(t *testing.T) {
			rs := redistest.StartWith(t, redistest.Options{AppendOnly: persist})
			a, b := startNode(t, rs.URL, "na"), startNode(t, rs.URL, "nb")
			sub := dialNode(t, b)
			sub.join("news")
			pub := dialNode(t, a)
			pub.join("news")
			for k := range 100 {
				if r := pub.request(map[string]any{"op": "pub", "room": "news", "noecho": true, "data": k}); !r.OK {
					t.Fatalf("pub %d: %+v", k, r.Error)
				}
			}
			got := sub.msgs("news", 0, 100)
			epoch := got[0].Epoch
			if persist {
				// appendfsync everysec: let the last second reach the file.
				time.Sleep(1500 * time.Millisecond)
			}

			rs.Stop()
			eventually(t, 15*time.Second, func() error {
				if code := readyz(a); code != http.StatusServiceUnavailable {
					return fmt.Errorf("readyz of na with Redis down: %d", code)
				}
				return nil
			})
			r := pub.request(map[string]any{"op": "pub", "room": "news", "data": "lost?"})
			if r.OK || r.Error == nil || r.Error.Code != protocol.CodeStoreUnavailable {
				t.Fatalf("pub with Redis down: %+v; want store_unavailable", r)
			}
			// Local serving goes on: a new client connects and gets a
			// welcome, and direct messages to clients of the node arrive.
			local := dialNode(t, b)
			if code := api(t, b, "POST", "/clients/"+local.id+"/send", map[string]any{"data": "still here"}, nil); code != 200 {
				t.Fatalf("send to a local client with Redis down: %d", code)
			}
			local.next(func(e protocol.Event) bool { return e.Type == protocol.TypeDirect && string(e.Data) == `"still here"` }, 10*time.Second)

			rs.Restart()
			eventually(t, 20*time.Second, func() error {
				for _, n := range []*crashServer{a, b} {
					if code := readyz(n); code != 200 {
						return fmt.Errorf("readyz of %s after Redis came back: %d", n.addr, code)
					}
				}
				return nil
			})
			var r2 protocol.Event
			eventually(t, 10*time.Second, func() error {
				r2 = pub.request(map[string]any{"op": "pub", "room": "news", "data": "back"})
				if !r2.OK {
					return fmt.Errorf("pub after Redis came back: %+v", r2.Error)
				}
				return nil
			})
			// Its own copy: node na's room has seen it.
			pub.next(func(e protocol.Event) bool { return e.Type == protocol.TypeMsg && string(e.Data) == `"back"` }, 10*time.Second)
			if persist {
				if r2.Seq != 101 || r2.Epoch != epoch {
					t.Fatalf("first pub after the restart: seq %d epoch %q; want 101 in %q", r2.Seq, r2.Epoch, epoch)
				}
				sub.msgs("news", 100, 1)
				if _, msgs := a.history("news"); len(msgs) != 101 {
					t.Fatalf("history after the restart holds %d messages; want 101", len(msgs))
				}
			} else {
				if r2.Epoch == epoch {
					t.Fatalf("history was lost with Redis but the epoch is the same (%q)", epoch)
				}
				late := dialNode(t, a)
				r := late.request(map[string]any{"op": "join", "room": "news", "since": 100, "epoch": epoch})
				if r.Recovered == nil || *r.Recovered {
					t.Fatalf("rejoin with the lost epoch: %+v; want recovered:false", r)
				}
			}
			for _, n := range []*crashServer{a, b} {
				log := n.stderr.String()
				if lost := strings.Count(log, "Redis lost"); lost != 1 {
					t.Errorf("node %s logged %q %d times; want once:\n%s", n.addr, "Redis lost", lost, log)
				}
			}
		})
	}
}
