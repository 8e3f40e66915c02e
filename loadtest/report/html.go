package report

import (
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/loadtest"
)

// htmlMaxRooms is how many rooms the page lists, the worst first; the
// JSON has them all.
const htmlMaxRooms = 100

//go:embed report.html.tmpl
var htmlSource string

// htmlTemplate is parsed once; html/template escapes every value by its
// context (text, attribute, SVG path data), which is what keeps a hostile
// room name or warning from becoming markup.
var htmlTemplate = template.Must(template.New("report").Parse(htmlSource))

// HTML writes the run as one self-contained HTML page: inline CSS and
// inline SVG charts, no JavaScript and no external resource, so it can be
// mailed, archived or opened offline as it is.
func HTML(w io.Writer, r *loadtest.Result) error {
	if r == nil {
		return errors.New("html: no result")
	}
	if err := htmlTemplate.Execute(w, newHTMLView(r)); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

// htmlView is the page's data, every figure already formatted.
type htmlView struct {
	Title, Heading, Sub, Tool, Footer string
	Bottleneck                        bool
	Headline                          []htmlFigure
	Params, Machine                   []htmlKV
	Connect, Messages                 []htmlKV
	Server, Bench                     []htmlKV
	Latency                           htmlGrid
	Charts                            []htmlChart
	Rooms                             htmlRooms
	Nodes                             htmlNodes
	Warnings                          []string
	Checks                            []htmlCheck
	Failure                           string
}

// htmlFigure is one headline card.
type htmlFigure struct {
	Label, Value, Note string
	Bad                bool
}

// htmlKV is one row of a two-column table.
type htmlKV struct {
	K, V string
	Sub  bool // a breakdown of the row above
	Bad  bool // a figure that went wrong
	URL  bool // long text to wrap, not a figure to right-align
}

// Class is the row's CSS class.
func (kv htmlKV) Class() string {
	var c []string
	if kv.Sub {
		c = append(c, "sub")
	}
	if kv.Bad {
		c = append(c, "bad")
	}
	return strings.Join(c, " ")
}

// htmlChart is one figure with its caption.
type htmlChart struct {
	Chart   *svgChart
	Caption string
}

// htmlGrid is a table whose first row is its header: the first Left
// columns hold names, the others figures.
type htmlGrid struct {
	Left int
	Rows [][]string
}

// htmlRooms is the per-room table.
type htmlRooms struct {
	Note string
	Grid htmlGrid
	Rows int
	More string
}

// htmlNodes is the per-node tables of a cluster run.
type htmlNodes struct {
	Conns, Msgs htmlGrid
	Note        string
}

// htmlCheck is one row of the checks table.
type htmlCheck struct {
	Name, Flag, Limit, Actual string
	OK                        bool
}

func newHTMLView(r *loadtest.Result) htmlView {
	c := r.Config
	v := htmlView{
		Tool:       cmp.Or(r.Tool, "rtsync bench"),
		Heading:    "rtsync bench: " + cmp.Or(c.Scenario, "?"),
		Bottleneck: r.Bench.Bottleneck,
		Warnings:   r.Bench.Warnings,
	}
	date := ""
	if !r.Started.IsZero() {
		date = r.Started.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	v.Title = strings.TrimSuffix("rtsync bench: "+cmp.Or(c.Scenario, "?")+", "+date, ", ")
	var sub []string
	if c.Protocol != "" {
		sub = append(sub, "protocol "+c.Protocol)
	}
	if date != "" {
		sub = append(sub, "started "+date)
	}
	sub = append(sub, v.Tool)
	v.Sub = strings.Join(sub, " · ")
	v.Footer = "Written by " + v.Tool + ". Latency counts from each message's intended send time. This page is self-contained: no scripts, no external resources."

	v.Headline = headline(r)
	v.Params = htmlParams(r)
	v.Machine = htmlMachine(r.Machine)
	v.Connect = htmlConnect(r.Connect, c.Scenario)
	if m := r.Messages; m != nil {
		v.Messages = htmlMessages(m)
	}
	lats := []namedLatency{{"handshake", r.Connect.Handshake}}
	if m := r.Messages; m != nil {
		lats = []namedLatency{{"delivery", m.Latency}, {"fan-out", m.FanOut}, {"handshake", r.Connect.Handshake}}
	}
	v.Latency = htmlGrid{Left: 1, Rows: latencyGrid(lats)}
	v.Charts = htmlCharts(r)
	if m := r.Messages; m != nil {
		v.Rooms = htmlRoomTable(m.Rooms)
	}
	if len(r.Nodes) > 0 {
		v.Nodes.Conns = htmlGrid{Left: 2, Rows: nodeConnGrid(r.Nodes, 0)}
		if r.Messages != nil {
			v.Nodes.Msgs = htmlGrid{Left: 1, Rows: nodeMsgGrid(r.Nodes)}
			v.Nodes.Note = nodesNote
		}
	}
	if s := r.Server; s != nil {
		v.Server = []htmlKV{
			{K: "source", V: sourceLine(s.Source), URL: true},
			{K: "RSS before", V: kib(float64(s.RSSBeforeKB))},
			{K: "RSS after", V: kib(float64(s.RSSAfterKB))},
			{K: "connections", V: human.Int(s.Conns)},
			{K: "per connection", V: kib(s.KBPerConn)},
		}
	}
	b := r.Bench
	v.Bench = []htmlKV{
		{K: "processes", V: human.Int(int64(b.Procs))},
		{K: "cores", V: human.Int(int64(b.Cores))},
		{K: "CPU", V: num3(b.CPUPercent) + "% of one core"},
		{K: "scheduler p99", V: ms(b.SchedP99)},
		{K: "publish lag max", V: ms(b.PublishLagMax)},
		{K: "limited by the bench", V: yesNo(b.Bottleneck), Bad: b.Bottleneck},
	}
	for _, ch := range r.Checks {
		v.Checks = append(v.Checks, htmlCheck{Name: ch.Name, Flag: ch.Flag, Limit: withUnit(ch.Limit, ch.Unit), Actual: actualOf(ch), OK: ch.OK})
	}
	v.Failure = FailureSummary(r.Checks)
	return v
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// headline is the figures people look for first.
func headline(r *loadtest.Result) []htmlFigure {
	if m := r.Messages; m != nil {
		loss := lossOf(m.Lost, m.Expected, m.LossPercent)
		out := []htmlFigure{
			{Label: "deliveries/s", Value: rate(m.DeliveriesPerSec), Note: rate(m.MessagesPerSec) + " messages/s, " + bytesRate(m.BytesPerSec)},
		}
		if m.Latency.Count > 0 {
			out = append(out,
				htmlFigure{Label: "latency p50", Value: ms(m.Latency.P50), Note: "per delivery"},
				htmlFigure{Label: "latency p99", Value: ms(m.Latency.P99), Note: "max " + ms(m.Latency.Max)})
		} else {
			out = append(out, htmlFigure{Label: "latency", Value: dash, Note: "no deliveries measured", Bad: true})
		}
		return append(out, htmlFigure{
			Label: "lost", Value: pct(loss), Note: human.Int(m.Lost) + " of " + human.Int(m.Expected) + " deliveries",
			Bad: m.Lost > 0,
		})
	}
	cn := r.Connect
	out := []htmlFigure{{Label: "connections/s", Value: rate(cn.PerSecond), Note: human.Int(cn.Connected) + " connected in " + secs(cn.Seconds)}}
	if cn.Handshake.Count > 0 {
		out = append(out,
			htmlFigure{Label: "handshake p50", Value: ms(cn.Handshake.P50), Note: "dial to welcome"},
			htmlFigure{Label: "handshake p99", Value: ms(cn.Handshake.P99), Note: "max " + ms(cn.Handshake.Max)})
	}
	failed := 0.0
	if cn.Attempted > 0 {
		failed = 100 * float64(cn.Failed) / float64(cn.Attempted)
	}
	out = append(out,
		htmlFigure{Label: "failed", Value: pct(failed), Note: human.Int(cn.Failed) + " of " + human.Int(cn.Attempted) + " attempts", Bad: cn.Failed > 0},
		htmlFigure{Label: "dropped", Value: human.Int(cn.Dropped), Note: "closed or lost after connecting", Bad: cn.Dropped > 0})
	if isMessageScenario(r.Config.Scenario) {
		out = append(out, htmlFigure{Label: "messages", Value: dash, Note: "none measured: the run ended before its measuring phase", Bad: true})
	}
	return out
}

func htmlParams(r *loadtest.Result) []htmlKV {
	c := r.Config
	kv := []htmlKV{
		{K: "scenario", V: c.Scenario},
		{K: "protocol", V: cmp.Or(r.Target.Protocol, c.Protocol)},
	}
	urls := r.Target.URLs
	if len(urls) == 0 {
		urls = c.URLs
	}
	for i, u := range urls {
		k := "target"
		if len(urls) > 1 {
			k = fmt.Sprintf("target %d", i+1)
		}
		kv = append(kv, htmlKV{K: k, V: u, URL: true})
	}
	kv = append(kv, htmlKV{K: "server", V: serverLine(r.Target), URL: true})
	if len(r.Target.Nodes) > 0 {
		kv = append(kv, htmlKV{K: "nodes", V: strings.Join(r.Target.Nodes, ", "), URL: true})
	}
	if c.Cluster {
		kv = append(kv, htmlKV{K: "cluster", V: clusterLine(c), URL: true})
	}
	kv = append(kv, htmlKV{K: "connections", V: human.Int(int64(c.Conns))})
	if hasRooms(c.Scenario) {
		kv = append(kv, htmlKV{K: "rooms", V: human.Int(int64(c.Rooms))}, htmlKV{K: "publishers", V: publishersLine(c, "")})
	}
	if isMessageScenario(c.Scenario) {
		kv = append(kv, htmlKV{K: "rate", V: num3(c.Rate) + " msg/s"}, htmlKV{K: "payload", V: human.Int(int64(c.Payload)) + " B"})
	}
	if c.Churn > 0 {
		kv = append(kv, htmlKV{K: "churn", V: pct(100*c.Churn) + " a second"})
	}
	for _, d := range []struct {
		k string
		v loadtest.Duration
	}{{"ramp", c.Ramp}, {"warm-up", c.Warmup}, {"duration", c.Duration}, {"drain", c.Drain}, {"timeout", c.Timeout}} {
		kv = append(kv, htmlKV{K: d.k, V: dur(time.Duration(d.v))})
	}
	kv = append(kv, htmlKV{K: "dialers", V: human.Int(int64(c.Dialers))}, htmlKV{K: "processes", V: human.Int(int64(c.Procs))})
	if len(c.SourceIPs) > 0 {
		kv = append(kv, htmlKV{K: "source addresses", V: human.Int(int64(len(c.SourceIPs)))})
	}
	for _, p := range r.Phases {
		kv = append(kv, htmlKV{K: "phase " + p.Name, V: secs(p.Seconds)})
	}
	return kv
}

func htmlMachine(m loadtest.Machine) []htmlKV {
	kv := []htmlKV{
		{K: "host", V: cmp.Or(m.Hostname, dash), URL: true},
		{K: "system", V: m.OS + "/" + m.Arch},
		{K: "CPUs", V: human.Int(int64(m.CPUs))},
	}
	if m.CPUModel != "" {
		kv = append(kv, htmlKV{K: "CPU model", V: m.CPUModel, URL: true})
	}
	if m.Kernel != "" {
		kv = append(kv, htmlKV{K: "kernel", V: m.Kernel, URL: true})
	}
	if m.MemoryMB > 0 {
		kv = append(kv, htmlKV{K: "memory", V: kib(float64(m.MemoryMB) * 1024)})
	}
	return append(kv, htmlKV{K: "Go", V: cmp.Or(m.GoVersion, dash)})
}

func htmlConnect(c loadtest.Connect, scenario string) []htmlKV {
	kv := []htmlKV{
		{K: "attempted", V: human.Int(c.Attempted)},
		{K: "connected", V: human.Int(c.Connected)},
		{K: "failed", V: human.Int(c.Failed), Bad: c.Failed > 0},
	}
	for _, f := range byCount(c.Failures) {
		kv = append(kv, htmlKV{K: f.key, V: human.Int(f.n), Sub: true})
	}
	kv = append(kv,
		htmlKV{K: "time to connect", V: secs(c.Seconds)},
		htmlKV{K: "connect rate", V: rate(c.PerSecond) + " conns/s"},
		htmlKV{K: "dropped", V: human.Int(c.Dropped), Bad: c.Dropped > 0})
	for _, f := range byCount(c.Drops) {
		kv = append(kv, htmlKV{K: f.key, V: human.Int(f.n), Sub: true})
	}
	if c.Reconnects > 0 || scenario == loadtest.ScenarioConnect {
		kv = append(kv, htmlKV{K: "reconnects", V: human.Int(c.Reconnects)})
	}
	return kv
}

func htmlMessages(m *loadtest.Messages) []htmlKV {
	kv := []htmlKV{
		{K: "measured over", V: secs(m.Seconds)},
		{K: "published", V: human.Int(m.Published)},
		{K: "publish errors", V: human.Int(m.PublishErrors), Bad: m.PublishErrors > 0},
	}
	for _, f := range byCount(m.PublishErrorCodes) {
		kv = append(kv, htmlKV{K: f.key, V: human.Int(f.n), Sub: true})
	}
	return append(kv,
		htmlKV{K: "expected", V: human.Int(m.Expected)},
		htmlKV{K: "delivered", V: human.Int(m.Delivered)},
		htmlKV{K: "lost", V: human.Int(m.Lost) + " (" + pct(lossOf(m.Lost, m.Expected, m.LossPercent)) + ")", Bad: m.Lost > 0},
		htmlKV{K: "duplicated", V: human.Int(m.Duplicated), Bad: m.Duplicated > 0},
		htmlKV{K: "out of order", V: human.Int(m.OutOfOrder), Bad: m.OutOfOrder > 0},
		htmlKV{K: "deliveries/s", V: rate(m.DeliveriesPerSec)},
		htmlKV{K: "messages/s", V: rate(m.MessagesPerSec)},
		htmlKV{K: "throughput", V: bytesRate(m.BytesPerSec)},
		htmlKV{K: "fan-out incomplete", V: human.Int(m.FanOutIncomplete), Bad: m.FanOutIncomplete > 0},
	)
}

// htmlCharts draws the delivery and fan-out curves, the delivery
// histogram and the handshake curve, whichever the run has.
func htmlCharts(r *loadtest.Result) []htmlChart {
	var out []htmlChart
	if m := r.Messages; m != nil {
		if c := percentileChart("delivery and fan-out latency by percentile", []curveInput{
			{"delivery", colourDelivery, m.Latency.Hist},
			{"fan-out", colourFanOut, m.FanOut.Hist},
		}); c != nil {
			out = append(out, htmlChart{c, "Latency by percentile: delivery is per receiver, fan-out per message until its last receiver had it. Both count from the intended send time."})
		}
		if c := histogramChart("delivery latency distribution", m.Latency.Hist); c != nil {
			out = append(out, htmlChart{c, "Delivery latency distribution up to p99.9; the last bar holds everything above."})
		}
		out = append(out, timelineCharts(m.Timeline)...)
	}
	if c := percentileChart("handshake latency by percentile", []curveInput{{"handshake", colourHandshake, r.Connect.Handshake.Hist}}); c != nil {
		out = append(out, htmlChart{c, "Handshake latency by percentile: from dial to the server's welcome."})
	}
	if r.Messages == nil {
		if c := histogramChart("handshake latency distribution", r.Connect.Handshake.Hist); c != nil {
			c.YTitle = "connections"
			out = append(out, htmlChart{c, "Handshake latency distribution up to p99.9; the last bar holds everything above."})
		}
	}
	return out
}

// timelineCharts draws fan-out latency and deliveries second by second.
func timelineCharts(tl []loadtest.Second) []htmlChart {
	p50, p99, top, dps := make([]float64, len(tl)), make([]float64, len(tl)), make([]float64, len(tl)), make([]float64, len(tl))
	for i, s := range tl {
		// Thousands, so the axis labels stay clear of the axis title.
		p50[i], p99[i], top[i], dps[i] = s.FanOutP50, s.FanOutP99, s.FanOutMax, float64(s.Deliveries)/1000
	}
	var out []htmlChart
	// max first, so p99 stays visible where they meet (few messages a
	// second).
	if c := timeChart("fan-out latency second by second", "fan-out latency, ms", []timeInput{
		{"max", colourMax, top}, {"p99", colourFanOut, p99}, {"p50", colourDelivery, p50},
	}); c != nil {
		out = append(out, htmlChart{c, "Fan-out latency of the messages intended in each second of the window, until their last receiver had them: a stall, a collection pause or a queue building up shows where it happened."})
	}
	if c := timeChart("deliveries second by second", "deliveries, thousands", []timeInput{{"deliveries", colourBars, dps}}); c != nil {
		out = append(out, htmlChart{c, "Deliveries of the messages intended in each second, whenever they arrived."})
	}
	return out
}

func htmlRoomTable(rooms []loadtest.RoomStats) htmlRooms {
	if len(rooms) == 0 {
		return htmlRooms{}
	}
	rs := worstRooms(rooms)
	shown := rs[:min(len(rs), htmlMaxRooms)]
	out := htmlRooms{Rows: len(shown), Note: "Sorted by lost, duplicated and out-of-order deliveries, the worst first."}
	hasTarget := slices.ContainsFunc(rs, func(r loadtest.RoomStats) bool { return r.Target != "" })
	head := []string{"room"}
	if hasTarget {
		head = append(head, "target")
	}
	out.Grid = htmlGrid{Left: len(head), Rows: [][]string{append(head, "subscribers", "published", "expected", "delivered", "lost", "duplicated", "out of order")}}
	for _, r := range shown {
		row := []string{r.Room}
		if hasTarget {
			row = append(row, r.Target)
		}
		out.Grid.Rows = append(out.Grid.Rows, append(row, human.Int(int64(r.Subscribers)), human.Int(r.Published), human.Int(r.Expected),
			human.Int(r.Delivered), human.Int(r.Lost), human.Int(r.Duplicated), human.Int(r.OutOfOrder)))
	}
	if rest := rs[len(shown):]; len(rest) > 0 {
		out.More = fmt.Sprintf("… %s more rooms", human.Int(int64(len(rest))))
		if !slices.ContainsFunc(rest, troubled) {
			out.More += ", none with loss, duplicates or reordering"
		}
	}
	return out
}
