//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package server

// cpuSeconds estimates the CPU time the process has used from the Go
// runtime's own accounting (time available minus time idle), where the
// system offers no getrusage.
func cpuSeconds() float64 {
	return runtimeMetric("/cpu/classes/total:cpu-seconds") - runtimeMetric("/cpu/classes/idle:cpu-seconds")
}
