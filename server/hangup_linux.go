package server

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// watchSocketHangup calls hangup, on a goroutine of its own, when the peer
// of nc closes its end or resets it, until stop is called; stop returns
// once the watch let go of the socket. It must only run while nothing else
// reads nc: the connection's reader, busy with a hook call, is not reading.
//
// It parks in the runtime's poller, which wakes a reader on data and on
// EPOLLRDHUP alike, and asks poll(2) for POLLRDHUP, which reports the
// peer's FIN even behind unread data (a command sent just before leaving).
// stop wakes it with a read deadline in the past and clears it after: the
// reader sets none of its own.
func watchSocketHangup(nc net.Conn, hangup func()) (stop func()) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return func() {}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		gone := false
		_ = raw.Read(func(fd uintptr) bool {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
			n, err := unix.Poll(fds, 0)
			if err != nil {
				return err != unix.EINTR
			}
			gone = n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
			return gone
		})
		if gone {
			hangup()
		}
	}()
	return func() {
		_ = nc.SetReadDeadline(time.Unix(1, 0))
		<-done
		_ = nc.SetReadDeadline(time.Time{})
	}
}
