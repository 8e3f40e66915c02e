package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// Server frames are written here, on the socket, not by gorilla: a batch
// goes out as one text frame (FIN set, never masked, RFC 6455 §5.2) in one
// write, where gorilla's writer cut it into 4 KiB continuation frames, a
// write each. gorilla only upgrades the connection; rtsync reads the
// client's frames too (wsread.go, wsin.go).
//
// Every frame the server sends, whoever sends it, is written holding the
// frameWriter's lock: batches (the connection's writer, or a room's
// fan-out, fanout.go), pings (the heartbeat sweep), pongs and close
// replies (the reader), and close frames (Transport.Close). No two frames
// can interleave. Should gorilla write a frame after the upgrade (it has
// no reason to: it no longer reads), it too would go through the lock
// (wsNetConn.Write).

// A batch frame is either copied into one pooled buffer and written with
// write(2), or written with writev(2) straight from the objects (two
// iovecs per object). Copying is cheaper up to copySmall bytes, and up to
// copyMax when the objects are small (under copyObj bytes on average),
// where the kernel's per-iovec cost outweighs a memmove; for larger
// objects writev wins, as the kernel copies the bytes anyway. Measured
// with BenchmarkWSWriteBatch on loopback (2 cores, CPU per frame, both
// ends): 128 objects of 128 B, 11 µs copied against 19 µs with writev;
// 500 of them (64 KB), 28 against 56 µs; one object of 16 or 64 KiB,
// the same either way; one of 1 MiB, 2.4 ms against 0.46 ms.
const (
	copySmall = 16 << 10
	copyMax   = 64<<10 + 64
	copyObj   = 1 << 10
)

// writeMode forces one way for the benchmark: 0 chooses as above, 1
// copies, 2 uses writev.
var writeMode = 0

// useCopy reports whether a frame of size bytes of n objects is copied.
func useCopy(size, n int) bool {
	switch writeMode {
	case 1:
		return true
	case 2:
		return false
	}
	return size <= copySmall || size <= copyMax && size < copyObj*n
}

// maxHeader is the longest server frame header: no mask key.
const maxHeader = 10

// controlsMax is the most that queued control frames (a pong and a ping)
// add ahead of a batch frame, with the batch frame's own header.
const controlsMax = 2*maxHeader + 125 + maxHeader

// errCloseSent is WriteBatch's error once a close frame went out: no data
// frame may follow it.
var errCloseSent = errors.New("websocket: close frame already sent")

// errBroken is the error after a write failed: a frame may be half
// written, so nothing more can be.
var errBroken = errors.New("websocket: an earlier write failed; the connection is closed")

var (
	copyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
	vecBufs  = sync.Pool{New: func() any { return &vecBuf{v: make(net.Buffers, 0, 64)} }}
)

// vecBuf is what a writev of a batch needs: the buffers, and room for the
// frame's header and the control frames ahead of it.
type vecBuf struct {
	v   net.Buffers
	hdr [controlsMax]byte
}

// frameWriter writes a WebSocket connection's server frames.
type frameWriter struct {
	// raw is the socket: a *frameConn, or a *tls.Conn.
	raw net.Conn
	// vec: raw writes net.Buffers with one writev (a TCP connection);
	// otherwise (TLS) a batch is copied and written with one Write, which
	// crypto/tls sends as one write(2) per TLS record (up to 16 KiB).
	vec bool

	// lock is the write lock, a channel so that a close can give up
	// waiting for it. What follows is guarded by it.
	lock      chan struct{}
	closeSent bool
	broken    bool
	// rest is the unwritten end of a frame that tryWrite could only
	// partly write: it goes out before any other frame. It is a slice of
	// a frame shared by many connections, never changed.
	rest []byte

	// rc writes without blocking (tryWrite): the socket's RawConn, nil
	// where frames are not written that way (TLS, systems without it).
	rc syscall.RawConn

	// Control frames queued by goroutines that found the lock taken: the
	// holder writes them before it lets go (unlock), so a ping never waits
	// for a batch and the reader never waits to answer one.
	pingDue atomic.Bool
	pong    atomic.Pointer[[]byte] // payload of the latest unanswered client ping
}

func newFrameWriter(raw net.Conn) frameWriter {
	_, vec := raw.(*frameConn)
	if _, ok := raw.(*net.TCPConn); ok {
		vec = true
	}
	var rc syscall.RawConn
	if sc, ok := raw.(syscall.Conn); ok && vec && directWrites {
		rc, _ = sc.SyscallConn()
	}
	return frameWriter{raw: raw, vec: vec, lock: make(chan struct{}, 1), rc: rc}
}

// appendHeader appends the header of an unmasked final frame with opcode op
// and n bytes of payload.
func appendHeader(b []byte, op byte, n int) []byte {
	b = append(b, 0x80|op)
	switch {
	case n <= 125:
		return append(b, byte(n))
	case n <= 0xffff:
		return append(b, 126, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}

// tryLock takes the lock if it is free.
func (w *frameWriter) tryLock() bool {
	select {
	case w.lock <- struct{}{}:
		return true
	default:
		return false
	}
}

// lockWithin takes the lock, waiting at most d.
func (w *frameWriter) lockWithin(d time.Duration) bool {
	if w.tryLock() {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case w.lock <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// unlock lets go of the lock, then writes the control frames queued while
// it was held, unless another goroutine took the lock meanwhile (it will).
func (w *frameWriter) unlock() {
	for {
		<-w.lock
		if !w.controlsDue() || !w.tryLock() {
			return
		}
		if len(w.rest) > 0 {
			// A frame is half written: whoever finishes it (flushRest)
			// sends the controls after it.
			<-w.lock
			return
		}
		_ = w.writeControlsLocked()
	}
}

func (w *frameWriter) controlsDue() bool { return w.pingDue.Load() || w.pong.Load() != nil }

// appendControls appends the queued pong and ping frames to b.
func (w *frameWriter) appendControls(b []byte) []byte {
	if p := w.pong.Swap(nil); p != nil {
		b = append(appendHeader(b, websocket.PongMessage, len(*p)), *p...)
	}
	if w.pingDue.Swap(false) {
		b = appendHeader(b, websocket.PingMessage, 0)
	}
	return b
}

// writeControlsLocked writes the queued control frames, bounded by
// controlTimeout.
func (w *frameWriter) writeControlsLocked() error {
	if len(w.rest) > 0 {
		// A frame is half written, and its writer (the connection's
		// writer goroutine, which finishes it) sends the controls after.
		return nil
	}
	var buf [2*maxHeader + 125]byte
	b := w.appendControls(buf[:0])
	if len(b) == 0 || w.closeSent || w.broken {
		return nil // after a close frame, only the peer's close may come
	}
	return w.writeLocked(b, time.Now().Add(controlTimeout))
}

// flushRestLocked writes the end of a partly written frame, if any, with
// deadline d (zero: none).
func (w *frameWriter) flushRestLocked(d time.Time) error {
	if len(w.rest) == 0 {
		return nil
	}
	rest := w.rest
	w.rest = nil
	return w.writeLocked(rest, d)
}

// tryWrite writes frame, a whole server frame, without waiting: not for
// the lock, nor for room in the socket. It returns how much it wrote:
// len(frame); or less, and the rest is kept to be written (flushRest)
// before any other frame; or -1 when it did not try (the lock is taken, a
// frame is half written, the connection is closing, or it cannot write
// this way), and the caller queues frame's content instead.
func (w *frameWriter) tryWrite(frame []byte) (int, error) {
	if w.rc == nil || !w.tryLock() {
		return -1, nil
	}
	defer w.unlock()
	if w.closeSent || w.broken || len(w.rest) > 0 {
		return -1, nil
	}
	n, err := rawWrite(w.rc, frame)
	if err != nil {
		w.breakLocked()
		return 0, err
	}
	if n < len(frame) {
		w.rest = frame[n:]
	}
	return n, nil
}

// flushRest writes the end of a frame tryWrite left half written,
// waiting for the socket as a batch write does.
func (w *frameWriter) flushRest() error {
	w.lock <- struct{}{}
	defer w.unlock()
	return w.flushRestLocked(time.Time{})
}

// writeLocked writes b whole with one Write, with deadline d (zero: none;
// the write watchdog bounds batches). A failed write breaks the
// connection: the socket is closed, since a frame may be half written.
func (w *frameWriter) writeLocked(b []byte, d time.Time) error {
	if w.broken {
		return errBroken
	}
	if !d.IsZero() {
		_ = w.raw.SetWriteDeadline(d)
		defer func() { _ = w.raw.SetWriteDeadline(time.Time{}) }()
	}
	if _, err := w.raw.Write(b); err != nil {
		w.breakLocked()
		return err
	}
	return nil
}

func (w *frameWriter) breakLocked() {
	w.broken = true
	_ = w.raw.Close()
}

// writeBatch writes objs, joined by '\n', as one text frame with one write
// (one writev on TCP), with any queued control frames ahead of it.
func (w *frameWriter) writeBatch(objs [][]byte) error {
	size := len(objs) - 1
	for _, b := range objs {
		size += len(b)
	}
	size = max(size, 0)
	w.lock <- struct{}{}
	defer w.unlock()
	if w.closeSent {
		return errCloseSent
	}
	if err := w.flushRestLocked(time.Time{}); err != nil {
		return err
	}
	if w.broken {
		return errBroken
	}
	if !w.vec || useCopy(size, len(objs)) {
		bp := copyBufs.Get().(*[]byte)
		if need := controlsMax + size; cap(*bp) < need {
			*bp = make([]byte, 0, need) // one allocation, not append's several
		}
		b := w.appendControls((*bp)[:0])
		b = appendHeader(b, websocket.TextMessage, size)
		for i, o := range objs {
			if i > 0 {
				b = append(b, '\n')
			}
			b = append(b, o...)
		}
		err := w.writeLocked(b, time.Time{})
		if cap(b) <= controlsMax+copyMax {
			*bp = b[:0]
			copyBufs.Put(bp)
		}
		return err
	}
	vb := vecBufs.Get().(*vecBuf)
	if need := 2 * len(objs); cap(vb.v) < need {
		vb.v = make(net.Buffers, 0, need)
	}
	vb.v = append(vb.v[:0], appendHeader(w.appendControls(vb.hdr[:0]), websocket.TextMessage, size))
	for i, o := range objs {
		if i > 0 {
			vb.v = append(vb.v, newline)
		}
		vb.v = append(vb.v, o)
	}
	all := vb.v
	// WriteTo writes it all, through short writes, with as many writev
	// calls as that takes (one unless the socket is full), and consumes
	// vb.v.
	_, err := vb.v.WriteTo(w.raw)
	clear(all)
	if cap(all) <= 2048 {
		vb.v = all[:0]
		vecBufs.Put(vb)
	}
	if err != nil {
		w.breakLocked()
	}
	return err
}

var newline = []byte{'\n'}

// ping queues a ping and writes it unless a frame is being written, whose
// writer sends it instead.
func (w *frameWriter) ping() error {
	w.pingDue.Store(true)
	return w.flushControls()
}

// answerPing queues the pong that answers a client's ping (the latest
// one's, if several wait: RFC 6455 §5.5.3 allows that) and writes it
// unless a frame is being written, whose writer sends it instead.
func (w *frameWriter) answerPing(payload string) {
	p := []byte(payload)
	w.pong.Store(&p)
	_ = w.flushControls()
}

func (w *frameWriter) flushControls() error {
	if !w.tryLock() {
		return nil
	}
	err := w.writeControlsLocked()
	w.unlock()
	return err
}

// writeClose writes the close frame with payload msg, waiting at most d for
// the lock and d for the write. It reports false if it did not: the lock
// stayed taken, a close frame already went out, or the write failed.
func (w *frameWriter) writeClose(msg []byte, d time.Duration) bool {
	if !w.lockWithin(d) {
		return false
	}
	defer w.unlock()
	if w.closeSent || w.broken {
		return false
	}
	if w.flushRestLocked(time.Now().Add(d)) != nil {
		return false
	}
	w.closeSent = true
	var buf [maxHeader + 125]byte
	return w.writeLocked(append(appendHeader(buf[:0], websocket.CloseMessage, len(msg)), msg...), time.Now().Add(d)) == nil
}

// answerClose answers the client's close frame with its code, once: not
// if the server closed first (the client's frame is then the answer).
// The reader calls it (wsin.go), as gorilla's default close handler did.
func (w *frameWriter) answerClose(code int, _ string) error {
	w.writeClose(websocket.FormatCloseMessage(code, ""), controlTimeout)
	return nil
}

// wsNetConn is the socket as gorilla sees it. gorilla writes through it
// only the handshake response; any frame it might write would go through
// the lock. Its write deadlines are ignored: the frameWriter sets its own.
type wsNetConn struct {
	net.Conn
	w *frameWriter
}

func (c *wsNetConn) Write(p []byte) (int, error) {
	if len(p) == 0 || p[0]&0x80 == 0 {
		// The handshake response, written before anything else can be.
		return c.Conn.Write(p)
	}
	// A frame gorilla wrote itself: a close, whole, in one Write.
	if !c.w.lockWithin(controlTimeout) {
		return 0, errors.New("websocket: timed out waiting to write a close frame")
	}
	defer c.w.unlock()
	if c.w.closeSent {
		return len(p), nil // answered once
	}
	if err := c.w.flushRestLocked(time.Now().Add(controlTimeout)); err != nil {
		return 0, err
	}
	if p[0] == 0x80|websocket.CloseMessage {
		c.w.closeSent = true
	}
	if err := c.w.writeLocked(p, time.Now().Add(controlTimeout)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsNetConn) SetWriteDeadline(time.Time) error { return nil }

// hijackWriter hands gorilla's upgrader the socket wrapped in wsNetConn.
type hijackWriter struct {
	http.ResponseWriter
	w *frameWriter
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("websocket: the response cannot be hijacked")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	*h.w = newFrameWriter(nc)
	return &wsNetConn{Conn: nc, w: h.w}, brw, nil
}
