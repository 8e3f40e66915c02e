//go:build unix

package server

import "syscall"

// rawReads: the goroutine path waits for readability in Go's poller and
// reads the descriptor itself (wsIn.runRaw).
const rawReads = true

// sysRead reads from the socket fd without blocking; EAGAIN means it has
// nothing yet.
func sysRead(fd uintptr, b []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}
