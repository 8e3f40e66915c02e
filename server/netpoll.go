package server

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// The poller of the poll read path (wsin.go): one goroutine waits on the
// system's readiness queue (epoll or kqueue, netpoll_linux.go and
// netpoll_kqueue.go) for every registered WebSocket socket, and starts a
// reader goroutine for each one that turns readable. Registrations are
// edge-triggered and made once: a socket fires when bytes arrive; when it
// fires while its reader runs, the reader reads again (wsIn.state), so one
// connection never has two readers and nothing has to be re-armed.
//
// A socket is deregistered before its descriptor is closed (frameConn.Close
// calls remove), and every operation on a descriptor goes through the
// socket's RawConn.Control, which holds the descriptor open while it runs:
// no operation can reach a number the system gave to another socket. An
// event queued before a socket was deregistered may still arrive: its
// descriptor is no longer in the table, or belongs to a new socket whose
// reader then finds nothing to read.

// poller is the part the systems share: the table of registered sockets.
type poller struct {
	sys pollSys
	log *slog.Logger

	// mu guards the table, and the queue's descriptor against stop: the
	// registration calls hold it for reading.
	mu      sync.RWMutex
	conns   map[int]*wsIn
	stopped bool
	done    chan struct{}

	// work hands a socket that fired to an idle reader goroutine, which
	// waits on it up to workerIdle; quit ends the idle ones.
	work chan *wsIn
	quit chan struct{}
}

// workerIdle is how long a reader goroutine waits for another socket
// before it exits. Readers are reused, rather than one started per
// event, because a reader's stack grows to what handling a command needs
// (JSON, hub, replies): a fresh goroutine grows and copies it again on
// every event.
const workerIdle = 2 * time.Second

// newPoller opens the system's readiness queue and starts waiting on it.
func newPoller(log *slog.Logger) (*poller, error) {
	sys, err := openPollSys()
	if err != nil {
		return nil, err
	}
	p := &poller{sys: sys, log: log, conns: make(map[int]*wsIn), done: make(chan struct{}),
		work: make(chan *wsIn), quit: make(chan struct{})}
	go p.loop()
	return p, nil
}

// add registers in's socket, armed.
func (p *poller) add(in *wsIn, fc *frameConn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errPollerStopped
	}
	var err error
	cerr := in.rc.Control(func(fd uintptr) {
		in.fd, in.poller = int(fd), p
		in.state.Store(inIdle)
		p.conns[in.fd] = in
		if err = p.sys.add(in.fd); err != nil {
			delete(p.conns, in.fd)
			return
		}
		fc.in.Store(in)
		if fc.closing.Load() && fc.in.Swap(nil) == in {
			// Close ran meanwhile and found nothing to deregister.
			delete(p.conns, in.fd)
			_ = p.sys.remove(in.fd)
			err = net.ErrClosed
		}
	})
	if cerr != nil {
		return cerr
	}
	return err
}

var errPollerStopped = errors.New("the poller has stopped")

// remove deregisters in's socket; the socket is still open. Calling it
// again does nothing.
func (p *poller) remove(in *wsIn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[in.fd] != in {
		return
	}
	delete(p.conns, in.fd)
	if p.stopped {
		return
	}
	_ = in.rc.Control(func(fd uintptr) { _ = p.sys.remove(int(fd)) })
}

// fire starts the reader of the socket ev names, or tells the one that
// runs to read again.
func (p *poller) fire(ev pollEvent) {
	p.mu.RLock()
	in := p.conns[ev.fd]
	p.mu.RUnlock()
	if in == nil {
		return
	}
	if ev.hup {
		in.hup.Store(true)
	}
	for {
		switch in.state.Load() {
		case inIdle:
			if in.state.CompareAndSwap(inIdle, inReading) {
				select {
				case p.work <- in:
				default:
					go p.reader(in)
				}
				return
			}
		case inReading:
			if in.state.CompareAndSwap(inReading, inPending) {
				return
			}
		default: // inPending, inDone
			return
		}
	}
}

// reader reads in, then each socket handed to it, until none comes for
// workerIdle or the poller stops.
func (p *poller) reader(in *wsIn) {
	in.ready()
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		select {
		case in = <-p.work:
			in.ready()
			t.Reset(workerIdle)
		case <-t.C:
			return
		case <-p.quit:
			return
		}
	}
}

// loop waits for readiness until stop.
func (p *poller) loop() {
	defer close(p.done)
	evs := make([]pollEvent, 0, 256)
	for {
		var err error
		var stop bool
		evs, stop, err = p.sys.wait(evs[:0])
		if stop {
			return
		}
		if err != nil {
			p.log.Error("waiting for readable sockets failed; the WebSocket connections registered with the poller may stall", "err", err)
			return
		}
		for _, ev := range evs {
			p.fire(ev)
		}
	}
}

// stop ends the loop and closes the queue. Sockets still registered are
// no longer read; the server closes them.
func (p *poller) stop() {
	p.sys.wake()
	<-p.done
	close(p.quit)
	p.mu.Lock()
	p.stopped = true
	p.conns = nil
	p.sys.close()
	p.mu.Unlock()
}

// pollEvent is a socket that turned readable; hup: its peer closed or
// reset it, or it has an error. A peer that sends its last bytes and
// closes raises one edge for both, so the reader must then read on to the
// end, not stop at a short read (wsIn.ready).
type pollEvent struct {
	fd  int
	hup bool
}

// pollSys is the system's readiness queue.
type pollSys interface {
	// add registers fd, edge-triggered, for readable events; remove
	// deregisters it.
	add(fd int) error
	remove(fd int) error
	// wait blocks until sockets are readable and appends their events to
	// evs; stop reports that wake was called.
	wait(evs []pollEvent) (_ []pollEvent, stop bool, err error)
	wake()
	close()
}
