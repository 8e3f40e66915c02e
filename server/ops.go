package server

import (
	"encoding/json"

	"github.com/rtsync/rtsync/protocol"
)

// Operations on a connection from the server side (connect hook, HTTP API)
// rather than from the client's own commands.

// joinFor puts c into room without a reply or replay, as if it had joined
// with no since. Other members see a join event as usual.
func (s *Server) joinFor(c *conn, room string) *protocol.Error {
	if e := protocol.ValidRoom(room); e != nil {
		return e
	}
	cmd := &protocol.Command{Op: protocol.OpJoin, Room: room}
	return c.joinRoom(cmd, false)
}

// leaveFor takes c out of room; false if it was not in it.
func (s *Server) leaveFor(c *conn, room string) bool {
	c.stateMu.Lock()
	r := c.rooms[room]
	delete(c.rooms, room)
	c.stateMu.Unlock()
	if r == nil {
		return false
	}
	r.leave(s, c)
	s.hub.dropIfUnused(r)
	return true
}

// setIdentity changes c's uid and name (empty: unchanged) and keeps the uid
// index in step.
func (s *Server) setIdentity(c *conn, uid, name string) {
	c.stateMu.Lock()
	old := c.uid
	if uid != "" {
		c.uid = uid
	}
	if name != "" {
		c.name = name
	}
	c.from = nil
	now := c.uid
	c.stateMu.Unlock()
	if now != old {
		s.hub.setUID(c, old, now)
	}
}

// setSession replaces c's session object.
func (c *conn) setSession(v json.RawMessage) {
	c.stateMu.Lock()
	c.session = v
	c.stateMu.Unlock()
}
