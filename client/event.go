package client

import (
	"fmt"
	"time"

	"github.com/rtsync/rtsync/protocol"
)

// Kind says what an Event is.
type Kind uint8

// Event kinds. The first five carry a server event in Event.Wire; the rest
// report the connection's state and carry their own field.
const (
	// KindMessage is a room message (wire type "msg"). Within a room and
	// epoch, seqs arrive strictly increasing and never twice, across
	// reconnects too.
	KindMessage Kind = iota + 1
	// KindDirect is a direct message (wire type "direct").
	KindDirect
	// KindJoin is another client joining a room this client is in.
	KindJoin
	// KindLeave is another client leaving a room this client is in.
	KindLeave
	// KindError is an error event: the server could not parse a frame, or
	// a reply to no pending request failed.
	KindError
	// KindConnected: a connection is ready; Event.Connected is set.
	KindConnected
	// KindDisconnected: a connection ended; Event.Disconnected is set.
	KindDisconnected
	// KindReconnecting: a reconnection attempt is about to be made;
	// Event.Reconnecting is set.
	KindReconnecting
	// KindRecovered: a room was re-joined after a reconnect;
	// Event.Recovered is set.
	KindRecovered
)

var kindNames = [...]string{
	KindMessage:      "message",
	KindDirect:       "direct",
	KindJoin:         "join",
	KindLeave:        "leave",
	KindError:        "error",
	KindConnected:    "connected",
	KindDisconnected: "disconnected",
	KindReconnecting: "reconnecting",
	KindRecovered:    "recovered",
}

// String returns the kind's name, as used in logs.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Event is one thing that happened to a Client: a server event or a change
// of connection state. Kind says which fields are set.
type Event struct {
	Kind Kind
	// Received is when the frame carrying the event was read, or when the
	// state change happened; for latency measurements it excludes the
	// time the event waited in the channel.
	Received time.Time
	// Wire is the server's event for KindMessage, KindDirect, KindJoin,
	// KindLeave and KindError.
	Wire protocol.Event

	Connected    *Connected
	Disconnected *Disconnected
	Reconnecting *Reconnecting
	Recovered    *Recovered
}

// Message returns the event's room message; meaningful for KindMessage.
func (e Event) Message() protocol.Message { return e.Wire.Msg() }

// String summarizes the event on one line, for logs and debugging.
func (e Event) String() string {
	switch e.Kind {
	case KindMessage:
		return fmt.Sprintf("message room=%s seq=%d epoch=%s", e.Wire.Room, e.Wire.Seq, e.Wire.Epoch)
	case KindDirect:
		return "direct from=" + from(e.Wire.From)
	case KindJoin, KindLeave:
		return fmt.Sprintf("%s room=%s client=%s", e.Kind, e.Wire.Room, e.Wire.Client)
	case KindError:
		return fmt.Sprintf("error %s: %s", e.Wire.Code, e.Wire.Message)
	case KindConnected:
		if c := e.Connected; c != nil {
			return fmt.Sprintf("connected client=%s node=%s", c.Client, c.Node)
		}
	case KindDisconnected:
		if d := e.Disconnected; d != nil {
			return fmt.Sprintf("disconnected code=%d reconnect=%t: %v", d.Code, d.Reconnect, d.Err)
		}
	case KindReconnecting:
		if r := e.Reconnecting; r != nil {
			return fmt.Sprintf("reconnecting attempt=%d delay=%s", r.Attempt, r.Delay)
		}
	case KindRecovered:
		if r := e.Recovered; r != nil {
			if r.Truncated {
				return fmt.Sprintf("recovered room=%s recovered=%t replayed=%d truncated missed=%d-%d", r.Room, r.Recovered, r.Replayed, r.MissedFrom, r.MissedTo)
			}
			return fmt.Sprintf("recovered room=%s recovered=%t replayed=%d", r.Room, r.Recovered, r.Replayed)
		}
	}
	return e.Kind.String()
}

func from(f *protocol.From) string {
	if f == nil {
		return "?"
	}
	return f.Client
}

// Connected reports a connection that completed its handshake (welcome,
// and hello when the client has an identity to send). It comes before any
// room event of that connection.
type Connected struct {
	// Client is the server's id for this connection; it changes on every
	// reconnect.
	Client string
	UID    string
	Name   string
	// Node and Server name the server node and its version.
	Node   string
	Server string
	// Heartbeat is the server's ping interval.
	Heartbeat time.Duration
	// Reconnect is true for every connection but the first.
	Reconnect bool
}

// Disconnected reports the end of a connection, or that the client gave up
// reconnecting.
type Disconnected struct {
	// Code is the WebSocket close code (4000-4999 are rtsync's, see
	// protocol.Close*), or 1006 when the connection broke without one.
	Code   int
	Reason string
	// Err says what ended the connection; a *CloseError when the server
	// closed it with a code.
	Err error
	// Reconnect is true when the client will try to reconnect, false when
	// it has stopped for good (see Client.Done and Client.Err).
	Reconnect bool
}

// Reconnecting announces a reconnection attempt after Delay.
type Reconnecting struct {
	// Attempt counts from 1 after a connection that lasted at least
	// Backoff.Max. Connections that end sooner do not reset it, so the
	// delay keeps growing while a server accepts and drops the client.
	Attempt int
	Delay   time.Duration
	// Err is why the previous attempt failed; nil before the first.
	Err error
}

// Recovered reports the re-join of one room after a reconnect. When
// Recovered is true every message missed while disconnected is delivered
// (as KindMessage events right after this one); when false the room's
// history did not reach back or its epoch changed, and the consumer should
// reload what it shows (e.g. with History).
type Recovered struct {
	Room      string
	Recovered bool
	// Replayed is how many missed messages the server resent.
	Replayed int
	// Truncated is set when the server held the missed messages but
	// resent only the newest Replayed of them, because all would not fit
	// its send queue. MissedFrom and MissedTo are then the seqs it did
	// not resend (inclusive): the consumer can page them in with History
	// (Since MissedFrom-1) if it needs them. Messages delivered after
	// this event still run without a gap into live ones.
	Truncated            bool
	MissedFrom, MissedTo uint64
	// Epoch is the room's history generation now; EpochChanged is set when
	// it differs from the one before the outage, so seqs restarted.
	Epoch        string
	EpochChanged bool
	// Err is set when the room could not be re-joined; the client is no
	// longer in it.
	Err error
}

// CloseError is a connection closed by the server with a close code.
type CloseError struct {
	Code   int
	Reason string
}

// Error says which code closed the connection and what it means.
func (e *CloseError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = protocol.CloseReason(e.Code)
	}
	if reason == "" {
		return fmt.Sprintf("closed by server with code %d", e.Code)
	}
	return fmt.Sprintf("closed by server with code %d (%s)", e.Code, reason)
}
