//go:build !linux

package server

import "net"

// watchSocketHangup is Linux only (POLLRDHUP); elsewhere a hook call is
// cut when the connection closes or the server shuts down, not when the
// peer hangs up while the reader is busy.
func watchSocketHangup(net.Conn, func()) (stop func()) { return func() {} }
