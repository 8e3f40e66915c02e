package report

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/loadtest"
)

// Terminal chart layout.
const (
	// minChartWidth is the narrowest chart drawn; a narrower request
	// gets this width, since bars of a few cells say nothing.
	minChartWidth = 40
	// histRows is the height of the distribution, in text rows; each
	// row resolves eighths with the block characters.
	histRows = 5
	// logUnit sets the bars' log scale: values are measured in
	// thousandths of the maximum, so p50 keeps a visible bar next to a
	// max a thousand times larger while the tail stays distinguishable.
	logUnit = 1000
)

// chartPercentiles are the curve's rows.
var chartPercentiles = []float64{50, 75, 90, 95, 99, 99.9, 99.99, 100}

// Block characters: eighths of a cell, growing left to right for the
// curve's bars and bottom to top for the distribution's columns.
var (
	hBlocks = []rune(" ▏▎▍▌▋▊▉█")
	vBlocks = []rune(" ▁▂▃▄▅▆▇█")
)

// Chart draws a latency histogram for a terminal, in plain Unicode block
// characters (no colour, so it survives logs and pipes): the latency at
// each of 50, 75, 90, 95, 99, 99.9, 99.99 and 100 percent as a bar, then
// the distribution up to p99.9 as columns. Every line fits width columns
// (at least 40).
func Chart(w io.Writer, h *loadtest.Hist, width int) error {
	width = max(width, minChartWidth)
	if h == nil || h.Count() == 0 {
		_, err := io.WriteString(w, "no samples: no latency was recorded\n")
		return err
	}
	var t text
	chartCurve(&t, h, width)
	t.blank()
	chartDistribution(&t, h, width)
	_, err := io.WriteString(w, t.String())
	return err
}

// chartCurve draws one bar per percentile, log-scaled.
func chartCurve(t *text, h *loadtest.Hist, width int) {
	t.line(fitting(width,
		fmt.Sprintf("latency by percentile, %s samples (bars log-scaled)", human.Int(h.Count())),
		fmt.Sprintf("latency by percentile, %s samples", human.Int(h.Count())),
		"latency by percentile"))
	vals := make([]string, len(chartPercentiles))
	us := make([]int64, len(chartPercentiles))
	vw := 0
	for i, p := range chartPercentiles {
		us[i] = h.Quantile(p)
		vals[i] = ms(float64(us[i]) / 1000)
		vw = max(vw, textWidth(vals[i]))
	}
	const lw = 6 // "99.99%"
	avail := width - lw - 2 - vw - 1
	top := float64(us[len(us)-1])
	for i, p := range chartPercentiles {
		bar := hbar(scaleLog(float64(us[i]), top), avail)
		t.line(pad(plain(p)+"%", lw, true) + "  " + pad(vals[i], vw, true) + " " + bar)
	}
}

// scaleLog maps v in [0, top] to [0, 1] on a log scale measured in
// thousandths of top.
func scaleLog(v, top float64) float64 {
	if top <= 0 || v <= 0 {
		return 0
	}
	u := top / logUnit
	return min(math.Log1p(v/u)/math.Log1p(top/u), 1)
}

// hbar draws a horizontal bar of frac of cells cells, in eighths; any
// non-zero value gets at least a sliver.
func hbar(frac float64, cells int) string {
	if cells <= 0 {
		return ""
	}
	eighths := int(math.Round(frac * float64(cells*8)))
	if frac > 0 {
		eighths = max(eighths, 1)
	}
	s := strings.Repeat(string(hBlocks[8]), eighths/8)
	if r := eighths % 8; r > 0 {
		s += string(hBlocks[r])
	}
	return s
}

// chartDistribution draws Buckets as columns with the range underneath.
func chartDistribution(t *text, h *loadtest.Hist, width int) {
	cols := width - 2
	bs := h.Buckets(cols)
	// Buckets are at least a microsecond wide: over a narrow range fewer
	// of them fill the width instead of leaving it mostly blank.
	if span := h.Quantile(99.9) - bs[0].From; span < int64(cols) {
		bs = h.Buckets(int(max(span, 1)))
	}
	var top int64
	for _, b := range bs {
		top = max(top, b.Count)
	}
	t.line(fitting(width,
		fmt.Sprintf("distribution to p99.9 (the last column holds the rest), tallest %s", human.Int(top)),
		"distribution to p99.9 (the rest in the last column)",
		"distribution to p99.9"))
	levels := make([]int, len(bs))
	for i, b := range bs {
		if b.Count > 0 {
			levels[i] = max(int(math.Round(float64(b.Count)/float64(top)*histRows*8)), 1)
		}
	}
	for row := histRows - 1; row >= 0; row-- {
		var b strings.Builder
		b.WriteString("  ")
		for _, l := range levels {
			b.WriteRune(vBlocks[min(max(l-row*8, 0), 8)])
		}
		t.line(b.String())
	}
	left, right := ms(float64(bs[0].From)/1000), ms(float64(bs[len(bs)-1].To)/1000)
	span := 2 + len(bs)
	if gap := span - 2 - textWidth(left) - textWidth(right); gap >= 2 {
		t.line("  " + left + strings.Repeat(" ", gap) + right)
	} else {
		t.line(cut("  "+left+" to "+right, width))
	}
}

// fitting returns the first of texts that fits width columns, or the
// last one cut to fit.
func fitting(width int, texts ...string) string {
	for _, s := range texts {
		if textWidth(s) <= width {
			return s
		}
	}
	return cut(texts[len(texts)-1], width)
}
