package loadtest_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/testserver"
	"github.com/rtsync/rtsync/loadtest"
	"github.com/rtsync/rtsync/server"
)

// startRtsync runs a real rtsync server on a free loopback port for the
// test, with limits loose enough for a bench.
func startRtsync(t *testing.T) string {
	t.Helper()
	return testserver.Start(t, server.Config{PublishRate: 1e6, PublishBurst: 1e6}).URL()
}

func quick(url string) loadtest.Config {
	return loadtest.Config{
		URLs:     []string{url},
		Conns:    50,
		Rate:     200,
		Warmup:   loadtest.Duration(300 * time.Millisecond),
		Duration: loadtest.Duration(time.Second),
		Ramp:     loadtest.Duration(100 * time.Millisecond),
		Drain:    loadtest.Duration(3 * time.Second),
	}
}

func TestBroadcastAgainstRtsync(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	url := startRtsync(t)
	cfg := quick(url)
	cfg.Rooms = 3
	cfg.Publishers = 2
	res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Messages
	t.Logf("%s", m)
	if res.Connect.Connected != 56 || res.Connect.Failed != 0 {
		t.Errorf("connect: %+v", res.Connect)
	}
	if m.Published == 0 || m.Lost != 0 || m.Duplicated != 0 || m.OutOfOrder != 0 || m.Delivered != m.Expected {
		t.Errorf("messages: %s", m)
	}
	// 200 msg/s over 1 s to rooms of 16 or 17 subscribers.
	if m.Published < 190 || m.Published > 210 {
		t.Errorf("published %d in a 1 s window at 200/s", m.Published)
	}
	if m.Latency.Count != m.Delivered || m.FanOut.Count+m.FanOutIncomplete != m.Published-m.PublishErrors {
		t.Errorf("latency count %d, fan-out %d+%d", m.Latency.Count, m.FanOut.Count, m.FanOutIncomplete)
	}
}

func TestDirectAgainstRtsync(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	url := startRtsync(t)
	cfg := quick(url)
	cfg.Scenario = loadtest.ScenarioDirect
	cfg.Conns = 40
	cfg.Rate = 400
	res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Messages
	t.Logf("%s", m)
	if m.Published < 380 || m.Published > 420 || m.Expected != m.Published || m.Delivered != m.Expected || m.Lost != 0 {
		t.Errorf("direct: %s", m)
	}
	if m.PublishErrors != 0 {
		t.Errorf("publish errors: %v", m.PublishErrorCodes)
	}
}

// TestProcsMergeLikeOneProcess runs the same load in one process and in
// three worker processes: the totals must agree exactly, and the merged
// histogram must hold every delivery.
func TestProcsMergeLikeOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	url := startRtsync(t)
	var results [2]*loadtest.Result
	for i, procs := range []int{1, 3} {
		cfg := quick(url)
		cfg.Conns = 60
		cfg.Rooms = 2
		cfg.Procs = procs
		res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{Worker: workers(t)})
		if err != nil {
			t.Fatalf("procs %d: %v", procs, err)
		}
		results[i] = res
		t.Logf("procs %d: %s", procs, res.Messages)
	}
	one, three := results[0], results[1]
	if three.Bench.Procs != 3 {
		t.Errorf("procs = %d", three.Bench.Procs)
	}
	for _, r := range results {
		m := r.Messages
		if r.Connect.Connected != 62 || m.Lost != 0 || m.Delivered != m.Expected || m.Latency.Count != m.Delivered {
			t.Errorf("procs %d: connected %d, %s (latency count %d)", r.Bench.Procs, r.Connect.Connected, m, m.Latency.Count)
		}
		if m.FanOut.Count != m.Published {
			t.Errorf("procs %d: fan-out of %d messages, want %d", r.Bench.Procs, m.FanOut.Count, m.Published)
		}
	}
	if one.Messages.Published != three.Messages.Published || one.Messages.Expected != three.Messages.Expected {
		t.Errorf("one process: %s; three: %s", one.Messages, three.Messages)
	}
	if one.Connect.Handshake.Count != three.Connect.Handshake.Count {
		t.Errorf("handshakes %d vs %d", one.Connect.Handshake.Count, three.Connect.Handshake.Count)
	}
}

func TestConnectChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	url := startRtsync(t)
	cfg := quick(url)
	cfg.Scenario = loadtest.ScenarioConnect
	cfg.Conns = 100
	cfg.Churn = 0.5
	res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Connect
	t.Logf("connect: %+v", c)
	if c.Failed != 0 || c.Dropped != 0 || res.Messages != nil {
		t.Errorf("connect: %+v", c)
	}
	// 50% of 100 a second over 1 s: about 50 reconnects.
	if c.Reconnects < 30 || c.Reconnects > 70 || c.Handshake.Count != 100+c.Reconnects {
		t.Errorf("reconnects %d, handshakes %d", c.Reconnects, c.Handshake.Count)
	}
	if c.PerSecond <= 0 || c.Handshake.P50 <= 0 {
		t.Errorf("no connect rate or handshake latency: %+v", c)
	}
}

func TestIdleReportsServerMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	url := startRtsync(t)
	cfg := quick(url)
	cfg.Scenario = loadtest.ScenarioIdle
	cfg.Conns = 30
	calls := 0
	res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{
		ServerRSS: func(context.Context) (int64, string, bool) {
			calls++
			return int64(1000 + 300*(calls-1)), "test", true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Server == nil || res.Server.KBPerConn != 10 || res.Server.Conns != 30 {
		t.Errorf("server stats %+v", res.Server)
	}
	// Held 1 s against the default 25 s heartbeat: the figure predates
	// the first heartbeat, and the report says so.
	early := func(w string) bool { return strings.Contains(w, "less than the server's 25 s heartbeat") }
	if !slices.ContainsFunc(res.Bench.Warnings, early) {
		t.Errorf("warnings %q do not say the reading came before the first heartbeat", res.Bench.Warnings)
	}

	// A server whose heartbeat passes within the window: no such warning.
	cfg.URLs = []string{testserver.Start(t, server.Config{HeartbeatInterval: 200 * time.Millisecond}).URL()}
	res, err = loadtest.Run(context.Background(), cfg, loadtest.Options{
		ServerRSS: func(context.Context) (int64, string, bool) { return 1000, "test", true },
	})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(res.Bench.Warnings, func(w string) bool { return strings.Contains(w, "heartbeat") }) {
		t.Errorf("warnings %q speak of the heartbeat", res.Bench.Warnings)
	}
}

// TestRateLimitedPublisher: against a server with its default publish
// rate, a publisher sending faster is closed with 4009, and the report
// says so and what to change.
func TestRateLimitedPublisher(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	t.Parallel()
	url := testserver.Start(t, server.Config{}).URL()
	cfg := quick(url)
	cfg.Conns = 5
	cfg.Rate = 1000 // ten times the server's 100/s per connection
	res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connect.Drops["close_4009"] != 1 {
		t.Errorf("drops %v, want the publisher's close_4009", res.Connect.Drops)
	}
	if res.Messages.PublishErrors == 0 {
		t.Errorf("no publish errors: %s", res.Messages)
	}
	want := "1 connections were closed by the server or lost during the run (close_4009: 1). 4009: a publisher sent faster than the server allows each connection (rtsync serve --publish-rate"
	if !slices.ContainsFunc(res.Bench.Warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
		t.Errorf("warnings %q lack %q", res.Bench.Warnings, want)
	}
}

func TestUnreachableServer(t *testing.T) {
	cfg := quick("ws://127.0.0.1:1/ws")
	cfg.Conns = 5
	res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{})
	if err == nil || res == nil {
		t.Fatalf("err %v, result %v", err, res)
	}
	if res.Connect.Failures["refused"] != 6 {
		t.Errorf("failures %v; err %v", res.Connect.Failures, err)
	}
	if want := "6 of 6 connections failed (refused: 6). refused: nothing listens at the URL; is the server running?"; !slices.Contains(res.Bench.Warnings, want) {
		t.Errorf("warnings %q lack %q", res.Bench.Warnings, want)
	}
	t.Log(err)
}

// TestConnectJoins: each connect of the connect scenario says hello and
// joins a room, the connections dealt over --rooms.
func TestConnectJoins(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	ts := testserver.Start(t, server.Config{})
	cfg := quick(ts.URL())
	cfg.Scenario = loadtest.ScenarioConnect
	cfg.Conns = 30
	cfg.Rooms = 3
	var members []int
	var commands uint64
	opt := loadtest.Options{Progress: func(p loadtest.Progress) {
		if members != nil || p.Phase == "connecting" || p.Connected != int64(cfg.Conns) {
			return
		}
		st := ts.Srv.Stats()
		commands = st.MessagesIn
		members = []int{}
		for _, r := range st.TopRooms {
			members = append(members, r.Members)
		}
	}}
	res, err := loadtest.Run(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Connect; c.Connected != 30 || c.Failed != 0 {
		t.Fatalf("connect: %+v", c)
	}
	if !slices.Equal(members, []int{10, 10, 10}) || commands != 60 {
		t.Errorf("rooms' members %v, commands %d; want 3 rooms of 10 and a hello and a join per connection", members, commands)
	}
}
