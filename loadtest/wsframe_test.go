package loadtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/gorilla/websocket"
)

// frame encodes one unmasked frame as a server writes it.
func frame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// parsed is one event as the tests compare them.
type parsed struct {
	ev   int
	data string
	err  string
}

// parseChunks feeds stream to a wsReader in pieces of the given sizes
// (cycled), keeping an incomplete frame's bytes as the poll path does, and
// returns the events up to the first error or close, and what is left.
func parseChunks(stream []byte, sizes []int) ([]parsed, []byte) {
	var r wsReader
	var out []parsed
	var pending []byte
	for i := 0; len(stream) > 0; i++ {
		k := len(stream)
		if len(sizes) > 0 {
			k = min(max(sizes[i%len(sizes)], 1), len(stream))
		}
		buf := append(append([]byte(nil), pending...), stream[:k]...)
		stream = stream[k:]
		off := 0
		for {
			ev, data, n, err := r.next(buf[off:])
			off += n
			if ev == evNone && err == nil {
				break
			}
			p := parsed{ev: ev, data: string(data)}
			if err != nil {
				p.err = err.Error()
			}
			out = append(out, p)
			if ev == evMessage {
				r.done()
			}
			if err != nil {
				return out, nil
			}
		}
		pending = append(pending[:0], buf[off:]...)
	}
	return out, pending
}

func TestWSReader(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 70000)
	var stream []byte
	stream = append(stream, frame(true, opText, []byte("one"))...)
	stream = append(stream, frame(false, opText, []byte("tw"))...)
	stream = append(stream, frame(true, opPing, []byte("p"))...)
	stream = append(stream, frame(false, opContinuation, []byte("o"))...)
	stream = append(stream, frame(true, opPong, nil)...)
	stream = append(stream, frame(true, opContinuation, nil)...)
	stream = append(stream, frame(true, opBinary, big[:300])...)
	stream = append(stream, frame(true, opText, big)...)
	stream = append(stream, frame(true, opClose, append([]byte{0x0f, 0xa8}, "slow"...))...)
	want := []parsed{
		{ev: evMessage, data: "one"},
		{ev: evPing, data: "p"},
		{ev: evMessage, data: "two"},
		{ev: evMessage, data: string(big[:300])},
		{ev: evMessage, data: string(big)},
		{ev: evClose, err: (&websocket.CloseError{Code: 4008, Text: "slow"}).Error()},
	}
	for _, sizes := range [][]int{nil, {1}, {2, 3, 5}, {13}, {4096}, {65536, 7}} {
		got, rest := parseChunks(stream, sizes)
		if fmt.Sprint(got) != fmt.Sprint(want) || len(rest) != 0 {
			t.Errorf("chunks %v: got %d events %.200v, rest %d; want %.200v", sizes, len(got), got, len(rest), want)
		}
	}
	// A close frame's error is the one gorilla gives, so drops count by
	// the same cause.
	_, _, _, err := new(wsReader).next(frame(true, opClose, []byte{0x0f, 0xa8}))
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4008 || cause(err, nil) != "close_4008" {
		t.Errorf("close 4008: %v", err)
	}
	_, _, _, err = new(wsReader).next(frame(true, opClose, nil))
	if !errors.As(err, &ce) || ce.Code != websocket.CloseNoStatusReceived {
		t.Errorf("empty close: %v", err)
	}
}

func TestWSReaderRefuses(t *testing.T) {
	masked := frame(true, opText, []byte("abcd"))
	masked[1] |= 0x80
	for name, b := range map[string][]byte{
		"reserved bits":         {0xc1, 0},
		"masked":                masked,
		"long ping":             frame(true, opPing, make([]byte, 126)),
		"fragmented ping":       frame(false, opPing, nil),
		"continuation first":    frame(true, opContinuation, []byte("x")),
		"new message mid-way":   append(frame(false, opText, []byte("a")), frame(true, opText, []byte("b"))...),
		"unknown opcode":        frame(true, 0x3, nil),
		"bad close code":        frame(true, opClose, []byte{0x03, 0xe8 + 5}),
		"close reason not utf8": frame(true, opClose, []byte{0x03, 0xe8, 0xff}),
		"over the limit":        {0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0},
	} {
		got, _ := parseChunks(b, nil)
		if len(got) == 0 || got[len(got)-1].err == "" {
			t.Errorf("%s: no error: %v", name, got)
			continue
		}
		_, _, _, err := new(wsReader).next(b)
		if name == "new message mid-way" {
			var r wsReader
			_, _, n, _ := r.next(b)
			_, _, _, err = r.next(b[n:])
		}
		if !isFrameError(err) {
			t.Errorf("%s: %v is not a frame error", name, err)
		}
	}
}

// FuzzBenchFrames feeds arbitrary bytes to the poll path's frame parser in
// pieces of arbitrary sizes. The properties: it never panics; how the
// bytes are split across reads changes nothing (the same events, the same
// bytes left over); and a message written in fragments with a ping between
// them comes out whole, after the ping.
//
//	go test -run '^$' -fuzz '^FuzzBenchFrames$' -fuzztime 60s ./loadtest
func FuzzBenchFrames(f *testing.F) {
	f.Add(append(frame(true, opText, []byte("hello")), frame(false, opBinary, []byte("a"))...), uint64(3))
	f.Add(append(frame(false, opText, []byte("ab")), frame(true, opContinuation, []byte("c"))...), uint64(1))
	f.Add(frame(true, opClose, []byte{0x03, 0xe8, 'o', 'k'}), uint64(7))
	f.Add(frame(true, opText, bytes.Repeat([]byte("y"), 300)), uint64(0x0102030405))
	f.Add([]byte{0x81, 126, 0x01}, uint64(2))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		var sizes []int
		for s := seed; s != 0; s >>= 8 {
			sizes = append(sizes, int(s&0xff))
		}
		whole, wholeRest := parseChunks(data, nil)
		split, splitRest := parseChunks(data, sizes)
		if fmt.Sprint(whole) != fmt.Sprint(split) || !bytes.Equal(wholeRest, splitRest) {
			t.Fatalf("split %v changed the result:\nwhole %v rest %q\nsplit %v rest %q", sizes, whole, wholeRest, split, splitRest)
		}

		// data as one message in fragments cut at the sizes.
		var stream []byte
		rest, first, single := data, true, false
		for i := 0; ; i++ {
			k := len(rest)
			if len(sizes) > 0 {
				k = min(sizes[i%len(sizes)], len(rest))
			}
			op := byte(opContinuation)
			if first {
				op = opText
			}
			last := k == len(rest)
			single = single || first && last
			stream = append(stream, frame(last, op, rest[:k])...)
			if first {
				stream = append(stream, frame(true, opPing, []byte("hb"))...)
			}
			rest, first = rest[k:], false
			if last {
				break
			}
		}
		got, left := parseChunks(stream, sizes)
		want := []parsed{{ev: evPing, data: "hb"}, {ev: evMessage, data: string(data)}}
		if single {
			want[0], want[1] = want[1], want[0]
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || len(left) != 0 {
			t.Fatalf("fragmented at %v: got %.300v left %d", sizes, got, len(left))
		}
	})
}
