//go:build linux || darwin || freebsd || netbsd || openbsd

package server

import (
	"errors"
	"syscall"
)

// pongFrameMax is the longest pong frame a client sends: a 2-byte header,
// the 4-byte mask key, at most 125 bytes of payload.
const pongFrameMax = 2 + 4 + 125

// waitReadable parks until the socket has data (or an error or EOF to
// report), without reading it. It reports false when it cannot wait this
// way, and the caller should just read.
//
// A whole pong at the head of the socket it consumes itself, and reports
// with pong: every connection answers the server's heartbeat pings with
// one, and handing it to gorilla would leave the reader parked inside
// gorilla's read of the next frame, on a deep stack, for as long as the
// client stays quiet (4 KiB more per idle connection, measured). The peek
// that sees the data sees the pong, so this costs no extra syscall. It is
// only done at a frame boundary, where gorilla's buffer is empty
// (frameConn), so the socket's next byte starts a frame.
func waitReadable(fc *frameConn) (ok, pong bool) {
	raw, err := fc.SyscallConn()
	if err != nil {
		return false, false
	}
	atBoundary := fc.payload == 0 && fc.hdrHave == 0
	err = raw.Read(func(fd uintptr) bool {
		var b [pongFrameMax]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if errors.Is(err, syscall.EAGAIN) {
			return false // nothing yet: park
		}
		if size := pongSize(b[:max(n, 0)]); err == nil && atBoundary && size > 0 && n >= size {
			m, _, err := syscall.Recvfrom(int(fd), b[:size], syscall.MSG_DONTWAIT)
			pong = err == nil && m == size
		}
		return true
	})
	return err == nil, pong
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
