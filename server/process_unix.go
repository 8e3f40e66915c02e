//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package server

import (
	"syscall"
	"time"
)

// cpuSeconds returns the CPU time the process has used, user plus system.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return (tv(ru.Utime) + tv(ru.Stime)).Seconds()
}
