package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rtsync/rtsync/loadtest"
)

// hostile is text a server under test could put in a room name or a
// close reason.
const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>&amp;`

func renderHTML(t *testing.T, r *loadtest.Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("REPORT_HTML_DIR"); dir != "" {
		// For looking at the page: REPORT_HTML_DIR=/tmp go test -run HTML
		_ = os.WriteFile(dir+"/"+strings.ReplaceAll(t.Name(), "/", "_")+".html", b.Bytes(), 0o644)
	}
	return b.String()
}

// htmlElements are the elements the page may use: no script, no image,
// no link, nothing that loads or runs anything.
var htmlElements = map[string]bool{
	"html": true, "head": true, "meta": true, "title": true, "style": true, "body": true, "main": true,
	"h1": true, "h2": true, "h3": true, "p": true, "div": true, "section": true, "footer": true, "code": true,
	"table": true, "thead": true, "tbody": true, "tr": true, "th": true, "td": true, "ul": true, "li": true,
	"figure": true, "figcaption": true, "svg": true, "rect": true, "line": true, "path": true, "text": true,
}

// wellFormed parses s as XML: the page is written as polyglot XHTML, so
// any unclosed or misnested element, and any bare < or & that escaped
// escaping, is an error. It also checks every element and attribute is
// inert.
func wellFormed(t *testing.T, what, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s is not well-formed: %v", what, err)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !htmlElements[el.Name.Local] {
			t.Errorf("%s has a <%s> element", what, el.Name.Local)
		}
		for _, a := range el.Attr {
			n := strings.ToLower(a.Name.Local)
			if strings.HasPrefix(n, "on") || n == "src" || n == "href" || strings.Contains(strings.ToLower(a.Value), "javascript:") {
				t.Errorf("%s has <%s %s=%q>", what, el.Name.Local, a.Name.Local, a.Value)
			}
		}
	}
}

func TestHTML(t *testing.T) {
	t.Parallel()
	hostileRun := broadcastResult()
	hostileRun.Messages.Rooms[3].Room = hostile
	hostileRun.Messages.Rooms[5].Target = "peer-" + hostile
	hostileRun.Bench.Warnings = append(hostileRun.Bench.Warnings, "server said "+hostile)
	hostileRun.Config.Scenario = "broadcast" + hostile
	hostileRun.Target.Server = hostile
	hostileRun.Machine.CPUModel = hostile
	hostileRun.Connect.Failures[hostile] = 1
	hostileRun.Tool = `rtsync" onload="alert(1)`
	for _, tc := range []struct {
		name string
		r    *loadtest.Result
		svgs int
	}{
		// Percentiles, distribution, handshake, and the two timelines.
		{"broadcast", broadcastResult(), 5},
		{"connect", connectResult(), 2},
		{"cluster", clusterResult(), 5},
		{"hostile", hostileRun, 5},
		{"empty", &loadtest.Result{Schema: loadtest.Schema}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := renderHTML(t, tc.r)
			wellFormed(t, "the page", out)
			svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(out, -1)
			if len(svgs) != tc.svgs {
				t.Errorf("%d SVG charts, want %d", len(svgs), tc.svgs)
			}
			for _, s := range svgs {
				wellFormed(t, "an SVG chart", s)
				if !strings.Contains(s, "<path d=\"M") && !strings.Contains(s, "<rect x=") {
					t.Errorf("chart draws nothing: %.200s", s)
				}
			}
			lower := strings.ToLower(out)
			for _, bad := range []string{"<script", "<img", "<link", "<iframe", "http://", "https://", "@import", "url("} {
				if strings.Contains(lower, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
		})
	}
	t.Run("escapes", func(t *testing.T) {
		t.Parallel()
		out := renderHTML(t, hostileRun)
		if n := strings.Count(out, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"); n < 6 {
			t.Errorf("hostile text shown escaped %d times, want at least 6 (room, target, warning, scenario, server, CPU, failure)", n)
		}
		if !strings.Contains(out, "&amp;amp;") {
			t.Error("an ampersand in the data is not escaped")
		}
	})
}

func TestHTMLContent(t *testing.T) {
	t.Parallel()
	out := renderHTML(t, broadcastResult())
	for _, want := range []string{
		"<title>rtsync bench: broadcast, 2026-03-01 12:00:00 UTC</title>",
		`<meta name="viewport"`,
		"deliveries/s", "101k", // headline throughput
		"0.653 ms", "0.999 ms", // p50, p99
		"0.00417%",           // loss
		"42 of 1,008,000",    // lost deliveries
		"99.99%",             // percentile axis
		"room-03",            // worst room
		"the bench used 88%", // warning
		"--max-loss 0%", "FAIL", "PASS",
		"loss 0.00417% is over --max-loss 0%", // failure summary
		"bench-1", "Test CPU @ 3.0GHz",        // machine
		"12.7 KiB", // memory per connection
		"fan-out latency second by second", "deliveries second by second",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	many := broadcastResult()
	for i := range 150 {
		many.Messages.Rooms = append(many.Messages.Rooms, loadtest.RoomStats{Room: "extra", Expected: 1, Delivered: 1, Subscribers: i})
	}
	if !strings.Contains(renderHTML(t, many), "… 64 more rooms, none with loss, duplicates or reordering") {
		t.Error("page lists more than 100 rooms")
	}
	if strings.Contains(out, "may be limited by the bench") {
		t.Error("bottleneck alert on a run that was not limited")
	}
	if !strings.Contains(renderHTML(t, connectResult()), "may be limited by the bench, not the server") {
		t.Error("no bottleneck alert on a bench-limited run")
	}
}

// TestTimeChart: each second's value sits at the middle of its second, at
// the height of its value; a single second draws no chart.
func TestTimeChart(t *testing.T) {
	t.Parallel()
	var p99 []float64
	for _, s := range timeline() {
		p99 = append(p99, s.FanOutP99)
	}
	c := timeChart("x", "ms", []timeInput{{"p99", colourFanOut, p99}})
	if c == nil || len(c.Series) != 1 {
		t.Fatalf("chart %+v", c)
	}
	pts := strings.Fields(strings.NewReplacer("M", "", "L", "").Replace(c.Series[0].D))
	if len(pts) != 10 {
		t.Fatalf("%d points, want 10: %s", len(pts), c.Series[0].D)
	}
	top := ""
	best := math.Inf(1)
	for _, p := range pts {
		_, y, _ := strings.Cut(p, ",")
		if v, _ := strconv.ParseFloat(y, 64); v < best {
			best, top = v, p
		}
	}
	// The 212.5 ms stall of second 6 (x at 6.5 of 10 seconds) is the
	// highest point, under the axis's top of 250 ms.
	wantX := f1(padLeft + float64(plotW)*6.5/10)
	wantY := f1(padTop + float64(plotH)*(1-212.5/250))
	if top != wantX+","+wantY {
		t.Errorf("highest point %s, want %s,%s", top, wantX, wantY)
	}
	if timeChart("x", "ms", []timeInput{{"p99", colourFanOut, p99[:1]}}) != nil {
		t.Error("a one-second timeline got a chart")
	}
}

func TestPercentileAxis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		want []string
	}{
		{10, []string{"0%", "90%", "99%"}},
		{10000, []string{"0%", "90%", "99%", "99.9%", "99.99%"}},
		{1000000, []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"}},
	} {
		h := loadtest.NewHist()
		for i := range tc.n {
			h.RecordMicros(int64(100 + i%1000))
		}
		c := percentileChart("x", []curveInput{{"x", colourDelivery, h}})
		var got []string
		for _, tk := range c.XTicks {
			got = append(got, tk.Label)
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%d samples: x ticks %v, want %v", tc.n, got, tc.want)
		}
	}
}

func TestAxis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lo, hi float64
		top    float64
		ticks  int
	}{
		{0, 125.055, 150, 7},
		{0, 1, 1, 6},
		{0, 0.001, 0.001, 6},
		{0, 930, 1000, 6},
		{0.3, 5.37, 6, 7},
	} {
		top, ticks := axis(tc.lo, tc.hi)
		if top != tc.top || len(ticks) != tc.ticks || ticks[0] > tc.lo || top < tc.hi {
			t.Errorf("axis(%v, %v) = %v, %v; want top %v and %d ticks", tc.lo, tc.hi, top, ticks, tc.top, tc.ticks)
		}
	}
}
