package server

import (
	"sync"
	"sync/atomic"
	"time"
)

// writerIdle is how long a writer goroutine waits for more work before it
// exits. Long enough that under steady traffic writers are reused (a fresh
// goroutine pays for growing its stack on the write path), short enough
// that an idle server holds none.
const writerIdle = time.Second

// writerPool runs connection writers. A connection that needs writing is
// handed to an idle writer if one is waiting and to a new goroutine
// otherwise, so a writer blocked on a slow socket never delays another
// connection, and the pool grows only to what the traffic needs.
type writerPool struct {
	work chan *conn
	tick time.Duration
	// srv receives the writers' statistics (writestats.go).
	srv *Server

	// deferred holds connections waiting for the next coalescing tick.
	// One ticker serves them all, and runs only while some wait, so
	// coalescing costs no timer per connection and nothing when idle.
	mu       sync.Mutex
	deferred []*conn
	ticking  bool

	// quit is closed when the server has stopped: the ticker exits then
	// rather than at its next tick. Writers do not wait on it: a third
	// case in their select costs a channel lock per write, which showed
	// in the fan-out benchmark. stop fires their idle timers instead
	// (timers, under mu), and stopped stops those that were busy.
	quit     chan struct{}
	quitOnce sync.Once
	stopped  atomic.Bool
	timers   map[*time.Timer]struct{}
}

func newWriterPool(tick time.Duration, srv *Server) *writerPool {
	return &writerPool{work: make(chan *conn), tick: tick, srv: srv, quit: make(chan struct{})}
}

// stop lets the pool's goroutines exit once they have nothing to write.
// Connections submitted afterwards are still written, by a goroutine that
// exits when done.
func (p *writerPool) stop() {
	p.quitOnce.Do(func() {
		p.mu.Lock()
		p.stopped.Store(true)
		timers := make([]*time.Timer, 0, len(p.timers))
		for t := range p.timers {
			timers = append(timers, t)
		}
		p.mu.Unlock()
		close(p.quit)
		for _, t := range timers {
			t.Reset(0) // an idle writer exits now; a busy one sees stopped
		}
	})
}

// later submits c at the next coalescing tick.
func (p *writerPool) later(c *conn) {
	p.mu.Lock()
	p.deferred = append(p.deferred, c)
	start := !p.ticking
	p.ticking = true
	p.mu.Unlock()
	if start {
		go p.ticker()
	}
}

func (p *writerPool) ticker() {
	t := time.NewTicker(p.tick)
	defer t.Stop()
	var batch []*conn
	for {
		select {
		case <-t.C:
		case <-p.quit:
			// What is deferred now belongs to closed connections; any
			// left open are written as the tick would.
			p.mu.Lock()
			batch, p.deferred = p.deferred, nil
			p.ticking = false
			p.mu.Unlock()
			for _, c := range batch {
				p.flushDeferred(c)
			}
			return
		}
		p.mu.Lock()
		batch, p.deferred = p.deferred, batch[:0]
		if len(batch) == 0 {
			p.ticking = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		for i, c := range batch {
			batch[i] = nil
			p.flushDeferred(c)
		}
	}
}

// flushDeferred submits c, parked until the coalescing tick, to be written
// now.
func (p *writerPool) flushDeferred(c *conn) {
	c.mu.Lock()
	due := c.deferred // false if a reply took the queue back meanwhile
	c.deferred = false
	c.flushNow = c.flushNow || due
	c.mu.Unlock()
	if due {
		p.submit(c)
	}
}

func (p *writerPool) submit(c *conn) {
	select {
	case p.work <- c:
	default:
		go p.run(c)
	}
}

func (p *writerPool) run(c *conn) {
	t := time.NewTimer(writerIdle)
	p.mu.Lock()
	if p.timers == nil {
		p.timers = make(map[*time.Timer]struct{})
	}
	p.timers[t] = struct{}{}
	p.mu.Unlock()
	defer func() {
		t.Stop()
		p.mu.Lock()
		delete(p.timers, t)
		p.mu.Unlock()
	}()
	// ws starts with no clock read: writers start often under load.
	var ws writerStats
	for {
		c.writeLoop(&ws)
		t.Reset(writerIdle)
		// After the Reset: either stop sees this timer reset and fires
		// it, or this load sees stopped.
		if p.stopped.Load() {
			ws.flush(p.srv, 0)
			return
		}
		select {
		case c = <-p.work:
		case <-t.C:
			ws.flush(p.srv, 0)
			return
		}
	}
}

// watchWrites closes connections whose current write has been blocked for
// longer than the write timeout. One sweep replaces a deadline per write,
// whose timer updates cost more than the rest of a small write.
func (s *Server) watchWrites(now time.Time) {
	stuck := now.Add(-s.cfg.WriteTimeout).UnixNano()
	for _, c := range s.hub.snapshot() {
		if t := c.writeStarted.Load(); t != 0 && t < stuck {
			s.log.Info("closing client stuck in a write", "client", c.id, "remote", c.t.RemoteAddr(), "timeout", s.cfg.WriteTimeout)
			go c.close(0, "")
		}
	}
}
