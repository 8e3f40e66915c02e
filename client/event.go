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
	// KindDirect is a direct message (wire type "direct"). One kept in
	// the user's inbox while it had no connection carries Event.Offline.
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

	// Offline is set on a KindDirect event for a message the server kept
	// in this user's inbox while the user had no connection; nil for a
	// message delivered live.
	Offline *Offline

	Connected    *Connected
	Disconnected *Disconnected
	Reconnecting *Reconnecting
	Recovered    *Recovered
}

// Offline describes a direct message delivered from the user's inbox. The
// server hands over the inbox when a connection takes the uid, oldest
// first, a page at a time; the next page follows an ack that covers this
// one. Unless Options.NoAutoAck is set the client acks by itself once the
// event was handed to the application (pushed to the Events channel, or
// OnEvent returned); with NoAutoAck the application calls Client.Ack.
type Offline struct {
	// Inbox is the message's id in the user's inbox; ids grow with every
	// message kept for the user. Acking an id confirms it and every
	// earlier one.
	Inbox uint64
	// Redelivered is set when the server handed the message out before
	// (to this or another connection of the user) and no ack came back:
	// the application may have it already. The client itself drops a
	// message it already acked in this process, so a redelivered one
	// reaches the application only when that earlier delivery did not
	// (another process, or NoAutoAck without an Ack).
	Redelivered bool
}

// Message returns the event's room message; meaningful for KindMessage.
func (e Event) Message() protocol.Message { return e.Wire.Msg() }

// String summarizes the event on one line, for logs and debugging.
func (e Event) String() string {
	switch e.Kind {
	case KindMessage:
		return fmt.Sprintf("message room=%s seq=%d epoch=%s", e.Wire.Room, e.Wire.Seq, e.Wire.Epoch)
	case KindDirect:
		if o := e.Offline; o != nil {
			return fmt.Sprintf("direct from=%s offline inbox=%d redelivered=%t", from(e.Wire.From), o.Inbox, o.Redelivered)
		}
		return "direct from=" + from(e.Wire.From)
	case KindJoin, KindLeave:
		return fmt.Sprintf("%s room=%s client=%s", e.Kind, e.Wire.Room, e.Wire.Client)
	case KindError:
		return fmt.Sprintf("error %s: %s", e.Wire.Code, e.Wire.Message)
	case KindConnected:
		if c := e.Connected; c != nil {
			return fmt.Sprintf("connected client=%s node=%s url=%s", c.Client, c.Node, c.URL)
		}
	case KindDisconnected:
		if d := e.Disconnected; d != nil {
			return fmt.Sprintf("disconnected code=%d reconnect=%t: %v", d.Code, d.Reconnect, d.Err)
		}
	case KindReconnecting:
		if r := e.Reconnecting; r != nil {
			return fmt.Sprintf("reconnecting attempt=%d delay=%s url=%s", r.Attempt, r.Delay, r.URL)
		}
	case KindRecovered:
		if r := e.Recovered; r != nil {
			if r.MissedTo > 0 {
				return fmt.Sprintf("recovered room=%s recovered=%t replayed=%d missed=%d-%d", r.Room, r.Recovered, r.Replayed, r.MissedFrom, r.MissedTo)
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
	// Node and Server name the server node and its version, as the server
	// says (remote text: clean it before showing it on a terminal).
	Node   string
	Server string
	// URL is the WebSocket URL this connection was made to: one of
	// Client.URLs, which changes when the client fails over to another
	// node.
	URL string
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
	// URL is the WebSocket URL the attempt dials: with
	// Options.FallbackURLs, each failed attempt moves to the next.
	URL string
	// Err is why the previous attempt failed; nil before the first.
	Err error
}

// Recovered reports the re-join of one room after a reconnect: a room the
// client joined itself, or one the server put it in (through its API or
// connect hook) that the client learned of from a join event about
// itself or from the room's messages. When Recovered is true every
// message missed while disconnected is delivered (as KindMessage events
// right after this one, however many: the server streams them as the
// connection drains); when false the room's history no longer reached
// back or its epoch changed, and the consumer should reload what it shows
// (e.g. with History).
type Recovered struct {
	Room      string
	Recovered bool
	// Replayed is how many missed messages the server resent.
	Replayed int
	// MissedFrom and MissedTo are set (inclusive) when Recovered is false
	// in the same epoch: the seqs that were missed for good, because the
	// room's history no longer holds them. Messages after MissedTo follow
	// this event without a gap. They are zero when the epoch changed (the
	// old seqs mean nothing now) or the client did not know where it was
	// in the room (it learned of the room but saw none of its messages).
	MissedFrom, MissedTo uint64
	// Epoch is the room's history generation now; EpochChanged is set when
	// it differs from the one before the outage, so seqs restarted: the
	// server's history of the room was lost or reset (its data wiped).
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
