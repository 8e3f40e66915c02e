package spark

import (
	"math"
	"strings"
)

// ticks are the eight block heights of a cell, lowest first.
var ticks = []rune("▁▂▃▄▅▆▇█")

// Line draws vals scaled to their own maximum, one cell each. The scale
// starts at zero, not at the minimum, so a steady rate reads as a flat
// high line instead of noise blown up to full height. NaN and values at or
// below zero draw the lowest block.
func Line(vals []float64) string {
	top := 0.0
	for _, v := range vals {
		if v > top && !math.IsInf(v, 1) {
			top = v
		}
	}
	var b strings.Builder
	for _, v := range vals {
		i := 0
		if top > 0 && v > 0 {
			i = int(math.Round(min(v, top) / top * float64(len(ticks)-1)))
		}
		b.WriteRune(ticks[max(0, min(len(ticks)-1, i))])
	}
	return b.String()
}

// Fit shrinks vals to at most width values by merging neighbours with
// merge (max for a worst case, a mean for a rate), so a long series still
// fits a line; shorter series are returned as they are.
func Fit(vals []float64, width int, merge func([]float64) float64) []float64 {
	if width <= 0 || len(vals) <= width {
		return vals
	}
	out := make([]float64, width)
	for i := range out {
		lo, hi := i*len(vals)/width, (i+1)*len(vals)/width
		out[i] = merge(vals[lo:hi])
	}
	return out
}

// Max is the largest of vs, a merge for Fit.
func Max(vs []float64) float64 {
	m := math.Inf(-1)
	for _, v := range vs {
		m = max(m, v)
	}
	return m
}

// Mean is the mean of vs, a merge for Fit.
func Mean(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := 0.0
	for _, v := range vs {
		s += v
	}
	return s / float64(len(vs))
}
