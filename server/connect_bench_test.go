package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/procstat"
)

// BenchmarkConnect is the server's side of a connect over loopback: TCP
// accept, WebSocket upgrade, open (admission, welcome, registration),
// then hello and join in one frame and their replies; the client then
// closes and the server tears the connection down. The client is a
// minimal raw one (a fixed request, hand-made frames, no allocation per
// connect beyond its socket), so allocs/op is nearly all the server's.
// cpu-us/connect is the process's CPU time (client included) over the
// connects, which changes less with the neighbours' load than ns/op.
func BenchmarkConnect(b *testing.B) {
	for _, rooms := range []int{1, 100} {
		b.Run(fmt.Sprintf("rooms=%d", rooms), func(b *testing.B) {
			s, u := benchServer(b, Config{})
			addr := hostOf(b, u)
			rc := newRawConnector(addr)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := procstat.CPUTime()
			for i := range b.N {
				if err := rc.connect(fmt.Appendf(rc.room[:0], "bench-%d", i%rooms)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu = procstat.CPUTime() - cpu
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/connect")
			// Let the last teardowns finish before the next sub-benchmark.
			deadline := time.Now().Add(10 * time.Second)
			for s.hub.count.Load() > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		})
	}
}

func hostOf(tb testing.TB, wsURL string) string {
	tb.Helper()
	pu, err := url.Parse(wsURL)
	if err != nil {
		tb.Fatal(err)
	}
	return pu.Host
}

// rawConnector makes connects with a fixed upgrade request and hand-made
// client frames, reusing its buffers.
type rawConnector struct {
	addr string
	req  []byte
	room []byte
	cmds []byte
	out  []byte
	br   *bufio.Reader
	msg  []byte
}

func newRawConnector(addr string) *rawConnector {
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	return &rawConnector{addr: addr, req: []byte(req), br: bufio.NewReaderSize(nil, 4096)}
}

// connect dials, upgrades, reads the welcome, sends hello and join in one
// frame, reads both replies and closes.
func (rc *rawConnector) connect(room []byte) error {
	nc, err := net.Dial("tcp", rc.addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(rc.req); err != nil {
		return err
	}
	rc.br.Reset(nc)
	// The response head ends with an empty line.
	status := true
	for {
		line, err := rc.br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("upgrade response: %w", err)
		}
		if status {
			if !bytes.HasPrefix(line, []byte("HTTP/1.1 101 ")) {
				return fmt.Errorf("upgrade refused: %q", line)
			}
			status = false
		}
		if len(line) <= 2 {
			break
		}
	}
	if err := rc.expect([]byte(`"type":"welcome"`)); err != nil {
		return err
	}
	rc.cmds = append(append(append(rc.cmds[:0], `{"op":"hello","id":1,"name":"bench"}`+"\n"+`{"op":"join","id":2,"room":"`...), room...), `"}`...)
	rc.out = maskedFrame(rc.out[:0], rc.cmds)
	if _, err := nc.Write(rc.out); err != nil {
		return err
	}
	// The hello's and join's replies, in one frame or two.
	for n := 0; n < 2; {
		f, err := rc.frame()
		if err != nil {
			return err
		}
		n += bytes.Count(f, []byte(`"type":"reply"`))
		if bytes.Contains(f, []byte(`"ok":false`)) {
			return fmt.Errorf("refused: %s", f)
		}
	}
	return nil
}

func (rc *rawConnector) expect(want []byte) error {
	f, err := rc.frame()
	if err != nil {
		return err
	}
	if !bytes.Contains(f, want) {
		return fmt.Errorf("got %s, want %s", f, want)
	}
	return nil
}

// frame reads one unmasked server text frame (no fragmentation: the server
// writes each batch as one frame).
func (rc *rawConnector) frame() ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(rc.br, h[:]); err != nil {
		return nil, err
	}
	if h[0] != 0x81 {
		return nil, fmt.Errorf("frame 0x%02x: want a final text frame", h[0])
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(rc.br, e[:]); err != nil {
			return nil, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		return nil, errors.New("frame too long for the benchmark's client")
	}
	if uint64(cap(rc.msg)) < n {
		rc.msg = make([]byte, n)
	}
	rc.msg = rc.msg[:n]
	_, err := io.ReadFull(rc.br, rc.msg)
	return rc.msg, err
}

// maskedFrame appends a masked final text frame of p to dst (mask key 0,
// which leaves the payload as it is).
func maskedFrame(dst, p []byte) []byte {
	dst = append(dst, 0x81)
	switch {
	case len(p) < 126:
		dst = append(dst, 0x80|byte(len(p)))
	default:
		dst = append(dst, 0x80|126, byte(len(p)>>8), byte(len(p)))
	}
	dst = append(dst, 0, 0, 0, 0)
	return append(dst, p...)
}
