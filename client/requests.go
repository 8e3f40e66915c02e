package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rtsync/rtsync/protocol"
)

// HelloOptions is the identity a hello command sets. Name may be empty
// (anonymous); an empty UID or Meta keeps the connection's current one.
type HelloOptions struct {
	Name  string
	UID   string
	Token string
	// Meta must encode to a JSON object; a json.RawMessage is sent as is.
	Meta any
}

func helloCommand(h HelloOptions) (*protocol.Command, error) {
	cmd := &protocol.Command{Op: protocol.OpHello, Name: h.Name, UID: h.UID, Token: h.Token}
	if h.Meta != nil {
		meta, err := encodeData(h.Meta)
		if err != nil {
			return nil, fmt.Errorf("meta: %w", err)
		}
		if len(meta) == 0 || meta[0] != '{' {
			return nil, fmt.Errorf("meta must encode to a JSON object, not %.40s", meta)
		}
		cmd.Meta = meta
	}
	return cmd, nil
}

// Hello sets the connection's name, uid, token and meta, and returns the
// identity the server confirmed. The identity is sent again after every
// reconnect, with a UID, Token or Meta left empty here kept from before.
func (c *Client) Hello(ctx context.Context, h HelloOptions) (Identity, error) {
	cmd, err := helloCommand(h)
	if err != nil {
		return Identity{}, fmt.Errorf("hello: %w", err)
	}
	hello := *cmd
	ev, err := c.request(ctx, cmd, &call{op: protocol.OpHello, hello: &hello})
	if err != nil {
		return Identity{}, fmt.Errorf("hello: %w", err)
	}
	return Identity{Client: ev.Client, UID: ev.UID, Name: ev.Name, Node: c.Identity().Node}, nil
}

// JoinResult is the server's answer to a join.
type JoinResult struct {
	Room string
	// Seq is the room's last seq at the time of the join; live messages
	// follow with higher seqs.
	Seq   uint64
	Epoch string
	// Recovered and Replayed are set for a join with Since: whether every
	// message after since was replayed, and how many were.
	Recovered *bool
	Replayed  int
}

// JoinOption changes a join.
type JoinOption func(*protocol.Command)

// Since asks a join to replay the messages after seq of the given epoch
// (empty: the room's current one) before live ones, for a consumer that
// kept its place across process restarts. Within one Client, reconnects
// recover by themselves.
func Since(seq uint64, epoch string) JoinOption {
	return func(cmd *protocol.Command) {
		cmd.Since = &seq
		cmd.Epoch = epoch
	}
}

// Join joins room. Messages and presence events of the room arrive as
// events from then on, and the client re-joins it after every reconnect
// until Leave.
func (c *Client) Join(ctx context.Context, room string, opts ...JoinOption) (JoinResult, error) {
	cmd := &protocol.Command{Op: protocol.OpJoin, Room: room}
	for _, o := range opts {
		o(cmd)
	}
	ev, err := c.request(ctx, cmd, &call{op: protocol.OpJoin, room: room, since: cmd.Since, epoch: cmd.Epoch})
	if err != nil {
		return JoinResult{}, fmt.Errorf("join %s: %w", room, err)
	}
	if ev.Room != "" && ev.Room != room {
		return JoinResult{}, fmt.Errorf("join %s: the server answered for room %q; is it an rtsync server?", room, ev.Room)
	}
	r := JoinResult{Room: room, Seq: ev.Seq, Epoch: ev.Epoch, Recovered: ev.Recovered}
	if ev.Replayed != nil {
		r.Replayed = *ev.Replayed
	}
	return r, nil
}

// Leave leaves room and stops re-joining it, whether the client joined it
// or the server put it there. While disconnected it only forgets the room
// (the server has already dropped the membership) and returns nil.
func (c *Client) Leave(ctx context.Context, room string) error {
	c.mu.Lock()
	delete(c.rooms, room)
	c.leaving[room]++
	c.mu.Unlock()
	_, err := c.request(ctx, &protocol.Command{Op: protocol.OpLeave, Room: room}, &call{op: protocol.OpLeave, room: room})
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		// The reply came, or never will: no message of the room follows.
		// (Without the reply, the next connection's handshake clears it.)
		c.mu.Lock()
		if c.leaving[room]--; c.leaving[room] <= 0 {
			delete(c.leaving, room)
		}
		c.mu.Unlock()
	}
	if errors.Is(err, ErrNotConnected) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("leave %s: %w", room, err)
	}
	return nil
}

// PublishOption changes a publish.
type PublishOption func(*protocol.Command)

// NoEcho keeps the server from sending the message back to this
// connection.
func NoEcho() PublishOption {
	return func(cmd *protocol.Command) { cmd.NoEcho = true }
}

// Publish sends data to room, which the client must have joined, and
// returns the seq the server assigned. data is JSON as json.RawMessage or
// []byte, or any other value, which is encoded to JSON (a string becomes a
// JSON string). The client's own copy arrives as a KindMessage event unless
// NoEcho is given.
//
// The server replies once the message is durable in its store. A message
// it delivered to the room's members but failed to store returns its seq
// with a *NotStoredError (which errors.As also finds as a *protocol.Error
// with code protocol.CodeNotStored): do not publish it again, but know
// that history and recoveries will miss it. A message the store refused
// outright was not sent: a *protocol.Error with code
// protocol.CodeStoreUnavailable, and Publish may be retried.
func (c *Client) Publish(ctx context.Context, room string, data any, opts ...PublishOption) (uint64, error) {
	raw, err := encodeData(data)
	if err != nil {
		return 0, fmt.Errorf("publish to %s: %w", room, err)
	}
	cmd := &protocol.Command{Op: protocol.OpPub, Room: room, Data: raw}
	for _, o := range opts {
		o(cmd)
	}
	ev, err := c.request(ctx, cmd, &call{op: protocol.OpPub, room: room, noecho: cmd.NoEcho})
	if pe := (*protocol.Error)(nil); errors.As(err, &pe) && pe.Code == protocol.CodeNotStored {
		return ev.Seq, &NotStoredError{Room: room, Seq: ev.Seq, Epoch: ev.Epoch, Err: pe}
	}
	if err != nil {
		return 0, fmt.Errorf("publish to %s: %w", room, err)
	}
	return ev.Seq, nil
}

// NotStoredError is Publish's error for a message the server delivered to
// the room's members but could not store (its disk is full, say): it has
// a seq, and live members got it, but history and recoveries will miss
// it. It unwraps to the server's *protocol.Error (code
// protocol.CodeNotStored).
type NotStoredError struct {
	Room  string
	Seq   uint64
	Epoch string
	Err   *protocol.Error
}

func (e *NotStoredError) Error() string {
	return fmt.Sprintf("publish to %s: message %d was delivered but not stored (history and recovery will miss it; do not send it again): %v", e.Room, e.Seq, e.Err)
}

// Unwrap returns the server's error.
func (e *NotStoredError) Unwrap() error { return e.Err }

// SendResult is the server's answer to SendToUID.
type SendResult struct {
	// Delivered counts the user's connections the message was queued for.
	Delivered int
	// Stored is set when the user had no live connection and the server
	// kept the message in the user's inbox (durably) instead; Inbox is its
	// id there. The user gets it, as an offline direct message, when one
	// of its connections next takes the uid.
	Stored bool
	Inbox  uint64
}

// SendToUID sends data (see Publish) directly to every connection of a
// user. When the user has none, the server keeps the message in the
// user's inbox (SendResult.Stored). A server that keeps no inboxes, or
// whose inbox would not take the message, answers with a *protocol.Error
// with code protocol.CodeOffline.
func (c *Client) SendToUID(ctx context.Context, uid string, data any) (SendResult, error) {
	ev, err := c.sendDirect(ctx, &protocol.Command{Op: protocol.OpSend, ToUID: uid}, data, "user "+uid)
	if err != nil {
		return SendResult{}, err
	}
	r := SendResult{Stored: ev.Stored, Inbox: ev.Inbox}
	if ev.Delivered != nil {
		r.Delivered = *ev.Delivered
	}
	return r, nil
}

// SendToClient sends data (see Publish) directly to one connection, named
// by its client id. An unknown id gives a *protocol.Error with code
// protocol.CodeNotFound.
func (c *Client) SendToClient(ctx context.Context, clientID string, data any) (int, error) {
	ev, err := c.sendDirect(ctx, &protocol.Command{Op: protocol.OpSend, ToClient: clientID}, data, "client "+clientID)
	if err != nil || ev.Delivered == nil {
		return 0, err
	}
	return *ev.Delivered, nil
}

func (c *Client) sendDirect(ctx context.Context, cmd *protocol.Command, data any, to string) (protocol.Event, error) {
	raw, err := encodeData(data)
	if err != nil {
		return protocol.Event{}, fmt.Errorf("send to %s: %w", to, err)
	}
	cmd.Data = raw
	ev, err := c.request(ctx, cmd, &call{op: protocol.OpSend})
	if err != nil {
		return protocol.Event{}, fmt.Errorf("send to %s: %w", to, err)
	}
	return ev, nil
}

// maxPages bounds the pages Presence and History follow for one call.
const maxPages = 10_000

// Presence lists the members of a room the client has joined. A server
// sends a big room's members in pages that fit its send queue; Presence
// asks for each in turn and returns them all.
func (c *Client) Presence(ctx context.Context, room string) ([]protocol.Member, error) {
	var members []protocol.Member
	after := ""
	for range maxPages {
		ev, err := c.request(ctx, &protocol.Command{Op: protocol.OpPresence, Room: room, After: after}, &call{op: protocol.OpPresence, room: room})
		if err != nil {
			return nil, fmt.Errorf("presence of %s: %w", room, err)
		}
		members = append(members, ev.Members...)
		if !ev.More || ev.Next == "" || ev.Next == after {
			break
		}
		after = ev.Next
	}
	return members, nil
}

// HistoryOptions selects a page of a room's history. With neither Since
// nor Before it returns the newest messages.
type HistoryOptions struct {
	// Since pages forward: messages with seq > *Since, oldest first.
	Since *uint64
	// Before pages backward: the newest messages with seq < Before.
	Before uint64
	// Limit caps the page; zero means the server's default
	// (protocol.DefaultHistoryLimit).
	Limit int
}

// HistoryResult is one page of a room's history.
type HistoryResult struct {
	Room  string
	Epoch string
	// Seq is the room's last seq.
	Seq uint64
	// Messages are in ascending seq order.
	Messages []protocol.Message
	// More is set when further messages remain in the paging direction;
	// NextSeq is then where the next page starts: its Since when paging
	// forward, its Before when paging back.
	More    bool
	NextSeq uint64
}

// History returns stored messages of a room the client has joined. A
// server cuts a page that would not fit its send queue short of the limit
// (the reply says truncated); History then asks for the rest, page by
// page, until it has Limit messages or the history ends.
func (c *Client) History(ctx context.Context, room string, o HistoryOptions) (HistoryResult, error) {
	limit := o.Limit
	if limit <= 0 {
		limit = protocol.DefaultHistoryLimit
	}
	var res HistoryResult
	for range maxPages {
		cmd := &protocol.Command{Op: protocol.OpHistory, Room: room, Since: o.Since, Limit: limit - len(res.Messages)}
		if o.Limit <= 0 && len(res.Messages) == 0 {
			cmd.Limit = 0 // the server's default, as asked
		}
		if o.Before > 0 {
			before := o.Before
			cmd.Before = &before
		}
		ev, err := c.request(ctx, cmd, &call{op: protocol.OpHistory, room: room})
		if err != nil {
			return HistoryResult{}, fmt.Errorf("history of %s: %w", room, err)
		}
		if len(res.Messages) > 0 && ev.Epoch != res.Epoch {
			// The history restarted between pages: what was read belongs
			// to another generation. Start over from this page.
			res.Messages = nil
		}
		if o.Since != nil {
			res.Messages = append(res.Messages, ev.Messages...)
		} else {
			res.Messages = append(slices.Clip(ev.Messages), res.Messages...)
		}
		res.Room, res.Epoch, res.Seq, res.More, res.NextSeq = ev.Room, ev.Epoch, ev.Seq, ev.More, ev.NextSeq
		if !ev.Truncated || !ev.More || len(ev.Messages) == 0 || len(res.Messages) >= limit {
			break
		}
		next := nextSeq(ev, o.Since != nil)
		if o.Since != nil {
			o.Since = &next
		} else {
			o.Before = next
		}
	}
	return res, nil
}

// nextSeq is where the page after ev starts: the reply's next_seq, or for
// a server that sends none, the last listed seq forward, the first back.
func nextSeq(ev protocol.Event, forward bool) uint64 {
	if ev.NextSeq > 0 {
		return ev.NextSeq
	}
	if forward {
		return ev.Messages[len(ev.Messages)-1].Seq
	}
	return ev.Messages[0].Seq
}

// Ping asks the server for a pong and returns the round-trip time, which
// includes the server's queueing of this connection.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if _, err := c.request(ctx, &protocol.Command{Op: protocol.OpPing}, &call{op: protocol.OpPing}); err != nil {
		return 0, fmt.Errorf("ping: %w", err)
	}
	return time.Since(start), nil
}

// RPC asks the application behind the server (its event hooks) to run
// method with data (as for Publish; nil sends none) and returns the
// application's answer as raw JSON, nil when it gave none. An answer the
// application refused is a *protocol.Error with the application's code
// (protocol.CodeRPCError when it gave none); a server with no application
// for rpc gives protocol.CodeUnknownOp, and one whose application did not
// answer in time gives protocol.CodeUnavailable. The server bounds the call
// by its hook timeout, and this connection's later commands wait behind it.
func (c *Client) RPC(ctx context.Context, method string, data any) (json.RawMessage, error) {
	cmd := &protocol.Command{Op: protocol.OpRPC, Method: method}
	if data != nil {
		raw, err := encodeData(data)
		if err != nil {
			return nil, fmt.Errorf("rpc %s: %w", method, err)
		}
		cmd.Data = raw
	}
	ev, err := c.request(ctx, cmd, &call{op: protocol.OpRPC})
	if err != nil {
		return nil, fmt.Errorf("rpc %s: %w", method, err)
	}
	return ev.Data, nil
}

// encodeData turns a payload into JSON: raw JSON as is (checked), anything
// else encoded.
func encodeData(v any) (json.RawMessage, error) {
	var raw []byte
	switch d := v.(type) {
	case json.RawMessage:
		raw = d
	case []byte:
		raw = d
	default:
		b, err := protocol.Marshal(v)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("data %.40q is not valid JSON; pass a string to send text", raw)
	}
	return bytes.Clone(raw), nil
}
