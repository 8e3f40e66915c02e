package procstat

import (
	"errors"
	rtmetrics "runtime/metrics"
)

// ErrUnsupported is returned where the system does not say.
var ErrUnsupported = errors.New("not available on this system")

// runtimeMetric reads one runtime/metrics value as a float64, 0 when this
// Go does not have it.
func runtimeMetric(name string) float64 {
	s := []rtmetrics.Sample{{Name: name}}
	rtmetrics.Read(s)
	switch s[0].Value.Kind() {
	case rtmetrics.KindUint64:
		return float64(s[0].Value.Uint64())
	case rtmetrics.KindFloat64:
		return s[0].Value.Float64()
	}
	return 0
}

// runtimeMemory is the memory the Go runtime has mapped: the stand-in for
// resident memory where the system does not say (it counts memory the
// runtime holds but the OS may have paged out, and misses memory outside
// the Go heap, such as a C library's).
func runtimeMemory() uint64 { return uint64(runtimeMetric("/memory/classes/total:bytes")) }
