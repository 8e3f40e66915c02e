package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/rtsync/rtsync/internal/human"
)

// formatRate rounds a per-second rate to a whole number: fractions of a
// delivery per second are noise at the rates a bench runs at.
func formatRate(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return human.Int(int64(math.Round(v)))
}

// formatMs writes a latency in milliseconds with the precision that
// matters at its size. Zero means "none measured yet" (that is what the
// engine sends before the first delivery), so it shows as a dash rather
// than as an impossibly good 0 ms.
func formatMs(v float64) string {
	switch {
	case v <= 0 || math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case v < 1:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return human.Int(int64(math.Round(v))) + " ms"
	}
}

// formatElapsed writes a run's elapsed time: tenths of a second while
// short (phases last seconds), then minutes and hours for soak runs.
func formatElapsed(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		m := d / time.Minute
		s := (d - m*time.Minute).Seconds()
		return fmt.Sprintf("%dm%04.1fs", m, s)
	default:
		d = d.Round(time.Second)
		h := d / time.Hour
		m := (d - h*time.Hour) / time.Minute
		s := (d - h*time.Hour - m*time.Minute) / time.Second
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
}

// formatPercent writes a percentage without decimals; the CPU figure is
// a rough health signal, not a measurement to compare.
func formatPercent(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", v)
}

// clamp01 keeps a phase fraction drawable whatever the engine sends.
func clamp01(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return math.Max(0, math.Min(1, v))
}
