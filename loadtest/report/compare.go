package report

import (
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/loadtest"
)

// direction says which way a figure is better.
type direction int

const (
	neutral direction = iota // a cost or a fact, neither better nor worse
	lower                    // latency, loss, errors, memory
	higher                   // throughput, connections
)

// cmpRow is one figure of two runs; has is false for a run without it.
type cmpRow struct {
	label      string
	a, b       float64
	hasA, hasB bool
	format     func(float64) string
	dir        direction
}

// cmpSection is a titled group of figures.
type cmpSection struct {
	title string
	rows  []cmpRow
}

// cmpParam is a parameter that may differ between two runs.
type cmpParam struct {
	name string
	a, b string
	// unfair marks a parameter that changes the load itself, so the
	// figures of the two runs do not measure the same thing.
	unfair bool
	// machine marks a parameter of where the bench ran.
	machine bool
}

// Compare writes two runs side by side: each figure for A and B, the
// ratio B/A, and which run did better (lower latency, loss and memory;
// higher throughput). It first lists the parameters that differ, and
// warns when those change the load itself (scenario, connections, rooms,
// publishers, rate, payload, churn), since the comparison is then unfair.
func Compare(w io.Writer, a, b *loadtest.Result, nameA, nameB string) error {
	if a == nil || b == nil {
		return errors.New("compare: need two results")
	}
	var t text
	t.line("rtsync bench: comparison")
	t.line("  A  " + safe(nameA, 2*nameRunes) + ": " + runLine(a))
	t.line("  B  " + safe(nameB, 2*nameRunes) + ": " + runLine(b))

	var params []cmpParam
	for _, p := range diffParams(a, b) {
		// A machine fact one run did not record is unknown, not
		// different.
		if p.machine && (p.a == "" || p.b == "" || p.a == "0" || p.b == "0") {
			continue
		}
		params = append(params, p)
	}
	var differ, unfair, machine []string
	for _, p := range params {
		if p.a == p.b {
			continue
		}
		differ = append(differ, p.name)
		if p.unfair {
			unfair = append(unfair, p.name)
		}
		if p.machine {
			machine = append(machine, p.name)
		}
	}
	if len(differ) == 0 {
		t.heading("Parameters: the same in both runs")
	} else {
		t.heading("Parameters that differ")
		rows := [][]string{{"parameter", "A", "B"}}
		for _, p := range params {
			if p.a != p.b {
				rows = append(rows, []string{p.name, safe(p.a, nameRunes), safe(p.b, nameRunes)})
			}
		}
		t.grid(3, rows)
	}
	if len(unfair) > 0 {
		t.line("WARNING: the runs differ in " + strings.Join(unfair, ", ") + ": they did not put the same load on the server, so the comparison may be unfair.")
	}
	if len(machine) > 0 {
		t.line("WARNING: the runs differ in " + strings.Join(machine, ", ") + ": the bench ran on different machines, so the comparison may be unfair.")
	}
	for _, x := range []struct {
		name string
		r    *loadtest.Result
	}{{"A", a}, {"B", b}} {
		if x.r.Bench.Bottleneck {
			t.line("WARNING: " + x.name + "'s figures may be limited by the bench, not the server.")
		}
	}

	for _, s := range cmpSections(a, b) {
		t.heading(s.title)
		rows := [][]string{{"figure", "A", "B", "B/A", "better"}}
		for _, r := range s.rows {
			rows = append(rows, []string{r.label, r.cell(r.a, r.hasA), r.cell(r.b, r.hasB), r.ratio(), r.better()})
		}
		t.grid(1, rows)
	}
	_, err := io.WriteString(w, t.String())
	return err
}

// runLine sums a run up in one line.
func runLine(r *loadtest.Result) string {
	s := safe(r.Config.Scenario, nameRunes) + " over " + safe(r.Config.Protocol, nameRunes) + ", " + human.Int(int64(r.Config.Conns)) + " conns"
	if !r.Started.IsZero() {
		s += ", started " + r.Started.UTC().Format("2006-01-02 15:04 UTC")
	}
	return s
}

func (r cmpRow) cell(v float64, has bool) string {
	if !has {
		return dash
	}
	return r.format(v)
}

// ratio is B/A, or a dash when it means nothing (a figure missing, or A
// zero while B is not).
func (r cmpRow) ratio() string {
	if !r.hasA || !r.hasB {
		return dash
	}
	if r.a == r.b {
		return "1.00x"
	}
	if r.a == 0 {
		return dash
	}
	q := r.b / r.a
	switch a := math.Abs(q); {
	case a >= 99.5:
		return strconv.FormatFloat(q, 'f', 0, 64) + "x"
	case a >= 9.95:
		return strconv.FormatFloat(q, 'f', 1, 64) + "x"
	default:
		return strconv.FormatFloat(q, 'f', 2, 64) + "x"
	}
}

// better names the run that did better on this figure.
func (r cmpRow) better() string {
	if !r.hasA || !r.hasB || r.dir == neutral {
		return ""
	}
	switch {
	case r.a == r.b:
		return "same"
	case (r.dir == lower) == (r.b < r.a):
		return "B"
	default:
		return "A"
	}
}

// diffParams lists the parameters of two runs, in report order.
func diffParams(a, b *loadtest.Result) []cmpParam {
	ca, cb := a.Config, b.Config
	i := func(n int) string { return human.Int(int64(n)) }
	d := func(v loadtest.Duration) string { return dur(time.Duration(v)) }
	return []cmpParam{
		{name: "scenario", a: ca.Scenario, b: cb.Scenario, unfair: true},
		{name: "protocol", a: ca.Protocol, b: cb.Protocol},
		{name: "target", a: strings.Join(ca.URLs, " "), b: strings.Join(cb.URLs, " ")},
		{name: "cluster", a: yesNo(ca.Cluster), b: yesNo(cb.Cluster), unfair: true},
		{name: "publish on", a: ca.PublishOn, b: cb.PublishOn, unfair: true},
		{name: "server", a: serverLine(a.Target), b: serverLine(b.Target)},
		{name: "conns", a: i(ca.Conns), b: i(cb.Conns), unfair: true},
		{name: "rooms", a: i(ca.Rooms), b: i(cb.Rooms), unfair: hasRooms(ca.Scenario) || hasRooms(cb.Scenario)},
		{name: "publishers", a: i(ca.Publishers), b: i(cb.Publishers), unfair: hasRooms(ca.Scenario) || hasRooms(cb.Scenario)},
		{name: "rate", a: num3(ca.Rate) + " msg/s", b: num3(cb.Rate) + " msg/s", unfair: true},
		{name: "payload", a: i(ca.Payload) + " B", b: i(cb.Payload) + " B", unfair: true},
		{name: "churn", a: plain(ca.Churn), b: plain(cb.Churn), unfair: true},
		{name: "ramp", a: d(ca.Ramp), b: d(cb.Ramp)},
		{name: "warm-up", a: d(ca.Warmup), b: d(cb.Warmup)},
		{name: "duration", a: d(ca.Duration), b: d(cb.Duration)},
		{name: "drain", a: d(ca.Drain), b: d(cb.Drain)},
		{name: "procs", a: i(ca.Procs), b: i(cb.Procs)},
		{name: "dialers", a: i(ca.Dialers), b: i(cb.Dialers)},
		{name: "host", a: a.Machine.Hostname, b: b.Machine.Hostname, machine: true},
		{name: "CPUs", a: i(a.Machine.CPUs), b: i(b.Machine.CPUs), machine: true},
		{name: "CPU model", a: a.Machine.CPUModel, b: b.Machine.CPUModel, machine: true},
		{name: "Go", a: a.Machine.GoVersion, b: b.Machine.GoVersion},
	}
}

// cmpSections lists the figures both runs can have, section by section;
// a section neither run has is left out.
func cmpSections(a, b *loadtest.Result) []cmpSection {
	both := func(label string, f func(*loadtest.Result) float64, format func(float64) string, dir direction) cmpRow {
		return cmpRow{label: label, a: f(a), b: f(b), hasA: true, hasB: true, format: format, dir: dir}
	}
	cnt := func(v float64) string { return human.Int(int64(v)) }
	hs := func(r *loadtest.Result) loadtest.Latency { return r.Connect.Handshake }
	lat := func(label string, l func(*loadtest.Result) loadtest.Latency, v func(loadtest.Latency) float64) cmpRow {
		la, lb := l(a), l(b)
		return cmpRow{label: label, a: v(la), b: v(lb), hasA: la.Count > 0, hasB: lb.Count > 0, format: ms, dir: lower}
	}
	out := []cmpSection{{title: "Connect", rows: []cmpRow{
		both("connected", func(r *loadtest.Result) float64 { return float64(r.Connect.Connected) }, cnt, higher),
		both("failed", func(r *loadtest.Result) float64 { return float64(r.Connect.Failed) }, cnt, lower),
		both("connect rate, conns/s", func(r *loadtest.Result) float64 { return r.Connect.PerSecond }, rate, higher),
		lat("handshake p50", hs, p50),
		lat("handshake p99", hs, p99),
		both("dropped", func(r *loadtest.Result) float64 { return float64(r.Connect.Dropped) }, cnt, lower),
	}}}

	if a.Messages != nil || b.Messages != nil {
		msg := func(label string, f func(*loadtest.Messages) float64, format func(float64) string, dir direction) cmpRow {
			row := cmpRow{label: label, format: format, dir: dir, hasA: a.Messages != nil, hasB: b.Messages != nil}
			if row.hasA {
				row.a = f(a.Messages)
			}
			if row.hasB {
				row.b = f(b.Messages)
			}
			return row
		}
		ml := func(l func(*loadtest.Messages) loadtest.Latency) func(*loadtest.Result) loadtest.Latency {
			return func(r *loadtest.Result) loadtest.Latency {
				if r.Messages == nil {
					return loadtest.Latency{}
				}
				return l(r.Messages)
			}
		}
		dl := ml(func(m *loadtest.Messages) loadtest.Latency { return m.Latency })
		fo := ml(func(m *loadtest.Messages) loadtest.Latency { return m.FanOut })
		out = append(out, cmpSection{title: "Messages", rows: []cmpRow{
			msg("deliveries/s", func(m *loadtest.Messages) float64 { return m.DeliveriesPerSec }, rate, higher),
			msg("messages/s", func(m *loadtest.Messages) float64 { return m.MessagesPerSec }, rate, higher),
			msg("throughput", func(m *loadtest.Messages) float64 { return m.BytesPerSec }, bytesRate, higher),
			msg("published", func(m *loadtest.Messages) float64 { return float64(m.Published) }, cnt, neutral),
			msg("publish errors", func(m *loadtest.Messages) float64 { return float64(m.PublishErrors) }, cnt, lower),
			msg("delivered", func(m *loadtest.Messages) float64 { return float64(m.Delivered) }, cnt, neutral),
			msg("lost", func(m *loadtest.Messages) float64 { return float64(m.Lost) }, cnt, lower),
			msg("loss", func(m *loadtest.Messages) float64 { return lossOf(m.Lost, m.Expected, m.LossPercent) }, pct, lower),
			msg("duplicated", func(m *loadtest.Messages) float64 { return float64(m.Duplicated) }, cnt, lower),
			msg("out of order", func(m *loadtest.Messages) float64 { return float64(m.OutOfOrder) }, cnt, lower),
			lat("latency p50", dl, p50),
			lat("latency p90", dl, p90),
			lat("latency p99", dl, p99),
			lat("latency p99.9", dl, p999),
			lat("latency max", dl, pmax),
			lat("latency mean", dl, mean),
			lat("fan-out p50", fo, p50),
			lat("fan-out p99", fo, p99),
			lat("fan-out max", fo, pmax),
			msg("fan-out incomplete", func(m *loadtest.Messages) float64 { return float64(m.FanOutIncomplete) }, cnt, lower),
		}})
	}

	for i := range max(len(a.Nodes), len(b.Nodes)) {
		out = append(out, cmpNode(a, b, i))
	}

	if a.Server != nil || b.Server != nil {
		srv := func(label string, f func(*loadtest.ServerStats) float64, dir direction) cmpRow {
			row := cmpRow{label: label, format: kib, dir: dir, hasA: a.Server != nil, hasB: b.Server != nil}
			if row.hasA {
				row.a = f(a.Server)
			}
			if row.hasB {
				row.b = f(b.Server)
			}
			return row
		}
		out = append(out, cmpSection{title: "Server memory", rows: []cmpRow{
			srv("RSS after", func(s *loadtest.ServerStats) float64 { return float64(s.RSSAfterKB) }, lower),
			srv("per connection", func(s *loadtest.ServerStats) float64 { return s.KBPerConn }, lower),
		}})
	}

	out = append(out, cmpSection{title: "Bench", rows: []cmpRow{
		both("CPU, % of one core", func(r *loadtest.Result) float64 { return r.Bench.CPUPercent }, num3, neutral),
		both("scheduler p99", func(r *loadtest.Result) float64 { return r.Bench.SchedP99 }, ms, neutral),
		both("publish lag max", func(r *loadtest.Result) float64 { return r.Bench.PublishLagMax }, ms, neutral),
	}})
	return out
}

// cmpNode is the figures of the i-th node (in --url order) of two
// cluster runs; a run with fewer nodes has none of them.
func cmpNode(a, b *loadtest.Result, i int) cmpSection {
	node := func(r *loadtest.Result) (loadtest.NodeStats, bool) {
		if i < len(r.Nodes) {
			return r.Nodes[i], true
		}
		return loadtest.NodeStats{}, false
	}
	na, hasA := node(a)
	nb, hasB := node(b)
	row := func(label string, f func(loadtest.NodeStats) float64, format func(float64) string, dir direction) cmpRow {
		return cmpRow{label: label, a: f(na), b: f(nb), hasA: hasA, hasB: hasB, format: format, dir: dir}
	}
	cnt := func(v float64) string { return human.Int(int64(v)) }
	lat := func(label string, v func(loadtest.Latency) float64) cmpRow {
		r := cmpRow{label: label, format: ms, dir: lower}
		if hasA && na.Latency != nil && na.Latency.Count > 0 {
			r.a, r.hasA = v(*na.Latency), true
		}
		if hasB && nb.Latency != nil && nb.Latency.Count > 0 {
			r.b, r.hasB = v(*nb.Latency), true
		}
		return r
	}
	title := "Node " + nodeLabel(i, na)
	if !hasA {
		title = "Node " + nodeLabel(i, nb)
	}
	rows := []cmpRow{
		row("connected", func(n loadtest.NodeStats) float64 { return float64(n.Connected) }, cnt, higher),
		row("failed", func(n loadtest.NodeStats) float64 { return float64(n.Failed) }, cnt, lower),
		row("dropped", func(n loadtest.NodeStats) float64 { return float64(n.Dropped) }, cnt, lower),
	}
	if a.Messages != nil || b.Messages != nil {
		rows = append(rows,
			row("delivered", func(n loadtest.NodeStats) float64 { return float64(n.Delivered) }, cnt, neutral),
			row("deliveries/s", func(n loadtest.NodeStats) float64 { return n.DeliveriesPerSec }, rate, higher),
			row("lost", func(n loadtest.NodeStats) float64 { return float64(n.Lost) }, cnt, lower),
			row("loss", func(n loadtest.NodeStats) float64 { return lossOf(n.Lost, n.Expected, n.LossPercent) }, pct, lower),
			row("cross-node delivered", func(n loadtest.NodeStats) float64 { return float64(n.CrossDelivered) }, cnt, neutral),
			lat("latency p50", p50),
			lat("latency p99", p99),
		)
	}
	return cmpSection{title: title, rows: rows}
}
