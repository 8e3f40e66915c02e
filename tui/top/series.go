package top

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rtsync/rtsync/client"
)

// historyLen is how many samples each chart keeps: ten minutes at the
// default interval, more than the widest terminal shows, so a resize to
// a wider window fills with data at once.
const historyLen = 600

// sample is what rates are computed from: a node's (or the totals')
// counters at one time.
type sample struct {
	node string
	// server is when the server took the snapshot, by its clock (zero if
	// it did not say); local is when it arrived here.
	server, local time.Time
	uptime        float64

	messagesIn, deliveries, dropped float64
	cpu                             float64
}

func sampleOf(n client.NodeStats, local time.Time) sample {
	return sample{
		node: n.Node, server: n.Time, local: local, uptime: n.UptimeSeconds,
		messagesIn: float64(n.MessagesIn), deliveries: float64(n.Deliveries),
		dropped: float64(n.Dropped), cpu: n.CPUSeconds,
	}
}

// rates are per-second figures between two samples. A NaN field is
// unknown: the first sample, a restart in between, or nonsense input.
type rates struct {
	messagesIn, deliveries, dropped float64
	cpuPercent                      float64
}

var noRates = rates{math.NaN(), math.NaN(), math.NaN(), math.NaN()}

// between computes the rates from prev to cur. restarted is true when the
// counters went back (or the node changed name, as a node without a
// fixed --node does on restart): the server started afresh in between,
// and a rate across the restart would be nonsense, so there is none.
func between(prev, cur sample) (r rates, restarted bool) {
	r = noRates
	if prev.node != cur.node ||
		(prev.uptime > 0 && cur.uptime > 0 && cur.uptime < prev.uptime) ||
		cur.messagesIn < prev.messagesIn || cur.deliveries < prev.deliveries ||
		cur.dropped < prev.dropped || cur.cpu < prev.cpu {
		return r, true
	}
	// The server's clock says how far apart the snapshots really are;
	// the local one adds the network's jitter, so it is the fallback.
	var dt float64
	switch {
	case !prev.server.IsZero() && !cur.server.IsZero():
		dt = cur.server.Sub(prev.server).Seconds()
	case prev.uptime > 0 && cur.uptime > 0:
		dt = cur.uptime - prev.uptime
	default:
		dt = cur.local.Sub(prev.local).Seconds()
	}
	if !(dt > 0) || math.IsInf(dt, 0) {
		return r, false
	}
	r.messagesIn = finite((cur.messagesIn - prev.messagesIn) / dt)
	r.deliveries = finite((cur.deliveries - prev.deliveries) / dt)
	r.dropped = finite((cur.dropped - prev.dropped) / dt)
	r.cpuPercent = finite((cur.cpu - prev.cpu) / dt * 100)
	return r, false
}

// finite turns infinities into NaN, so that one bad figure shows as a
// gap instead of a chart scaled to infinity.
func finite(v float64) float64 {
	if math.IsInf(v, 0) {
		return math.NaN()
	}
	return v
}

// series is one chart's samples, oldest first, NaN for a gap.
type series []float64

// push appends v, dropping the oldest past historyLen. It returns a new
// slice: a copy of the model taken before (a test's) keeps its own.
func (s series) push(v float64) series {
	if len(s) >= historyLen {
		s = s[len(s)-historyLen+1:]
	}
	return append(slices.Clip(s), v)
}

// last returns the newest value, NaN if none or a gap.
func (s series) last() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return s[len(s)-1]
}

// lastKnown returns the newest value that is not a gap, NaN if none:
// while the server is away, the charts keep showing the last figures.
func (s series) lastKnown() float64 {
	for i := len(s) - 1; i >= 0; i-- {
		if !math.IsNaN(s[i]) {
			return s[i]
		}
	}
	return math.NaN()
}

// sparkTicks are the eight block heights of a chart cell, lowest first.
var sparkTicks = []rune("▁▂▃▄▅▆▇█")

// chart draws the last width values of s, rows lines high (top line
// first), scaled from zero to the largest value shown, so a steady rate
// reads as a flat line rather than noise blown up to full height. A gap
// (NaN) is a blank column; zero is the baseline.
func chart(s series, width, rows int) []string {
	width, rows = max(0, width), max(1, rows)
	if len(s) > width {
		s = s[len(s)-width:]
	}
	top := 0.0
	for _, v := range s {
		if v > top && !math.IsInf(v, 0) {
			top = v
		}
	}
	steps := len(sparkTicks) * rows
	out := make([][]rune, rows)
	for i := range out {
		// Short histories are drawn right-aligned, so "now" is always at
		// the right edge.
		out[i] = []rune(strings.Repeat(" ", width-len(s)))
	}
	for _, v := range s {
		level := -1 // a gap
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			level = 1 // the baseline, for zero and below
			if top > 0 && v > 0 {
				level = max(1, int(math.Round(v/top*float64(steps))))
			}
		}
		for r := range rows {
			// r counts from the bottom row.
			c := ' '
			if n := min(len(sparkTicks), level-r*len(sparkTicks)); level > 0 && n > 0 {
				c = sparkTicks[n-1]
			}
			out[rows-1-r] = append(out[rows-1-r], c)
		}
	}
	lines := make([]string, rows)
	for i, l := range out {
		lines[i] = string(l)
	}
	return lines
}
