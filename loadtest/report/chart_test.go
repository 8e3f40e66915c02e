package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rtsync/rtsync/loadtest"
)

func TestChartGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		h     *loadtest.Hist
		width int
	}{
		{"chart_80.golden", deliveryHist(), 80},
		{"chart_40.golden", deliveryHist(), 40},
		{"chart_handshake_60.golden", handshakeHist(), 60},
		{"chart_empty.golden", loadtest.NewHist(), 80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := Chart(&b, tc.h, tc.width); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

func TestChartFitsWidth(t *testing.T) {
	t.Parallel()
	wide := loadtest.NewHist()
	for i := range 1000 {
		wide.RecordMicros(int64(1 + i*i*600))
	}
	hists := map[string]*loadtest.Hist{
		"one value":    hist(500),
		"same value":   hist(500, 500, 500),
		"narrow":       hist(500, 501, 502, 503),
		"wide":         wide,
		"delivery":     deliveryHist(),
		"clamped huge": hist(1, int64(1e12)),
	}
	for name, h := range hists {
		for _, w := range []int{0, 20, 40, 41, 57, 80, 200} {
			t.Run(fmt.Sprintf("%s/%d", name, w), func(t *testing.T) {
				var b bytes.Buffer
				if err := Chart(&b, h, w); err != nil {
					t.Fatal(err)
				}
				limit := max(w, minChartWidth)
				lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
				if len(lines) != 1+len(chartPercentiles)+1+1+histRows+1 {
					t.Errorf("%d lines, want %d:\n%s", len(lines), 1+len(chartPercentiles)+1+1+histRows+1, b.String())
				}
				for _, l := range lines {
					if n := utf8.RuneCountInString(l); n > limit {
						t.Errorf("line of %d columns is wider than %d: %q", n, limit, l)
					}
				}
				// The p50 row always shows a bar, however far the max.
				if p50 := lines[1]; !strings.ContainsAny(p50, string(hBlocks[1:])) {
					t.Errorf("p50 row has no bar: %q", p50)
				}
			})
		}
	}
}

func TestChartBarsGrow(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := Chart(&b, deliveryHist(), 80); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	prev := 0
	for i := range chartPercentiles {
		l := lines[1+i]
		n := utf8.RuneCountInString(l[strings.LastIndex(l, "ms ")+3:])
		if n < prev {
			t.Errorf("bar of row %d is shorter than the one above: %q", i, l)
		}
		prev = n
	}
	if !strings.HasSuffix(lines[len(chartPercentiles)], strings.Repeat("█", 10)) {
		t.Errorf("the max bar should be full: %q", lines[len(chartPercentiles)])
	}
}

func TestChartNoSamples(t *testing.T) {
	t.Parallel()
	for _, h := range []*loadtest.Hist{nil, loadtest.NewHist()} {
		var b bytes.Buffer
		if err := Chart(&b, h, 80); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(b.String(), "no samples") {
			t.Errorf("empty histogram: %q", b.String())
		}
	}
}
