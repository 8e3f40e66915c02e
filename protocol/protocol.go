package protocol

import "encoding/json"

// Version is the wire protocol version this package speaks.
const Version = 1

// Ops a client may send.
const (
	OpHello    = "hello"
	OpJoin     = "join"
	OpLeave    = "leave"
	OpPub      = "pub"
	OpSend     = "send"
	OpPresence = "presence"
	OpHistory  = "history"
	OpPing     = "ping"
	// OpAck confirms the offline direct messages received up to an inbox
	// id, which then leave the user's inbox.
	OpAck = "ack"
	// OpRPC asks the application (event hooks) for an answer; the server
	// only relays it.
	OpRPC = "rpc"
)

// Event types the server sends.
const (
	TypeWelcome = "welcome"
	TypeReply   = "reply"
	TypeMsg     = "msg"
	TypeDirect  = "direct"
	TypeJoin    = "join"
	TypeLeave   = "leave"
	TypeError   = "error"
	// TypeClose is the last line a TCP client receives before the server
	// closes the connection: TCP has no close frame to carry the code.
	TypeClose = "close"
)

// Command is one client → server object. Which fields matter depends on Op;
// Validate checks them. Unknown fields are ignored so that newer clients can
// talk to older servers.
type Command struct {
	Op string `json:"op"`
	// ID is echoed verbatim in the reply. It may be a number or a string;
	// without it the server still replies, with no id.
	ID json.RawMessage `json:"id,omitempty"`

	// hello
	Name  string          `json:"name,omitempty"`
	Token string          `json:"token,omitempty"`
	UID   string          `json:"uid,omitempty"`
	Meta  json.RawMessage `json:"meta,omitempty"`

	// join, leave, pub, presence, history
	Room string `json:"room,omitempty"`
	// Since asks join to replay every message after this seq, and history
	// to list messages after it.
	Since *uint64 `json:"since,omitempty"`
	// Epoch names the history generation Since belongs to.
	Epoch string `json:"epoch,omitempty"`
	// Before asks history for messages older than this seq.
	Before *uint64 `json:"before,omitempty"`
	// Limit caps the messages of a history reply or the members of a
	// presence reply.
	Limit int `json:"limit,omitempty"`
	// After asks presence for the members whose client id sorts after
	// it: the next of the previous page.
	After string `json:"after,omitempty"`

	// pub, send
	Data   json.RawMessage `json:"data,omitempty"`
	NoEcho bool            `json:"noecho,omitempty"`

	// send
	ToUID    string `json:"to_uid,omitempty"`
	ToClient string `json:"to_client,omitempty"`

	// rpc
	Method string `json:"method,omitempty"`

	// ack: the inbox id of the last offline direct message received.
	Inbox uint64 `json:"inbox,omitempty"`
}

// From identifies the sender of a message.
type From struct {
	Client string `json:"client"`
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name,omitempty"`
}

// Message is a room publication: the body of a msg event and an entry of
// history.
type Message struct {
	Type  string          `json:"type,omitempty"`
	Room  string          `json:"room"`
	Seq   uint64          `json:"seq"`
	Epoch string          `json:"epoch"`
	TS    int64           `json:"ts"`
	From  From            `json:"from"`
	Data  json.RawMessage `json:"data"`
}

// Direct is a direct message event.
type Direct struct {
	Type string          `json:"type"`
	From From            `json:"from"`
	TS   int64           `json:"ts"`
	Data json.RawMessage `json:"data"`
	// Inbox is set on a message kept while its uid was offline: its id
	// in the inbox, to confirm with the ack op. Redelivered says it was
	// handed out before and not confirmed, so the client may have it.
	Inbox       uint64 `json:"inbox,omitempty"`
	Redelivered bool   `json:"redelivered,omitempty"`
}

// Member is one connection in a room's presence.
type Member struct {
	Client string          `json:"client"`
	UID    string          `json:"uid,omitempty"`
	Name   string          `json:"name,omitempty"`
	Meta   json.RawMessage `json:"meta,omitempty"`
}

// Presence is a join or leave event sent to the members of a room.
type Presence struct {
	Type   string `json:"type"`
	Room   string `json:"room"`
	Client string `json:"client"`
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name,omitempty"`
}

// Welcome is the first event on every connection.
type Welcome struct {
	Type   string `json:"type"`
	Client string `json:"client"`
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name,omitempty"`
	Node   string `json:"node"`
	Server string `json:"server"`
	// Protocol is the wire protocol version.
	Protocol int `json:"protocol"`
	// Heartbeat is the server's ping interval in milliseconds; a client
	// silent for twice as long is disconnected.
	Heartbeat int64 `json:"heartbeat"`
}

// Reply answers one command. OK is false exactly when Error is set; the
// other fields are the op's result and are omitted when they do not apply.
type Reply struct {
	Type  string          `json:"type"`
	ID    json.RawMessage `json:"id,omitempty"`
	OK    bool            `json:"ok"`
	Error *Error          `json:"error,omitempty"`

	// hello
	Client string `json:"client,omitempty"`
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name,omitempty"`

	// join, leave, pub, presence, history
	Room  string `json:"room,omitempty"`
	Seq   uint64 `json:"seq,omitempty"`
	Epoch string `json:"epoch,omitempty"`
	// Recovered is set on a join with since: true when every missed
	// message was replayed, false when history no longer reached back or
	// the epoch changed.
	Recovered *bool `json:"recovered,omitempty"`
	// Replayed counts the msg events that follow this reply on a join with
	// since; they come before any live message of the room.
	Replayed *int `json:"replayed,omitempty"`

	Members  []Member  `json:"members,omitempty"`
	Messages []Message `json:"messages,omitempty"`
	// More is set on history when older (or newer) messages remain, and
	// on presence when members remain after this page.
	More bool `json:"more,omitempty"`
	// Truncated is set when the reply holds fewer messages or members
	// than asked because a reply never exceeds the connection's send
	// queue (on a join with since: the replay was cut, see Recovered).
	Truncated bool `json:"truncated,omitempty"`
	// NextSeq is, on history with More, the seq to continue from: the
	// since of the next page forward, or the before of the next page
	// back.
	NextSeq uint64 `json:"next_seq,omitempty"`
	// Total counts a room's members on presence; Next is the after of
	// the next page, set with More.
	Total int    `json:"total,omitempty"`
	Next  string `json:"next,omitempty"`

	// send: how many connections the message was queued for; with 0,
	// Stored says it went to the offline uid's inbox, Inbox its id there.
	Delivered *int   `json:"delivered,omitempty"`
	Stored    bool   `json:"stored,omitempty"`
	Inbox     uint64 `json:"inbox,omitempty"`

	// ack: how many offline messages left the inbox.
	Acked *int `json:"acked,omitempty"`

	// ping
	Pong bool `json:"pong,omitempty"`

	// rpc: the application's answer
	Data json.RawMessage `json:"data,omitempty"`
}

// ErrorEvent is an error not tied to a command id (a frame that could not be
// parsed far enough to find one).
type ErrorEvent struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CloseEvent is the line that tells a TCP client why the server is closing
// the connection, with a close code and reason as a WebSocket close frame
// would carry them. The field is close_code, not code, so that it does not
// collide with the string code of error events in Event.
type CloseEvent struct {
	Type      string `json:"type"`
	CloseCode int    `json:"close_code"`
	Reason    string `json:"reason,omitempty"`
}

// Event is the union of every server → client object, for clients that
// decode into one type. Type says which fields are set.
type Event struct {
	Type string `json:"type"`

	// reply
	ID        json.RawMessage `json:"id,omitempty"`
	OK        bool            `json:"ok,omitempty"`
	Error     *Error          `json:"error,omitempty"`
	Recovered *bool           `json:"recovered,omitempty"`
	Replayed  *int            `json:"replayed,omitempty"`
	Members   []Member        `json:"members,omitempty"`
	Messages  []Message       `json:"messages,omitempty"`
	More      bool            `json:"more,omitempty"`
	Truncated bool            `json:"truncated,omitempty"`
	NextSeq   uint64          `json:"next_seq,omitempty"`
	Total     int             `json:"total,omitempty"`
	Next      string          `json:"next,omitempty"`
	Delivered *int            `json:"delivered,omitempty"`
	Stored    bool            `json:"stored,omitempty"`
	Acked     *int            `json:"acked,omitempty"`
	Pong      bool            `json:"pong,omitempty"`

	// welcome, reply to hello, join/leave presence events
	Client    string `json:"client,omitempty"`
	UID       string `json:"uid,omitempty"`
	Name      string `json:"name,omitempty"`
	Node      string `json:"node,omitempty"`
	Server    string `json:"server,omitempty"`
	Protocol  int    `json:"protocol,omitempty"`
	Heartbeat int64  `json:"heartbeat,omitempty"`

	// msg, direct
	Room  string          `json:"room,omitempty"`
	Seq   uint64          `json:"seq,omitempty"`
	Epoch string          `json:"epoch,omitempty"`
	TS    int64           `json:"ts,omitempty"`
	From  *From           `json:"from,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
	// direct from an inbox (and, on a reply to send, the inbox id).
	Inbox       uint64 `json:"inbox,omitempty"`
	Redelivered bool   `json:"redelivered,omitempty"`

	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`

	// close (TCP transport)
	CloseCode int    `json:"close_code,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// Msg returns the event as a Message; meaningful when Type is "msg".
func (e *Event) Msg() Message {
	m := Message{Room: e.Room, Seq: e.Seq, Epoch: e.Epoch, TS: e.TS, Data: e.Data}
	if e.From != nil {
		m.From = *e.From
	}
	return m
}

// Err returns the reply's error, or nil when it succeeded.
func (e *Event) Err() error {
	if e.Error == nil {
		return nil
	}
	return e.Error
}
