//go:build linux || darwin || freebsd || netbsd || openbsd

package server

import (
	"errors"
	"syscall"
)

// directWrites: a room's fan-out may write a frame to the socket itself
// (frameWriter.tryWrite) on this system.
const directWrites = true

// rawWrite writes b to the socket with one write(2) that does not wait:
// it returns how much the socket took, 0 when it took nothing (EAGAIN).
func rawWrite(rc syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if werr != syscall.EINTR {
				return true // done, or would block: never wait here
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if errors.Is(werr, syscall.EAGAIN) {
		return 0, nil
	}
	if werr != nil {
		return 0, werr
	}
	return max(n, 0), nil
}
