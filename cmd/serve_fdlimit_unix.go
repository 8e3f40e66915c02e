//go:build unix

package cmd

import "syscall"

// openFileLimit is the process's soft limit on open files (Go raises it to
// the hard limit at start); ok is false when there is none.
func openFileLimit() (limit uint64, ok bool) {
	var r syscall.Rlimit
	// RLIM_INFINITY is all ones on Linux and 1<<63-1 on the BSDs; no
	// finite limit comes near 1<<40.
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || uint64(r.Cur) >= 1<<40 {
		return 0, false
	}
	return uint64(r.Cur), true
}
