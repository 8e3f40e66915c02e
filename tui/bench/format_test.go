package bench

import (
	"math"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/human"
)

func TestFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, got, want string
	}{
		{"int 0", human.Int(0), "0"},
		{"int 999", human.Int(999), "999"},
		{"int 1000", human.Int(1000), "1,000"},
		{"int 498211", human.Int(498211), "498,211"},
		{"int 1234567", human.Int(1234567), "1,234,567"},
		{"int -1234", human.Int(-1234), "-1,234"},
		{"int -123", human.Int(-123), "-123"},
		{"rate", formatRate(498210.6), "498,211"},
		{"rate NaN", formatRate(math.NaN()), "-"},
		{"ms none", formatMs(0), "-"},
		{"ms sub", formatMs(0.423), "0.42 ms"},
		{"ms small", formatMs(3.14), "3.1 ms"},
		{"ms large", formatMs(1234.4), "1,234 ms"},
		{"elapsed 0", formatElapsed(0), "0.0s"},
		{"elapsed s", formatElapsed(12*time.Second + 40*time.Millisecond), "12.0s"},
		{"elapsed m", formatElapsed(62500 * time.Millisecond), "1m02.5s"},
		{"elapsed h", formatElapsed(time.Hour + 2*time.Minute + 3*time.Second), "1h02m03s"},
		{"percent", formatPercent(141.6), "142%"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}
