package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

// rawFrame is one frame as it crossed the wire.
type rawFrame struct {
	fin     bool
	op      byte
	masked  bool
	payload []byte
}

// parseFrames splits b, the bytes a client read after the handshake, into
// frames. It reports an error for anything that is not a whole frame.
func parseFrames(b []byte) ([]rawFrame, error) {
	var out []rawFrame
	for len(b) > 0 {
		if len(b) < 2 {
			return out, errors.New("truncated header")
		}
		f := rawFrame{fin: b[0]&0x80 != 0, op: b[0] & 0x0f, masked: b[1]&0x80 != 0}
		if b[0]&0x70 != 0 {
			return out, fmt.Errorf("reserved bits set: %#x", b[0])
		}
		n, h := uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return out, errors.New("truncated 16-bit length")
			}
			n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
			if n < 126 {
				return out, fmt.Errorf("16-bit length %d is not minimal", n)
			}
		case 127:
			if len(b) < 10 {
				return out, errors.New("truncated 64-bit length")
			}
			n, h = binary.BigEndian.Uint64(b[2:]), 10
			if n>>63 != 0 || n <= 0xffff {
				return out, fmt.Errorf("64-bit length %d is not valid or not minimal", n)
			}
		}
		if f.masked {
			return out, errors.New("server frame is masked")
		}
		if uint64(len(b)-h) < n {
			return out, fmt.Errorf("truncated payload: %d of %d bytes", len(b)-h, n)
		}
		f.payload = b[h : h+int(n)]
		out = append(out, f)
		b = b[h+int(n):]
	}
	return out, nil
}

// teeConn records what the client reads.
type teeConn struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
	// chunk, if set, is the most bytes one Read returns: a slow reader.
	chunk int
}

func (c *teeConn) Read(p []byte) (int, error) {
	if c.chunk > 0 && len(p) > c.chunk {
		p = p[:c.chunk]
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.got.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

// frames returns the frames read so far, past the handshake response.
func (c *teeConn) frames(t *testing.T) []rawFrame {
	t.Helper()
	c.mu.Lock()
	b := bytes.Clone(c.got.Bytes())
	c.mu.Unlock()
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatalf("no handshake response in %q", b)
	}
	fs, err := parseFrames(b[i+4:])
	if err != nil {
		t.Fatalf("the stream does not parse as frames: %v (%d frames before)", err, len(fs))
	}
	return fs
}

// frameHarness is a WebSocket connection whose server side writes through
// a frameWriter, upgraded by gorilla as serveWS does.
type frameHarness struct {
	srv  *frameWriter
	sws  *websocket.Conn
	cws  *websocket.Conn
	tee  *teeConn
	stop func()
}

type harnessOpts struct {
	tls    bool
	chunk  int // the client reads at most this many bytes at a time
	sndbuf int // the server socket's SO_SNDBUF
	rcvbuf int // the client socket's SO_RCVBUF
}

func newFrameHarness(t *testing.T, o harnessOpts) *frameHarness {
	t.Helper()
	type side struct {
		fw *frameWriter
		ws *websocket.Conn
	}
	got := make(chan side, 1)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fw := new(frameWriter)
		up := websocket.Upgrader{ReadBufferSize: readBufferSize, WriteBufferSize: writeBufferSize, WriteBufferPool: &sync.Pool{}}
		ws, err := up.Upgrade(&hijackWriter{ResponseWriter: w, w: fw}, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		ws.SetPingHandler(func(p string) error { fw.answerPing(p); return nil })
		ws.SetCloseHandler(fw.answerClose)
		if o.sndbuf > 0 {
			tc, ok := fw.raw.(*net.TCPConn)
			if !ok {
				t.Errorf("raw conn is %T", fw.raw)
			} else {
				_ = tc.SetWriteBuffer(o.sndbuf)
			}
		}
		got <- side{fw, ws}
	}))
	if o.tls {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	tee := &teeConn{chunk: o.chunk}
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if o.rcvbuf > 0 {
				_ = nc.(*net.TCPConn).SetReadBuffer(o.rcvbuf)
			}
			tee.Conn = nc
			return tee, nil
		},
		HandshakeTimeout: 5 * time.Second,
	}
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	if o.tls {
		// The TLS client wraps the tee: it records ciphertext. Record
		// cleartext instead: dial TLS ourselves under the tee.
		d.NetDialContext = nil
		d.NetDialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
			if err := tc.HandshakeContext(ctx); err != nil {
				return nil, err
			}
			tee.Conn = tc
			return tee, nil
		}
		url = "wss" + strings.TrimPrefix(hs.URL, "https")
	}
	cws, _, err := d.Dial(url, nil)
	if err != nil {
		hs.Close()
		t.Fatalf("dial: %v", err)
	}
	var s side
	select {
	case s = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no server side")
	}
	h := &frameHarness{srv: s.fw, sws: s.ws, cws: cws, tee: tee}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			_ = cws.Close()
			_ = s.fw.raw.Close()
			hs.Close()
		})
	}
	t.Cleanup(h.stop)
	return h
}

// serveReads runs the server side's reader (which answers pings and
// closes) until it fails.
func (h *frameHarness) serveReads() <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			if _, _, err := h.sws.NextReader(); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

func payloadOf(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + (seed+byte(i))%26
	}
	return b
}

// TestFrameSizes: batches whose payload lengths sit on each side of the
// 7-bit, 16-bit and 64-bit length forms arrive as one final text frame
// each, which gorilla's client reads, over TCP (writev) and TLS (one copy).
//
// Not parallel: it sets writeMode, to take each way of writing (chosen,
// copied, writev) through every size.
func TestFrameSizes(t *testing.T) {
	sizes := []int{1, 125, 126, 65535, 65536, 1 << 20}
	for _, tc := range []struct {
		tls  bool
		mode int
	}{{false, 0}, {false, 1}, {false, 2}, {true, 0}} {
		t.Run(fmt.Sprintf("tls=%v/mode=%d", tc.tls, tc.mode), func(t *testing.T) {
			writeMode = tc.mode
			defer func() { writeMode = 0 }()
			h := newFrameHarness(t, harnessOpts{tls: tc.tls})
			var want [][]byte
			for i, n := range sizes {
				// As one object, and as three joined by newlines.
				one := payloadOf(n, byte(i))
				if err := h.srv.writeBatch([][]byte{one}); err != nil {
					t.Fatal(err)
				}
				want = append(want, one)
				if n >= 3 {
					a, b := n/3, n/3
					c := n - a - b - 2
					parts := [][]byte{payloadOf(a, 1), payloadOf(b, 2), payloadOf(c, 3)}
					if err := h.srv.writeBatch(parts); err != nil {
						t.Fatal(err)
					}
					want = append(want, bytes.Join(parts, newline))
				}
			}
			for i, w := range want {
				_ = h.cws.SetReadDeadline(time.Now().Add(10 * time.Second))
				typ, got, err := h.cws.ReadMessage()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if typ != websocket.TextMessage || !bytes.Equal(got, w) {
					t.Fatalf("message %d: type %d, %d bytes, want text of %d bytes", i, typ, len(got), len(w))
				}
			}
			fs := h.tee.frames(t)
			if len(fs) != len(want) {
				t.Fatalf("%d frames for %d batches", len(fs), len(want))
			}
			for i, f := range fs {
				if !f.fin || f.op != websocket.TextMessage || len(f.payload) != len(want[i]) {
					t.Fatalf("frame %d: fin %v op %d len %d, want one final text frame of %d", i, f.fin, f.op, len(f.payload), len(want[i]))
				}
			}
		})
	}
}

// TestFrameSlowReader: with a tiny send buffer (the kernel takes a few KiB
// per write of frames up to 200 KB) and a client that reads a few hundred
// bytes at a time, writes go through many short writes, and still every
// frame arrives whole and in order.
func TestFrameSlowReader(t *testing.T) {
	h := newFrameHarness(t, harnessOpts{chunk: 300, sndbuf: 4096})
	const n = 40
	var want [][]byte
	go func() {
		for i := range n {
			b := [][]byte{payloadOf(1+i*i*7919%200000, byte(i)), payloadOf(i%130, byte(i+1))}
			if err := h.srv.writeBatch(b); err != nil {
				t.Errorf("batch %d: %v", i, err)
				return
			}
		}
	}()
	for i := range n {
		want = append(want, bytes.Join([][]byte{payloadOf(1+i*i*7919%200000, byte(i)), payloadOf(i%130, byte(i+1))}, newline))
	}
	for i, w := range want {
		_ = h.cws.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, got, err := h.cws.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("message %d: %d bytes, want %d", i, len(got), len(w))
		}
	}
	if fs := h.tee.frames(t); len(fs) != n {
		t.Fatalf("%d frames, want %d", len(fs), n)
	}
}

// TestFrameControlRace: the server's pings, the pongs answering the
// client's pings, and a final close race with large batches; the stream
// stays whole frames, the batches in order, every client ping answered,
// one close at the end and nothing after it.
func TestFrameControlRace(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	for r := range rounds {
		h := newFrameHarness(t, harnessOpts{sndbuf: 8192})
		reads := h.serveReads()
		const batches = 30
		var pongs sync.WaitGroup
		pongs.Add(1)
		got := make(chan error, 1)
		go func() {
			// The client reads everything; its own handlers answer
			// pings (through gorilla's client writer, which is fine:
			// the client's frames go the other way).
			n := 0
			pongsSeen := 0
			h.cws.SetPongHandler(func(string) error {
				pongsSeen++
				if pongsSeen == 1 {
					pongs.Done()
				}
				return nil
			})
			for {
				_ = h.cws.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, b, err := h.cws.ReadMessage()
				if err != nil {
					var ce *websocket.CloseError
					if errors.As(err, &ce) && n == batches {
						got <- nil
					} else {
						got <- fmt.Errorf("after %d batches: %w", n, err)
					}
					return
				}
				if want := payloadOf(1000+n*3001, byte(n)); !bytes.Equal(b, want) {
					got <- fmt.Errorf("batch %d: %d bytes, want %d", n, len(b), len(want))
					return
				}
				n++
			}
		}()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range batches {
				if err := h.srv.writeBatch([][]byte{payloadOf(1000+i*3001, byte(i))}); err != nil {
					t.Errorf("round %d batch %d: %v", r, i, err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 50 {
				_ = h.srv.ping()
				if i%5 == 0 {
					// gorilla's client writes its control frames itself,
					// safely alongside its reader.
					_ = h.cws.WriteControl(websocket.PingMessage, []byte(fmt.Sprint("p", i)), time.Now().Add(5*time.Second))
				}
			}
		}()
		wg.Wait()
		if !h.srv.writeClose(websocket.FormatCloseMessage(4000, "done"), 5*time.Second) {
			t.Fatalf("round %d: close not written", r)
		}
		if err := <-got; err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		pongs.Wait()
		fs := h.tee.frames(t)
		data, closes := 0, 0
		for i, f := range fs {
			if !f.fin {
				t.Fatalf("round %d frame %d: not final", r, i)
			}
			switch f.op {
			case websocket.TextMessage:
				data++
			case websocket.PingMessage, websocket.PongMessage:
			case websocket.CloseMessage:
				closes++
				if i != len(fs)-1 {
					t.Fatalf("round %d: frames after the close", r)
				}
			default:
				t.Fatalf("round %d frame %d: opcode %d", r, i, f.op)
			}
		}
		if data != batches || closes != 1 {
			t.Fatalf("round %d: %d data frames and %d closes, want %d and 1", r, data, closes, batches)
		}
		h.stop()
		<-reads
	}
}

// TestFramePingPong: a client's ping is answered with a pong carrying its
// payload.
func TestFramePingPong(t *testing.T) {
	h := newFrameHarness(t, harnessOpts{})
	h.serveReads()
	pong := make(chan string, 1)
	h.cws.SetPongHandler(func(p string) error { pong <- p; return nil })
	go func() {
		for {
			if _, _, err := h.cws.NextReader(); err != nil {
				return
			}
		}
	}()
	if err := h.cws.WriteControl(websocket.PingMessage, []byte("hello there"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-pong:
		if p != "hello there" {
			t.Fatalf("pong %q, want the ping's payload", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
}

// TestFrameCloseOnce: a client's close is answered once with its code; a
// close after that, from either side, writes nothing.
func TestFrameCloseOnce(t *testing.T) {
	for _, serverFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("serverFirst=%v", serverFirst), func(t *testing.T) {
			h := newFrameHarness(t, harnessOpts{})
			reads := h.serveReads()
			closed := make(chan error, 1)
			go func() {
				for {
					if _, _, err := h.cws.NextReader(); err != nil {
						closed <- err
						return
					}
				}
			}()
			if serverFirst {
				if !h.srv.writeClose(websocket.FormatCloseMessage(4001, "bye"), time.Second) {
					t.Fatal("close not written")
				}
			} else {
				// The client's reader replies; this close is its own.
				if err := h.cws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4002, "me"), time.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			var ce *websocket.CloseError
			if err := <-closed; !errors.As(err, &ce) {
				t.Fatalf("client read: %v, want a close", err)
			}
			if err := <-reads; !errors.As(err, &ce) {
				t.Fatalf("server read: %v, want a close", err)
			}
			if h.srv.writeClose(websocket.FormatCloseMessage(1000, ""), time.Second) {
				t.Fatal("a second close was written")
			}
			if err := h.srv.writeBatch([][]byte{[]byte("late")}); !errors.Is(err, errCloseSent) {
				t.Fatalf("batch after close: %v, want errCloseSent", err)
			}
			fs := h.tee.frames(t)
			if len(fs) != 1 || fs[0].op != websocket.CloseMessage {
				t.Fatalf("frames %+v, want one close", fs)
			}
			want := 4002
			if serverFirst {
				want = 4001
			}
			if code := int(binary.BigEndian.Uint16(fs[0].payload)); code != want {
				t.Fatalf("close code %d, want %d", code, want)
			}
		})
	}
}

// TestFramePeerGoneMidFrame: a peer that closes while a large frame is
// being written makes the write fail, and the writer's goroutine returns.
func TestFramePeerGoneMidFrame(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := newFrameHarness(t, harnessOpts{sndbuf: 4096, rcvbuf: 4096})
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			err = h.srv.writeBatch([][]byte{payloadOf(4<<20, 1)})
		}
		done <- err
	}()
	buf := make([]byte, 1000)
	if _, err := h.tee.Conn.Read(buf); err != nil {
		t.Fatal(err)
	}
	_ = h.tee.Conn.(*net.TCPConn).SetLinger(0)
	_ = h.tee.Conn.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("writes to a closed peer succeeded")
		}
		if err := h.srv.writeBatch([][]byte{[]byte("x")}); !errors.Is(err, errBroken) {
			t.Fatalf("write after a failed one: %v, want errBroken", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write did not fail")
	}
	h.stop()
}

// TestServerNoCompression: a client asking for permessage-deflate is
// answered without it: the frame writer sends uncompressed frames only.
func TestServerNoCompression(t *testing.T) {
	_, url := startServer(t, Config{})
	d := websocket.Dialer{EnableCompression: true}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("server negotiated %q", ext)
	}
	if _, _, err := ws.ReadMessage(); err != nil { // the welcome
		t.Fatal(err)
	}
}

// FuzzFrameHeader: appendHeader's frames parse back to the length and
// opcode written; parseFrames never panics on any input.
func FuzzFrameHeader(f *testing.F) {
	f.Add(uint32(0), byte(1), []byte{})
	f.Add(uint32(125), byte(9), []byte{0x81, 0x7e, 0x00})
	f.Add(uint32(65536), byte(1), []byte{0x81, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, n uint32, op byte, junk []byte) {
		_, _ = parseFrames(junk)
		n %= 1 << 18
		op &= 0x0f
		b := appendHeader(nil, op, int(n))
		b = append(b, make([]byte, n)...)
		fs, err := parseFrames(b)
		if err != nil || len(fs) != 1 || fs[0].op != op || !fs[0].fin || len(fs[0].payload) != int(n) {
			t.Fatalf("n=%d op=%d: %+v %v", n, op, fs, err)
		}
	})
}

// dialTee dials the server at url with a gorilla client whose reads are
// recorded.
func dialTee(t *testing.T, url string) (*websocket.Conn, *teeConn) {
	t.Helper()
	tee := &teeConn{}
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		tee.Conn = nc
		return tee, err
	}}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws, tee
}

// TestServerFramesOnWire: through the server, a burst of messages and a
// large one arrive as final text frames, a client's ping gets its pong,
// and a client's close gets one close reply, the last frame.
func TestServerFramesOnWire(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{MaxMessageSize: 1 << 20})
	ws, tee := dialTee(t, url)
	events := make(chan []byte, 1024)
	readErr := make(chan error, 1)
	pong := make(chan string, 1)
	ws.SetPongHandler(func(p string) error { pong <- p; return nil })
	go func() {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			events <- b
		}
	}()
	send := func(s string) {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	next := func() string {
		select {
		case b := <-events:
			return string(b)
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
			return ""
		}
	}
	next() // welcome
	send(`{"op":"join","room":"w","id":1}`)
	next()
	big := strings.Repeat("y", 200<<10)
	send(`{"op":"pub","room":"w","data":"` + big + `","id":2}`)
	for i := range 50 {
		send(fmt.Sprintf(`{"op":"pub","room":"w","data":%d}`, i))
	}
	// The big message, its reply and the 50 small ones, in however many
	// batches the writer made of them.
	objs := 0
	for objs < 52 {
		objs += strings.Count(next(), "\n") + 1
	}
	if err := ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-pong:
		if p != "are you there" {
			t.Fatalf("pong %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if !websocket.IsCloseError(err, 1000) {
			t.Fatalf("read ended with %v, want the close reply", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no close reply")
	}
	fs := tee.frames(t)
	sawBig := false
	for i, f := range fs[:len(fs)-1] {
		if !f.fin || (f.op != websocket.TextMessage && f.op != websocket.PongMessage && f.op != websocket.PingMessage) {
			t.Fatalf("frame %d: fin %v op %d", i, f.fin, f.op)
		}
		sawBig = sawBig || bytes.Contains(f.payload, []byte(big))
	}
	if !sawBig {
		t.Fatal("the large message is in no one frame")
	}
	if last := fs[len(fs)-1]; last.op != websocket.CloseMessage || binary.BigEndian.Uint16(last.payload) != 1000 {
		t.Fatalf("last frame %+v, want the close reply", last)
	}
}
