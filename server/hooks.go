package server

import (
	"context"
	"encoding/json"

	"github.com/rtsync/rtsync/protocol"
)

// handler returns the application's event handler, or nil when there is
// none: Config.Events, or the HTTP hook client when HookURL is set.
func (s *Server) handler() EventHandler { return s.cfg.Events }

func (c *conn) who() Who {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return Who{Client: c.id, UID: c.uid, Name: c.name, Session: c.session}
}

// hookConnect asks the application about a new connection. A nil result
// and nil error accept it unchanged.
func (s *Server) hookConnect(c *conn, info *connInfo, claims map[string]any) (*ConnectResult, *protocol.Error) {
	h := s.handler()
	if h == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HookTimeout)
	defer cancel()
	res, err := h.Connect(ctx, &ConnectEvent{Who: c.who(), Transport: info.transport, RemoteAddr: info.remote, Header: info.header, Query: info.query, Claims: claims})
	if err != nil {
		return s.hookFailed("connect", c, err)
	}
	return res, nil
}

// hookFailed applies the failure policy: fail open lets the event through,
// fail closed refuses it.
func (s *Server) hookFailed(event string, c *conn, err error) (*ConnectResult, *protocol.Error) {
	s.log.Warn("event hook failed", "event", event, "client", c.id, "err", err, "fail_open", s.cfg.HookFailOpen)
	if s.cfg.HookFailOpen {
		return nil, nil
	}
	return nil, protocol.Errorf(protocol.CodeUnavailable, "the application did not answer; try again later")
}

// hookMessage runs a publish past the application: it returns the data to
// send (maybe rewritten) or an error for the publisher.
func (c *conn) hookMessage(room string, data json.RawMessage) (json.RawMessage, *protocol.Error) {
	s := c.srv
	h := s.handler()
	if h == nil {
		return data, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HookTimeout)
	defer cancel()
	res, err := h.Message(ctx, &MessageEvent{Who: c.who(), Room: room, Data: data})
	if err != nil {
		if _, e := s.hookFailed("message", c, err); e != nil {
			return nil, e
		}
		return data, nil
	}
	switch {
	case res == nil:
		return data, nil
	case res.Refuse:
		return nil, protocol.Errorf(protocol.CodeForbidden, "refused by the application: %s", res.Reason)
	case len(res.Data) > 0:
		return res.Data, nil
	}
	return data, nil
}

// rpc relays an rpc command to the application and replies with its answer.
func (c *conn) rpc(cmd *protocol.Command) {
	s := c.srv
	h := s.handler()
	if h == nil {
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeUnknownOp, "rpc needs an application behind the server (--hook-url); none is configured"))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HookTimeout)
	defer cancel()
	res, err := h.RPC(ctx, &RPCEvent{Who: c.who(), Method: cmd.Method, Data: cmd.Data})
	switch {
	case err != nil:
		s.log.Warn("event hook failed", "event", "rpc", "client", c.id, "err", err)
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeUnavailable, "the application did not answer; try again later"))
	case res != nil && res.Error != nil:
		c.replyErr(cmd.ID, res.Error)
	default:
		reply := protocol.Reply{Type: protocol.TypeReply, ID: cmd.ID, OK: true}
		if res != nil {
			reply.Data = res.Data
		}
		c.send(reply)
	}
}

// hookClose tells the application a connection ended. It runs on its own
// goroutine: nothing waits for it.
func (c *conn) hookClose(code int, reason string) {
	s := c.srv
	h := s.handler()
	if h == nil || !c.welcomed.Load() {
		return
	}
	ev := &CloseEvent{Who: c.who(), Code: code, Reason: reason}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HookTimeout)
		defer cancel()
		h.Close(ctx, ev)
	}()
}
