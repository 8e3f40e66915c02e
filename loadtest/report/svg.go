package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/loadtest"
)

// SVG charts for the HTML page. They are computed here as coordinates
// and labels and drawn by html/template (svgTemplate in report.html.tmpl),
// so every piece of text still goes through its escaping: no markup is
// assembled by hand.

// Chart geometry, in viewBox units; the page scales the SVG to its
// width, so these only set proportions and the text's relative size.
const (
	svgW, svgH = 720, 340
	// Margins leave room for the axis labels and titles.
	padLeft, padRight, padTop, padBottom = 64, 40, 16, 52
	plotW                                = svgW - padLeft - padRight
	plotH                                = svgH - padTop - padBottom
	yLabelX                              = padLeft - 8
	xLabelY                              = padTop + plotH + 18
	axisTitleY                           = svgH - 10
	// The legend sits top left, where percentile curves (low at the
	// left) leave the plot empty.
	legendX, legendY = padLeft + 12, padTop + 16
	legendRow        = 18
	legendLine       = 22
	// histBars is how many bars a histogram has at most: enough to show
	// a shape, few enough that each bar stays a visible target.
	histBars = 60
	// The percentile axis runs from 0% to 99% at least (a run with few
	// samples has nothing to say past that) and 99.999% at most.
	minNines, maxNines = 2, 5
	curveStroke        = 2.0
	barGap             = 1.0
)

// Series colours, chosen to stay apart for colour-blind readers.
const (
	colourDelivery  = "#2563eb"
	colourFanOut    = "#d97706"
	colourHandshake = "#059669"
	colourBars      = "#6366f1"
	colourMax       = "#dc2626"
)

// svgChart is one chart ready for the template.
type svgChart struct {
	Label          string // what the chart shows, for screen readers
	W, H           int
	X0, Y0, PW, PH int
	YTicks         []svgTick
	XTicks         []svgTick
	XTitle, YTitle string
	YTitleX        int
	YTitleY        int
	Series         []svgSeries
	Bars           []svgBar
	// Layout the template needs as numbers.
	X1, Y1        int
	YLabelX       int
	XLabelY       int
	AxisTitleY    int
	AxisTitleX    int
	LegendX       int
	LegendLineEnd int
	LegendTextX   int
	Stroke        string
}

// svgTick is a gridline or tick with its label.
type svgTick struct {
	Pos   string
	Label string
}

// svgSeries is one line of a chart.
type svgSeries struct {
	Name   string
	Colour string
	D      string // path data
	Y      int    // legend row
}

// svgBar is one bar of a histogram.
type svgBar struct {
	X, Y, W, H string
	Title      string
	Colour     string
}

// curveInput is one histogram drawn as a percentile curve.
type curveInput struct {
	name   string
	colour string
	h      *loadtest.Hist
}

func newChart(label, xTitle, yTitle string) svgChart {
	return svgChart{
		Label: label, W: svgW, H: svgH,
		X0: padLeft, Y0: padTop, PW: plotW, PH: plotH,
		X1: padLeft + plotW, Y1: padTop + plotH,
		XTitle: xTitle, YTitle: yTitle,
		YLabelX: yLabelX, XLabelY: xLabelY,
		AxisTitleX: padLeft + plotW/2, AxisTitleY: axisTitleY,
		YTitleX: 14, YTitleY: padTop + plotH/2,
		LegendX: legendX, LegendLineEnd: legendX + legendLine, LegendTextX: legendX + legendLine + 6,
		Stroke: f1(curveStroke),
	}
}

// f1 formats a coordinate with one decimal: enough for a 720-wide plot.
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// nines is where percentile p sits on the log axis: 0 at 0%, 1 at 90%,
// 2 at 99% and so on, as HdrHistogram's plots draw it, so the tail gets
// as much room as the body.
func nines(p float64) float64 {
	if p >= 100 {
		return math.Inf(1)
	}
	return math.Log10(100 / (100 - p))
}

// nineLabel names the gridline at n nines.
func nineLabel(n int) string {
	if n == 0 {
		return "0%"
	}
	return plain(round(100-100/math.Pow(10, float64(n)), 6)) + "%"
}

// percentileChart draws histograms as latency-by-percentile curves; nil
// when none has samples.
func percentileChart(label string, ins []curveInput) *svgChart {
	var top float64
	var n int64
	var live []curveInput
	for _, in := range ins {
		if in.h == nil || in.h.Count() == 0 {
			continue
		}
		live = append(live, in)
		n = max(n, in.h.Count())
		top = max(top, float64(in.h.Quantile(100))/1000)
	}
	if len(live) == 0 {
		return nil
	}
	c := newChart(label, "percentile", "latency, ms")
	// Past the nines the sample count supports every percentile is the
	// maximum: stop the axis there.
	xMax := min(max(int(math.Ceil(math.Log10(float64(n)))), minNines), maxNines)
	for k := 0; k <= xMax; k++ {
		c.XTicks = append(c.XTicks, svgTick{Pos: f1(padLeft + float64(plotW)*float64(k)/float64(xMax)), Label: nineLabel(k)})
	}
	yMax, yTicks := axis(0, top)
	c.YTicks = yTicksOf(yTicks, yMax)
	for i, in := range live {
		var b strings.Builder
		last := ""
		for j, p := range in.h.Curve() {
			x := padLeft + float64(plotW)*min(nines(p.Percentile), float64(xMax))/float64(xMax)
			y := padTop + float64(plotH)*(1-float64(p.Micros)/1000/yMax)
			pt := f1(x) + "," + f1(y)
			if pt == last {
				continue
			}
			if j == 0 {
				b.WriteString("M" + pt)
			} else {
				b.WriteString(" L" + pt)
			}
			last = pt
		}
		c.Series = append(c.Series, svgSeries{Name: in.name, Colour: in.colour, D: b.String(), Y: legendY + i*legendRow})
	}
	return &c
}

// histogramChart draws h's distribution up to p99.9 as bars; nil when
// it has no samples.
func histogramChart(label string, h *loadtest.Hist) *svgChart {
	if h == nil || h.Count() == 0 {
		return nil
	}
	bs := h.Buckets(histBars)
	if span := h.Quantile(99.9) - bs[0].From; span < histBars {
		bs = h.Buckets(int(max(span, 1)))
	}
	var top int64
	for _, b := range bs {
		top = max(top, b.Count)
	}
	c := newChart(label, "latency, ms (the last bar holds everything above p99.9)", "deliveries")
	lo, hi := float64(bs[0].From)/1000, float64(bs[len(bs)-1].To)/1000
	yMax, yTicks := axis(0, float64(top))
	c.YTicks = yTicksOf(yTicks, yMax)
	_, xt := axis(lo, hi)
	for _, v := range xt {
		if v < lo || v > hi {
			continue
		}
		c.XTicks = append(c.XTicks, svgTick{Pos: f1(padLeft + float64(plotW)*(v-lo)/(hi-lo)), Label: tickLabel(v)})
	}
	bw := float64(plotW) / float64(len(bs))
	for i, b := range bs {
		if b.Count == 0 {
			continue
		}
		bh := float64(plotH) * float64(b.Count) / yMax
		c.Bars = append(c.Bars, svgBar{
			X: f1(padLeft + float64(i)*bw + barGap/2), Y: f1(padTop + float64(plotH) - bh),
			W: f1(max(bw-barGap, 0.5)), H: f1(bh),
			Title:  fmt.Sprintf("%s to %s ms: %s", tickLabel(float64(b.From)/1000), tickLabel(float64(b.To)/1000), human.Int(b.Count)),
			Colour: colourBars,
		})
	}
	return &c
}

// timeInput is one series of a time chart: a value per second.
type timeInput struct {
	name   string
	colour string
	vals   []float64
}

// timeChart draws values over the seconds of the window as lines, each
// second's value at its middle; nil with fewer than two seconds.
func timeChart(label, yTitle string, ins []timeInput) *svgChart {
	n, top := 0, 0.0
	for _, in := range ins {
		n = max(n, len(in.vals))
		for _, v := range in.vals {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				top = max(top, v)
			}
		}
	}
	if n < 2 {
		return nil
	}
	c := newChart(label, "seconds into the measuring window", yTitle)
	secs := float64(n)
	_, xt := axis(0, secs)
	for _, v := range xt {
		if v <= secs {
			c.XTicks = append(c.XTicks, svgTick{Pos: f1(padLeft + float64(plotW)*v/secs), Label: tickLabel(v)})
		}
	}
	yMax, yTicks := axis(0, top)
	c.YTicks = yTicksOf(yTicks, yMax)
	for i, in := range ins {
		var b strings.Builder
		for j, v := range in.vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				v = 0
			}
			pt := f1(padLeft+float64(plotW)*(float64(j)+0.5)/secs) + "," + f1(padTop+float64(plotH)*(1-v/yMax))
			if j == 0 {
				b.WriteString("M" + pt)
			} else {
				b.WriteString(" L" + pt)
			}
		}
		c.Series = append(c.Series, svgSeries{Name: in.name, Colour: in.colour, D: b.String(), Y: legendY + i*legendRow})
	}
	return &c
}

// yTicksOf places value ticks on the y axis.
func yTicksOf(ticks []float64, yMax float64) []svgTick {
	var out []svgTick
	for _, v := range ticks {
		out = append(out, svgTick{Pos: f1(padTop + float64(plotH)*(1-v/yMax)), Label: tickLabel(v)})
	}
	return out
}

// axis picks round tick values covering [lo, hi]: about six steps of 1,
// 2, 2.5 or 5 times a power of ten. It returns the axis's top (a tick at
// or above hi) and the ticks from the first at or below lo.
func axis(lo, hi float64) (top float64, ticks []float64) {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	for i := 0; ; i++ {
		v := round(start+float64(i)*step, 9)
		ticks = append(ticks, v)
		if v >= hi || i > 50 {
			return v, ticks
		}
	}
}

// tickLabel formats an axis value without trailing zeros.
func tickLabel(v float64) string {
	if math.Abs(v) >= 1000 {
		return human.Int(int64(math.Round(v)))
	}
	return plain(round(v, 6))
}
