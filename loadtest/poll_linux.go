package loadtest

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"github.com/rtsync/rtsync/internal/epoll"
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
	s *shard
	q *epoll.Queue

	mu    sync.Mutex
	conns map[int32]*pollConn
	buf   []byte
	done  chan struct{}
	// batches and events count the waits and the sockets they returned
	// (under mu), for the read-path benchmark.
	batches, events int64
}

// pollConn is one connection's state on the poll path.
type pollConn struct {
	c *benchConn
	// fd is the poll path's own descriptor of the socket: a duplicate,
	// the net.Conn's closed, so that Go's poller no longer wakes for
	// every frame as well (the poller's epoll alone does).
	fd     int32
	closed bool // fd is closed (under the poller's mu)
	r      wsReader
	// pending is the start of a frame the last read ended in.
	pending []byte
	p       *poller
}

func newPoller(s *shard) (*poller, error) {
	q, err := epoll.Open(256)
	if err != nil {
		return nil, err
	}
	p := &poller{s: s, q: q, conns: map[int32]*pollConn{}, buf: make([]byte, pollBufSize), done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// add registers c's socket with the poller and closes nc, the net.Conn
// it came as (the socket stays open on the poller's own descriptor); held
// is what the server sent after the set-up (handoffConn.held), read first.
// On an error nc is untouched.
func (p *poller) add(c *benchConn, nc net.Conn, tcp syscall.Conn, held []byte) error {
	rc, err := tcp.SyscallConn()
	if err != nil {
		return err
	}
	dup := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return err
	}
	if derr != nil {
		return os.NewSyscallError("fcntl", derr)
	}
	pc := &pollConn{c: c, fd: int32(dup), p: p}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.q.Add(dup, pc.fd); err != nil {
		_ = unix.Close(dup)
		return os.NewSyscallError("epoll_ctl", err)
	}
	p.conns[pc.fd] = pc
	_ = nc.Close()
	c.pc = pc
	if len(held) > 0 {
		// These came before anything the socket holds now, and may
		// hold whole messages: nothing need follow them.
		p.parse(pc, held, len(held), time.Now(), false)
	}
	return nil
}

func (p *poller) removeLocked(pc *pollConn) {
	if p.conns[pc.fd] != pc {
		return
	}
	delete(p.conns, pc.fd)
	_ = p.q.Remove(int(pc.fd))
	pc.pending = nil
	pc.r = wsReader{}
}

// close deregisters pc and closes its socket; calling it again does nothing.
func (p *poller) close(pc *pollConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(pc)
	if !pc.closed {
		pc.closed = true
		_ = unix.Close(int(pc.fd))
	}
}

// write sends a control frame (pong, close) to pc's server, masked as a
// client's frames are. A socket's send buffer is empty but for these on
// the poll path (subscribers send nothing else), so a write that would
// block is dropped, as gorilla drops one that times out.
func (p *poller) write(pc *pollConn, op byte, payload []byte) {
	var b [2 + 4 + maxControlPayload]byte
	payload = payload[:min(len(payload), maxControlPayload)]
	b[0], b[1] = 0x80|op, 0x80|byte(len(payload))
	key := rand.Uint32()
	binary.BigEndian.PutUint32(b[2:6], key)
	for i, x := range payload {
		b[6+i] = x ^ b[2+i%4]
	}
	for {
		if _, err := syscall.Write(int(pc.fd), b[:6+len(payload)]); err != syscall.EINTR {
			return
		}
	}
}

// loop waits for readable sockets and reads them, until stop.
func (p *poller) loop() {
	defer close(p.done)
	for {
		evs, stopped, err := p.q.Wait()
		if stopped {
			return
		}
		if err != nil {
			// Not seen in practice; the connections left stall, and
			// what they miss counts as lost.
			p.s.count(p.s.errorCodes, "poll_wait")
			return
		}
		p.mu.Lock()
		p.batches++
		p.events += int64(len(evs))
		for _, ev := range evs {
			if pc := p.conns[ev.Key]; pc != nil {
				p.service(pc, ev.Hup)
			}
		}
		p.mu.Unlock()
	}
}

// stop ends the loop and closes the epoll descriptor; every connection
// must have been removed.
func (p *poller) stop() {
	p.q.Wake()
	<-p.done
	p.q.Close()
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
		// fd stays open while pc is registered: close removes it first,
		// under mu.
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
			p.write(pc, opPong, data)
			continue
		case evClose:
			var ce *websocket.CloseError
			msg := []byte{}
			if errors.As(err, &ce) && ce.Code != websocket.CloseNoStatusReceived {
				msg = websocket.FormatCloseMessage(ce.Code, "")
			}
			p.write(pc, opClose, msg)
			p.lose(pc, err)
			return false
		}
		if err != nil {
			if isFrameError(err) {
				p.write(pc, opClose, websocket.FormatCloseMessage(websocket.CloseProtocolError, ""))
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
