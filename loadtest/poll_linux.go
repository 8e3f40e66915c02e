package loadtest

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"
)

// pollAvailable reports whether this system has the poll read path.
const pollAvailable = true

// pollBufSize is a poller's read buffer: one read takes every frame a
// socket holds up to this many bytes.
const pollBufSize = 64 << 10

// keepPending is the largest leftover buffer an idle connection keeps
// between reads; a larger one (a long frame) is let go once used.
const keepPending = 4 << 10

// poller is one of a shard's poll-path readers (readmode.go). Its epoll
// descriptor is waited on in Go's own poller (an epoll descriptor is
// readable while it has events), so the poller's goroutine parks like any
// goroutine blocked on a socket, then collects every ready socket with a
// wait that does not block, and reads each one: one wake-up for them all.
//
// Registrations are edge-triggered: a socket fires when bytes arrive, and
// the poller reads it until a read comes back short (then it holds no
// more; bytes that arrive later fire again) or, once its peer closed, to
// the end. mu is held while a batch of events is handled and by add and
// remove, so a connection removed is never read again; the bench closes a
// socket only after removing it (shard.closeConn), so a registered
// descriptor is always the connection's own.
type poller struct {
	s  *shard
	ep int
	f  *os.File
	rc syscall.RawConn

	mu    sync.Mutex
	conns map[int32]*pollConn
	buf   []byte
	evs   [256]unix.EpollEvent
	done  chan struct{}
	// batches and events count the waits and the sockets they returned
	// (under mu), for the read-path benchmark.
	batches, events int64
}

// pollConn is one connection's state on the poll path.
type pollConn struct {
	c  *benchConn
	rc syscall.RawConn
	fd int32
	r  wsReader
	// pending is the start of a frame the last read ended in.
	pending []byte
	p       *poller
}

const epollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET

func newPoller(s *shard) (*poller, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		_ = unix.Close(ep)
		return nil, os.NewSyscallError("fcntl", err)
	}
	// A non-blocking descriptor: os.NewFile registers it with Go's poller.
	f := os.NewFile(uintptr(ep), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	p := &poller{s: s, ep: ep, f: f, rc: rc, conns: map[int32]*pollConn{}, buf: make([]byte, pollBufSize), done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// add registers c's socket with the poller; held is what the server sent
// after the set-up (handoffConn.take), read first.
func (p *poller) add(c *benchConn, tcp syscall.Conn, held []byte) error {
	rc, err := tcp.SyscallConn()
	if err != nil {
		return err
	}
	pc := &pollConn{c: c, rc: rc, p: p}
	p.mu.Lock()
	defer p.mu.Unlock()
	var aerr error
	cerr := rc.Control(func(fd uintptr) {
		pc.fd = int32(fd)
		ev := unix.EpollEvent{Events: epollEvents, Fd: pc.fd}
		if aerr = unix.EpollCtl(p.ep, unix.EPOLL_CTL_ADD, int(fd), &ev); aerr != nil {
			aerr = os.NewSyscallError("epoll_ctl", aerr)
			return
		}
		p.conns[pc.fd] = pc
	})
	if cerr != nil {
		return cerr
	}
	if aerr != nil {
		return aerr
	}
	c.pc = pc
	if len(held) > 0 {
		// These came before anything the socket holds now, and may
		// hold whole messages: nothing need follow them.
		p.parse(pc, held, len(held), time.Now(), false)
	}
	return nil
}

// remove deregisters c's socket, which stays open; once it returns the
// poller no longer reads it. Calling it again does nothing.
func (p *poller) remove(pc *pollConn) {
	p.mu.Lock()
	p.removeLocked(pc)
	p.mu.Unlock()
}

func (p *poller) removeLocked(pc *pollConn) {
	if p.conns[pc.fd] != pc {
		return
	}
	delete(p.conns, pc.fd)
	_ = pc.rc.Control(func(fd uintptr) { _ = unix.EpollCtl(p.ep, unix.EPOLL_CTL_DEL, int(fd), nil) })
	pc.pending = nil
	pc.r = wsReader{}
}

// loop waits for readable sockets and reads them, until stop.
func (p *poller) loop() {
	defer close(p.done)
	for {
		var n int
		var werr error
		err := p.rc.Read(func(fd uintptr) bool {
			n, werr = unix.EpollWait(int(fd), p.evs[:], 0)
			if werr == unix.EINTR {
				n, werr = 0, nil
			}
			return n > 0 || werr != nil
		})
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
			return
		}
		if err == nil {
			err = werr
		}
		if err != nil {
			// Not seen in practice; the connections left stall, and
			// what they miss counts as lost.
			p.s.count(p.s.errorCodes, "poll_wait")
			return
		}
		p.mu.Lock()
		p.batches++
		p.events += int64(n)
		for _, ev := range p.evs[:n] {
			if pc := p.conns[ev.Fd]; pc != nil {
				p.service(pc, ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
			}
		}
		p.mu.Unlock()
	}
}

// stop ends the loop and closes the epoll descriptor; every connection
// must have been removed.
func (p *poller) stop() {
	_ = p.f.SetReadDeadline(time.Unix(1, 0))
	<-p.done
	_ = p.f.Close()
}

// service reads pc's socket until it has nothing more (or, hup: to the
// end), handing every whole message to the shard.
func (p *poller) service(pc *pollConn, hup bool) {
	for {
		// The working buffer: the poller's, with the leftover copied to
		// its start, unless the frame begun is longer than it.
		wb, n0, own := p.buf, 0, false
		if len(pc.pending) > 0 {
			need := frameNeed(pc.pending)
			if need <= len(p.buf) {
				n0 = copy(wb, pc.pending)
			} else {
				if cap(pc.pending) < need {
					pc.pending = append(make([]byte, 0, need), pc.pending...)
				}
				wb, n0, own = pc.pending[:cap(pc.pending)], len(pc.pending), true
			}
		}
		// The descriptor is read directly, not through the RawConn (whose
		// closure and reference count cost 5% of the bench's CPU here):
		// it stays open while pc is registered, as the bench closes a
		// socket only after remove, which waits for the batch being read.
		var n int
		var rerr error
		for {
			n, rerr = syscall.Read(int(pc.fd), wb[n0:])
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			return
		}
		if rerr != nil || n <= 0 {
			err := error(&websocket.CloseError{Code: websocket.CloseAbnormalClosure, Text: io.ErrUnexpectedEOF.Error()})
			if rerr != nil {
				err = os.NewSyscallError("read", rerr)
			}
			p.lose(pc, err)
			return
		}
		if !p.parse(pc, wb, n0+n, time.Now(), own) {
			return
		}
		if n < len(wb)-n0 && !hup {
			return // a short read: the socket is empty; new bytes fire again
		}
	}
}

// parse handles the whole frames in wb[:end], read at now, and keeps the
// start of an incomplete one in pending. It reports false when the
// connection ended. own: wb is pending's own array.
func (p *poller) parse(pc *pollConn, wb []byte, end int, now time.Time, own bool) bool {
	s, c := p.s, pc.c
	off := 0
	for {
		ev, data, k, err := pc.r.next(wb[off:end])
		off += k
		switch ev {
		case evMessage:
			s.deliver(c, data, now)
			pc.r.done()
			continue
		case evPing:
			_ = c.ws.WriteControl(websocket.PongMessage, data, time.Now().Add(time.Second))
			continue
		case evClose:
			var ce *websocket.CloseError
			msg := []byte{}
			if errors.As(err, &ce) && ce.Code != websocket.CloseNoStatusReceived {
				msg = websocket.FormatCloseMessage(ce.Code, "")
			}
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			p.lose(pc, err)
			return false
		}
		if err != nil {
			if isFrameError(err) {
				_ = c.ws.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseProtocolError, ""), time.Now().Add(time.Second))
			}
			p.lose(pc, err)
			return false
		}
		break
	}
	rest := wb[off:end]
	switch {
	case len(rest) == 0:
		if cap(pc.pending) > keepPending {
			pc.pending = nil
		} else {
			pc.pending = pc.pending[:0]
		}
	case own:
		pc.pending = wb[:copy(wb, rest)]
	default:
		pc.pending = append(pc.pending[:0], rest...)
	}
	return true
}

// lose ends pc on the poll path: deregistered, and counted as the
// goroutine path counts a reader's end.
func (p *poller) lose(pc *pollConn, err error) {
	p.removeLocked(pc)
	p.s.lost(pc.c, err)
}

// stopPollers is for the shard's end, after removeAll.
func stopPollers(ps []*poller) {
	for _, p := range ps {
		p.stop()
	}
}
