package server

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// A room's fan-out. Messages (and the events that must keep their place
// among them: presence, replies, a member's own join and leave) are queued
// on the room in order, under the room's lock, and a fan-out goroutine
// hands them to the members. When it finds one item queued, each member
// gets it in a frame of its own, at once; when messages arrived faster than
// it could hand them out, it takes all that waited and each member gets
// them together, in one frame (up to maxFrameBytes). So the batching
// follows the load, and at low rates nothing waits for a timer.
//
// The frame is built once for all the members. A member whose queue is
// empty, and whose socket takes the bytes at once, is written to from here
// (directWriter.tryWrite: one non-blocking write(2)), without the hand-off
// to a writer goroutine; the others get the batch in their queues, and
// their writer sends it with whatever else waits there.
//
// Order: a room's items reach each connection in the order they were
// queued. Items of different rooms have no order between them.

// fanItem is an event waiting for a room's fan-out.
type fanItem struct {
	ev []byte
	// at is when a room message was published (unix ns), 0 for other
	// events.
	at int64
	// to are the members it goes to (the room's snapshot, never changed
	// once made), or, when nil, just one.
	to  []*conn
	one *conn
	// skip is a member not to send it to (a publisher that asked for no
	// echo, the subject of a presence event); skipID and exclude name
	// others by id.
	skip    *conn
	skipID  string
	exclude map[string]struct{}
	// msg: a room message, counted as a delivery.
	msg bool
	// urgent: written at once (a reply), with what is queued before it.
	urgent bool
}

func (it *fanItem) skips(c *conn) bool {
	if c == it.skip {
		return true
	}
	if it.skipID != "" && c.id == it.skipID {
		return true
	}
	if it.exclude != nil {
		_, ok := it.exclude[c.id]
		return ok
	}
	return false
}

func (it *fanItem) selective() bool {
	return it.skip != nil || it.skipID != "" || it.exclude != nil
}

// fanQueue is a room's queue of items for its fan-out goroutine.
type fanQueue struct {
	mu      sync.Mutex
	items   []fanItem
	spare   []fanItem
	running bool
	// kick: the queue was idle and the caller that queued, whose room
	// lock allowed it (room.fanInline), runs it (unlockFan).
	kick bool
}

// fanInlineMax is the largest room whose publisher (or joiner, or
// leaver) hands the items out itself when the room's queue is idle: for
// a small room that costs the caller little and spares a goroutine, and
// the caller's next reply comes after them. Larger rooms are always
// handed out by a goroutine of their own, so a publisher to a big room
// is not held up by its fan-out, and messages that arrive meanwhile are
// batched.
const fanInlineMax = 64

// inlineFanLocked lets this caller, which ends with unlockFan, hand out
// the items it queues itself if the room is small. r.mu is held.
func (r *room) inlineFanLocked() {
	r.fanInline = len(r.members) <= fanInlineMax
}

// unlockFan unlocks r.mu and then, if the caller's items found the queue
// idle (inlineFanLocked), hands them out.
func (r *room) unlockFan(s *Server) {
	r.fanInline = false
	q := &r.fan
	q.mu.Lock()
	kick := q.kick
	q.kick = false
	q.mu.Unlock()
	r.mu.Unlock()
	if kick {
		r.fanOut(s)
	}
}

// fanOutWorkers bounds the goroutines one batch to a big room is spread
// over; fanOutSplit is the fewest members each of them takes.
const (
	fanOutWorkers = 4
	fanOutSplit   = 1024
)

// queueFan queues it on r's fan-out and starts the goroutine if none
// runs. The caller holds r.mu, which orders the room's items.
func (r *room) queueFan(s *Server, it fanItem) {
	q := &r.fan
	q.mu.Lock()
	q.items = append(q.items, it)
	start := !q.running
	q.running = true
	if start && r.fanInline {
		q.kick, start = true, false
		s.fanouts.Add(1)
	}
	q.mu.Unlock()
	if start {
		s.fanouts.Add(1)
		go r.fanOut(s)
	}
}

// sendOrderedLocked sends b to c after the room's queued items, at once
// when none wait. The caller holds r.mu.
func (r *room) sendOrderedLocked(c *conn, b []byte, urgent bool) {
	q := &r.fan
	q.mu.Lock()
	if !q.running {
		q.mu.Unlock()
		c.push(b, urgent)
		return
	}
	q.items = append(q.items, fanItem{ev: b, one: c, urgent: urgent})
	q.mu.Unlock()
}

// fanOut hands out the room's queued items until none are left.
func (r *room) fanOut(s *Server) {
	defer s.fanouts.Done()
	q := &r.fan
	var st fanStats
	for {
		q.mu.Lock()
		items := q.items
		if len(items) == 0 {
			q.running = false
			q.mu.Unlock()
			st.flush(s)
			return
		}
		q.items, q.spare = q.spare[:0], nil
		q.mu.Unlock()
		for i := 0; i < len(items); {
			it := &items[i]
			if it.to == nil {
				if it.one != nil {
					it.one.push(it.ev, it.urgent)
				}
				i++
				continue
			}
			// The run of items going to the same members, up to a
			// frame's worth of bytes.
			j, size := i+1, len(it.ev)
			for j < len(items) && items[j].to != nil && sameMembers(items[j].to, it.to) && size+1+len(items[j].ev) <= maxFrameBytes {
				size += 1 + len(items[j].ev)
				j++
			}
			s.fanBatch(items[i:j], size, &st)
			i = j
		}
		clear(items)
		q.mu.Lock()
		if q.spare == nil && cap(items) <= 1024 {
			q.spare = items[:0]
		}
		q.mu.Unlock()
	}
}

func sameMembers(a, b []*conn) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// fanBatch hands items, all going to the same members, to each of them:
// one frame of size bytes, built once.
func (s *Server) fanBatch(items []fanItem, size int, st *fanStats) {
	b := fanBatch{items: items, at: items[0].at}
	if len(items) == 1 {
		b.payload = items[0].ev
	} else {
		b.payload = make([]byte, 0, size)
		for i := range items {
			if i > 0 {
				b.payload = append(b.payload, '\n')
			}
			b.payload = append(b.payload, items[i].ev...)
		}
	}
	for i := range items {
		it := &items[i]
		if it.selective() {
			b.selective = true
		}
		if it.msg {
			b.msgs++
		}
		if it.urgent {
			b.urgent = true
		}
		if b.at == 0 {
			b.at = it.at
		}
	}
	if directWrites {
		b.frame = appendHeader(make([]byte, 0, maxHeader+len(b.payload)), websocket.TextMessage, len(b.payload))
		b.frame = append(b.frame, b.payload...)
	}
	to := items[0].to
	parts := min(fanOutWorkers, runtime.GOMAXPROCS(0), len(to)/fanOutSplit)
	if parts <= 1 {
		b.deliver(s, to, st)
		return
	}
	var wg sync.WaitGroup
	per := (len(to) + parts - 1) / parts
	for p := 1; p < parts; p++ {
		part := to[min(p*per, len(to)):min((p+1)*per, len(to))]
		wg.Go(func() {
			var pst fanStats
			b.deliver(s, part, &pst)
			pst.flush(s)
		})
	}
	b.deliver(s, to[:per], st)
	wg.Wait()
}

// fanBatch is one frame's worth of a room's items for the same members.
type fanBatch struct {
	items []fanItem
	// payload is the items' events joined by '\n'; frame is the same as
	// a WebSocket text frame, for direct writes.
	payload, frame []byte
	msgs           int   // room messages among the items
	at             int64 // publish time of the oldest message
	selective      bool  // some item skips some members
	urgent         bool
}

// deliver hands the batch to each of to.
func (b *fanBatch) deliver(s *Server, to []*conn, st *fanStats) {
	for _, c := range to {
		if !b.selective {
			c.deliverBatch(b.payload, b.frame, len(b.items), b.msgs, b.urgent, b.at, st)
			continue
		}
		b.deliverSome(c, st)
	}
}

// deliverSome hands c the items that do not skip it.
func (b *fanBatch) deliverSome(c *conn, st *fanStats) {
	n, skipped := 0, 0
	for i := range b.items {
		if b.items[i].skips(c) {
			skipped++
		}
	}
	if skipped == 0 {
		c.deliverBatch(b.payload, b.frame, len(b.items), b.msgs, b.urgent, b.at, st)
		return
	}
	var payload []byte
	msgs, urgent := 0, false
	for i := range b.items {
		it := &b.items[i]
		if it.skips(c) {
			continue
		}
		if n > 0 {
			payload = append(payload, '\n')
		}
		payload = append(payload, it.ev...)
		n++
		if it.msg {
			msgs++
		}
		urgent = urgent || it.urgent
	}
	if n > 0 {
		c.deliverBatch(payload, nil, n, msgs, urgent, b.at, st)
	}
}

// fanStats are what one fan-out goroutine counted since it last added to
// the server's metrics.
type fanStats struct {
	deliveries, frames, objects uint64
	whole, short                uint64
	ws                          writerStats
}

func (st *fanStats) flush(s *Server) {
	m := &s.metrics
	if st.deliveries > 0 {
		m.deliveries.Add(st.deliveries)
	}
	if st.frames > 0 {
		m.frames.Add(st.frames)
		m.objects.Add(st.objects)
		m.fanWhole.Add(st.whole)
		m.fanShort.Add(st.short)
	}
	st.ws.flush(s, time.Now().UnixNano())
	st.deliveries, st.frames, st.objects, st.whole, st.short = 0, 0, 0, 0, 0
}

// deliverBatch hands c a payload of n objects, msgs of them room messages
// (the oldest published at unix ns at). With frame, the same payload as a
// WebSocket frame, it writes it to the socket at once when nothing is
// queued or being written; otherwise, or if the socket would not take it,
// it queues payload for c's writer.
func (c *conn) deliverBatch(payload, frame []byte, n, msgs int, urgent bool, at int64, st *fanStats) {
	st.deliveries += uint64(msgs)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.dw == nil || frame == nil || c.writing || c.srv.cfg.WriteCoalesce > 0 {
		c.mu.Unlock()
		c.pushN(payload, n, urgent, at)
		return
	}
	c.writing = true // ours until we let go: nothing else writes meanwhile
	c.mu.Unlock()
	w, err := c.dw.tryWrite(frame)
	if err != nil {
		c.mu.Lock()
		c.writing = false
		c.signalDrainedLocked()
		c.mu.Unlock()
		c.srv.log.Debug("write failed", "client", c.id, "err", err)
		c.close(0, "")
		return
	}
	if w >= 0 {
		now := time.Now().UnixNano()
		st.frames++
		st.objects += uint64(n)
		c.msgsOut.Add(uint64(n))
		pubAt := int64(0)
		if msgs > 0 {
			pubAt = at
		}
		st.ws.observed(c.srv, len(payload), pubAt, now, now, uint64(len(payload)))
		if w == len(frame) {
			st.whole++
		} else {
			st.short++
		}
	}
	c.mu.Lock()
	switch {
	case w < 0:
		// Not written: queued ahead of what others queued meanwhile
		// (they saw writing set and left it to us).
		c.queue = append(c.queue, nil)
		copy(c.queue[1:], c.queue)
		c.queue[0] = payload
		c.queued += len(payload)
		c.qobjs += n
		if c.pubAt == 0 || (at != 0 && at < c.pubAt) {
			c.pubAt = at
		}
		c.flushNow = c.flushNow || urgent
	case w < len(frame):
		c.restPending = true
	case len(c.queue) == 0 && !c.closed:
		c.writing = false
		c.signalDrainedLocked()
		c.mu.Unlock()
		return
	}
	if c.closed {
		c.writing = false
		c.signalDrainedLocked()
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.srv.writers.submit(c)
}

// directWriter is a transport whose frames a room's fan-out may write
// itself (frameWriter.tryWrite).
type directWriter interface {
	canWriteDirect() bool
	tryWrite(frame []byte) (int, error)
	flushRest() error
}

func (t *wsTransport) canWriteDirect() bool               { return t.w.rc != nil }
func (t *wsTransport) tryWrite(frame []byte) (int, error) { return t.w.tryWrite(frame) }
func (t *wsTransport) flushRest() error                   { return t.w.flushRest() }

// fanCount counts running fan-out goroutines; shutdown waits for them.
type fanCount struct{ n atomic.Int64 }

func (f *fanCount) Add(d int64) { f.n.Add(d) }
func (f *fanCount) Done()       { f.n.Add(-1) }

// wait returns once none run or ctx ends.
func (f *fanCount) wait(ctx context.Context) {
	for f.n.Load() > 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
}
