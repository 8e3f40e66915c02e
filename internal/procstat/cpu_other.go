//go:build !unix && !windows

package procstat

import "time"

// CPUTime estimates the CPU time this process has used from the Go
// runtime's own accounting (time available minus time idle), where the
// system offers no getrusage.
func CPUTime() time.Duration {
	s := runtimeMetric("/cpu/classes/total:cpu-seconds") - runtimeMetric("/cpu/classes/idle:cpu-seconds")
	return time.Duration(s * float64(time.Second))
}
