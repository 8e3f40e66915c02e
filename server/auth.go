package server

import (
	"net/http"

	"github.com/rtsync/rtsync/protocol"
)

// permissions is what a verified token allows. nil on a connection means
// everything (open server).
type permissions struct{}

// authResult is what authentication established about a new connection.
type authResult struct {
	UID, Name string
	Claims    map[string]any
	Perms     *permissions
}

// openMode reports whether the server runs without authentication, where
// hello may set any uid.
func (s *Server) openMode() bool { return true }

// authenticate checks the token a connection presented on connect (empty
// when none). An error closes the connection with 4001.
func (s *Server) authenticate(token string) (*authResult, *protocol.Error) {
	return &authResult{}, nil
}

// helloToken handles a token sent in hello: in open mode it is ignored.
func (c *conn) helloToken(token string) *protocol.Error { return nil }

// authorize checks that the connection may do action ("join", "publish")
// on room.
func (c *conn) authorize(action, room string) *protocol.Error { return nil }

// checkOrigin decides whether a browser page may open a WebSocket.
func (s *Server) checkOrigin(r *http.Request) bool { return true }

// tokenFrom extracts a token from the upgrade request: ?token= or
// Authorization: Bearer.
func tokenFrom(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	const prefix = "Bearer "
	if h := r.Header.Get("Authorization"); len(h) > len(prefix) && h[:len(prefix)] == prefix {
		return h[len(prefix):]
	}
	return ""
}
