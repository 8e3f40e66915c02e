package fakeserver

import (
	"encoding/json"
	"time"

	"github.com/rtsync/rtsync/protocol"
)

// What the fake says about itself in every welcome and msg.
const (
	nodeName   = "fake"
	serverName = "fakeserver"
	// epoch is the only history generation a room ever has: rooms are
	// never forgotten, so seqs never restart.
	epoch = "e1"
	// heartbeatMS is announced, not enforced: the fake sends no pings and
	// closes no silent client.
	heartbeatMS = 25000
)

func (c *conn) send(v any) {
	// Only a RawMessage from a client could fail to encode, and those were
	// validated by protocol.Decode; pub and send check anyway.
	if b, err := protocol.Marshal(v); err == nil {
		c.enqueue(b, false)
	}
}

func (c *conn) welcome() {
	c.send(protocol.Welcome{
		Type: protocol.TypeWelcome, Client: c.id, Node: nodeName,
		Server: serverName, Protocol: protocol.Version, Heartbeat: heartbeatMS,
	})
}

func (c *conn) fail(id json.RawMessage, e *protocol.Error) {
	c.send(protocol.Reply{Type: protocol.TypeReply, ID: id, Error: e})
}

func (c *conn) from() protocol.From {
	return protocol.From{Client: c.id, UID: c.uid, Name: c.name}
}

// handleFrame runs every command of one frame, in order, on c's reader.
func (c *conn) handleFrame(frame []byte) {
	_ = protocol.Split(frame, func(obj []byte) error {
		if c.flooded {
			return nil
		}
		cmd, e := protocol.Decode(obj)
		switch {
		case e == nil:
			c.handle(&cmd)
		case e.Code == protocol.CodeBadJSON || e.Code == protocol.CodeBadFrame:
			c.send(protocol.ErrorEvent{Type: protocol.TypeError, Code: e.Code, Message: e.Message})
		default:
			c.fail(cmd.ID, e)
		}
		return nil
	})
}

func (c *conn) handle(cmd *protocol.Command) {
	s := c.s
	ok := protocol.Reply{Type: protocol.TypeReply, ID: cmd.ID, OK: true}
	switch cmd.Op {
	case protocol.OpPing:
		ok.Pong = true

	case protocol.OpHello:
		s.mu.Lock()
		if cmd.UID != "" && cmd.UID != c.uid {
			s.unbindUID(c)
			c.uid = cmd.UID
			set := s.byUID[c.uid]
			if set == nil {
				set = make(map[*conn]struct{})
				s.byUID[c.uid] = set
			}
			set[c] = struct{}{}
		}
		c.name = cmd.Name
		s.mu.Unlock()
		ok.Client, ok.UID, ok.Name = c.id, c.uid, c.name

	case protocol.OpJoin:
		st := c.rooms[cmd.Room]
		if st == nil {
			s.mu.Lock()
			st = s.rooms[cmd.Room]
			if st == nil {
				st = newStream(cmd.Room)
				s.rooms[cmd.Room] = st
			}
			s.mu.Unlock()
			s.number(c)
			c.rooms[cmd.Room] = st
		}
		st.mu.Lock()
		st.members[c] = struct{}{}
		ok.Seq = st.seq
		st.mu.Unlock()
		ok.Room, ok.Epoch = cmd.Room, epoch

	case protocol.OpLeave:
		st := c.rooms[cmd.Room]
		if st == nil {
			c.notJoined(cmd)
			return
		}
		delete(c.rooms, cmd.Room)
		st.mu.Lock()
		delete(st.members, c)
		st.mu.Unlock()
		ok.Room = cmd.Room

	case protocol.OpPub:
		if n := s.opts.Faults.FloodCloseAfter; n > 0 {
			if c.pubs++; c.pubs > n {
				c.flood()
				return
			}
		}
		st := c.rooms[cmd.Room]
		if st == nil {
			c.notJoined(cmd)
			return
		}
		m := protocol.Message{
			Type: protocol.TypeMsg, Room: cmd.Room, Epoch: epoch,
			TS: time.Now().UnixMilli(), From: c.from(), Data: cmd.Data,
		}
		st.mu.Lock()
		st.seq++
		m.Seq = st.seq
		b, err := protocol.Marshal(m)
		if err != nil {
			st.mu.Unlock()
			c.fail(cmd.ID, protocol.Errorf(protocol.CodeInternal, "fakeserver: %v", err))
			return
		}
		s.publish(st, &message{k: m.Seq, payload: b, sender: c, noecho: cmd.NoEcho})
		st.mu.Unlock()
		ok.Room, ok.Seq, ok.Epoch = cmd.Room, m.Seq, epoch

	case protocol.OpSend:
		var targets []*conn
		s.mu.Lock()
		if cmd.ToUID != "" {
			for t := range s.byUID[cmd.ToUID] {
				targets = append(targets, t)
			}
		} else if t := s.byClient[cmd.ToClient]; t != nil {
			targets = append(targets, t)
		}
		s.mu.Unlock()
		switch {
		case len(targets) == 0 && cmd.ToUID != "":
			c.fail(cmd.ID, protocol.Errorf(protocol.CodeOffline, "user %q has no live connection; the message was not stored", cmd.ToUID))
			return
		case len(targets) == 0:
			c.fail(cmd.ID, protocol.Errorf(protocol.CodeNotFound, "no client %q is connected", cmd.ToClient))
			return
		}
		b, err := protocol.Marshal(protocol.Direct{
			Type: protocol.TypeDirect, From: c.from(), TS: time.Now().UnixMilli(), Data: cmd.Data,
		})
		if err != nil {
			c.fail(cmd.ID, protocol.Errorf(protocol.CodeInternal, "fakeserver: %v", err))
			return
		}
		s.st.directs.Add(1)
		for _, t := range targets {
			t.enqueue(b, true)
		}
		n := len(targets)
		ok.Delivered = &n

	default:
		// presence, history and rpc are valid ops the fake does not have.
		c.fail(cmd.ID, protocol.Errorf(protocol.CodeUnknownOp, "fakeserver does not implement %q; it has hello, join, leave, pub, send, ping", cmd.Op))
		return
	}
	c.send(ok)
}

func (c *conn) notJoined(cmd *protocol.Command) {
	c.fail(cmd.ID, protocol.Errorf(protocol.CodeNotJoined, "not in room %q; join it first", cmd.Room))
}

// unbindUID forgets c's uid binding. The caller holds s.mu.
func (s *Server) unbindUID(c *conn) {
	if c.uid == "" {
		return
	}
	if set := s.byUID[c.uid]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(s.byUID, c.uid)
		}
	}
}

// flood stops handling c's commands and closes it with 4009 after
// Faults.FloodHold (FloodCloseAfter).
func (c *conn) flood() {
	c.flooded = true
	c.s.st.floodClosed.Add(1)
	time.AfterFunc(c.s.opts.Faults.FloodHold, func() { c.closeWith(protocol.CloseRateLimited) })
}
