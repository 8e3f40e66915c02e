//go:build unix

package cmd

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// TestListenKeepAlive: the HTTP listener's connections have no TCP
// keep-alive (the heartbeat checks WebSocket clients), the TCP
// transport's have it.
func TestListenKeepAlive(t *testing.T) {
	for _, keep := range []bool{false, true} {
		ln, err := listen(context.Background(), "127.0.0.1:0", keep)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := sc.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var on int
		var serr error
		if err := rc.Control(func(fd uintptr) { on, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) }); err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		if (on != 0) != keep {
			t.Errorf("listen(keepAlive=%v): SO_KEEPALIVE %d on an accepted connection", keep, on)
		}
		c.Close()
		sc.Close()
		ln.Close()
	}
}
