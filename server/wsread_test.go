package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// cframe builds a client frame: masked with a fixed key unless unmasked,
// with the given first byte (FIN, RSV bits, opcode) and payload. The
// length takes the shortest form.
func cframe(b0 byte, payload []byte) []byte {
	return cframeMask(b0, payload, true)
}

func cframeMask(b0 byte, payload []byte, masked bool) []byte {
	b := []byte{b0}
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, m|byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, m|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, m|127), uint64(n))
	}
	if !masked {
		return append(b, payload...)
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, payload...)
	for i := range payload {
		b[start+i] ^= key[i&3]
	}
	return b
}

func ctext(s string) []byte             { return cframe(0x80|opText, []byte(s)) }
func fragment(op byte, s string) []byte { return cframe(op, []byte(s)) }
func final(op byte, s string) []byte    { return cframe(0x80|op, []byte(s)) }

func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// recorder is a parser sink that writes down what it gets.
type recorder struct{ got []string }

func (r *recorder) wsMessage(pl []byte, tooLarge, binary bool) {
	switch {
	case binary:
		r.got = append(r.got, "binary")
	case tooLarge:
		r.got = append(r.got, "too large")
	default:
		r.got = append(r.got, "text:"+string(pl))
	}
}
func (r *recorder) wsPing(pl []byte) { r.got = append(r.got, "ping:"+string(pl)) }
func (r *recorder) wsPong()          { r.got = append(r.got, "pong") }

// parseChunks feeds stream to a fresh parser in the pieces cuts makes, as
// reads would return them, and returns the events and the error (its
// close code and whether the peer sent it).
func parseChunks(stream []byte, limit int64, cuts []int) ([]string, string) {
	p := wsParser{limit: limit, hard: limit * hardLimitFactor}
	rec := &recorder{}
	var pending []byte
	prev := 0
	for _, cut := range append(slices.Clone(cuts), len(stream)) {
		cut = min(cut, len(stream))
		if cut < prev {
			continue
		}
		buf := append(slices.Clone(pending), stream[prev:cut]...)
		prev = cut
		n, err := p.parse(buf, rec)
		if err != nil {
			we := err.(*wsError)
			if we.peer {
				return rec.got, fmt.Sprintf("peer close %d %q", we.code, we.text)
			}
			return rec.got, fmt.Sprintf("close %d", we.code)
		}
		if len(buf)-n > 14+125 {
			return rec.got, fmt.Sprintf("kept %d bytes", len(buf)-n)
		}
		pending = buf[n:]
	}
	p.reset()
	if len(pending) > 0 {
		return rec.got, fmt.Sprintf("incomplete %d", len(pending))
	}
	return rec.got, ""
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// framingCases are Autobahn-style cases (sections 1 to 7 of its fuzzing
// client, those that apply to a server without extensions): each a client
// stream and what the parser must find in it.
var framingCases = []struct {
	name   string
	stream []byte
	want   []string
	end    string // "" or the close
}{
	{"empty text", ctext(""), []string{"text:"}, ""},
	{"text 125", ctext(strings.Repeat("a", 125)), []string{"text:" + strings.Repeat("a", 125)}, ""},
	{"text 126", ctext(strings.Repeat("b", 126)), []string{"text:" + strings.Repeat("b", 126)}, ""},
	{"text 65535", ctext(strings.Repeat("c", 65535)), []string{"text:" + strings.Repeat("c", 65535)}, ""},
	{"text 65536", ctext(strings.Repeat("d", 65536)), []string{"text:" + strings.Repeat("d", 65536)}, ""},
	{"binary", cframe(0x80|opBinary, []byte{0, 1, 2}), []string{"binary"}, ""},
	{"many frames", cat(ctext("a"), ctext("b"), ctext("c")), []string{"text:a", "text:b", "text:c"}, ""},
	{"fragmented", cat(fragment(opText, "fr"), fragment(opContinuation, "ag"), final(opContinuation, "ment")), []string{"text:fragment"}, ""},
	{"fragmented, empty parts", cat(fragment(opText, ""), fragment(opContinuation, ""), final(opContinuation, "x")), []string{"text:x"}, ""},
	{"ping in a fragmented message", cat(fragment(opText, "a"), final(opPing, "p1"), fragment(opContinuation, "b"), final(opPong, "x"), final(opContinuation, "c")), []string{"ping:p1", "pong", "text:abc"}, ""},
	{"ping 125", final(opPing, strings.Repeat("p", 125)), []string{"ping:" + strings.Repeat("p", 125)}, ""},
	{"ping 126", final(opPing, strings.Repeat("p", 126)), nil, "close 1002"},
	{"fragmented ping", fragment(opPing, "p"), nil, "close 1002"},
	{"pong alone", final(opPong, "unsolicited"), []string{"pong"}, ""},
	{"unmasked", cframeMask(0x80|opText, []byte("x"), false), nil, "close 1002"},
	{"rsv1", cframe(0x80|0x40|opText, []byte("x")), nil, "close 1002"},
	{"rsv2", cframe(0x80|0x20|opText, []byte("x")), nil, "close 1002"},
	{"rsv3 on ping", cframe(0x80|0x10|opPing, nil), nil, "close 1002"},
	{"opcode 3", cframe(0x80|3, nil), nil, "close 1002"},
	{"opcode 7", cframe(0x80|7, nil), nil, "close 1002"},
	{"opcode 11", cframe(0x80|11, nil), nil, "close 1002"},
	{"opcode 15", cframe(0x80|15, nil), nil, "close 1002"},
	{"continuation first", final(opContinuation, "x"), nil, "close 1002"},
	{"text within a message", cat(fragment(opText, "a"), final(opText, "b")), nil, "close 1002"},
	{"binary within a message", cat(fragment(opText, "a"), final(opBinary, "b")), nil, "close 1002"},
	{"top bit of a 64-bit length", cat([]byte{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, []byte{1, 2, 3, 4}), nil, "close 1002"},
	{"frames after a message", cat(ctext("a"), cframe(0x80|5, nil), ctext("b")), []string{"text:a"}, "close 1002"},
	{"utf-8 valid", ctext("κόσμε"), []string{"text:κόσμε"}, ""},
	{"utf-8 invalid", ctext("a\xffb"), nil, "close 1007"},
	{"utf-8 surrogate", ctext("\xed\xa0\x80"), nil, "close 1007"},
	{"utf-8 overlong", ctext("\xc0\xaf"), nil, "close 1007"},
	{"utf-8 truncated", ctext("\xce\xba\xe1"), nil, "close 1007"},
	{"utf-8 split across fragments", cat(fragment(opText, "\xce"), fragment(opContinuation, "\xba\xe1\xbd"), final(opContinuation, "\xb9")), []string{"text:\xce\xba\xe1\xbd\xb9"}, ""},
	{"utf-8 invalid across fragments", cat(fragment(opText, "\xce"), final(opContinuation, "a")), nil, "close 1007"},
	{"utf-8 unfinished at the end", cat(fragment(opText, "ok"), final(opContinuation, "\xe1\xbd")), nil, "close 1007"},
	{"close empty", final(opClose, ""), nil, `peer close 1005 ""`},
	{"close 1000", cframe(0x80|opClose, closePayload(1000, "bye")), nil, `peer close 1000 "bye"`},
	{"close 1001", cframe(0x80|opClose, closePayload(1001, "")), nil, `peer close 1001 ""`},
	{"close 1003", cframe(0x80|opClose, closePayload(1003, "")), nil, `peer close 1003 ""`},
	{"close 1007", cframe(0x80|opClose, closePayload(1007, "")), nil, `peer close 1007 ""`},
	{"close 1011", cframe(0x80|opClose, closePayload(1011, "")), nil, `peer close 1011 ""`},
	{"close 3000", cframe(0x80|opClose, closePayload(3000, "")), nil, `peer close 3000 ""`},
	{"close 4999", cframe(0x80|opClose, closePayload(4999, "")), nil, `peer close 4999 ""`},
	{"close 0", cframe(0x80|opClose, closePayload(0, "")), nil, "close 1002"},
	{"close 999", cframe(0x80|opClose, closePayload(999, "")), nil, "close 1002"},
	{"close 1004", cframe(0x80|opClose, closePayload(1004, "")), nil, "close 1002"},
	{"close 1005", cframe(0x80|opClose, closePayload(1005, "")), nil, "close 1002"},
	{"close 1006", cframe(0x80|opClose, closePayload(1006, "")), nil, "close 1002"},
	{"close 1012", cframe(0x80|opClose, closePayload(1012, "")), nil, "close 1002"},
	{"close 1015", cframe(0x80|opClose, closePayload(1015, "")), nil, "close 1002"},
	{"close 2999", cframe(0x80|opClose, closePayload(2999, "")), nil, "close 1002"},
	{"close 5000", cframe(0x80|opClose, closePayload(5000, "")), nil, "close 1002"},
	{"close 65535", cframe(0x80|opClose, closePayload(65535, "")), nil, "close 1002"},
	{"close 1-byte payload", cframe(0x80|opClose, []byte{3}), nil, "close 1002"},
	{"close reason not utf-8", cframe(0x80|opClose, closePayload(1000, "\xff")), nil, "close 1007"},
	{"close reason 123", cframe(0x80|opClose, closePayload(1000, strings.Repeat("r", 123))), nil, `peer close 1000 "` + strings.Repeat("r", 123) + `"`},
	{"close reason 124", cframe(0x80|opClose, closePayload(1000, strings.Repeat("r", 124))), nil, "close 1002"},
	{"close in a fragmented message", cat(fragment(opText, "a"), cframe(0x80|opClose, closePayload(1000, ""))), nil, `peer close 1000 ""`},
	{"message at the limit", ctext(strings.Repeat("e", 1000)), []string{"text:" + strings.Repeat("e", 1000)}, ""},
	{"message over the limit", cat(ctext(strings.Repeat("f", 1001)), ctext("next")), []string{"too large", "text:next"}, ""},
	{"fragments over the limit", cat(fragment(opText, strings.Repeat("g", 600)), final(opContinuation, strings.Repeat("g", 600)), ctext("next")), []string{"too large", "text:next"}, ""},
	{"over the limit, bad utf-8", cat(fragment(opText, strings.Repeat("g", 900)+"\xff"), final(opContinuation, strings.Repeat("g", 600))), nil, "close 1007"},
	{"over the limit, bad utf-8 after", cat(fragment(opText, strings.Repeat("g", 1200)), final(opContinuation, "\xff")), nil, "close 1007"},
	{"at the hard limit", ctext(strings.Repeat("h", 16000)), []string{"too large"}, ""},
	{"over the hard limit", ctext(strings.Repeat("h", 16001)), nil, "close 1009"},
	{"fragments over the hard limit", cat(fragment(opText, strings.Repeat("i", 9000)), final(opContinuation, strings.Repeat("i", 9000))), nil, "close 1009"},
	{"binary over the hard limit", cframe(0x80|opBinary, make([]byte, 16001)), nil, "close 1009"},
}

// TestParserFraming runs each framing case whole, cut at every byte (a
// read per byte), and cut at random places.
func TestParserFraming(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range framingCases {
		t.Run(tc.name, func(t *testing.T) {
			check := func(how string, cuts []int) {
				// The message size limit: 1000 bytes, or 1 MiB for the
				// cases of sizes.
				limit := int64(1000)
				if strings.HasPrefix(tc.name, "text 1") || strings.HasPrefix(tc.name, "text 6") {
					limit = 1 << 20
				}
				got, end := parseChunks(tc.stream, limit, cuts)
				if !slices.Equal(got, tc.want) || end != tc.end {
					t.Fatalf("%s: got %.200q, end %q; want %.200q, end %q", how, got, end, tc.want, tc.end)
				}
			}
			check("whole", nil)
			if len(tc.stream) <= 4096 {
				every := make([]int, len(tc.stream))
				for i := range every {
					every[i] = i
				}
				check("byte by byte", every)
			}
			for range 20 {
				cuts := make([]int, rng.IntN(8))
				for i := range cuts {
					cuts[i] = rng.IntN(len(tc.stream) + 1)
				}
				slices.Sort(cuts)
				check(fmt.Sprintf("cut at %v", cuts), cuts)
			}
		})
	}
}

// TestMaskBytes checks the word-at-a-time unmasking against the plain one
// for every start offset and length.
func TestMaskBytes(t *testing.T) {
	key := [4]byte{1, 2, 0x80, 0xff}
	for pos := range 4 {
		for n := range 40 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(i * 7)
			}
			want := slices.Clone(b)
			for i := range want {
				want[i] ^= key[(pos+i)&3]
			}
			maskBytes(key, pos, b)
			if !bytes.Equal(b, want) {
				t.Fatalf("pos %d n %d: got %x want %x", pos, n, b, want)
			}
		}
	}
}

// FuzzWSParse feeds arbitrary client bytes to the parser in arbitrary
// pieces: it must not panic, must keep at most an incomplete header or
// control frame between reads, and must find the same messages and the
// same end whatever the pieces.
func FuzzWSParse(f *testing.F) {
	for _, tc := range framingCases {
		if len(tc.stream) < 2000 {
			f.Add(tc.stream, uint64(0))
			f.Add(tc.stream, uint64(0x9e3779b97f4a7c15))
		}
	}
	f.Fuzz(func(t *testing.T, stream []byte, seed uint64) {
		whole, end := parseChunks(stream, 300, nil)
		rng := rand.New(rand.NewPCG(seed, 1))
		var cuts []int
		for at := 0; at < len(stream); {
			at += 1 + rng.IntN(40)
			cuts = append(cuts, at)
		}
		got, end2 := parseChunks(stream, 300, cuts)
		if strings.HasPrefix(end, "kept") || strings.HasPrefix(end2, "kept") {
			t.Fatalf("the parser kept too much between reads: %s / %s", end, end2)
		}
		// A stream cut short ends "incomplete" whole and in pieces alike,
		// though the pieces may have kept a different amount.
		if strings.HasPrefix(end, "incomplete") && strings.HasPrefix(end2, "incomplete") {
			end, end2 = "incomplete", "incomplete"
		}
		if !slices.Equal(got, whole) || end != end2 {
			t.Fatalf("in pieces %v: %q, end %q; whole: %q, end %q", cuts, got, end2, whole, end)
		}
	})
}
