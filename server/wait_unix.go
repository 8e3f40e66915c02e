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

// pongFrameMax is the longest pong frame a client sends: a 2-byte header,
// the 4-byte mask key, at most 125 bytes of payload.
const pongFrameMax = 2 + 4 + 125

// takePong consumes the frame at the head of the socket when it is a whole
// pong, and reports whether it did. Every connection answers the server's
// heartbeat pings with one; handing it to gorilla would leave the reader
// parked inside gorilla's read of the next frame, on a deep stack, for as
// long as the client stays quiet (4 KiB more per idle connection,
// measured). Only call it at a frame boundary with gorilla's buffer empty,
// as after waitReadable, so the socket's next byte starts a frame.
func takePong(fc *frameConn) bool {
	if fc.payload != 0 || fc.hdrHave != 0 {
		return false
	}
	raw, err := fc.SyscallConn()
	if err != nil {
		return false
	}
	taken := false
	_ = raw.Read(func(fd uintptr) bool {
		var b [pongFrameMax]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		size := pongSize(b[:max(n, 0)])
		if err != nil || size == 0 || n < size {
			return true // not a whole pong: gorilla reads it
		}
		n, _, err = syscall.Recvfrom(int(fd), b[:size], syscall.MSG_DONTWAIT)
		taken = err == nil && n == size
		return true
	})
	return taken
}

// pongSize is the length of the pong frame b starts with, 0 when b does not
// start one a client may send: final, no extension bits, masked, at most
// 125 bytes of payload.
func pongSize(b []byte) int {
	if len(b) < 2 || b[0] != 0x80|0xA || b[1]&0x80 == 0 {
		return 0
	}
	return 2 + 4 + int(b[1]&0x7f)
}
