//go:build linux || darwin || freebsd || netbsd || openbsd

package server

import (
	"errors"
	"syscall"
)

// waitReadable parks until the socket has data (or an error or EOF to
// report), without reading it. It reports false when it cannot wait this
// way, and the caller should just read.
func waitReadable(fc *frameConn) bool {
	raw, err := fc.SyscallConn()
	if err != nil {
		return false
	}
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(err, syscall.EAGAIN)
	})
	return err == nil
}
