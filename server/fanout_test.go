package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

// TestTryWriteShort: a frame the socket takes only in part keeps its rest,
// which goes out before anything else: a ping queued meanwhile waits for
// it, and the client reads the whole frame, then the ping.
func TestTryWriteShort(t *testing.T) {
	h := newFrameHarness(t, harnessOpts{sndbuf: 4096})
	if h.srv.rc == nil {
		t.Fatal("no RawConn: the harness's socket cannot be written to directly")
	}
	payload := payloadOf(1<<20, 3)
	frame := appendHeader(nil, websocket.TextMessage, len(payload))
	frame = append(frame, payload...)
	n, err := h.srv.tryWrite(frame)
	if err != nil {
		t.Fatal(err)
	}
	if n < 0 || n >= len(frame) {
		t.Fatalf("tryWrite wrote %d of %d bytes to a socket whose peer is not reading; want a short write", n, len(frame))
	}
	if m, err := h.srv.tryWrite(frame); m != -1 || err != nil {
		t.Fatalf("second tryWrite with a rest pending = %d, %v; want -1 (not tried)", m, err)
	}
	if err := h.srv.ping(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.srv.flushRest() }()
	_ = h.cws.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, got, err := h.cws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(payload))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := h.srv.ping(); err != nil { // flushes the ping queued before too
		t.Fatal(err)
	}
	fs := waitFrames(t, h, 2)
	if fs[0].op != websocket.TextMessage || len(fs[0].payload) != len(payload) || fs[1].op != websocket.PingMessage {
		t.Fatalf("frames %d (op %d, %d bytes), %d; want the text frame whole, then the ping", len(fs), fs[0].op, len(fs[0].payload), fs[1].op)
	}
}

// waitFrames reads (through the client, which answers and drops control
// frames) until the tee holds at least n frames.
func waitFrames(t *testing.T, h *frameHarness, n int) []rawFrame {
	t.Helper()
	go func() {
		for {
			if _, _, err := h.cws.NextReader(); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fs := h.tee.frames(t); len(fs) >= n || time.Now().After(deadline) {
			if len(fs) < n {
				t.Fatalf("%d frames, want %d", len(fs), n)
			}
			return fs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFanOutOrderConcurrentPublishers: several publishers at once to a room
// big enough for its own fan-out goroutine, with batching as it falls
// behind: every member gets every message once, in seq order, and each
// publisher's messages in the order it sent them.
func TestFanOutOrderConcurrentPublishers(t *testing.T) {
	t.Parallel()
	const members, publishers, each = fanInlineMax + 36, 4, 150
	s, url := startServer(t, Config{MaxConnsPerIP: 2 * members, PresenceMaxMembers: 1, SendQueueBytes: 8 << 20})
	// Plain readers (a wsClient buffers 64k events each): every msg
	// event's seq and data, in the order read.
	type got struct {
		seqs []uint64
		data [][]byte
		err  error
	}
	results := make([]got, members)
	var readers sync.WaitGroup
	for i := range members {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ws.Close() })
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"join","room":"order","id":1}`)); err != nil {
			t.Fatal(err)
		}
		for joined := false; !joined; {
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			joined = bytes.Contains(b, []byte(`"id":1`))
		}
		readers.Go(func() {
			r := &results[i]
			for len(r.seqs) < publishers*each && r.err == nil {
				_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, b, err := ws.ReadMessage()
				if err != nil {
					r.err = err
					return
				}
				r.err = protocol.Split(b, func(obj []byte) error {
					e, err := protocol.DecodeEvent(obj)
					if err == nil && e.Type == protocol.TypeMsg {
						r.seqs = append(r.seqs, e.Seq)
						r.data = append(r.data, e.Data)
					}
					return err
				})
			}
		})
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for n := range each {
				if _, _, err := s.Publish("order", fmt.Appendf(nil, `{"p":%d,"n":%d}`, p, n), PublishOptions{}); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	readers.Wait()
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("member %d after %d messages: %v", i, len(r.seqs), r.err)
		}
		last := make([]int, publishers)
		for p := range last {
			last[p] = -1
		}
		for k, seq := range r.seqs {
			if seq != uint64(k+1) {
				t.Fatalf("member %d: seq %d in place %d", i, seq, k+1)
			}
			var d struct{ P, N int }
			if err := json.Unmarshal(r.data[k], &d); err != nil {
				t.Fatal(err)
			}
			if d.N != last[d.P]+1 {
				t.Fatalf("member %d: publisher %d's message %d after its %d", i, d.P, d.N, last[d.P])
			}
			last[d.P] = d.N
		}
	}
	if got := s.metrics.deliveries.Load(); got != members*publishers*each {
		t.Fatalf("%d deliveries counted, want %d", got, members*publishers*each)
	}
}

// TestFanOutShortWrites: a member that stops reading makes the fan-out's
// direct writes come up short (or find the socket full); the rest of that
// frame and everything after it go through the member's writer, and when
// it reads again it gets every message whole and in order, while the
// other member was written to all along.
func TestFanOutShortWrites(t *testing.T) {
	t.Parallel()
	const size = 32 << 10
	s, url := startServer(t, Config{MaxMessageSize: 64 << 10, SendQueueBytes: 64 << 20, PresenceMaxMembers: 1})
	slow, _ := dialSlowMember(t, url, "short")
	fast := dial(t, url)
	mustOK(t, fast.cmd(map[string]any{"op": "join", "room": "short"}))
	// Until the slow member's socket buffers are full (a few MB on
	// loopback), and a little more.
	data := []byte(`"` + strings.Repeat("z", size) + `"`)
	n, extra := uint64(0), 0
	for ; n < 1500 && extra < 20; n++ {
		if _, _, err := s.Publish("short", data, PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		if s.metrics.fanShort.Load() > 0 {
			extra++
		}
	}
	for seq := uint64(1); seq <= n; seq++ {
		if m := fast.expect(protocol.TypeMsg); m.Seq != seq {
			t.Fatalf("fast member: seq %d, want %d", m.Seq, seq)
		}
	}
	if s.metrics.fanShort.Load() == 0 {
		t.Fatalf("no short direct write after %d MB to a member not reading (whole: %d)", int(n)*size>>20, s.metrics.fanWhole.Load())
	}
	next := uint64(1)
	for next <= n {
		_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := slow.ReadMessage()
		if err != nil {
			t.Fatalf("slow member after seq %d: %v", next-1, err)
		}
		err = protocol.Split(b, func(obj []byte) error {
			e, err := protocol.DecodeEvent(obj)
			if err != nil {
				return err
			}
			if e.Type != protocol.TypeMsg || e.Seq != next || len(e.Data) != len(data) {
				return fmt.Errorf("got %s seq %d (%d bytes), want msg %d of %d bytes", e.Type, e.Seq, len(e.Data), next, len(data))
			}
			next++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if s.Stats().SlowConsumers != 0 {
		t.Fatal("a member was cut off as a slow consumer")
	}
}

// TestFanOutPeerResetMidFrame: a member that resets its connection while
// the rest of a frame waits to be written is dropped; the server goes on
// (goleak, in TestMain, checks no writer is left behind).
func TestFanOutPeerResetMidFrame(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{MaxMessageSize: 64 << 10, SendQueueBytes: 64 << 20, PresenceMaxMembers: 1})
	ws, tcp := dialSlowMember(t, url, "reset")
	data := []byte(`"` + strings.Repeat("r", 32<<10) + `"`)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < 1500 && s.metrics.fanShort.Load() == 0; i++ {
		if _, _, err := s.Publish("reset", data, PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if s.metrics.fanShort.Load() == 0 {
		t.Fatal("no short direct write to a member not reading")
	}
	_ = tcp.SetLinger(0)
	_ = ws.Close() // RST
	for s.Stats().Connections != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections left after the peer reset", s.Stats().Connections)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c := dial(t, url)
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "reset"}))
	if _, _, err := s.Publish("reset", []byte(`1`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	c.expect(protocol.TypeMsg)
}

// dialSlowMember connects a client with a 64 KiB receive buffer, which
// joins room and then reads nothing until the test reads through ws.
func dialSlowMember(t *testing.T, url, room string) (*websocket.Conn, *net.TCPConn) {
	t.Helper()
	var tcp *net.TCPConn
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			tcp = nc.(*net.TCPConn)
			_ = tcp.SetReadBuffer(64 << 10)
		}
		return nc, err
	}}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"join","room":"`+room+`","id":1}`)); err != nil {
		t.Fatal(err)
	}
	for seen := ""; !strings.Contains(seen, `"id":1`); {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		seen += string(b)
	}
	return ws, tcp
}
