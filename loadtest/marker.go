package loadtest

import (
	"bytes"
	"strconv"
)

// The marker is the text every bench message starts with:
//
//	rtb1 <run> <stream> <n> <intended unix ns> xxxx…
//
// padded with 'x' to the payload size. It is plain text so that it passes
// unchanged through any server: as a JSON string in rtsync's data field,
// or as the whole frame of a raw broadcast server (which may wrap it in
// anything of its own). Receivers look for "rtb1 " anywhere in a frame, as
// often as it occurs, so batched frames work too.
var markerPrefix = []byte("rtb1 ")

// appendMarker appends a message's marker padded to size bytes.
func appendMarker(b []byte, run string, stream, n int, intended int64, size int) []byte {
	start := len(b)
	b = append(b, markerPrefix...)
	b = append(b, run...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(stream), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, intended, 10)
	b = append(b, ' ')
	for len(b)-start < size {
		b = append(b, 'x')
	}
	return b
}

// mark is one parsed marker.
type mark struct {
	stream   int
	n        int
	intended int64
}

// nextMark finds the first marker of run in buf and parses it. It returns
// the rest of buf after it; ok is false when there is none left. Markers
// of other runs are skipped.
func nextMark(buf []byte, run string) (m mark, rest []byte, ok bool) {
	for {
		i := bytes.Index(buf, markerPrefix)
		if i < 0 {
			return mark{}, nil, false
		}
		buf = buf[i+len(markerPrefix):]
		if !bytes.HasPrefix(buf, []byte(run)) || len(buf) <= len(run) || buf[len(run)] != ' ' {
			continue
		}
		p := buf[len(run)+1:]
		var v [3]int64
		good := true
		for k := range v {
			x, used := parseInt(p)
			if used == 0 || used >= len(p) || p[used] != ' ' {
				good = false
				break
			}
			v[k] = x
			p = p[used+1:]
		}
		if !good || v[0] < 0 || v[1] < 0 {
			continue
		}
		return mark{stream: int(v[0]), n: int(v[1]), intended: v[2]}, p, true
	}
}

// parseInt reads a non-negative decimal at the start of b, returning it and
// how many bytes it took (0 when none, or when it overflows).
func parseInt(b []byte) (int64, int) {
	var n int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if n > (1<<62)/10 {
			return 0, 0
		}
		n = n*10 + int64(b[i]-'0')
	}
	return n, i
}
