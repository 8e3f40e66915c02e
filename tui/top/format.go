package top

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/rtsync/rtsync/internal/human"
)

// formatRate writes a per-second rate: one decimal below 10 (a room at
// 0.5 msg/s is not idle), whole numbers above. NaN is "no rate": the
// first snapshot, or one after a restart.
func formatRate(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case math.Abs(v) < 9.95 && v != 0:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 1e18:
		return formatCompact(v)
	default:
		return human.Int(int64(math.Round(v)))
	}
}

// formatCompact writes a huge figure with an SI suffix, for a cell too
// narrow for its digits.
func formatCompact(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	units := []string{"", "k", "M", "G", "T", "P", "E", "Z", "Y"}
	i := 0
	for v >= 999.5 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if v >= 999.5 {
		return sign + strconv.FormatFloat(v, 'e', 1, 64) + units[i]
	}
	if i == 0 {
		return sign + strconv.FormatFloat(v, 'f', 0, 64)
	}
	prec := 1
	if v >= 100 {
		prec = 0
	}
	return sign + strconv.FormatFloat(v, 'f', prec, 64) + units[i]
}

// formatBytes writes a size with a binary unit, as ps and top do for
// memory.
func formatBytes(n int64) string {
	if n < 0 {
		return "-"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	switch {
	case i == 0:
		return fmt.Sprintf("%d B", n)
	case v < 10:
		return fmt.Sprintf("%.2f %s", v, units[i])
	case v < 100:
		return fmt.Sprintf("%.1f %s", v, units[i])
	default:
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
}

// formatPercent writes a CPU share (100% is one core), or "-" when there
// is none yet.
func formatPercent(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return "-"
	}
	if v >= 1e6 {
		return formatCompact(v) + "%"
	}
	return fmt.Sprintf("%.0f%%", v)
}

// formatAge writes a duration the way uptime columns do: the two largest
// units, so it stays short whatever its size ("42s", "5m07s", "3h12m",
// "12d04h").
func formatAge(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
	}
}

// seconds turns a float number of seconds into a Duration without
// overflowing on a nonsense value.
func seconds(v float64) time.Duration {
	if math.IsNaN(v) || v < 0 {
		return -1
	}
	if v > float64(math.MaxInt64/int64(time.Second)) {
		return math.MaxInt64
	}
	return time.Duration(v * float64(time.Second))
}
