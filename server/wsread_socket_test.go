package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtsync/rtsync/protocol"
)

// rawWS is a WebSocket client that writes whatever bytes a test gives it
// over a real TCP socket and reads the server's frames one by one.
type rawWS struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

// dialRaw opens a TCP connection to the server of url (ws://HOST/ws), does
// the upgrade by hand and reads the welcome.
func dialRaw(t testing.TB, url string) *rawWS {
	t.Helper()
	host := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/ws")
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	return upgradeRaw(t, nc, host)
}

// upgradeRaw does the upgrade by hand on nc and reads the welcome.
func upgradeRaw(t testing.TB, nc net.Conn, host string) *rawWS {
	t.Helper()
	t.Cleanup(func() { _ = nc.Close() })
	req := "GET /ws HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	c := &rawWS{t: t, nc: nc, br: br}
	if e := c.event(); e.Type != protocol.TypeWelcome {
		t.Fatalf("first event %+v, want welcome", e)
	}
	return c
}

func (c *rawWS) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// frame reads the server's next frame.
func (c *rawWS) frame() (op byte, payload []byte, err error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("the server sent a masked frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, err = io.ReadFull(c.br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, err = io.ReadFull(c.br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	if err != nil {
		return 0, nil, err
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(c.br, payload)
	return h[0] & 0x0f, payload, err
}

// events reads the next text frame's events, answering nothing: pings
// are returned as a "ping:" event, a close as "close:CODE".
func (c *rawWS) events() []protocol.Event {
	c.t.Helper()
	op, pl, err := c.frame()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	switch op {
	case opText:
	case opPong:
		return []protocol.Event{{Type: "pong:" + string(pl)}}
	case opPing:
		return []protocol.Event{{Type: "ping:" + string(pl)}}
	case opClose:
		code := 1005
		if len(pl) >= 2 {
			code = int(binary.BigEndian.Uint16(pl))
			pl = pl[2:]
		}
		return []protocol.Event{{Type: "close:" + itoa(code), Reason: string(pl)}}
	default:
		c.t.Fatalf("frame with opcode %d", op)
	}
	var evs []protocol.Event
	_ = protocol.Split(pl, func(obj []byte) error {
		var e protocol.Event
		if err := json.Unmarshal(obj, &e); err != nil {
			c.t.Fatalf("event %q: %v", obj, err)
		}
		evs = append(evs, e)
		return nil
	})
	return evs
}

func (c *rawWS) event() protocol.Event {
	c.t.Helper()
	evs := c.events()
	if len(evs) != 1 {
		c.t.Fatalf("got %d events in one frame, want 1: %+v", len(evs), evs)
	}
	return evs[0]
}

// collect reads events until it has n of them.
func (c *rawWS) collect(n int) []protocol.Event {
	c.t.Helper()
	var all []protocol.Event
	for len(all) < n {
		all = append(all, c.events()...)
	}
	return all
}

// closeCode reads until the server's close frame and returns its code.
func (c *rawWS) closeCode() int {
	c.t.Helper()
	for {
		op, pl, err := c.frame()
		if err != nil {
			c.t.Fatalf("no close frame: %v", err)
		}
		if op == opClose {
			if len(pl) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(pl))
		}
	}
}

func pingCmd(id int) string { return `{"op":"ping","id":` + itoa(id) + `}` }

// padded is a ping command of exactly n bytes: white space before it.
func padded(id, n int) string {
	cmd := pingCmd(id)
	return strings.Repeat(" ", n-len(cmd)) + cmd
}

// noMemoryBound is for the servers of tests that dial many connections at
// once: the heap the memory guard reads is the whole test process's, where
// other tests' clients (wsClient's 65,536-event queues, 29 MB each) can
// pass the default --max-memory for a moment, and the guard would then
// refuse these dials with 4011.
const noMemoryBound = -1

// TestReadFramingOverSockets sends the Autobahn-style cases that the
// server answers visibly, over real sockets on the configured read path.
func TestReadFramingOverSockets(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, Config{MaxMessageSize: 70000, MaxMemory: noMemoryBound})
	closes := []struct {
		name   string
		stream []byte
		code   int
	}{
		{"unmasked", cframeMask(0x80|opText, []byte(pingCmd(1)), false), closeProtocolError},
		{"reserved bit", cframe(0x80|0x40|opText, []byte(pingCmd(1))), closeProtocolError},
		{"unknown opcode", cframe(0x80|3, nil), closeProtocolError},
		{"control opcode 11", cframe(0x80|11, nil), closeProtocolError},
		{"oversized ping", final(opPing, strings.Repeat("p", 126)), closeProtocolError},
		{"fragmented ping", fragment(opPing, "p"), closeProtocolError},
		{"continuation first", final(opContinuation, pingCmd(1)), closeProtocolError},
		{"new message mid-message", cat(fragment(opText, "{"), final(opText, pingCmd(1))), closeProtocolError},
		{"bad utf-8", ctext(`{"op":"hello","name":"` + "\xff\xfe" + `"}`), closeInvalidPayload},
		{"bad utf-8 across fragments", cat(fragment(opText, `{"op":"ping","x":"`+"\xce"), final(opContinuation, `"}`)), closeInvalidPayload},
		{"64-bit length, top bit", cat([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, []byte{1, 2, 3, 4}), closeProtocolError},
		{"close code 1005", cframe(0x80|opClose, closePayload(1005, "")), closeProtocolError},
		{"close code 999", cframe(0x80|opClose, closePayload(999, "")), closeProtocolError},
		{"close 1-byte payload", cframe(0x80|opClose, []byte{1}), closeProtocolError},
		{"close reason not utf-8", cframe(0x80|opClose, closePayload(1000, "\xff")), closeInvalidPayload},
		{"close 1000", cframe(0x80|opClose, closePayload(1000, "bye")), 1000},
		{"close 4321", cframe(0x80|opClose, closePayload(4321, "")), 4321},
		{"close empty", final(opClose, ""), 1005},
		{"over the hard limit", ctext(strings.Repeat(" ", 70000*hardLimitFactor+1)), closeTooBig},
	}
	for _, tc := range closes {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, url)
			c.write(tc.stream)
			if code := c.closeCode(); code != tc.code {
				t.Fatalf("close code %d, want %d", code, tc.code)
			}
		})
	}

	t.Run("sizes", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, url)
		for i, n := range []int{125, 126, 127, 65535, 65536, 70000} {
			c.write(ctext(padded(i+1, n)))
			if e := c.event(); e.Type != protocol.TypeReply || string(e.ID) != itoa(i+1) {
				t.Fatalf("%d bytes: got %+v, want reply %d", n, e, i+1)
			}
		}
		c.write(ctext(padded(9, 70001)))
		if e := c.event(); e.Type != protocol.TypeError || e.Code != protocol.CodeTooLarge {
			t.Fatalf("over the limit: got %+v, want a too_large error", e)
		}
		c.write(cframe(0x80|opBinary, []byte(pingCmd(10))))
		if e := c.event(); e.Type != protocol.TypeError || e.Code != protocol.CodeBadFrame {
			t.Fatalf("binary: got %+v, want a bad_frame error", e)
		}
		c.write(ctext(pingCmd(11)))
		if e := c.event(); string(e.ID) != "11" {
			t.Fatalf("after: got %+v, want reply 11", e)
		}
	})

	t.Run("fragmented with pings between", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, url)
		cmd := pingCmd(5)
		c.write(cat(fragment(opText, cmd[:3]), final(opPing, "p1"), fragment(opContinuation, cmd[3:9]),
			final(opPong, ""), final(opPing, "p2"), final(opContinuation, cmd[9:])))
		var got []string
		for len(got) == 0 || got[len(got)-1] != "reply5" {
			for _, e := range c.events() {
				got = append(got, e.Type+string(e.ID))
			}
		}
		// Each ping is answered when it comes, before the message ends;
		// two may be answered by one pong (the latest's payload).
		if got[len(got)-1] != "reply5" || !strings.HasPrefix(got[0], "pong:") {
			t.Fatalf("got %q, want pongs then reply 5", got)
		}
	})

	t.Run("many frames in one segment", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, url)
		var b []byte
		for i := 1; i <= 200; i++ {
			b = append(b, ctext(pingCmd(i))...)
		}
		c.write(b)
		evs := c.collect(200)
		for i, e := range evs {
			if string(e.ID) != itoa(i+1) {
				t.Fatalf("reply %d has id %s: order lost", i+1, e.ID)
			}
		}
	})

	t.Run("a few bytes at a time", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, url)
		var b []byte
		cmd := pingCmd(3)
		b = append(b, ctext(pingCmd(1))...)
		b = append(b, final(opPing, "hi")...)
		b = append(b, ctext(padded(2, 300))...)
		b = append(b, fragment(opText, cmd[:4])...)
		b = append(b, final(opContinuation, cmd[4:])...)
		for i := 0; i < len(b); i += 3 {
			c.write(b[i:min(i+3, len(b))])
			time.Sleep(time.Millisecond)
		}
		var got []string
		for len(got) < 4 {
			for _, e := range c.events() {
				got = append(got, e.Type+string(e.ID))
			}
		}
		// Replies keep their order; the pong goes out at once, so it may
		// pass a reply that waits in the queue.
		var replies []string
		pong := false
		for _, g := range got {
			if g == "pong:hi" {
				pong = true
			} else {
				replies = append(replies, g)
			}
		}
		if !pong || strings.Join(replies, " ") != "reply1 reply2 reply3" {
			t.Fatalf("got %q, want replies 1, 2, 3 in order and a pong", got)
		}
	})
}

// TestReadClosedMidFrame: a client that leaves in the middle of a frame
// header, of a payload, or of a fragmented message is dropped, and its
// reader ends (goleak checks the goroutines when the package's tests end).
func TestReadClosedMidFrame(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{})
	big := ctext(padded(1, 5000))
	for _, cut := range [][]byte{big[:1], big[:5], big[:100], big[:4000], fragment(opText, "{\"op\"")} {
		c := dialRaw(t, url)
		c.write(cut)
		time.Sleep(5 * time.Millisecond)
		_ = c.nc.Close()
	}
	waitFor(t, func() bool { return s.hub.count.Load() == 0 })
}

// TestPollIdleHoldsNoGoroutine: on the poll path, 1,000 idle connections
// add no goroutine, and all of them still answer.
func TestPollIdleHoldsNoGoroutine(t *testing.T) {
	if !pollerAvailable {
		t.Skip("no poller on this system")
	}
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	s, url := startServer(t, Config{ReadMode: ReadModePoll, MaxConnsPerIP: -1, MaxMemory: noMemoryBound})
	one := dialRaw(t, url) // the server's own goroutines are started
	_ = one
	runtime.GC()
	before := runtime.NumGoroutine()
	const n = 1000
	conns := make([]*rawWS, n)
	for i := range conns {
		conns[i] = dialRaw(t, url)
	}
	waitFor(t, func() bool { return s.hub.count.Load() == n+1 })
	// The net/http goroutines of the upgrades end after the handler.
	var after int
	deadline := time.Now().Add(5 * time.Second)
	for {
		after = runtime.NumGoroutine()
		if after-before < 50 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after-before >= 50 {
		t.Fatalf("%d goroutines before %d idle connections, %d after", before, n, after)
	}
	for i, c := range conns {
		if i%100 == 0 {
			c.write(ctext(pingCmd(i)))
			if e := c.event(); string(e.ID) != itoa(i) {
				t.Fatalf("connection %d: got %+v", i, e)
			}
		}
	}
}

// TestReadModeGoroutine: the goroutine path serves, and holds one reader
// goroutine per connection, which ends with it.
func TestReadModeGoroutine(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{ReadMode: ReadModeGoroutine})
	c := dialRaw(t, url)
	c.write(cat(ctext(pingCmd(1)), final(opPing, "x"), ctext(pingCmd(2))))
	var got []string
	for _, e := range c.collect(3) {
		got = append(got, e.Type+string(e.ID))
	}
	// The pong goes out at once and may pass the first reply.
	if g := strings.Join(got, " "); g != "reply1 pong:x reply2" && g != "pong:x reply1 reply2" {
		t.Fatalf("got %q", got)
	}
	c.write(cframe(0x80|opClose, closePayload(1000, "")))
	if code := c.closeCode(); code != 1000 {
		t.Fatalf("close reply %d, want 1000", code)
	}
	waitFor(t, func() bool { return s.hub.count.Load() == 0 })
	if s.poller.Load() != nil {
		t.Fatal("a poller runs in goroutine mode")
	}
}

// TestReadModeConfig checks the mode's validation.
func TestReadModeConfig(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{ReadMode: "epoll"}); err == nil || !strings.Contains(err.Error(), "--read-mode") {
		t.Fatalf("unknown mode: err %v, want one naming --read-mode", err)
	}
	cfg, err := Config{ReadMode: ReadModeAuto}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ReadMode != ReadModePoll && cfg.ReadMode != ReadModeGoroutine || cfg.ReadMode == ReadModePoll && !pollerAvailable {
		t.Fatalf("auto is %q here", cfg.ReadMode)
	}
	for _, mode := range []string{ReadModePoll, ReadModeGoroutine} {
		cfg, err := Config{ReadMode: mode}.withDefaults()
		if !pollerAvailable && mode == ReadModePoll {
			if err == nil || !strings.Contains(err.Error(), "--read-mode") {
				t.Fatalf("poll without a poller: err %v, want one naming --read-mode", err)
			}
			continue
		}
		if err != nil || cfg.ReadMode != mode {
			t.Fatalf("mode %s: got %q, err %v", mode, cfg.ReadMode, err)
		}
	}
}

// TestReadBlockedHookStallsOnlyItsConnection: while an rpc hook blocks one
// connection's reader, other connections are read and answered, and the
// blocked client's next frames wait, to be handled in order once the hook
// returns (here: cut by the client's kick).
func TestReadBlockedHookStallsOnlyItsConnection(t *testing.T) {
	t.Parallel()
	ev := newCtxEvents()
	s, url := startServer(t, Config{Events: ev, HookTimeout: time.Minute, MaxMemory: noMemoryBound})
	blocked := dialRaw(t, url)
	blocked.write(ctext(`{"op":"rpc","method":"m","id":1}`))
	ev.waitEntered(t, eventRPC)
	blocked.write(cat(ctext(pingCmd(2)), final(opPing, "still"), ctext(pingCmd(3))))
	for i := range 20 {
		other := dialRaw(t, url)
		other.write(ctext(pingCmd(100 + i)))
		if e := other.event(); string(e.ID) != itoa(100+i) {
			t.Fatalf("other connection %d: got %+v", i, e)
		}
	}
	// Cut the hook: the rpc fails, then ping 2, the pong and ping 3.
	for _, c := range s.hub.snapshot() {
		if c.t.RemoteAddr() == blocked.nc.LocalAddr().String() {
			c.mu.Lock()
			cancel := c.hookCancel
			c.mu.Unlock()
			cancel(errClientGone)
		}
	}
	ev.waitCut(t, errClientGone)
	var got []string
	for len(got) < 4 {
		for _, e := range blocked.events() {
			got = append(got, e.Type+string(e.ID))
		}
	}
	var replies []string
	for _, g := range got {
		if g != "pong:still" {
			replies = append(replies, g)
		}
	}
	if strings.Join(replies, " ") != "reply1 reply2 reply3" {
		t.Fatalf("got %q, want replies 1, 2, 3 in order and the pong", got)
	}
}

// TestReadTLSOnGoroutinePath: a TLS connection to a server in poll mode is
// read on a goroutine of its own, frames split across TLS records and all.
func TestReadTLSOnGoroutinePath(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	s, err := New(Config{ReadMode: defaultReadModeOr(ReadModePoll)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server Run: %v", err)
		}
	})
	nc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c := upgradeRaw(t, nc, ln.Addr().String())
	// A frame split over three TLS records, then two frames in one.
	f := ctext(padded(1, 3000))
	c.write(f[:1])
	c.write(f[1:2000])
	c.write(cat(f[2000:], ctext(pingCmd(2)), final(opPing, "tls")))
	var got []string
	for len(got) < 3 {
		for _, e := range c.events() {
			got = append(got, e.Type+string(e.ID))
		}
	}
	if g := strings.Join(got, " "); g != "reply1 reply2 pong:tls" && g != "reply1 pong:tls reply2" && g != "pong:tls reply1 reply2" {
		t.Fatalf("got %q", got)
	}
	if p := s.poller.Load(); p != nil {
		p.mu.RLock()
		n := len(p.conns)
		p.mu.RUnlock()
		if n != 0 {
			t.Fatalf("%d sockets registered with the poller; a TLS connection must not be", n)
		}
	}
}

// defaultReadModeOr is mode unless the tests run on the goroutine path.
func defaultReadModeOr(mode string) string {
	if defaultReadMode == ReadModeGoroutine || !pollerAvailable {
		return ReadModeGoroutine
	}
	return mode
}

// TestPollChurnDeregisters: connections that come and go, some closing
// cleanly, some dropping mid-frame, some closed by the server, each get
// their own replies (a descriptor reused by a new socket is never read for
// an old one), and every socket leaves the poller's table.
func TestPollChurnDeregisters(t *testing.T) {
	if !pollerAvailable {
		t.Skip("no poller on this system")
	}
	t.Parallel()
	s, url := startServer(t, Config{ReadMode: ReadModePoll, MaxMemory: noMemoryBound})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 40 {
				c := dialRaw(t, url)
				id := w*1000 + i
				c.write(cat(ctext(pingCmd(id)), final(opPing, "x")))
				for _, e := range c.collect(2) {
					if e.Type == protocol.TypeReply && string(e.ID) != itoa(id) {
						t.Errorf("connection %d got the reply for %s", id, e.ID)
					}
				}
				switch i % 3 {
				case 0:
					c.write(cframe(0x80|opClose, closePayload(1000, "")))
					c.closeCode()
				case 1:
					c.write(ctext(padded(id, 500))[:100])
				case 2:
					c.write(cframe(0x80|3, nil)) // protocol error: the server closes
					c.closeCode()
				}
				_ = c.nc.Close()
			}
		})
	}
	wg.Wait()
	p := s.poller.Load()
	registered := func() int {
		p.mu.RLock()
		defer p.mu.RUnlock()
		return len(p.conns)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.hub.count.Load() != 0 || registered() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections in the hub and %d sockets registered after they all closed", s.hub.count.Load(), registered())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
