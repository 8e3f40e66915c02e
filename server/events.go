package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/rtsync/rtsync/protocol"
)

// EventHandler is the application's say in what happens on the server:
// GatewayWorker's Events.php, as a Go interface. Config.Events takes one
// in-process; Config.HookURL gets an implementation that POSTs each event
// to the application over HTTP.
//
// Methods are called on the connection's own goroutine (Connect before the
// welcome, Message and RPC in command order), so a slow handler delays
// that client only; Close is called later on one of a few close workers.
// They must be safe for concurrent use across clients, and should return
// when ctx ends: it carries Config.HookTimeout, and ends early when the
// connection closes (the client left, was kicked or timed out) and, but
// for Close, when the server begins shutting down; context.Cause says
// which. An error or a panic is
// a failure: the failure policy (Config.HookFailOpen) applies to Connect
// and Message, and RPC replies unavailable. Events are shared with the
// server: treat them as read-only. docs/hooks.md describes every field.
type EventHandler interface {
	// Connect decides whether a new connection is accepted and may set
	// its uid, name, session and rooms.
	Connect(ctx context.Context, ev *ConnectEvent) (*ConnectResult, error)
	// Message sees every client publish before it is sent; it may refuse
	// it or rewrite its data.
	Message(ctx context.Context, ev *MessageEvent) (*MessageResult, error)
	// RPC answers a client's rpc command.
	RPC(ctx context.Context, ev *RPCEvent) (*RPCResult, error)
	// Close is told that a connection ended.
	Close(ctx context.Context, ev *CloseEvent)
}

// Who identifies the connection an event is about.
type Who struct {
	Client string `json:"client"`
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name,omitempty"`
	// Session is the connection's session object (API setSession).
	Session json.RawMessage `json:"session,omitempty"`
}

// ConnectEvent describes a connection before it is accepted.
type ConnectEvent struct {
	Who
	Transport  string      `json:"transport"`
	RemoteAddr string      `json:"remote_addr"`
	Header     http.Header `json:"headers,omitempty"`
	Query      url.Values  `json:"query,omitempty"`
	// Claims are the verified token's claims, when there was a token.
	Claims map[string]any `json:"claims,omitempty"`
}

// ConnectResult is the application's answer to a ConnectEvent. A nil result
// accepts the connection unchanged.
type ConnectResult struct {
	// Refuse closes the connection with 4003 and Reason.
	Refuse bool   `json:"refuse,omitempty"`
	Reason string `json:"reason,omitempty"`
	// UID, Name and Session, when set, replace the connection's.
	UID     string          `json:"uid,omitempty"`
	Name    string          `json:"name,omitempty"`
	Session json.RawMessage `json:"session,omitempty"`
	// Rooms are joined on the client's behalf before its welcome.
	Rooms []string `json:"rooms,omitempty"`
}

// MessageEvent is a client publish about to be sent.
type MessageEvent struct {
	Who
	Room string          `json:"room"`
	Data json.RawMessage `json:"data"`
}

// MessageResult is the answer to a MessageEvent. A nil result lets the
// message through unchanged.
type MessageResult struct {
	// Refuse drops the message; the publisher gets a forbidden error with
	// Reason.
	Refuse bool   `json:"refuse,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Data, when set, replaces the message's data.
	Data json.RawMessage `json:"data,omitempty"`
}

// RPCEvent is a client's rpc command.
type RPCEvent struct {
	Who
	Method string          `json:"method"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// RPCResult is the answer to an rpc: Data for the client, or Error.
type RPCResult struct {
	Data  json.RawMessage `json:"data,omitempty"`
	Error *protocol.Error `json:"error,omitempty"`
}

// CloseEvent tells that a connection ended: Code and Reason are the close
// code and reason the server sent (4000-4999, or 1000 echoing the client),
// the ones the client sent in its close frame when it closed first (1000,
// 1001, ...), or 1006 when the connection dropped without a close code
// (network failure, a TCP client hanging up).
type CloseEvent struct {
	Who
	Code   int    `json:"code"`
	Reason string `json:"reason,omitempty"`
}
