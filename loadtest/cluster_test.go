package loadtest_test

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rtsync/rtsync/internal/testserver"
	"github.com/rtsync/rtsync/loadtest"
	"github.com/rtsync/rtsync/server"
)

// sharedNodes runs one real rtsync server reachable at n URLs: its own,
// and n-1 TCP forwarders to it on ports of their own. To the bench they
// are n nodes whose rooms are one, which is what a cluster looks like
// from outside, so the per-node accounting of rooms that span nodes is
// checked against real sockets.
func sharedNodes(t *testing.T, n int) []string {
	t.Helper()
	srv := testserver.Start(t, server.Config{PublishRate: 1e6, PublishBurst: 1e6})
	urls := []string{srv.URL()}
	for range n - 1 {
		urls = append(urls, "ws://"+forward(t, srv.Addr)+"/ws")
	}
	return urls
}

// forward listens on a free loopback port and pipes every connection to
// addr until the test ends; it returns the port's address.
func forward(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var open []net.Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			open = append(open, in, out)
			mu.Unlock()
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			wg.Go(func() { pipe(out, in) })
			wg.Go(func() { pipe(in, out) })
		}
	})
	return ln.Addr().String()
}

// nodeSums adds up the per-node figures.
func nodeSums(ns []loadtest.NodeStats) (n loadtest.NodeStats) {
	for _, x := range ns {
		n.Subscribers += x.Subscribers
		n.Publishers += x.Publishers
		n.Connected += x.Connected
		n.Expected += x.Expected
		n.Delivered += x.Delivered
		n.Lost += x.Lost
		n.Duplicated += x.Duplicated
		n.OutOfOrder += x.OutOfOrder
		n.CrossExpected += x.CrossExpected
		n.CrossDelivered += x.CrossDelivered
	}
	return n
}

// TestClusterRoomsSpanNodes: with --cluster each room's subscribers are
// dealt over every node and publishers sit on every node; the per-node
// figures add up exactly to the totals, in one process and in worker
// processes alike.
func TestClusterRoomsSpanNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	urls := sharedNodes(t, 3)
	for _, procs := range []int{1, 2} {
		cfg := quick(urls[0])
		cfg.URLs = urls
		cfg.Cluster = true
		cfg.Conns = 60
		cfg.Rooms = 2
		cfg.Procs = procs
		res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{Worker: workers(t)})
		if err != nil {
			t.Fatalf("procs %d: %v", procs, err)
		}
		m := res.Messages
		t.Logf("procs %d: %s", procs, m)
		if res.Config.PublishOn != loadtest.PublishAll {
			t.Errorf("publish on %q, want the default all", res.Config.PublishOn)
		}
		// 2 rooms of 30 over 3 nodes, one publisher per room on each.
		if res.Connect.Connected != 66 || m.Lost != 0 || m.Duplicated != 0 || m.OutOfOrder != 0 || m.Delivered != m.Expected || m.Published == 0 {
			t.Errorf("procs %d: connected %d, %s", procs, res.Connect.Connected, m)
		}
		for _, r := range m.Rooms {
			if r.Subscribers != 30 || r.Target != "" {
				t.Errorf("room %+v: want 30 subscribers over every node", r)
			}
		}
		if len(res.Nodes) != 3 {
			t.Fatalf("nodes %+v", res.Nodes)
		}
		for i, n := range res.Nodes {
			if n.URL != urls[i] || n.Subscribers != 20 || n.Publishers != 2 || n.Connected != 22 || n.Failed != 0 {
				t.Errorf("procs %d node %d: %+v", procs, i, n)
			}
			// Every room has 10 subscribers here, so a third of every
			// delivery is owed to this node.
			if n.Expected*3 != m.Expected || n.Delivered != n.Expected || n.Lost != 0 || n.CrossDelivered != n.CrossExpected {
				t.Errorf("procs %d node %d: expected %d delivered %d lost %d cross %d/%d (total expected %d)",
					procs, i, n.Expected, n.Delivered, n.Lost, n.CrossDelivered, n.CrossExpected, m.Expected)
			}
			if n.Latency == nil || n.Latency.Count != n.Delivered || n.Node == "" {
				t.Errorf("procs %d node %d: latency %+v, name %q", procs, i, n.Latency, n.Node)
			}
		}
		sum := nodeSums(res.Nodes)
		if sum.Expected != m.Expected || sum.Delivered != m.Delivered || sum.Connected != res.Connect.Connected {
			t.Errorf("procs %d: nodes add up to %+v; totals %s", procs, sum, m)
		}
		// Each message owes 10 deliveries on its publisher's node and 20
		// on the two others.
		if m.PublishErrors != 0 || sum.Expected-sum.CrossExpected != 10*m.Published || sum.CrossExpected != 20*m.Published {
			t.Errorf("procs %d: %d published, %d errors; %d deliveries owed on the same node, %d across", procs,
				m.Published, m.PublishErrors, sum.Expected-sum.CrossExpected, sum.CrossExpected)
		}
	}
}

// TestClusterPublishOnFirst puts every publisher on the first node: the
// other nodes' receivers get everything from across the cluster.
func TestClusterPublishOnFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	urls := sharedNodes(t, 3)
	cfg := quick(urls[0])
	cfg.URLs = urls
	cfg.Cluster = true
	cfg.PublishOn = loadtest.PublishFirst
	cfg.Conns = 30
	cfg.Publishers = 2
	res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Messages
	if res.Connect.Connected != 32 || m.Lost != 0 || m.Delivered != m.Expected {
		t.Errorf("connected %d, %s", res.Connect.Connected, m)
	}
	for i, n := range res.Nodes {
		wantPubs, wantCross := 0, n.Expected
		if i == 0 {
			wantPubs, wantCross = 2, 0
		}
		if n.Publishers != wantPubs || n.Subscribers != 10 || n.CrossExpected != wantCross || n.CrossDelivered != wantCross || n.Lost != 0 {
			t.Errorf("node %d: %+v", i, n)
		}
	}
}

// TestClusterDirectAcrossNodes: partners sit on different nodes, so
// every direct message crosses.
func TestClusterDirectAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	urls := sharedNodes(t, 3)
	cfg := quick(urls[0])
	cfg.URLs = urls
	cfg.Cluster = true
	cfg.Scenario = loadtest.ScenarioDirect
	cfg.Conns = 30
	res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Messages
	if m.Lost != 0 || m.Delivered != m.Expected || m.Expected != m.Published || m.Published == 0 {
		t.Errorf("direct: %s", m)
	}
	for i, n := range res.Nodes {
		if n.Subscribers != 10 || n.Expected == 0 || n.CrossExpected != n.Expected || n.CrossDelivered != n.Delivered || n.Delivered != n.Expected {
			t.Errorf("node %d: %+v", i, n)
		}
	}
	if sum := nodeSums(res.Nodes); sum.Expected != m.Expected {
		t.Errorf("nodes expect %d, total %d", sum.Expected, m.Expected)
	}
}

// TestClusterOfIndependentServers: three servers that are not a cluster,
// loaded as one. A node's receivers get only what was published on their
// own node, and the report counts exactly the rest as lost and says the
// URLs do not look like one cluster.
func TestClusterOfIndependentServers(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	urls := []string{startRtsync(t), startRtsync(t), startRtsync(t)}
	cfg := quick(urls[0])
	cfg.URLs = urls
	cfg.Cluster = true
	cfg.Conns = 30
	res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Messages
	t.Logf("%s", m)
	for i, n := range res.Nodes {
		if n.CrossExpected == 0 || n.CrossDelivered != 0 || n.Lost != n.CrossExpected || n.Delivered != n.Expected-n.CrossExpected || n.Duplicated != 0 {
			t.Errorf("node %d: %+v", i, n)
		}
	}
	if sum := nodeSums(res.Nodes); sum.Lost != m.Lost || m.Lost == 0 {
		t.Errorf("nodes lost %d, total %d", sum.Lost, m.Lost)
	}
	notCluster := func(w string) bool { return strings.HasPrefix(w, "no message crossed from one node to another") }
	if !slices.ContainsFunc(res.Bench.Warnings, notCluster) {
		t.Errorf("warnings %q do not say the nodes passed nothing between them", res.Bench.Warnings)
	}
}

// TestClusterConnectPerNode: the connect scenario spreads connections
// over the nodes and counts them per node.
func TestClusterConnectPerNode(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	urls := []string{startRtsync(t), startRtsync(t), "ws://127.0.0.1:1/ws"}
	cfg := quick(urls[0])
	cfg.URLs = urls
	cfg.Cluster = true
	cfg.Scenario = loadtest.ScenarioConnect
	cfg.Conns = 30
	res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range res.Nodes {
		want := loadtest.NodeStats{URL: urls[i], Node: n.Node, Subscribers: 10, Attempted: 10, Connected: 10}
		if i == 2 {
			want.Connected, want.Failed = 0, 10
		}
		if n != want {
			t.Errorf("node %d: %+v, want %+v", i, n, want)
		}
	}
	if res.Messages != nil {
		t.Errorf("messages in a connect run: %s", res.Messages)
	}
}

func TestClusterConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  loadtest.Config
		want string
	}{
		{loadtest.Config{URLs: []string{"ws://127.0.0.1:1/ws"}, Cluster: true}, "--cluster needs the URL of every node of the cluster (at least two --url), got 1"},
		{loadtest.Config{URLs: []string{"ws://127.0.0.1:1/ws", "ws://127.0.0.1:2/ws"}, Cluster: true, PublishOn: "half"}, `unknown --publish-on "half": use all`},
		{loadtest.Config{URLs: []string{"ws://127.0.0.1:1/ws", "ws://127.0.0.1:2/ws"}, PublishOn: loadtest.PublishFirst}, "--publish-on first applies to a cluster only: add --cluster"},
	} {
		err := tc.cfg.Normalize()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.cfg, err, tc.want)
		}
	}
	// --publish-on first: publishers on one node only, counted once.
	cfg := loadtest.Config{URLs: []string{"ws://127.0.0.1:1/ws", "ws://127.0.0.1:2/ws", "ws://127.0.0.1:3/ws"}, Cluster: true,
		PublishOn: loadtest.PublishFirst, Conns: 50000, Rooms: 2, Publishers: 3}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	if cfg.Procs != 3 {
		t.Errorf("50,006 connections in %d processes, want 3", cfg.Procs)
	}
	// 16,667 subscribers and 6 publishers to the first node fit one
	// source address; 3 × 16,667 to one address would not.
	one := loadtest.Config{URLs: []string{"ws://127.0.0.1:1/ws"}, Conns: 50000}
	if err := one.Normalize(); err == nil || !strings.Contains(err.Error(), "--source-ips") {
		t.Errorf("50,000 connections to one address: err %v", err)
	}
}
