package report

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/internal/termtext"
	"github.com/rtsync/rtsync/loadtest"
)

// Number formatting shared by the table, the chart, the comparison and
// the HTML page. Figures are shown to three significant digits (the
// histograms resolve 0.1%, so more would be noise) except that integer
// parts are never rounded away: 1,204 ms, not 1.2e3.

// dash stands for a figure the run does not have, as opposed to 0.
const dash = "–"

// num3 formats v to three significant digits, keeping trailing zeros so
// columns of figures line up (0.400, 12.3), and the whole integer part
// with separators from 1,000 up.
func num3(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return dash
	}
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	switch {
	case a >= 999.5:
		return human.Int(int64(math.Round(v)))
	case a >= 99.95:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 9.995:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 0.9995:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		// Below 1 the histograms resolve a microsecond at best, so
		// three decimals of a millisecond are all there is.
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// ms formats milliseconds: 0.412 ms, 12.3 ms, 1,204 ms.
func ms(v float64) string { return num3(v) + " ms" }

// secs formats seconds the same way: 0.412 s, 12.3 s.
func secs(v float64) string { return num3(v) + " s" }

// rate formats a per-second figure, with k and M suffixes once the
// digits would stop being readable at a glance: 812, 1,234, 12.3k, 1.20M.
func rate(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return dash
	case a >= 999.5e6:
		return num3(v/1e9) + "G"
	case a >= 999.5e3:
		return num3(v/1e6) + "M"
	case a >= 9999.5:
		return num3(v/1e3) + "k"
	default:
		return num3(v)
	}
}

// bytesRate formats bytes per second in decimal units.
func bytesRate(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return dash
	case a >= 999.5e6:
		return num3(v/1e9) + " GB/s"
	case a >= 999.5e3:
		return num3(v/1e6) + " MB/s"
	case a >= 999.5:
		return num3(v/1e3) + " kB/s"
	default:
		return num3(v) + " B/s"
	}
}

// kib formats a memory size given in KiB, as /proc reports it.
func kib(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1024*1024:
		return num3(v/(1024*1024)) + " GiB"
	case a >= 1024:
		return num3(v/1024) + " MiB"
	default:
		return num3(v) + " KiB"
	}
}

// pct formats a percentage with three significant digits and no trailing
// zeros, and never rounds a non-zero share to 0: one lost delivery in a
// billion shows as 0.0000001%, because a loss that prints as 0% is a
// loss hidden.
func pct(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return dash
	}
	return sig(v, 3) + "%"
}

// sig formats v to digits significant digits without an exponent or
// trailing zeros, however small v is (down to 1e-12).
func sig(v float64, digits int) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return plain(v)
	}
	dec := max(0, min(digits-1-int(math.Floor(math.Log10(math.Abs(v)))), 14))
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// plain formats a float for a flag or a CSV cell: no separators, no
// exponent, no trailing zeros.
func plain(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// round rounds v to dec decimals, for CSV cells that should not carry
// float noise (0.41200000000000003).
func round(v float64, dec int) float64 {
	p := math.Pow(10, float64(dec))
	return math.Round(v*p) / p
}

// dur formats a configured duration as Go writes it (2s, 1m30s).
func dur(d time.Duration) string { return d.String() }

// lossOf is the share of expected deliveries lost, in percent, computed
// from the counts when there are any so that rounding in LossPercent can
// never turn one lost delivery into 0%.
func lossOf(lost, expected int64, reported float64) float64 {
	if expected > 0 {
		return 100 * float64(lost) / float64(expected)
	}
	return reported
}

// safe makes text from a Result fit to print on a terminal: it may come
// from the server under test (room names, close reasons), and an escape
// sequence or a bidi override in it must not reach the terminal as such.
// Text that termtext would have to clean is shown Go-quoted; long text is
// cut.
func safe(s string, maxRunes int) string {
	if !termtext.IsClean(s) {
		// Quoted, the report shows exactly what was there. Cleaned
		// again, since a quote leaves the Hangul fillers (letters that
		// draw as blank) as they are.
		s = termtext.Line(strconv.Quote(s))
	}
	return cut(s, maxRunes)
}

// cut shortens s to at most n runes, marking the cut with an ellipsis.
func cut(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// textWidth is how many terminal columns s takes, counting a rune as one:
// good enough for the figures and box characters written here.
func textWidth(s string) int { return utf8.RuneCountInString(s) }

// pad pads s with spaces to n columns, on the left when right is set.
func pad(s string, n int, right bool) string {
	gap := n - textWidth(s)
	if gap <= 0 {
		return s
	}
	if right {
		return strings.Repeat(" ", gap) + s
	}
	return s + strings.Repeat(" ", gap)
}

// isMessageScenario reports whether a run's scenario publishes messages;
// connect and idle measure connections only. An unknown scenario is
// treated as one that publishes so that nothing is left out.
func isMessageScenario(scenario string) bool {
	return scenario != loadtest.ScenarioConnect && scenario != loadtest.ScenarioIdle
}

// hasRooms reports whether a scenario's rooms and publishers mean
// anything: broadcast's do, and an unknown scenario's might.
func hasRooms(scenario string) bool {
	switch scenario {
	case loadtest.ScenarioDirect, loadtest.ScenarioConnect, loadtest.ScenarioIdle:
		return false
	}
	return true
}
