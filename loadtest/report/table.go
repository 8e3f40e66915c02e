package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/internal/spark"
	"github.com/rtsync/rtsync/loadtest"
)

// Layout of the text table.
const (
	// labelWidth is the label column of the key/value rows; one width
	// for every section so the figures of the whole report line up.
	labelWidth = 20
	// maxRooms is how many rooms the table lists: the worst ones. The
	// JSON has them all.
	maxRooms = 10
	// nameRunes bounds a room name or URL so one odd value cannot push
	// the columns off the screen.
	nameRunes = 40
)

// bottleneckLine is printed at the top of every report of a run the
// bench may have limited, so nobody quotes its figures as the server's.
const bottleneckLine = "!!! BENCH-LIMITED: these figures may be limited by the bench, not the server (see the warnings)."

// Table writes the final report of a run as aligned plain text: the run's
// parameters, how connecting went, the messages (when the scenario sends
// any), the server's memory (when known), what the bench cost, and the
// threshold checks.
func Table(w io.Writer, r *loadtest.Result) error {
	if r == nil {
		return fmt.Errorf("table: no result")
	}
	var t text
	t.line(title(r))
	if r.Bench.Bottleneck {
		t.blank()
		t.line(bottleneckLine)
	}
	tableRun(&t, r)
	tableConnect(&t, r)
	if r.Messages != nil {
		tableMessages(&t, r.Messages)
		tableRooms(&t, r.Messages.Rooms)
	} else if isMessageScenario(r.Config.Scenario) {
		t.heading("Messages")
		t.line("  none measured: the run ended before its measuring phase")
	}
	tableNodes(&t, r)
	if r.Server != nil {
		tableServer(&t, r.Server)
	}
	tableBench(&t, r)
	if len(r.Checks) > 0 {
		tableChecks(&t, r.Checks)
	}
	_, err := io.WriteString(w, t.String())
	return err
}

// title is the report's first line: what ran and when.
func title(r *loadtest.Result) string {
	s := "rtsync bench: " + safe(cmp.Or(r.Config.Scenario, "?"), nameRunes)
	if p := r.Config.Protocol; p != "" {
		s += " over " + safe(p, nameRunes)
	}
	if !r.Started.IsZero() {
		s += ", started " + r.Started.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return s
}

func tableRun(t *text, r *loadtest.Result) {
	c := r.Config
	t.heading("Run")
	if r.Tool != "" {
		t.row("tool", safe(r.Tool, nameRunes))
	}
	t.row("scenario", safe(c.Scenario, nameRunes))
	t.row("protocol", safe(cmp.Or(r.Target.Protocol, c.Protocol), nameRunes))
	urls := r.Target.URLs
	if len(urls) == 0 {
		urls = c.URLs
	}
	if len(urls) == 0 {
		t.row("target", dash)
	}
	for i, u := range urls {
		label := "target"
		if i > 0 {
			label = ""
		}
		t.row(label, safe(u, 2*nameRunes))
	}
	t.row("server", serverLine(r.Target))
	if len(r.Target.Nodes) > 0 {
		t.row("nodes", safe(strings.Join(r.Target.Nodes, ", "), 2*nameRunes))
	}
	if c.Cluster {
		t.row("cluster", clusterLine(c))
	}
	t.row("connections", human.Int(int64(c.Conns)))
	perURL := ""
	if len(urls) > 1 && !c.Cluster {
		perURL = " per URL"
	}
	if hasRooms(c.Scenario) {
		t.row("rooms", human.Int(int64(c.Rooms))+perURL)
		t.row("publishers", publishersLine(c, perURL))
	}
	if isMessageScenario(c.Scenario) {
		t.row("rate", num3(c.Rate)+" msg/s")
		t.row("payload", human.Int(int64(c.Payload))+" B")
	}
	if c.Churn > 0 {
		t.row("churn", pct(100*c.Churn)+" of connections a second")
	}
	t.row("planned", fmt.Sprintf("ramp %s, warm-up %s, measure %s, drain %s",
		dur(time.Duration(c.Ramp)), dur(time.Duration(c.Warmup)), dur(time.Duration(c.Duration)), dur(time.Duration(c.Drain))))
	if len(r.Phases) > 0 {
		var ps []string
		for _, p := range r.Phases {
			ps = append(ps, safe(p.Name, nameRunes)+" "+secs(p.Seconds))
		}
		t.row("phases", strings.Join(ps, ", "))
	}
	if m := machineLine(r.Machine); m != "" {
		t.row("machine", m)
	}
}

// serverLine says which server was loaded and whether the bench started it.
func serverLine(tg loadtest.Target) string {
	s := "external (not started by the bench)"
	if tg.Child {
		s = "started by the bench"
	}
	if tg.Server != "" {
		s = safe(tg.Server, nameRunes) + ", " + s
	}
	return s
}

// machineLine is the bench machine in one line.
func machineLine(m loadtest.Machine) string {
	var parts []string
	if m.Hostname != "" {
		parts = append(parts, safe(m.Hostname, nameRunes))
	}
	if m.OS != "" || m.Arch != "" {
		parts = append(parts, safe(m.OS+"/"+m.Arch, nameRunes))
	}
	if m.CPUs > 0 {
		cpu := human.Int(int64(m.CPUs)) + " CPUs"
		if m.CPUModel != "" {
			cpu += " (" + safe(m.CPUModel, nameRunes) + ")"
		}
		parts = append(parts, cpu)
	}
	if m.MemoryMB > 0 {
		parts = append(parts, kib(float64(m.MemoryMB)*1024)+" RAM")
	}
	if m.GoVersion != "" {
		parts = append(parts, safe(m.GoVersion, nameRunes))
	}
	return strings.Join(parts, ", ")
}

func tableConnect(t *text, r *loadtest.Result) {
	c := r.Connect
	t.heading("Connect")
	t.row("attempted", human.Int(c.Attempted))
	t.row("connected", human.Int(c.Connected))
	t.row("failed", human.Int(c.Failed))
	for _, kv := range byCount(c.Failures) {
		t.row("  "+safe(kv.key, labelWidth), human.Int(kv.n))
	}
	t.row("time to connect", secs(c.Seconds))
	t.row("connect rate", rate(c.PerSecond)+" conns/s")
	t.row("dropped", human.Int(c.Dropped))
	for _, kv := range byCount(c.Drops) {
		t.row("  "+safe(kv.key, labelWidth), human.Int(kv.n))
	}
	if c.Reconnects > 0 || r.Config.Scenario == loadtest.ScenarioConnect {
		t.row("reconnects", human.Int(c.Reconnects))
	}
	t.blank()
	t.grid(1, latencyGrid([]namedLatency{{"handshake", c.Handshake}}))
}

func tableMessages(t *text, m *loadtest.Messages) {
	t.heading("Messages, measured over " + secs(m.Seconds))
	t.row("published", human.Int(m.Published))
	t.row("publish errors", human.Int(m.PublishErrors))
	for _, kv := range byCount(m.PublishErrorCodes) {
		t.row("  "+safe(kv.key, labelWidth), human.Int(kv.n))
	}
	t.row("expected", human.Int(m.Expected))
	t.row("delivered", human.Int(m.Delivered))
	t.row("lost", human.Int(m.Lost)+" ("+pct(lossOf(m.Lost, m.Expected, m.LossPercent))+")")
	t.row("duplicated", human.Int(m.Duplicated))
	t.row("out of order", human.Int(m.OutOfOrder))
	t.row("deliveries/s", rate(m.DeliveriesPerSec))
	t.row("messages/s", rate(m.MessagesPerSec))
	t.row("throughput", bytesRate(m.BytesPerSec))
	t.blank()
	t.grid(1, latencyGrid([]namedLatency{{"delivery", m.Latency}, {"fan-out", m.FanOut}}))
	t.row("fan-out incomplete", human.Int(m.FanOutIncomplete)+" (messages some receiver never got)")
	tableTimeline(t, m.Timeline)
}

// sparkCells is how wide the timeline's sparklines are at most: with
// their labels and ranges they stay inside 80 columns.
const sparkCells = 36

// tableTimeline draws how fan-out p99 and deliveries moved second by
// second, when the window had more than one.
func tableTimeline(t *text, tl []loadtest.Second) {
	if len(tl) < 2 {
		return
	}
	p99 := make([]float64, len(tl))
	dps := make([]float64, len(tl))
	for i, s := range tl {
		p99[i], dps[i] = s.FanOutP99, float64(s.Deliveries)
	}
	span := func(vs []float64) (lo, hi float64) { return slices.Min(vs), slices.Max(vs) }
	lo, hi := span(p99)
	worst := tl[slices.Index(p99, hi)].At
	t.row("fan-out p99, by s", spark.Line(spark.Fit(p99, sparkCells, spark.Max))+"  "+num3(lo)+" to "+num3(hi)+" ms, worst at "+strconv.FormatFloat(worst, 'f', -1, 64)+" s")
	lo, hi = span(dps)
	t.row("deliveries, by s", spark.Line(spark.Fit(dps, sparkCells, spark.Mean))+"  "+rate(lo)+" to "+rate(hi)+"/s")
}

// namedLatency is one row of a latency grid.
type namedLatency struct {
	name string
	l    loadtest.Latency
}

// latencyGrid lays latencies out as a grid in milliseconds; the unit is
// in the header so each cell stays narrow enough for 80 columns.
func latencyGrid(ls []namedLatency) [][]string {
	rows := [][]string{{"latency, ms", "count", "p50", "p90", "p99", "p99.9", "max", "mean"}}
	for _, nl := range ls {
		l := nl.l
		if l.Count == 0 {
			rows = append(rows, []string{nl.name, "0", dash, dash, dash, dash, dash, dash})
			continue
		}
		rows = append(rows, []string{nl.name, human.Int(l.Count),
			num3(l.P50), num3(l.P90), num3(l.P99), num3(l.P999), num3(l.Max), num3(l.Mean)})
	}
	return rows
}

// worstRooms sorts rooms by how badly delivery went in them (lost,
// duplicated and out-of-order deliveries together), the worst first.
func worstRooms(rooms []loadtest.RoomStats) []loadtest.RoomStats {
	rs := slices.Clone(rooms)
	slices.SortStableFunc(rs, func(a, b loadtest.RoomStats) int {
		return cmp.Or(
			cmp.Compare(b.Lost+b.Duplicated+b.OutOfOrder, a.Lost+a.Duplicated+a.OutOfOrder),
			cmp.Compare(b.Lost, a.Lost),
			cmp.Compare(a.Room, b.Room),
			cmp.Compare(a.Target, b.Target),
		)
	})
	return rs
}

// troubled reports whether anything went wrong in a room.
func troubled(r loadtest.RoomStats) bool { return r.Lost+r.Duplicated+r.OutOfOrder > 0 }

func tableRooms(t *text, rooms []loadtest.RoomStats) {
	if len(rooms) == 0 {
		return
	}
	rs := worstRooms(rooms)
	shown := rs[:min(len(rs), maxRooms)]
	if len(rs) > len(shown) {
		t.heading(fmt.Sprintf("Rooms: the %d worst of %s by loss, duplicates and reordering", len(shown), human.Int(int64(len(rs)))))
	} else {
		t.heading("Rooms")
	}
	hasTarget := slices.ContainsFunc(rs, func(r loadtest.RoomStats) bool { return r.Target != "" })
	head := []string{"room"}
	if hasTarget {
		head = append(head, "target")
	}
	rows := [][]string{append(head, "subscribers", "published", "expected", "delivered", "lost", "duplicated", "out of order")}
	for _, r := range shown {
		row := []string{safe(r.Room, nameRunes/2)}
		if hasTarget {
			row = append(row, safe(r.Target, nameRunes/2))
		}
		rows = append(rows, append(row, human.Int(int64(r.Subscribers)), human.Int(r.Published), human.Int(r.Expected),
			human.Int(r.Delivered), human.Int(r.Lost), human.Int(r.Duplicated), human.Int(r.OutOfOrder)))
	}
	t.grid(len(head), rows)
	if rest := rs[len(shown):]; len(rest) > 0 {
		s := fmt.Sprintf("  … %s more rooms", human.Int(int64(len(rest))))
		if !slices.ContainsFunc(rest, troubled) {
			s += ", none with loss, duplicates or reordering"
		}
		t.line(s)
	}
}

func tableServer(t *text, s *loadtest.ServerStats) {
	t.heading("Server memory")
	t.row("source", sourceLine(s.Source))
	t.row("RSS before", kib(float64(s.RSSBeforeKB)))
	t.row("RSS after", kib(float64(s.RSSAfterKB)))
	t.row("connections", human.Int(s.Conns))
	t.row("per connection", kib(s.KBPerConn))
}

// sourceLine says where the server's memory figures came from.
func sourceLine(src string) string {
	switch src {
	case "proc":
		return "/proc of the server the bench started"
	case "stats-api":
		return "the server's stats API"
	default:
		return safe(cmp.Or(src, "unknown"), nameRunes)
	}
}

func tableBench(t *text, r *loadtest.Result) {
	b := r.Bench
	t.heading("Bench")
	t.row("processes", human.Int(int64(b.Procs)))
	if b.Cores > 0 {
		t.row("cores", human.Int(int64(b.Cores)))
	}
	t.row("CPU", num3(b.CPUPercent)+"% of one core")
	t.row("scheduler p99", ms(b.SchedP99))
	t.row("publish lag max", ms(b.PublishLagMax))
	if b.Bottleneck {
		t.line(bottleneckLine)
	}
	for _, w := range b.Warnings {
		t.line("WARNING: " + safe(w, 0))
	}
}

func tableChecks(t *text, cs []loadtest.Check) {
	t.heading("Checks")
	rows := [][]string{{"check", "flag", "limit", "actual", "result"}}
	for _, c := range cs {
		res := "PASS"
		if !c.OK {
			res = "FAIL"
		}
		rows = append(rows, []string{safe(c.Name, nameRunes), safe(c.Flag, nameRunes),
			withUnit(c.Limit, c.Unit), actualOf(c), res})
	}
	t.grid(2, rows)
}

// keyCount is one entry of a by-cause map.
type keyCount struct {
	key string
	n   int64
}

// byCount orders a by-cause map, the most frequent cause first.
func byCount(m map[string]int64) []keyCount {
	out := make([]keyCount, 0, len(m))
	for k, n := range m {
		out = append(out, keyCount{k, n})
	}
	slices.SortFunc(out, func(a, b keyCount) int {
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.key, b.key))
	})
	return out
}

// text accumulates the lines of a plain-text report.
type text struct {
	b strings.Builder
}

func (t *text) String() string { return t.b.String() }

func (t *text) line(s string) {
	t.b.WriteString(strings.TrimRight(s, " "))
	t.b.WriteByte('\n')
}

func (t *text) blank() { t.b.WriteByte('\n') }

// heading starts a section after a blank line.
func (t *text) heading(s string) {
	t.blank()
	t.line(s)
}

// row writes a label and its value, the labels padded to one width.
func (t *text) row(label, value string) {
	t.line("  " + pad(label, labelWidth, false) + " " + value)
}

// grid writes rows as columns two spaces apart, indented: the first
// left columns (names) left-aligned, the others (figures) right-aligned.
func (t *text) grid(left int, rows [][]string) {
	var widths []int
	for _, row := range rows {
		for i, c := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], textWidth(c))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		b.WriteString("  ")
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(pad(c, widths[i], i >= left))
		}
		t.line(b.String())
	}
}
