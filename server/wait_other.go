//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package server

// waitReadable is not available here; readers park inside their read.
func waitReadable(*frameConn) bool { return false }

// takePong is not needed where readers park inside their read anyway.
func takePong(*frameConn) bool { return false }
