package report

import (
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/loadtest"
)

func TestEvaluate(t *testing.T) {
	t.Parallel()
	with := func(f func(*loadtest.Result)) *loadtest.Result {
		r := broadcastResult()
		r.Checks = nil
		f(r)
		return r
	}
	p99 := func(d time.Duration) Thresholds { th := NewThresholds(); th.MaxP99 = d; return th }
	loss := func(v float64) Thresholds { th := NewThresholds(); th.MaxLoss = v; return th }
	minRate := func(v float64) Thresholds { th := NewThresholds(); th.MinRate = v; return th }
	type want struct {
		name   string
		flag   string
		actual float64
		ok     bool
	}
	for _, tc := range []struct {
		name string
		r    *loadtest.Result
		th   Thresholds
		want []want
	}{
		{"none set", broadcastResult(), NewThresholds(), nil},
		{"p99 pass", broadcastResult(), p99(50 * time.Millisecond), []want{{CheckP99, "--max-p99 50ms", 0.999, true}}},
		{"p99 at the limit passes", broadcastResult(), p99(999 * time.Microsecond), []want{{CheckP99, "--max-p99 999µs", 0.999, true}}},
		{"p99 fail", broadcastResult(), p99(500 * time.Microsecond), []want{{CheckP99, "--max-p99 500µs", 0.999, false}}},
		{"p99 without messages fails", with(func(r *loadtest.Result) { r.Messages = nil }), p99(time.Second), []want{{CheckP99, "--max-p99 1s", 0, false}}},
		{"p99 without deliveries fails", with(func(r *loadtest.Result) { r.Messages.Latency = loadtest.Latency{} }), p99(time.Second), []want{{CheckP99, "--max-p99 1s", 0, false}}},
		{"loss within limit", broadcastResult(), loss(0.01), []want{{CheckLoss, "--max-loss 0.01%", 42.0 / 1008000 * 100, true}}},
		{"loss over limit", broadcastResult(), loss(0.001), []want{{CheckLoss, "--max-loss 0.001%", 42.0 / 1008000 * 100, false}}},
		{"loss 0 and none lost", with(func(r *loadtest.Result) { r.Messages.Lost, r.Messages.LossPercent = 0, 0 }), loss(0), []want{{CheckLoss, "--max-loss 0%", 0, true}}},
		// LossPercent rounded to 0 upstream must not let one loss through.
		{"loss 0 with one lost fails", with(func(r *loadtest.Result) { r.Messages.Lost, r.Messages.LossPercent = 1, 0 }), loss(0), []want{{CheckLoss, "--max-loss 0%", 100.0 / 1008000, false}}},
		{"loss without messages fails", with(func(r *loadtest.Result) { r.Messages = nil }), loss(100), []want{{CheckLoss, "--max-loss 100%", 0, false}}},
		{"loss with nothing expected fails", with(func(r *loadtest.Result) { r.Messages.Expected, r.Messages.Lost = 0, 0 }), loss(100), []want{{CheckLoss, "--max-loss 100%", 0, false}}},
		{"zero value checks loss 0", broadcastResult(), Thresholds{}, []want{{CheckLoss, "--max-loss 0%", 42.0 / 1008000 * 100, false}}},
		{"rate pass", broadcastResult(), minRate(100000), []want{{CheckRate, "--min-rate 100000", 100785.72, true}}},
		{"rate fail", broadcastResult(), minRate(200000), []want{{CheckRate, "--min-rate 200000", 100785.72, false}}},
		{"rate without messages fails", with(func(r *loadtest.Result) { r.Messages = nil }), minRate(1), []want{{CheckRate, "--min-rate 1", 0, false}}},
		{"connect p99 is the handshake's", connectResult(), p99(50 * time.Millisecond), []want{{CheckHandshakeP99, "--max-p99 50ms", 2.993, true}}},
		{"connect loss counts failures and drops", func() *loadtest.Result {
			r := connectResult()
			r.Connect.Dropped = 50
			return r
		}(), loss(0.25), []want{{CheckConnectLoss, "--max-loss 0.25%", 0.5, false}}},
		{"connect rate", connectResult(), minRate(4000), []want{{CheckConnectRate, "--min-rate 4000", 4156.25, true}}},
		{"connect with nothing attempted fails", func() *loadtest.Result {
			r := connectResult()
			r.Connect = loadtest.Connect{}
			return r
		}(), Thresholds{MaxP99: time.Second, MaxLoss: 100, MinRate: 1}, []want{
			{CheckHandshakeP99, "--max-p99 1s", 0, false},
			{CheckConnectLoss, "--max-loss 100%", 0, false},
			{CheckConnectRate, "--min-rate 1", 0, false},
		}},
		{"all three in order", broadcastResult(), Thresholds{MaxP99: time.Second, MaxLoss: 1, MinRate: 1000}, []want{
			{CheckP99, "--max-p99 1s", 0.999, true},
			{CheckLoss, "--max-loss 1%", 42.0 / 1008000 * 100, true},
			{CheckRate, "--min-rate 1000", 100785.72, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Evaluate(tc.r, tc.th)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d checks %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Name != w.name || g.Flag != w.flag || g.OK != w.ok || !near(g.Actual, w.actual) {
					t.Errorf("check %d = %+v, want name %q flag %q actual %v ok %v", i, g, w.name, w.flag, w.actual, w.ok)
				}
				if g.Unit == "" {
					t.Errorf("check %d has no unit", i)
				}
			}
		})
	}
}

func near(a, b float64) bool { return a == b || (a-b < 1e-9 && b-a < 1e-9) }

func TestThresholdsIsZero(t *testing.T) {
	t.Parallel()
	if !NewThresholds().IsZero() {
		t.Error("NewThresholds() is not zero")
	}
	for _, th := range []Thresholds{{}, {MaxLoss: -1, MaxP99: time.Millisecond}, {MaxLoss: -1, MinRate: 1}} {
		if th.IsZero() {
			t.Errorf("%+v is zero", th)
		}
	}
}

func TestFailureSummary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cs   []loadtest.Check
		want string
	}{
		{"all pass", []loadtest.Check{{Name: CheckP99, Flag: "--max-p99 50ms", Limit: 50, Actual: 3, Unit: "ms", OK: true}}, ""},
		{"none", nil, ""},
		{"p99 over", []loadtest.Check{{Name: CheckP99, Flag: "--max-p99 50ms", Limit: 50, Actual: 73.21, Unit: "ms"}},
			"p99 latency 73.2 ms is over --max-p99 50ms"},
		{"not measured", []loadtest.Check{{Name: CheckP99, Flag: "--max-p99 50ms", Limit: 50, Unit: "ms"}},
			"p99 latency was not measured, so --max-p99 50ms fails"},
		{"two", []loadtest.Check{
			{Name: CheckLoss, Flag: "--max-loss 0%", Limit: 0, Actual: 0.0001, Unit: "%"},
			{Name: CheckP99, Flag: "--max-p99 50ms", Limit: 50, Actual: 3, Unit: "ms", OK: true},
			{Name: CheckRate, Flag: "--min-rate 1000", Limit: 1000, Actual: 812, Unit: "deliveries/s"},
		}, "loss 0.0001% is over --max-loss 0%; delivery rate 812 deliveries/s is under --min-rate 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := FailureSummary(tc.cs); got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
	// Evaluate and FailureSummary agree on a run that measured nothing.
	r := connectResult()
	r.Config.Scenario = loadtest.ScenarioBroadcast
	s := FailureSummary(Evaluate(r, Thresholds{MaxP99: time.Second, MaxLoss: -1, MinRate: 10}))
	if !strings.Contains(s, "p99 latency was not measured") || !strings.Contains(s, "delivery rate 0 deliveries/s is under --min-rate 10") {
		t.Errorf("summary %q", s)
	}
}

func TestParseLoss(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    float64
		wantErr string
	}{
		{"0", 0, ""},
		{"0.5", 0.5, ""},
		{"1%", 1, ""},
		{"0.5%", 0.5, ""},
		{" 2 % ", 2, ""},
		{"100", 100, ""},
		{"", 0, "use a percentage"},
		{"%", 0, "use a percentage"},
		{"abc", 0, "use a percentage"},
		{"1%%", 0, "use a percentage"},
		{"NaN", 0, "use a percentage"},
		{"inf", 0, "use a percentage"},
		{"-1", 0, "from 0 to 100"},
		{"101%", 0, "from 0 to 100"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseLoss(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "--max-loss") {
					t.Fatalf("ParseLoss(%q) = %v, %v; want an error saying %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseLoss(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}
