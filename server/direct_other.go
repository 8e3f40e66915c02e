//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package server

import (
	"errors"
	"syscall"
)

// directWrites: frames are always written by the connection's writer
// goroutine on this system.
const directWrites = false

func rawWrite(syscall.RawConn, []byte) (int, error) {
	return 0, errors.New("direct writes are not supported on this system")
}
