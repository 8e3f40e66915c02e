package bench

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/loadtest"
)

// feedPlain runs Plain over snaps sent on a closed, pre-filled channel:
// no goroutine and no clock, so the output depends on the snapshots only.
func feedPlain(t *testing.T, every time.Duration, snaps []loadtest.Progress) string {
	t.Helper()
	ch := make(chan loadtest.Progress, len(snaps))
	for _, p := range snaps {
		ch <- p
	}
	close(ch)
	var b bytes.Buffer
	if err := Plain(&b, every, ch); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func snap(phase string, done float64, elapsed time.Duration, warnings ...string) loadtest.Progress {
	return loadtest.Progress{
		Phase: phase, Phases: allPhases, PhaseDone: done, Elapsed: elapsed,
		Conns: 5000, Connected: 5000, DeliveriesPerSec: 498_211.4,
		P50: 3.1, P99: 12.4, CPU: 142, Warnings: warnings,
	}
}

func TestPlain(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	snaps := []loadtest.Progress{
		snap(loadtest.PhaseConnecting, 0, 0),                  // first: printed
		snap(loadtest.PhaseConnecting, 0.25, 500*ms),          // too soon
		snap(loadtest.PhaseConnecting, 0.5, 1999*ms),          // 1ms too soon
		snap(loadtest.PhaseConnecting, 0.75, 2000*ms),         // every reached: printed
		snap(loadtest.PhaseWarmup, 0.1, 2100*ms),              // phase change: printed
		snap(loadtest.PhaseWarmup, 0.5, 3000*ms),              // too soon
		snap(loadtest.PhaseMeasuring, 0.63, 3500*ms, "A"),     // phase change and new warning
		snap(loadtest.PhaseMeasuring, 0.7, 4000*ms, "A", "B"), // only B is new
		snap(loadtest.PhaseMeasuring, 0.8, 5000*ms, "A", "B"), // too soon, nothing new
		snap(loadtest.PhaseMeasuring, 0.9, 5400*ms, "B", "A"), // too soon: pending at close
	}
	want := strings.Join([]string{
		"[   0.0s] connecting   0% | conns 5,000/5,000 (0 failed) | 498,211 deliveries/s | p50 3.1 ms p99 12.4 ms | errors 0 | cpu 142%",
		"[   2.0s] connecting  75% | conns 5,000/5,000 (0 failed) | 498,211 deliveries/s | p50 3.1 ms p99 12.4 ms | errors 0 | cpu 142%",
		"[   2.1s] warmup      10% | conns 5,000/5,000 (0 failed) | 498,211 deliveries/s | p50 3.1 ms p99 12.4 ms | errors 0 | cpu 142%",
		"[   3.5s] measuring   63% | conns 5,000/5,000 (0 failed) | 498,211 deliveries/s | p50 3.1 ms p99 12.4 ms | errors 0 | cpu 142%",
		"warning: A",
		"warning: B",
		"[   5.4s] measuring   90% | conns 5,000/5,000 (0 failed) | 498,211 deliveries/s | p50 3.1 ms p99 12.4 ms | errors 0 | cpu 142%",
		"",
	}, "\n")
	if got := feedPlain(t, 2*time.Second, snaps); got != want {
		t.Errorf("Plain wrote:\n%s\nwant:\n%s", got, want)
	}
}

// TestPlainEvery checks the rate limit against many snapshots: within a
// phase, printed lines are at least `every` apart, and the interval
// defaults to DefaultPlainEvery.
func TestPlainEvery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		every time.Duration
		lines int
	}{
		// 100 snapshots 250ms apart: 0s .. 24.75s, one phase, all printed
		// on the second: 0, 2, 4, ... 24, then the last one pending.
		{name: "default", every: 0, lines: 14},
		{name: "1s", every: time.Second, lines: 26},
		{name: "250ms", every: 250 * time.Millisecond, lines: 100},
		{name: "1m", every: time.Minute, lines: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var snaps []loadtest.Progress
			for i := range 100 {
				snaps = append(snaps, snap(loadtest.PhaseMeasuring, float64(i)/100, time.Duration(i)*250*time.Millisecond))
			}
			got := strings.Split(strings.TrimSuffix(feedPlain(t, tt.every, snaps), "\n"), "\n")
			if len(got) != tt.lines {
				t.Errorf("%d lines, want %d:\n%s", len(got), tt.lines, strings.Join(got, "\n"))
			}
		})
	}
}

type failWriter struct{ writes int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.writes++
	return 0, errors.New("broken pipe")
}

// TestPlainWriteError checks Plain drains the channel after a write error
// (the sender must not stall) and reports the error once it closes.
func TestPlainWriteError(t *testing.T) {
	t.Parallel()
	ch := make(chan loadtest.Progress) // unbuffered: every send needs a reader
	done := make(chan error, 1)
	w := &failWriter{}
	go func() { done <- Plain(w, time.Second, ch) }()
	for i := range 20 {
		select {
		case ch <- snap(loadtest.PhaseMeasuring, 0, time.Duration(i)*time.Second, "w"):
		case <-time.After(waitTimeout):
			t.Fatalf("Plain stopped reading after %d snapshots", i)
		}
	}
	close(ch)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "broken pipe") {
			t.Fatalf("Plain = %v, want the write error", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Plain did not return after close")
	}
	if w.writes != 1 {
		t.Errorf("%d writes after the first failed, want none", w.writes-1)
	}
}
