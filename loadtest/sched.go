package loadtest

import (
	"math"
	"runtime/metrics"
)

// schedMetric is the Go runtime's histogram of how long runnable
// goroutines waited for a core. When the bench's own goroutines wait,
// receive timestamps are late and latencies overstated: its 99th
// percentile over the measuring window is the bench's "am I the
// bottleneck" signal.
const schedMetric = "/sched/latencies:seconds"

func readSched() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: schedMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// schedP99 is the 99th percentile in milliseconds of the scheduling
// latencies recorded between two readings.
func schedP99(a, b *metrics.Float64Histogram) float64 {
	if a == nil || b == nil || len(a.Counts) != len(b.Counts) {
		return 0
	}
	var total uint64
	delta := make([]uint64, len(b.Counts))
	for i := range b.Counts {
		delta[i] = b.Counts[i] - a.Counts[i]
		total += delta[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(float64(total) * 0.99))
	var acc uint64
	for i, n := range delta {
		acc += n
		if acc >= want {
			hi := b.Buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = b.Buckets[i]
			}
			return hi * 1000
		}
	}
	return 0
}
