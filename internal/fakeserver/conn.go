package fakeserver

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// item is one queued object (rtsync) or frame (raw).
type item struct {
	data []byte
	// due is when the item may be written; zero means at once.
	due time.Time
	// delivery marks a msg, direct or raw frame, as opposed to a reply or
	// welcome; only deliveries count in Stats.Deliveries.
	delivery bool
}

// conn is one client. Its reader goroutine owns the rtsync state (rooms,
// uid, name); its writer goroutine owns writes of data frames.
type conn struct {
	s  *Server
	ws *websocket.Conn
	id string

	// index is the receiver number (DelayConn), -1 until numbered.
	index atomic.Int64

	// wake has room for one signal: "the queue or closeCode changed".
	wake     chan struct{}
	done     chan struct{} // closed by shutdown
	doneOnce sync.Once

	mu        sync.Mutex
	q         []item
	delay     time.Duration // Faults.Delay when this is the delayed receiver
	closeCode int           // set: the writer sends this close frame and stops
	dead      bool          // no more items are accepted

	// Owned by the reader goroutine.
	uid, name string
	rooms     map[string]*stream
	pubs      int  // pub commands handled (FloodCloseAfter)
	flooded   bool // past FloodCloseAfter: read and ignore until closed
}

func newConn(s *Server, ws *websocket.Conn, id string) *conn {
	c := &conn{
		s:     s,
		ws:    ws,
		id:    id,
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		rooms: make(map[string]*stream),
	}
	c.index.Store(-1)
	return c
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueue queues data for the writer. A delivery to the delayed receiver is
// due Delay from now; since Delay is fixed and now only grows, due times in
// one queue never go backwards, so the stream keeps its order. Past the
// queue limit the connection is closed as a slow consumer.
func (c *conn) enqueue(data []byte, delivery bool) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	if len(c.q) >= c.s.opts.QueueLimit {
		c.dead = true
		c.closeCode = 4008
		c.q = nil
		c.mu.Unlock()
		c.s.st.slowConsumers.Add(1)
		c.signal()
		return
	}
	it := item{data: data, delivery: delivery}
	if delivery && c.delay > 0 {
		it.due = time.Now().Add(c.delay)
		c.s.st.delayed.Add(1)
	}
	c.q = append(c.q, it)
	c.mu.Unlock()
	c.signal()
}

// closeWith makes the writer send what is queued, then a close frame with
// code, and drop the socket once the client answers or closeGrace passes.
func (c *conn) closeWith(code int) {
	c.mu.Lock()
	if !c.dead {
		c.dead = true
		c.closeCode = code
	}
	c.mu.Unlock()
	c.signal()
}

// shutdown ends both goroutines of c: the writer stops, the reader's next
// read fails. Safe to call more than once and from any goroutine.
func (c *conn) shutdown() {
	c.mu.Lock()
	c.dead = true
	c.q = nil
	c.mu.Unlock()
	c.doneOnce.Do(func() { close(c.done) })
	_ = c.ws.Close()
}

// take returns what is queued, and the close code when the writer should
// close after writing it (none for a slow consumer: its queue is gone).
func (c *conn) take(spare []item) ([]item, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.q
	c.q = spare[:0]
	return q, c.closeCode
}

func (c *conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode != 0
}

// writeLoop is c's writer goroutine.
func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	var (
		spare []item
		timer *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		items, code := c.take(spare)
		if len(items) > 0 {
			ok := c.writeItems(items, &timer)
			clear(items) // let the payloads go
			spare = items
			if !ok {
				return
			}
			continue // more may have come while writing
		}
		spare = items
		if code != 0 {
			c.sendClose(code)
			return
		}
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
	}
}

// writeItems writes items in order, waiting for each one's due time. It
// returns false when the connection is done or a write failed.
func (c *conn) writeItems(items []item, timer **time.Timer) bool {
	raw := c.s.opts.Protocol == ProtocolRaw
	for i := 0; i < len(items); {
		if d := time.Until(items[i].due); !items[i].due.IsZero() && d > 0 {
			if !c.wait(d, timer) {
				return false
			}
			if c.closing() {
				return true // the rest is abandoned; the loop sends the close
			}
		}
		// Take every item that is ready now, up to the batch size.
		now := time.Now()
		j, size, n := i, 0, 0
		for j < len(items) && (j == i || !raw) {
			it := items[j]
			if j > i && (!it.due.IsZero() && it.due.After(now) || size+len(it.data)+1 > maxBatchBytes) {
				break
			}
			size += len(it.data) + 1
			if it.delivery {
				n++
			}
			j++
		}
		if err := c.writeFrame(items[i:j]); err != nil {
			c.shutdown()
			return false
		}
		c.s.st.deliveries.Add(uint64(n))
		i = j
	}
	return true
}

// wait sleeps d unless the connection ends or is being closed first.
func (c *conn) wait(d time.Duration, timer **time.Timer) bool {
	if *timer == nil {
		*timer = time.NewTimer(d)
	} else {
		(*timer).Reset(d)
	}
	for {
		select {
		case <-(*timer).C:
			return true
		case <-c.done:
			return false
		case <-c.wake:
			// New items are picked up after this batch; only a close
			// (slow consumer) cuts the wait short.
			if c.closing() {
				(*timer).Stop()
				return true
			}
		}
	}
}

var newline = []byte{'\n'}

func (c *conn) writeFrame(items []item) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	w, err := c.ws.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	for k, it := range items {
		if k > 0 {
			if _, err := w.Write(newline); err != nil {
				return err
			}
		}
		if _, err := w.Write(it.data); err != nil {
			return err
		}
	}
	return w.Close()
}

// sendClose writes a close frame and waits for the client's answer (the
// reader sees it and shuts c down) or closeGrace before dropping the socket.
func (c *conn) sendClose(code int) {
	msg := websocket.FormatCloseMessage(code, closeText(code))
	if c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(controlTimeout)) == nil {
		t := time.NewTimer(closeGrace)
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C:
		}
	}
	c.shutdown()
}

func closeText(code int) string {
	if code == 4008 {
		return "slow consumer"
	}
	return ""
}

// readLoop is c's reader: it runs until the socket fails or closes.
func (c *conn) readLoop() {
	for {
		typ, frame, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.TextMessage || c.closing() || c.flooded {
			// A connection being closed (after its welcome, or as a slow
			// consumer) publishes and joins nothing more.
			continue
		}
		if c.s.raw != nil {
			c.s.publishRaw(c, frame)
			continue
		}
		c.handleFrame(frame)
	}
}
