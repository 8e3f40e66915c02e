package server

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/rtsync/rtsync/protocol"
)

func itoa(n int) string { return strconv.Itoa(n) }

// errFlooded stops command processing for a connection being closed for
// flooding.
var errFlooded = errors.New("connection closed for flooding")

// sendError sends an error event: the answer to a frame that could not be
// tied to a command.
func (c *conn) sendError(code, msg string) {
	c.srv.metrics.countError(code)
	c.send(protocol.ErrorEvent{Type: protocol.TypeError, Code: code, Message: msg})
}

func (c *conn) replyErr(id json.RawMessage, e *protocol.Error) {
	c.srv.metrics.countError(e.Code)
	c.send(protocol.Reply{Type: protocol.TypeReply, ID: id, Error: e})
}

// handleFrame runs every command in a frame, in order. It runs on the
// reader goroutine.
func (c *conn) handleFrame(frame []byte) {
	_ = protocol.Split(frame, func(obj []byte) error {
		if c.flooded {
			return errFlooded
		}
		c.received()
		cmd, e := protocol.Decode(obj)
		if e != nil {
			if e.Code == protocol.CodeBadJSON || e.Code == protocol.CodeBadFrame {
				c.sendError(e.Code, e.Message)
			} else {
				c.replyErr(cmd.ID, e)
			}
			return nil
		}
		c.dispatch(&cmd)
		return nil
	})
}

func (c *conn) dispatch(cmd *protocol.Command) {
	if cmd.Op != protocol.OpHello && cmd.Op != protocol.OpPing {
		if e := c.checkAuth(); e != nil {
			c.refuseAuth(cmd.ID, e)
			return
		}
	}
	switch cmd.Op {
	case protocol.OpPing:
		c.send(protocol.Reply{Type: protocol.TypeReply, ID: cmd.ID, OK: true, Pong: true})
	case protocol.OpHello:
		c.hello(cmd)
	case protocol.OpJoin:
		c.join(cmd)
	case protocol.OpLeave:
		c.leave(cmd)
	case protocol.OpPub:
		c.pub(cmd)
	case protocol.OpSend:
		c.direct(cmd)
	case protocol.OpPresence:
		c.presence(cmd)
	case protocol.OpHistory:
		c.history(cmd)
	case protocol.OpAck:
		c.ack(cmd)
	case protocol.OpRPC:
		c.rpc(cmd)
	}
}

func (c *conn) hello(cmd *protocol.Command) {
	if cmd.Token != "" {
		if e := c.helloToken(cmd.Token); e != nil {
			c.refuseAuth(cmd.ID, e)
			return
		}
	}
	// A name set by the token stays; a hello that only refreshes the
	// token keeps the name too.
	var ch identityChange
	if !c.nameFixed() && (cmd.Token == "" || cmd.Name != "") {
		ch.name = &cmd.Name
	}
	if cmd.UID != "" && c.srv.openMode() {
		ch.uid = &cmd.UID
	}
	ch.meta = cmd.Meta
	// The reply goes once the uid is bound (an API call the client makes
	// on it finds it) and before the inbox a new uid brings.
	ch.answer = func(uid, name string) {
		c.send(protocol.Reply{Type: protocol.TypeReply, ID: cmd.ID, OK: true, Client: c.id, UID: uid, Name: name})
	}
	c.srv.rebind(c, ch)
}

func (c *conn) join(cmd *protocol.Command) {
	e := c.authorize("join", cmd.Room)
	if e == nil && cmd.Since != nil {
		// The replay must fit the send queue: let what is queued go out
		// first, as a reply does (replies.go).
		c.roomForReply()
	}
	if e == nil {
		e = c.enterRoom(cmd, joinReply, true)
	}
	if e != nil {
		c.replyErr(cmd.ID, e)
	}
}

// roomFor records that c is joining the room name and returns it: the one
// c is in already, if it is, else the hub's (made if need be). It fails
// when c is at the server's limit of rooms per connection, when the room
// does not exist and c made its share of rooms (counted only when bound,
// that is for the client's own joins: the application may put a client
// in any number of new rooms), or when the server is at its limit of
// rooms. The hub's room is looked up before c.stateMu is taken, never
// under it: the lock order (doc.go) puts hub.mu before room.mu before
// conn.stateMu, and dissolve holds room.mu while it takes a member's
// stateMu, so stateMu then hub.mu could deadlock.
func (c *conn) roomFor(name string, bound bool) (*room, *protocol.Error) {
	fresh := c.srv.hub.room(name, false)
	if fresh == nil {
		c.stateMu.Lock()
		_, already := c.rooms[name]
		spent := c.created >= c.srv.cfg.MaxRoomsCreatedPerConn
		c.stateMu.Unlock()
		if bound && !already && c.srv.storeKnows(name) {
			// No members here, but history: joining it makes nothing.
			already = true
		}
		spent = spent && bound && !already
		if spent {
			c.srv.metrics.roomsRefused.Add(1)
			return nil, protocol.Errorf(protocol.CodeTooManyRooms, "this connection made %d rooms, the server's limit per connection (--max-rooms-created); join an existing room", c.srv.cfg.MaxRoomsCreatedPerConn)
		}
		if fresh = c.srv.hub.room(name, true); fresh == nil {
			return nil, c.srv.hub.errRoomLimit()
		}
		if !already && bound {
			c.stateMu.Lock()
			c.created++
			c.stateMu.Unlock()
		}
	}
	c.stateMu.Lock()
	if c.rooms == nil {
		c.rooms = make(map[string]*room)
	}
	r, already := c.rooms[name]
	var e *protocol.Error
	switch {
	case already:
	case len(c.rooms) >= c.srv.cfg.MaxRoomsPerConn:
		r = nil
		e = protocol.Errorf(protocol.CodeTooManyRooms, "this connection is already in %d rooms, the server's limit; leave one first", c.srv.cfg.MaxRoomsPerConn)
	default:
		r = fresh
		c.rooms[name] = r
	}
	c.stateMu.Unlock()
	if r != fresh {
		// Made for nothing: forget it again unless someone else uses it.
		c.srv.hub.dropIfUnused(fresh)
	}
	return r, e
}

// joined returns the room cmd names if the connection is in it, and replies
// not_joined otherwise.
func (c *conn) joined(cmd *protocol.Command) *room {
	c.stateMu.Lock()
	r := c.rooms[cmd.Room]
	c.stateMu.Unlock()
	if r == nil {
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeNotJoined, "not in room %q; join it first", cmd.Room))
	}
	return r
}

func (c *conn) leave(cmd *protocol.Command) {
	if !c.exitRoom(cmd.Room, false) {
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeNotJoined, "not in room %q", cmd.Room))
		return
	}
	c.send(protocol.Reply{Type: protocol.TypeReply, ID: cmd.ID, OK: true, Room: cmd.Room})
}

// refuseAuth answers a command refused for want of a valid token and closes
// the connection with 4001 and the same reason; what the client sends
// meanwhile is ignored.
func (c *conn) refuseAuth(id json.RawMessage, e *protocol.Error) {
	c.replyErr(id, e)
	c.flooded = true
	c.drainAndCloseWith(protocol.CloseUnauthorized, e.Message)
}

// limited applies the publish rate limit; it replies rate_limited (and
// closes a client that keeps flooding) when the command must be dropped.
func (c *conn) limited(cmd *protocol.Command) bool {
	ok, flood := c.lim.allow(time.Now())
	if ok {
		return false
	}
	c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeRateLimited, "more than %g messages/s (burst %d); this one was not sent, slow down", c.srv.cfg.PublishRate, c.srv.cfg.PublishBurst))
	if flood {
		c.flooded = true
		c.srv.log.Info("closing flooding client", "client", c.id, "remote", c.t.RemoteAddr())
		c.drainAndClose(protocol.CloseRateLimited)
	}
	return true
}

func (c *conn) pub(cmd *protocol.Command) {
	r := c.joined(cmd)
	if r == nil || c.limited(cmd) {
		return
	}
	if e := c.authorize("publish", cmd.Room); e != nil {
		c.replyErr(cmd.ID, e)
		return
	}
	data, e := c.hookMessage(cmd.Room, cmd.Data)
	if e != nil {
		c.replyErr(cmd.ID, e)
		return
	}
	from, _, _ := c.identity()
	// The reply goes when the message is durable (room.finishPub); the
	// reader goes on meanwhile, so a client may have many pubs in flight
	// and replies to later commands may come first.
	_, _, _, ok, err := r.publish(c.srv, pendingPub{replyTo: c, replyID: cmd.ID}, c, cmd.NoEcho, nil, from, data)
	switch {
	case err != nil:
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeStoreUnavailable, "the message was not sent: the server's store refused it (%v); try again", err))
	case !ok:
		// The room was dropped under a member: only when it left
		// meanwhile, through the server API.
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeNotJoined, "not in room %q; join it first", cmd.Room))
	}
}

func (c *conn) direct(cmd *protocol.Command) {
	if c.limited(cmd) {
		return
	}
	if e := c.authorize("send", ""); e != nil {
		c.replyErr(cmd.ID, e)
		return
	}
	from, _, _ := c.identity()
	if cmd.ToClient != "" {
		ok, err := c.srv.sendToClient(cmd.ToClient, from, cmd.Data)
		if err != nil || !ok {
			c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeNotFound, "no connected client %q", cmd.ToClient))
			return
		}
		n := 1
		c.send(protocol.Reply{Type: protocol.TypeReply, ID: cmd.ID, OK: true, Delivered: &n})
		return
	}
	res, err := c.srv.sendToUID(cmd.ToUID, from, cmd.Data)
	if err != nil {
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeOffline, "user %q has no live connection and the message could not be kept for them (%v)", cmd.ToUID, err))
		return
	}
	n := res.delivered
	c.send(protocol.Reply{Type: protocol.TypeReply, ID: cmd.ID, OK: true, Delivered: &n, Stored: res.inbox > 0, Inbox: res.inbox})
}
