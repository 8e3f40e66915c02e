package loadtest_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/fakeserver"
	"github.com/rtsync/rtsync/loadtest"
)

// These tests run the bench against a server that misbehaves in known
// ways and check that the report says exactly that.

func runAgainst(t *testing.T, srv *fakeserver.Server, cfg loadtest.Config) *loadtest.Result {
	t.Helper()
	cfg.URLs = []string{srv.URL()}
	res, err := loadtest.Run(context.Background(), cfg, loadtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != nil {
		t.Logf("%s", res.Messages)
	}
	return res
}

func TestDelayedSubscriberShowsInPercentiles(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	t.Parallel()
	const delay = 300 * time.Millisecond
	srv := fakeserver.Start(t, fakeserver.Options{Faults: fakeserver.Faults{DelayConn: 0, Delay: delay}})
	cfg := quick("")
	cfg.Conns = 20 // one in 20 deliveries (5%) is late
	cfg.Duration = loadtest.Duration(2 * time.Second)
	m := runAgainst(t, srv, cfg).Messages
	if m.Lost != 0 || m.Delivered != m.Expected {
		t.Fatalf("lost deliveries: %s", m)
	}
	ms := float64(delay / time.Millisecond)
	if m.Latency.P99 < ms || m.Latency.Max < ms {
		t.Errorf("p99 %.1f ms, max %.1f ms: the %v delay does not show", m.Latency.P99, m.Latency.Max, delay)
	}
	if m.Latency.P90 > ms/2 {
		t.Errorf("p90 %.1f ms: 95%% of deliveries were not delayed", m.Latency.P90)
	}
	// Every message waits for the delayed subscriber to complete its
	// fan-out.
	if m.FanOut.P50 < ms {
		t.Errorf("fan-out p50 %.1f ms, want at least %v", m.FanOut.P50, delay)
	}
	// Second by second too, and the seconds add up to the window.
	if len(m.Timeline) != 2 {
		t.Fatalf("timeline has %d seconds, want 2: %+v", len(m.Timeline), m.Timeline)
	}
	var deliveries int64
	for i, s := range m.Timeline {
		deliveries += s.Deliveries
		if s.At != float64(i) || s.Messages == 0 || s.FanOutP50 < ms || s.FanOutMax < s.FanOutP99 || s.FanOutP99 < s.FanOutP50 || s.Incomplete != 0 {
			t.Errorf("second %d: %+v", i, s)
		}
	}
	if deliveries != m.Delivered {
		t.Errorf("timeline deliveries %d, delivered %d", deliveries, m.Delivered)
	}
}

func TestDroppingServerShowsOnePercentLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	t.Parallel()
	srv := fakeserver.Start(t, fakeserver.Options{Faults: fakeserver.Faults{DropEvery: 100}})
	cfg := quick("")
	cfg.Conns = 10
	cfg.Rate = 1000
	cfg.Drain = loadtest.Duration(time.Second)
	m := runAgainst(t, srv, cfg).Messages
	// 1,000 messages in the window, one in 100 dropped for all 10
	// subscribers.
	if m.Lost != 100 || m.Lost%10 != 0 {
		t.Errorf("lost %d deliveries, want 100 (10 messages x 10 subscribers)", m.Lost)
	}
	if m.LossPercent < 0.99 || m.LossPercent > 1.01 {
		t.Errorf("loss %.3f%%, want 1%%", m.LossPercent)
	}
	if m.Duplicated != 0 || m.OutOfOrder != 0 {
		t.Errorf("dup %d ooo %d", m.Duplicated, m.OutOfOrder)
	}
	if m.FanOutIncomplete != 10 {
		t.Errorf("fan-out incomplete %d, want 10", m.FanOutIncomplete)
	}
}

func TestDuplicatingServerShowsDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	t.Parallel()
	srv := fakeserver.Start(t, fakeserver.Options{Faults: fakeserver.Faults{DuplicateEvery: 50}})
	cfg := quick("")
	cfg.Conns = 10
	cfg.Rate = 1000
	m := runAgainst(t, srv, cfg).Messages
	if m.Duplicated != 200 || m.Lost != 0 || m.Delivered != m.Expected {
		t.Errorf("duplicated %d (want 20 messages x 10), %s", m.Duplicated, m)
	}
}

func TestReorderingServerShowsOutOfOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	t.Parallel()
	srv := fakeserver.Start(t, fakeserver.Options{Faults: fakeserver.Faults{ReorderEvery: 20}})
	cfg := quick("")
	cfg.Conns = 10
	cfg.Rate = 1000
	m := runAgainst(t, srv, cfg).Messages
	// The window holds seqs 301-1300: seqs 320, 340, ... 1280 (49 of
	// them) arrive after their successor, for each of 10 subscribers.
	// Seq 1300 has no successor (publishing stops) and is released in
	// order after the server's hold time.
	if m.OutOfOrder != 490 || m.Lost != 0 || m.Duplicated != 0 {
		t.Errorf("out of order %d (want 490), %s", m.OutOfOrder, m)
	}
}

func TestRawProtocol(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	t.Parallel()
	srv := fakeserver.Start(t, fakeserver.Options{Protocol: fakeserver.ProtocolRaw})
	cfg := quick("")
	cfg.Protocol = loadtest.ProtocolRaw
	cfg.Conns = 20
	m := runAgainst(t, srv, cfg).Messages
	if m.Published < 190 || m.Lost != 0 || m.Delivered != m.Expected || m.Expected != 20*m.Published {
		t.Errorf("raw: %s", m)
	}
}

func TestConnectFailuresByCause(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	t.Parallel()
	srv := fakeserver.Start(t, fakeserver.Options{Faults: fakeserver.Faults{RejectAfter: 10, CloseAfterWelcomeEvery: 4}})
	cfg := quick("")
	cfg.Scenario = loadtest.ScenarioConnect
	cfg.Conns = 30
	cfg.Dialers = 1 // in order, so which ones fail is known
	res := runAgainst(t, srv, cfg)
	c := res.Connect
	// Upgrades 1-10 pass, of which 4 and 8 are closed after the welcome;
	// 11-30 get HTTP 503.
	if c.Failures["http_503"] != 20 || c.Failures["close_4008"] != 2 || c.Connected != 8 || c.Failed != 22 {
		t.Errorf("connect %+v", c)
	}
	want := "22 of 30 connections failed (http_503: 20, close_4008: 2). 4008: a receiver's send queue overflowed"
	if !slices.ContainsFunc(res.Bench.Warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
		t.Errorf("warnings %q lack %q", res.Bench.Warnings, want)
	}
}

// TestFloodedPublisherIsNotLoss: a server that stops answering a publisher
// mid-window and closes it with 4009 took only what it answered. What the
// publisher wrote after that, unanswered and delivered to nobody, is
// reported as unconfirmed publishes, not as lost deliveries.
func TestFloodedPublisherIsNotLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a bench run; runs without -short")
	}
	t.Parallel()
	// At 200/s with a 300 ms warm-up the window is messages 60-259; the
	// server takes pubs 1-160 (messages 0-159), so 100 in the window.
	srv := fakeserver.Start(t, fakeserver.Options{Faults: fakeserver.Faults{FloodCloseAfter: 160, FloodHold: 200 * time.Millisecond}})
	cfg := quick("")
	cfg.Conns = 10
	res := runAgainst(t, srv, cfg)
	m := res.Messages
	if m.Lost != 0 || m.Expected != 100*10 || m.Delivered != m.Expected {
		t.Errorf("messages: %s; want 100 taken in the window, 1000 delivered, none lost", m)
	}
	if u := m.PublishErrorCodes["unconfirmed"]; u < 10 || m.Published != 100+u {
		t.Errorf("published %d with %d unconfirmed (codes %v); want the 200 ms hold's writes unconfirmed", m.Published, u, m.PublishErrorCodes)
	}
	if res.Connect.Drops["close_4009"] != 1 {
		t.Errorf("drops %v", res.Connect.Drops)
	}
	// Draining waits for what was owed, not for the unconfirmed messages
	// nobody will get: it ends well before the 3 s drain.
	for _, p := range res.Phases {
		if p.Name == loadtest.PhaseDraining && p.Seconds > 2 {
			t.Errorf("draining took %.1f s: it waited for unconfirmed messages", p.Seconds)
		}
	}
}
