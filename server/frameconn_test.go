package server

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"testing"
)

// wsFrame builds a WebSocket frame header and payload as a client would
// send it (masked) or a server (unmasked).
func wsFrame(payload []byte, masked bool) []byte {
	b := []byte{0x81}
	mask := byte(0)
	if masked {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, mask|byte(n))
	case n < 1<<16:
		b = append(b, mask|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if masked {
		b = append(b, 1, 2, 3, 4) // the mask is opaque to frameConn
	}
	return append(b, payload...)
}

// TestFrameConnStopsAtFrameEnds sends frames of every length class back to
// back over real TCP and reads them through frameConn with random read
// sizes: no read may cross the end of a frame, and every byte arrives.
func TestFrameConnStopsAtFrameEnds(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sizes := []int{0, 1, 125, 126, 127, 1000, 65535, 65536, 70000, 3}
	var stream []byte
	var ends []int // offsets where frames end
	for i, n := range sizes {
		stream = append(stream, wsFrame(bytes.Repeat([]byte{byte('a' + i)}, n), i%2 == 0)...)
		ends = append(ends, len(stream))
	}
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write(stream)
	}()
	raw, err := frameListener{ln, &Server{log: slog.New(slog.DiscardHandler)}}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	fc := raw.(*frameConn)
	defer fc.Close()
	fc.framed.Store(true)

	rng := rand.New(rand.NewPCG(1, 2))
	var got []byte
	buf := make([]byte, 100000)
	for {
		n, err := fc.Read(buf[:1+rng.IntN(len(buf)-1)])
		start := len(got)
		got = append(got, buf[:n]...)
		for _, e := range ends {
			if start < e && len(got) > e {
				t.Fatalf("read [%d,%d) crosses the frame end at %d", start, len(got), e)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, stream) {
		t.Fatalf("got %d bytes, want %d, or content differs", len(got), len(stream))
	}
}
