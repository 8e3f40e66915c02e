package spark

import (
	"math"
	"slices"
	"testing"
)

func TestLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		vals []float64
		want string
	}{
		{"rising", []float64{0, 1, 2, 3, 4, 5, 6, 7}, "▁▂▃▄▅▆▇█"},
		{"steady is high, not noise", []float64{100, 100, 99}, "███"},
		{"all zero", []float64{0, 0}, "▁▁"},
		{"gaps and negatives are low", []float64{math.NaN(), -1, 2}, "▁▁█"},
		{"empty", nil, ""},
	} {
		if got := Line(tt.vals); got != tt.want {
			t.Errorf("%s: Line(%v) = %q, want %q", tt.name, tt.vals, got, tt.want)
		}
	}
}

func TestFit(t *testing.T) {
	t.Parallel()
	vals := []float64{1, 9, 2, 2, 3, 5, 4, 4}
	if got := Fit(vals, 4, Max); !slices.Equal(got, []float64{9, 2, 5, 4}) {
		t.Errorf("Fit max = %v", got)
	}
	if got := Fit(vals, 4, Mean); !slices.Equal(got, []float64{5, 2, 4, 4}) {
		t.Errorf("Fit mean = %v", got)
	}
	if got := Fit(vals, 3, Max); !slices.Equal(got, []float64{9, 3, 5}) {
		t.Errorf("Fit into 3 = %v", got)
	}
	if got := Fit(vals, 10, Max); !slices.Equal(got, vals) {
		t.Errorf("Fit wider = %v", got)
	}
}
