package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rtsync/rtsync/loadtest"
)

// Thresholds are the limits a run must meet (--max-p99, --max-loss,
// --min-rate) for `rtsync bench` to succeed, so a CI job can fail on a
// regression.
//
// The zero value is not "no thresholds": its MaxLoss of 0 demands no loss
// at all. Start from NewThresholds and set what the flags asked for.
type Thresholds struct {
	// MaxP99 is the highest acceptable p99 latency; 0 leaves it unset.
	MaxP99 time.Duration
	// MaxLoss is the highest acceptable loss in percent (0.5 is half a
	// percent); a negative value (-1) leaves it unset, and 0 allows none.
	MaxLoss float64
	// MinRate is the lowest acceptable rate per second; 0 leaves it unset.
	MinRate float64
}

// NewThresholds returns thresholds with none set.
func NewThresholds() Thresholds { return Thresholds{MaxLoss: -1} }

// IsZero reports whether no threshold is set, so Evaluate has nothing to
// check. (Thresholds{} is not zero in this sense: it sets MaxLoss to 0.)
func (t Thresholds) IsZero() bool { return t.MaxP99 <= 0 && t.MaxLoss < 0 && t.MinRate <= 0 }

// Check names, as they appear in Result.Checks and in FailureSummary.
// Which figure a flag checks depends on the scenario: the message
// scenarios (broadcast, direct) are judged on deliveries, connect and
// idle on connections.
const (
	CheckP99          = "p99 latency"      // --max-p99: delivery latency p99
	CheckHandshakeP99 = "handshake p99"    // --max-p99 in connect and idle
	CheckLoss         = "loss"             // --max-loss: lost deliveries
	CheckConnectLoss  = "connect failures" // --max-loss in connect and idle
	CheckRate         = "delivery rate"    // --min-rate: deliveries/s
	CheckConnectRate  = "connect rate"     // --min-rate in connect and idle
)

// isMinCheck tells the checks with a floor from those with a ceiling.
func isMinCheck(c loadtest.Check) bool {
	switch c.Name {
	case CheckRate, CheckConnectRate:
		return true
	case CheckP99, CheckHandshakeP99, CheckLoss, CheckConnectLoss:
		return false
	}
	return strings.HasPrefix(c.Flag, "--min-")
}

// Evaluate checks a run against the thresholds, one Check per threshold
// set, in the order p99, loss, rate. A threshold on a figure the run does
// not have (no deliveries were measured, no connection was attempted)
// fails with Actual 0: a run that measured nothing must not pass.
//
// In the connect and idle scenarios --max-p99 checks the handshake p99,
// --max-loss the connections that failed or were dropped after connecting
// as a share of those attempted (an idle connection the server drops is
// that scenario's loss), and --min-rate the connections made per second.
func Evaluate(r *loadtest.Result, t Thresholds) []loadtest.Check {
	if r == nil || t.IsZero() {
		return nil
	}
	msgs := isMessageScenario(r.Config.Scenario)
	m := r.Messages
	var cs []loadtest.Check
	if t.MaxP99 > 0 {
		limit := float64(t.MaxP99) / float64(time.Millisecond)
		flag := "--max-p99 " + t.MaxP99.String()
		if msgs {
			have := m != nil && m.Latency.Count > 0
			cs = append(cs, ceiling(CheckP99, flag, "ms", limit, have, func() float64 { return m.Latency.P99 }))
		} else {
			h := r.Connect.Handshake
			cs = append(cs, ceiling(CheckHandshakeP99, flag, "ms", limit, h.Count > 0, func() float64 { return h.P99 }))
		}
	}
	if t.MaxLoss >= 0 {
		flag := "--max-loss " + plain(t.MaxLoss) + "%"
		if msgs {
			have := m != nil && m.Expected > 0
			cs = append(cs, ceiling(CheckLoss, flag, "%", t.MaxLoss, have, func() float64 {
				return lossOf(m.Lost, m.Expected, m.LossPercent)
			}))
		} else {
			c := r.Connect
			cs = append(cs, ceiling(CheckConnectLoss, flag, "%", t.MaxLoss, c.Attempted > 0, func() float64 {
				return 100 * float64(c.Failed+c.Dropped) / float64(c.Attempted)
			}))
		}
	}
	if t.MinRate > 0 {
		flag := "--min-rate " + plain(t.MinRate)
		if msgs {
			have := m != nil && m.Seconds > 0
			cs = append(cs, floor(CheckRate, flag, "deliveries/s", t.MinRate, have, func() float64 { return m.DeliveriesPerSec }))
		} else {
			c := r.Connect
			cs = append(cs, floor(CheckConnectRate, flag, "conns/s", t.MinRate, c.Connected > 0, func() float64 { return c.PerSecond }))
		}
	}
	return cs
}

// ceiling is a check that the figure is at most limit. actual is only
// called when have is set, since the figure may not exist otherwise.
func ceiling(name, flag, unit string, limit float64, have bool, actual func() float64) loadtest.Check {
	c := loadtest.Check{Name: name, Flag: flag, Limit: limit, Unit: unit}
	if have {
		if v := actual(); !math.IsNaN(v) && !math.IsInf(v, 0) {
			c.Actual = v
			c.OK = v <= limit
		}
	}
	return c
}

// floor is a check that the figure is at least limit.
func floor(name, flag, unit string, limit float64, have bool, actual func() float64) loadtest.Check {
	c := loadtest.Check{Name: name, Flag: flag, Limit: limit, Unit: unit}
	if have {
		if v := actual(); !math.IsNaN(v) && !math.IsInf(v, 0) {
			c.Actual = v
			c.OK = v >= limit
		}
	}
	return c
}

// unmeasured reports whether a failed check failed for want of its
// figure: a ceiling check whose actual is within the limit can only have
// failed that way, as Evaluate leaves Actual at 0 then.
func unmeasured(c loadtest.Check) bool {
	return !c.OK && !isMinCheck(c) && c.Actual <= c.Limit
}

// FailureSummary names each failed check and by how much it missed, for
// the error `rtsync bench` exits with, e.g. "p99 latency 73.2 ms is over
// --max-p99 50ms". It is empty when every check passed.
func FailureSummary(cs []loadtest.Check) string {
	var out []string
	for _, c := range cs {
		if c.OK {
			continue
		}
		name := safe(c.Name, nameRunes)
		flag := safe(c.Flag, nameRunes)
		switch {
		case unmeasured(c):
			out = append(out, fmt.Sprintf("%s was not measured, so %s fails", name, flag))
		case isMinCheck(c):
			out = append(out, fmt.Sprintf("%s %s is under %s", name, withUnit(c.Actual, c.Unit), flag))
		default:
			out = append(out, fmt.Sprintf("%s %s is over %s", name, withUnit(c.Actual, c.Unit), flag))
		}
	}
	return strings.Join(out, "; ")
}

// withUnit formats a check's figure in its unit.
func withUnit(v float64, unit string) string {
	switch unit {
	case "ms":
		return ms(v)
	case "%":
		return pct(v)
	case "":
		return num3(v)
	default:
		return rate(v) + " " + safe(unit, nameRunes)
	}
}

// actualOf formats a check's actual figure, or says it was not measured.
func actualOf(c loadtest.Check) string {
	if unmeasured(c) {
		return "not measured"
	}
	return withUnit(c.Actual, c.Unit)
}

// ParseLoss reads a --max-loss value in percent: "0", "0.5", "1%" and
// "0.5%" all work, and a bare number is a percentage too ("0.5" is half a
// percent, not half the messages).
func ParseLoss(s string) (float64, error) {
	t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("bad --max-loss %q: use a percentage such as 0, 0.5 or 1%%", s)
	}
	if v < 0 || v > 100 {
		return 0, fmt.Errorf("bad --max-loss %q: a loss is a percentage from 0 to 100", s)
	}
	return v, nil
}
