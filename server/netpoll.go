package server

import (
	"errors"
	"log/slog"
	"net"
	"sync"
)

// The poller of the poll read path (wsin.go): one goroutine waits on the
// system's readiness queue (epoll or kqueue, netpoll_linux.go and
// netpoll_kqueue.go) for every registered WebSocket socket, and starts a
// reader goroutine for each one that turns readable. Registrations are
// one-shot: a socket fires once, and again only once its reader re-armed
// it, so one connection never has two readers.
//
// A socket is deregistered before its descriptor is closed (frameConn.Close
// calls remove), and every operation on a descriptor goes through the
// socket's RawConn.Control, which holds the descriptor open while it runs:
// no operation can reach a number the system gave to another socket. An
// event queued before a socket was deregistered may still arrive: its
// descriptor is no longer in the table, or belongs to a new socket whose
// reader then finds nothing to read and re-arms.

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
}

// newPoller opens the system's readiness queue and starts waiting on it.
func newPoller(log *slog.Logger) (*poller, error) {
	sys, err := openPollSys()
	if err != nil {
		return nil, err
	}
	p := &poller{sys: sys, log: log, conns: make(map[int]*wsIn), done: make(chan struct{})}
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
		in.state.Store(inArmed)
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

// rearm lets in's socket fire once more.
func (p *poller) rearm(in *wsIn) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.stopped {
		return errPollerStopped
	}
	var err error
	cerr := in.rc.Control(func(fd uintptr) { err = p.sys.rearm(int(fd)) })
	if cerr != nil {
		return cerr
	}
	return err
}

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

// fire starts the reader of the socket fd, if it is registered and armed.
func (p *poller) fire(fd int) {
	p.mu.RLock()
	in := p.conns[fd]
	p.mu.RUnlock()
	if in != nil && in.state.CompareAndSwap(inArmed, inReading) {
		go in.ready(p)
	}
}

// loop waits for readiness until stop.
func (p *poller) loop() {
	defer close(p.done)
	fds := make([]int, 0, 256)
	for {
		var err error
		var stop bool
		fds, stop, err = p.sys.wait(fds[:0])
		if stop {
			return
		}
		if err != nil {
			p.log.Error("waiting for readable sockets failed; the WebSocket connections registered with the poller may stall", "err", err)
			return
		}
		for _, fd := range fds {
			p.fire(fd)
		}
	}
}

// stop ends the loop and closes the queue. Sockets still registered are
// no longer read; the server closes them.
func (p *poller) stop() {
	p.sys.wake()
	<-p.done
	p.mu.Lock()
	p.stopped = true
	p.conns = nil
	p.sys.close()
	p.mu.Unlock()
}

// pollSys is the system's readiness queue.
type pollSys interface {
	// add registers fd for one readable event; rearm allows one more;
	// remove deregisters it.
	add(fd int) error
	rearm(fd int) error
	remove(fd int) error
	// wait blocks until sockets are readable and appends them to fds;
	// stop reports that wake was called.
	wait(fds []int) (_ []int, stop bool, err error)
	wake()
	close()
}
