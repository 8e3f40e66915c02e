//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package server

// waitReadable is not available here; readers park inside their read.
func waitReadable(*frameConn) (ok, pong bool) { return false, false }
