package server

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtsync/rtsync/protocol"
)

// maxFrameBytes is where the writer cuts a batch into several frames, so a
// client that fell behind is not sent one enormous frame.
const maxFrameBytes = 64 << 10

// conn is one client connection, whatever its transport.
type conn struct {
	id  string
	srv *Server
	t   Transport

	// lastSeen is the unix nanosecond time of the last frame or pong from
	// the client; the heartbeat sweeper reads it.
	lastSeen atomic.Int64
	// writeStarted is the unix nanosecond time the current socket write
	// began, 0 when none is under way; the write watchdog reads it.
	writeStarted atomic.Int64

	// mu guards the send queue. What enqueueing touches comes first, in
	// the cache lines it touched before pubAt was added: with pubAt on a
	// line of its own, passed between the publisher's core and the
	// writer's, BenchmarkFanOut at 10 members was a few percent slower.
	mu     sync.Mutex
	queue  [][]byte
	queued int // bytes in queue
	// qobjs counts the objects in queue: an entry may hold several,
	// joined by '\n' (a room's fan-out batch).
	qobjs int
	// pubAt is when the oldest room message in the queue was published
	// (unix ns), 0 when the queue holds none; the writer reports the
	// time from then until the write that carried it
	// (rtsync_publish_to_write_seconds).
	pubAt   int64
	writing bool // a writer owns the queue: draining it, or deferred
	closed  bool
	// deferred: the writer is parked until the next coalescing tick.
	deferred bool
	// flushNow: write at once, skipping coalescing (a reply is queued, or
	// the tick came).
	flushNow bool
	spare    [][]byte // the last batch's slice, kept for the next
	// restPending: a frame the fan-out wrote in part (dw.tryWrite) must
	// be finished by the writer before anything else.
	restPending bool
	// dw writes frames straight from a room's fan-out when nothing is
	// queued (fanout.go); nil where the transport cannot.
	dw directWriter
	// lastWrite is when the last write finished (unix ns).
	lastWrite int64

	// stateMu guards identity and membership, which commands on the reader
	// goroutine change and the hub reads.
	stateMu sync.Mutex
	uid     string
	name    string
	meta    json.RawMessage
	session json.RawMessage
	rooms   map[string]*room
	// created counts the rooms this connection's joins made, for
	// Config.MaxRoomsCreatedPerConn.
	created int

	// perms is what the connection's token allows (nil: anything, open
	// server) and expires when the token expires (unix ns, 0: never); see
	// auth.go. The reader goroutine replaces them on hello with a token;
	// the heartbeat sweep reads expires.
	perms   atomic.Pointer[permissions]
	expires atomic.Int64

	// welcomed is set once the welcome was queued: the connection was
	// accepted, so its end is an event for the application.
	welcomed atomic.Bool
	from     []byte // encoded protocol.From, rebuilt when identity changes
	// peerCode and peerReason are the close code and reason the client
	// sent, if it closed first; the close event reports them.
	peerCode   int
	peerReason string

	// lim and flooded are owned by the reader goroutine. flooded is set
	// when the client is being closed for flooding (or for a refused
	// token): what it sends after that is ignored.
	lim     limiter
	flooded bool

	// connectedAt is when the connection was accepted (unix ns).
	connectedAt int64
	// msgsIn counts the objects the client sent (its reader adds),
	// msgsOut those written to it (its writer adds), for the clients
	// listing.
	msgsIn  atomic.Uint64
	msgsOut atomic.Uint64

	// drained, guarded by mu, is made by waitQueue when it has to wait,
	// and closed when the writer next takes or lets go of the queue or
	// the connection closes. Last in the struct, away from the hot fields.
	drained chan struct{}
	// inboxSent is the id of the last offline message handed to this
	// connection: an ack up to it brings the next page (connops.go).
	inboxSent atomic.Uint64
	// hookCancel, guarded by mu, cuts the hook call under way for this
	// connection (hookContext) when it closes.
	hookCancel context.CancelCauseFunc
}

func newConn(s *Server, t Transport) *conn {
	c := &conn{id: randomID(10), srv: s, t: t, lim: newLimiter(s.cfg.PublishRate, s.cfg.PublishBurst)}
	if dw, ok := t.(directWriter); ok && dw.canWriteDirect() {
		c.dw = dw
	}
	c.touch()
	c.connectedAt = c.lastSeen.Load()
	return c
}

// received counts one object from the client.
func (c *conn) received() {
	c.msgsIn.Add(1)
	c.srv.metrics.commands.Add(1)
}

func (c *conn) touch() { c.lastSeen.Store(time.Now().UnixNano()) }

// enqueue queues one encoded object for the client and starts a writer if
// none is running. It never blocks on the network: a client whose queue
// would pass the limit is closed as a slow consumer instead, so one slow
// reader cannot stall a room's fan-out or grow the server's memory.
func (c *conn) enqueue(b []byte) { c.pushAt(b, false, 0) }

// push queues b; urgent objects (replies) are written without waiting for
// the coalescing window, taking along whatever is queued before them.
func (c *conn) push(b []byte, urgent bool) { c.pushAt(b, urgent, 0) }

// pushAt is push for an object published at unix ns at, for room
// messages (0: not one).
func (c *conn) pushAt(b []byte, urgent bool, at int64) { c.pushN(b, 1, urgent, at) }

// pushN is pushAt for b holding n objects joined by '\n'.
func (c *conn) pushN(b []byte, n int, urgent bool, at int64) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.queued+len(b) > c.srv.cfg.SendQueueBytes {
		// Closed here, under the same lock, so nothing queued after this
		// point can reach the client: it sees a prefix of the stream and
		// then 4008, never a gap.
		c.markClosedLocked()
		c.mu.Unlock()
		c.srv.metrics.slowConsumers.Add(1)
		go c.finish(protocol.CloseSlowConsumer, "")
		return
	}
	c.queue = append(c.queue, b)
	c.queued += len(b)
	c.qobjs += n
	if c.pubAt == 0 {
		c.pubAt = at
	}
	start := !c.writing
	// A queue half full is written at once: coalescing must not be what
	// makes a client that reads look slow.
	if urgent || c.queued > c.srv.cfg.SendQueueBytes/2 {
		c.flushNow = true
		if c.deferred {
			// Take the queue back from the coalescing tick, which skips
			// connections no longer deferred.
			c.deferred, start = false, true
		}
	}
	c.writing = true
	c.mu.Unlock()
	if start {
		c.srv.writers.submit(c)
	}
}

// send encodes v and queues it.
func (c *conn) send(v any) {
	b, err := protocol.Marshal(v)
	if err != nil {
		c.srv.log.Error("encode event", "client", c.id, "err", err)
		return
	}
	c.push(b, true)
}

// writeLoop drains the queue, one frame per batch of queued objects, and
// exits when the queue is empty. It is the only caller of WriteBatch. ws
// are the calling writer's statistics.
func (c *conn) writeLoop(ws *writerStats) {
	for {
		c.mu.Lock()
		if !c.closed && c.restPending {
			// Finish the frame the fan-out wrote in part first.
			c.restPending = false
			c.mu.Unlock()
			c.writeStarted.Store(time.Now().UnixNano())
			err := c.dw.flushRest()
			c.writeStarted.Store(0)
			if err != nil {
				c.srv.log.Debug("write failed", "client", c.id, "err", err)
				c.close(0, "")
				return
			}
			continue
		}
		if c.closed || len(c.queue) == 0 {
			c.writing = false
			c.signalDrainedLocked()
			c.mu.Unlock()
			return
		}
		if !c.flushNow && c.lastWrite != 0 && time.Now().UnixNano()-c.lastWrite < int64(c.srv.cfg.WriteCoalesce) {
			// Written to moments ago: let more messages gather and go out
			// together, one syscall instead of many. writing stays set, so
			// nothing else starts a writer meanwhile.
			c.deferred = true
			c.mu.Unlock()
			c.srv.writers.later(c)
			return
		}
		c.flushNow = false
		batch, queued, pubAt, qobjs := c.queue, c.queued, c.pubAt, c.qobjs
		c.queue, c.spare = c.spare[:0], nil
		c.queued, c.pubAt, c.qobjs = 0, 0, 0
		c.signalDrainedLocked()
		c.mu.Unlock()

		full := batch
		var err error
		var objs, frames, nbytes uint64
		var written int64 // when the frame with the oldest room message was written
		for len(batch) > 0 && err == nil {
			n, size := 0, 0
			for n < len(batch) && (n == 0 || size+len(batch[n]) <= maxFrameBytes) {
				size += len(batch[n]) + 1
				n++
			}
			c.writeStarted.Store(time.Now().UnixNano())
			err = c.t.WriteBatch(batch[:n])
			c.writeStarted.Store(0)
			if written == 0 && n < len(batch) {
				// More frames follow; the common single frame is timed
				// below, with no clock read of its own.
				written = time.Now().UnixNano()
			}
			frames, nbytes = frames+1, nbytes+uint64(size-1)
			clear(batch[:n])
			batch = batch[n:]
		}
		if err == nil {
			objs = uint64(qobjs)
		}
		now := time.Now().UnixNano()
		if written == 0 {
			written = now
		}
		if err != nil {
			pubAt = 0 // not written
		}
		ws.observed(c.srv, queued, pubAt, written, now, nbytes)
		// Objects last: a reader that sees them counted sees their
		// frames too.
		m := &c.srv.metrics
		m.frames.Add(frames)
		m.objects.Add(objs)
		c.msgsOut.Add(objs)
		if err != nil {
			c.srv.log.Debug("write failed", "client", c.id, "err", err)
			c.close(0, "")
			return
		}
		c.mu.Lock()
		c.lastWrite = now
		// Keep a small spare for the next batch; let big ones go so an
		// idle connection holds little.
		if cap(full) <= 64 && c.spare == nil {
			c.spare = full[:0]
		}
		c.mu.Unlock()
	}
}

// close ends the connection with a close code (0: just drop the socket),
// removes it from the hub, and discards its queue. Safe to call many times
// from any goroutine; only the first has effect.
func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.markClosedLocked()
	c.mu.Unlock()
	c.finish(code, reason)
}

// markClosedLocked stops all further queueing and discards the queue.
func (c *conn) markClosedLocked() {
	c.closed = true
	c.queue, c.spare, c.queued, c.pubAt, c.qobjs = nil, nil, 0, 0, 0
	c.restPending = false
	c.signalDrainedLocked()
	if c.hookCancel != nil {
		c.hookCancel(errConnClosed)
		c.hookCancel = nil
	}
}

// waitDrained returns once the writer has written everything queued so far
// and let go of the queue, or the connection closed (true), or after d
// (false): a peer that does not read cannot hold its closer longer.
func (c *conn) waitDrained(d time.Duration) bool {
	return c.waitQueue(d, func() bool { return !c.writing && len(c.queue) == 0 && !c.restPending })
}

// waitQueue waits until ok (called with c.mu held) holds or the
// connection is closed (true), or d passes (false). It wakes on every
// signalDrainedLocked, not on a timer.
func (c *conn) waitQueue(d time.Duration, ok func() bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		c.mu.Lock()
		if c.closed || ok() {
			c.mu.Unlock()
			return true
		}
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		ch := c.drained
		c.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			return false
		}
	}
}

// signalDrainedLocked wakes the goroutines waiting in waitQueue, if any:
// the writer took the queue or let go of it, or the connection closed.
// c.mu is held.
func (c *conn) signalDrainedLocked() {
	if c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

// finish does the rest of close once the connection is marked closed.
func (c *conn) finish(code int, reason string) {
	if reason == "" {
		reason = protocol.CloseReason(code)
	}
	c.hookClose(code, reason)
	c.srv.hub.remove(c)
	c.t.Close(code, reason)
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// identity returns the client's from object, encoded, and its parts.
func (c *conn) identity() (from []byte, uid, name string) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.from == nil {
		c.from, _ = json.Marshal(protocol.From{Client: c.id, UID: c.uid, Name: c.name})
	}
	return c.from, c.uid, c.name
}

func (c *conn) member() protocol.Member {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return protocol.Member{Client: c.id, UID: c.uid, Name: c.name, Meta: c.meta}
}
