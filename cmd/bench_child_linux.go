//go:build linux

package cmd

import "syscall"

// childProcAttr has the kernel stop a child server when the bench dies,
// however it dies: killed, or by SIGPIPE when its output goes to a pipe
// that closed (rtsync bench | head), with no chance to stop it itself.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
