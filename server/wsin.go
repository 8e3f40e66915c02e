package server

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rtsync/rtsync/protocol"
)

// The read side of a WebSocket connection. One parser (wsread.go) behind
// two ways of waiting for the client's bytes:
//
//   - poll: the socket is registered with the server's poller (epoll on
//     Linux, kqueue on macOS and the BSDs; netpoll_*.go), edge-triggered.
//     An idle connection then holds no goroutine and no read buffer. When
//     the socket turns readable the poller starts a goroutine, which reads
//     into a pooled buffer and handles every frame until the socket has no
//     more bytes, then exits. An edge while that goroutine runs only tells
//     it to read again, so at most one goroutine reads a connection and
//     its frames are handled in order; a command that waits on a hook
//     holds only its own connection's goroutine.
//   - goroutine: a goroutine per connection blocks reading. It serves TLS
//     connections (crypto/tls reads through its own buffers), connections
//     served through Server.Handler by another HTTP server, systems without
//     a poller, and every connection with Config.ReadMode "goroutine". On
//     a Unix TCP socket it waits for readability in Go's poller before it
//     takes a read buffer, so an idle one holds only its goroutine.

// Read modes (Config.ReadMode).
const (
	ReadModeAuto      = "auto"
	ReadModePoll      = "poll"
	ReadModeGoroutine = "goroutine"
)

// defaultReadMode is the mode of a Config that names none or auto. Tests
// set it from RTSYNC_READ_MODE, so the whole suite runs on either path.
var defaultReadMode = ReadModeAuto

// readBufSize is the size of the pooled buffers reads go into: a read takes
// every frame the socket holds up to this many bytes, and a longer message
// streams through it into its own buffer.
const readBufSize = 8 << 10

// blockingBufSize is the buffer of a goroutine that blocks inside Read
// (TLS, or no raw socket), which it keeps for the connection's life.
const blockingBufSize = 2 << 10

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// wsIn reads and handles one WebSocket connection's client frames.
type wsIn struct {
	c *conn
	t *wsTransport
	p wsParser
	// rest is what the last read left unparsed: the start of a frame
	// header or of a control frame, at most 131 bytes; nil almost always.
	rest []byte

	// The poll path: the registered socket, its descriptor (the poller's
	// key), and whether a goroutine is reading it.
	rc     syscall.RawConn
	poller *poller
	fd     int
	state  atomic.Int32
	// hup: the poller saw the peer close or reset the socket, so a short
	// read no longer means the reader may stop: it reads to the end.
	hup atomic.Bool
}

// wsIn states on the poll path.
const (
	inIdle    = iota // registered; the poller starts a reader when it fires
	inReading        // a goroutine reads and handles frames
	inPending        // the same, and the socket fired again meanwhile
	inDone           // the connection ended; no more reads
)

func newWSIn(c *conn, t *wsTransport) *wsIn {
	s := c.srv
	in := &wsIn{c: c, t: t}
	in.p.limit = int64(s.cfg.MaxMessageSize)
	in.p.hard = int64(s.cfg.MaxMessageSize) * hardLimitFactor
	return in
}

// start starts reading the connection on the poll path if it can, else on
// a goroutine of its own.
func (in *wsIn) start(p *poller) {
	if fc, ok := in.t.w.raw.(*frameConn); ok && p != nil {
		if rc, err := fc.SyscallConn(); err == nil {
			in.rc = rc
			if p.add(in, fc) == nil {
				return
			}
			in.rc = nil
		}
	}
	go in.run()
}

// wsMessage, wsPing and wsPong make wsIn the parser's sink.
func (in *wsIn) wsMessage(pl []byte, tooLarge, binary bool) {
	c := in.c
	switch {
	case binary:
		c.sendError(protocol.CodeBadFrame, "binary frames are not supported; send JSON in text frames")
	case tooLarge:
		c.sendError(protocol.CodeTooLarge, "frame is longer than the server's limit of "+itoa(c.srv.cfg.MaxMessageSize)+" bytes")
	default:
		c.handleFrame(pl)
	}
}

func (in *wsIn) wsPing(pl []byte) { in.t.w.answerPing(string(pl)) }

func (in *wsIn) wsPong() {} // feed touched the connection already

// take returns a read buffer with what the last read left at its start.
func (in *wsIn) take() (*[]byte, int) {
	bp := readBufs.Get().(*[]byte)
	return bp, copy(*bp, in.rest)
}

// feed handles the frames in b (what the last read left, then the bytes
// just read) and keeps what it could not parse yet. It reports false when
// the connection ended.
func (in *wsIn) feed(b []byte) bool {
	in.c.touch()
	n, err := in.p.parse(b, in)
	if err != nil {
		in.rest = nil
		in.fail(err)
		return false
	}
	if n == len(b) {
		in.rest = nil
	} else {
		in.rest = append(in.rest[:0:0], b[n:]...)
	}
	return true
}

// fail ends the connection on err: the client's close frame, a protocol
// violation, or a failed read.
func (in *wsIn) fail(err error) {
	c, s := in.c, in.c.srv
	in.p.reset()
	var we *wsError
	switch {
	case errors.As(err, &we) && we.peer:
		s.log.Debug("client closed", "client", c.id, "code", we.code, "reason", we.text)
		c.peerClosed(we.code, we.text)
		_ = in.t.w.answerClose(we.code, "")
		c.close(0, "")
	case errors.As(err, &we):
		if we.code == closeTooBig {
			s.log.Info("frame over hard limit, closing", "client", c.id, "remote", c.t.RemoteAddr())
		} else {
			s.log.Debug("protocol error, closing", "client", c.id, "code", we.code, "err", we.text)
		}
		c.close(we.code, we.text)
	default:
		if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			s.log.Debug("connection closed", "client", c.id)
		} else {
			s.log.Debug("read failed", "client", c.id, "err", err)
		}
		c.close(0, "")
	}
}

// run is the goroutine path: it reads until the connection ends.
func (in *wsIn) run() {
	if sc, ok := in.t.w.raw.(syscall.Conn); ok && rawReads {
		if rc, err := sc.SyscallConn(); err == nil {
			in.runRaw(rc)
			return
		}
	}
	nc := in.t.w.raw
	buf := make([]byte, blockingBufSize)
	for {
		k := copy(buf, in.rest)
		n, err := nc.Read(buf[k:])
		if n > 0 && !in.feed(buf[:k+n]) {
			return
		}
		if err != nil {
			in.fail(err)
			return
		}
	}
}

// runRaw is run on a Unix socket: it parks in Go's poller until the socket
// is readable and only then takes a read buffer.
func (in *wsIn) runRaw(rc syscall.RawConn) {
	for {
		var bp *[]byte
		var k, n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			bp, k = in.take()
			n, rerr = sysRead(fd, (*bp)[k:])
			if errors.Is(rerr, syscall.EAGAIN) {
				// Back to the pool while it waits; nil, so that an
				// error ending the wait does not put it back twice
				// (two readers would then share one buffer).
				readBufs.Put(bp)
				bp = nil
				return false
			}
			return true
		})
		if err == nil {
			err = rerr
		}
		if err == nil && n == 0 {
			err = io.EOF
		}
		if err != nil {
			if bp != nil {
				readBufs.Put(bp)
			}
			in.fail(err)
			return
		}
		ok := in.feed((*bp)[:k+n])
		readBufs.Put(bp)
		if !ok {
			return
		}
	}
}

// ready is the poll path's reader, started by the poller when the socket
// turned readable: it reads and handles frames until the socket has no
// more. A read shorter than the buffer emptied the socket, and any byte
// that comes after it raises a new edge, so it needs no read to see
// EAGAIN; an edge raised while it still runs (inPending) makes it read
// again instead of starting a second reader. Once the peer closed (hup)
// it reads on until the end of the stream, which the edge that brought
// the last bytes announced too.
func (in *wsIn) ready() {
	for {
		bp, k := in.take()
		var n int
		var rerr error
		err := in.rc.Control(func(fd uintptr) { n, rerr = sysRead(fd, (*bp)[k:]) })
		if err == nil {
			err = rerr
		}
		again := errors.Is(err, syscall.EAGAIN)
		if err == nil && n == 0 {
			err = io.EOF
		}
		if err != nil && !again {
			readBufs.Put(bp)
			in.state.Store(inDone)
			in.fail(err)
			return
		}
		if n > 0 {
			ok := in.feed((*bp)[:k+n])
			readBufs.Put(bp)
			if !ok {
				in.state.Store(inDone)
				return
			}
		} else {
			readBufs.Put(bp)
		}
		if again || k+n < readBufSize && !in.hup.Load() {
			if in.state.CompareAndSwap(inReading, inIdle) {
				return
			}
			// inPending: bytes came meanwhile. Only this goroutine moves
			// the state out of inReading or inPending.
			in.state.Store(inReading)
		}
	}
}
