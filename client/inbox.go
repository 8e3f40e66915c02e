package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rtsync/rtsync/protocol"
)

// The offline inbox: direct messages the server kept for this user while
// it had no connection, handed over when a connection takes the uid.
// The reader goroutine delivers them (direct), drops the ones it already
// acked, and owes the server an ack for the rest; a timer sends one ack
// for the highest id once the burst is over (flushAck).

// direct delivers a direct event: a live one as it is, an offline one
// (with an inbox id) once, acked after it was handed over.
func (c *Client) direct(cn *conn, ev *protocol.Event, now time.Time) {
	if ev.Inbox == 0 {
		c.stats.directs.Add(1)
		c.emit(Event{Kind: KindDirect, Received: now, Wire: *ev})
		return
	}
	c.mu.Lock()
	in := &c.inbox
	if in.uid != cn.uid {
		// Another user's inbox: the ids of the last one mean nothing here.
		if in.timer != nil {
			in.timer.Stop()
		}
		*in = inboxState{uid: cn.uid, timer: in.timer}
	}
	seen := in.acked
	if !c.opts.NoAutoAck {
		seen = max(seen, in.handed)
	}
	c.mu.Unlock()
	if ev.Inbox <= seen {
		// Handed over before and acked, but the server had not recorded
		// the ack when it handed the message out again (the connection
		// ended first): say it again, or no further page comes.
		c.stats.duplicates.Add(1)
		c.owe(cn.uid, ev.Inbox)
		return
	}
	c.stats.directs.Add(1)
	c.stats.offline.Add(1)
	c.emit(Event{Kind: KindDirect, Received: now, Wire: *ev, Offline: &Offline{Inbox: ev.Inbox, Redelivered: ev.Redelivered}})
	if c.opts.NoAutoAck {
		return
	}
	c.mu.Lock()
	if in.uid == cn.uid {
		in.handed = max(in.handed, ev.Inbox)
	}
	c.mu.Unlock()
	c.owe(cn.uid, ev.Inbox)
}

// owe schedules an ack up to id, ackDelay after the last message of a
// burst.
func (c *Client) owe(uid string, id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := &c.inbox
	if c.closed || in.uid != uid {
		return
	}
	in.owed = max(in.owed, id)
	if in.timer == nil {
		in.timer = time.AfterFunc(ackDelay, c.flushAck)
		return
	}
	in.timer.Reset(ackDelay)
}

// flushAck sends the ack owed, on its own goroutine (the timer's). It
// does not wait for the reply: the reader records it (acked). With no
// connection the ack is dropped: the next connection gets the messages
// again, and the client acks them then without handing them over.
func (c *Client) flushAck() {
	c.mu.Lock()
	id, uid, cn := c.inbox.owed, c.inbox.uid, c.cur
	if id == 0 || cn == nil || c.closed {
		c.mu.Unlock()
		return
	}
	c.inbox.owed = 0
	c.mu.Unlock()
	_, _ = c.send(cn, &protocol.Command{Op: protocol.OpAck, Inbox: id}, &call{op: protocol.OpAck, inbox: id, uid: uid, auto: true})
}

// acked records the reply to an ack. An automatic ack that failed is
// reported as a KindError event: the messages stay in the inbox and come
// again on the next connection.
func (c *Client) acked(cl *call, ev *protocol.Event, now time.Time) {
	if ev.Error == nil {
		c.mu.Lock()
		if c.inbox.uid == cl.uid {
			c.inbox.acked = max(c.inbox.acked, cl.inbox)
		}
		c.mu.Unlock()
		return
	}
	if cl.auto {
		c.emit(Event{Kind: KindError, Received: now, Wire: protocol.Event{
			Type: protocol.TypeError, Code: ev.Error.Code,
			Message: fmt.Sprintf("the automatic ack of offline messages up to inbox id %d failed (%s); the server hands them out again on the next connection", cl.inbox, ev.Error.Message),
		}})
	}
}

// Ack confirms the offline direct messages received up to inbox (an
// Event.Offline.Inbox), which then leave the user's inbox, and returns
// how many did. The server sends the next page of the inbox after an ack
// that covers the page it sent. Only needed with Options.NoAutoAck; an
// ack of an id acked before succeeds and returns 0.
func (c *Client) Ack(ctx context.Context, inbox uint64) (int, error) {
	if inbox == 0 {
		return 0, errors.New("ack: inbox id 0; pass the Inbox of an offline direct message's Event.Offline")
	}
	c.mu.Lock()
	uid := c.inbox.uid
	c.mu.Unlock()
	ev, err := c.request(ctx, &protocol.Command{Op: protocol.OpAck, Inbox: inbox}, &call{op: protocol.OpAck, inbox: inbox, uid: uid})
	if err != nil {
		return 0, fmt.Errorf("ack offline messages up to %d: %w", inbox, err)
	}
	if ev.Acked == nil {
		return 0, nil
	}
	return *ev.Acked, nil
}
