package server

// Transport is what a connection needs from its socket. The hub speaks only
// to this interface, so WebSocket and other transports share one code path
// and the hub can be tested without a network.
//
// WriteBatch is called by at most one goroutine at a time; Ping and Close
// may be called concurrently with it and with each other.
type Transport interface {
	// WriteBatch writes the encoded objects to the peer, as one frame where
	// the transport has frames, separated by '\n'.
	WriteBatch(objs [][]byte) error
	// Ping checks the peer is alive (a WebSocket ping frame). It must not
	// block for long when a write is in progress.
	Ping() error
	// Close sends code and reason to the peer when the transport can, then
	// closes the socket, giving the peer a moment to read what was sent.
	Close(code int, reason string)
	// Kind names the transport ("ws"), for logs and stats.
	Kind() string
	// RemoteAddr is the peer's address.
	RemoteAddr() string
}

// hangupWatcher is implemented by transports that can tell, while the
// connection's reader is not reading (it is making a hook call), that the
// peer has gone: watchHangup calls hangup when it does, until stop. The
// WebSocket transport can; TCP cannot, since a client there may close only
// its sending half and still wait for the answer.
type hangupWatcher interface {
	watchHangup(hangup func()) (stop func())
}

// silentTransport is implemented by transports whose clients may stay
// silent past the heartbeat limit because something else proves them
// alive: a TCP connection in text mode (a person on nc), whose peer the OS
// keepalive probes.
type silentTransport interface {
	silenceAllowed() bool
}

// silenceAllowed reports whether t's client is exempt from the heartbeat
// sweep's silence rule.
func silenceAllowed(t Transport) bool {
	st, ok := t.(silentTransport)
	return ok && st.silenceAllowed()
}
