package loadtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// The poll read path's WebSocket frame parser (poll_linux.go reads the
// sockets). It reads what a server sends a client, as gorilla's reader
// does on the goroutine path: unmasked frames, a message in one frame or
// in fragments (continuation frames, with control frames between them),
// pings, pongs and a close. It checks what gorilla checks, and reports a
// violation as an error the same way (the connection is then lost).

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// maxMessage bounds one message on the poll path: a longer one ends the
// connection with an error rather than growing a buffer without limit.
// The bench's own messages are at most a mebibyte (--payload); a server's
// frame of batched messages stays far below this.
const maxMessage = 64 << 20

// maxControlPayload is the longest ping, pong or close payload (RFC 6455).
const maxControlPayload = 125

// What wsReader.next found.
const (
	evNone    = iota // no complete frame left in the bytes given
	evMessage        // a whole text or binary message
	evPing           // a ping, to be answered with a pong of its payload
	evClose          // a close frame: err is its *websocket.CloseError
)

// wsReader is one connection's parsing state on the poll path: the message
// whose fragments it is collecting. The bytes of an incomplete frame are
// the caller's to keep (pollConn.pending).
type wsReader struct {
	msg   []byte // the fragments so far of a message not yet finished
	inMsg bool   // a data frame without FIN started a message
}

// errFrame is a frame the server should not have sent.
type errFrame struct{ msg string }

func (e *errFrame) Error() string { return "bad WebSocket frame from the server: " + e.msg }

// frameHeader reads the header at the start of b: its length, the
// payload's length, and whether b holds the whole header (ok).
func frameHeader(b []byte) (hdr int, size uint64, ok bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	hdr = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		hdr += 2
		if len(b) < hdr {
			return 0, 0, false
		}
		size = uint64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		hdr += 8
		if len(b) < hdr {
			return 0, 0, false
		}
		size = binary.BigEndian.Uint64(b[2:10])
	default:
		size = uint64(l)
	}
	if b[1]&0x80 != 0 {
		hdr += 4 // a mask key: refused in next, counted here to stay in step
	}
	return hdr, size, true
}

// frameNeed is how many bytes the frame at the start of b takes in all, or
// 0 while its header is incomplete (or its length is beyond any buffer).
func frameNeed(b []byte) int {
	hdr, size, ok := frameHeader(b)
	if !ok || size > maxMessage {
		return 0
	}
	return hdr + int(size)
}

// next parses b from its start up to the next event. It consumes (n) every
// whole frame it reads; a fragment of a message is kept in r and needs no
// event. ev is evNone when b holds no further whole frame: b[n:] is then
// the start of one, to be given again with the bytes that follow. data is
// the message or ping payload; it points into b or into r, and is good
// until the next call. err is set with evClose (a *websocket.CloseError),
// or alone when the frame breaks the protocol.
func (r *wsReader) next(b []byte) (ev int, data []byte, n int, err error) {
	for {
		hdr, size, ok := frameHeader(b[n:])
		if !ok {
			return evNone, nil, n, nil
		}
		h0, h1 := b[n], b[n+1]
		fin, op := h0&0x80 != 0, h0&0x0f
		if rsv := h0 & 0x70; rsv != 0 {
			return evNone, nil, n, &errFrame{fmt.Sprintf("unexpected reserved bits 0x%x", rsv)}
		}
		if h1&0x80 != 0 {
			return evNone, nil, n, &errFrame{"a masked frame (a server's frames are not masked)"}
		}
		if size > maxMessage || uint64(len(r.msg))+size > maxMessage {
			return evNone, nil, n, &errFrame{fmt.Sprintf("a message over the bench's limit of %d bytes", maxMessage)}
		}
		switch op {
		case opClose, opPing, opPong:
			if size > maxControlPayload {
				return evNone, nil, n, &errFrame{"a control frame longer than 125 bytes"}
			}
			if !fin {
				return evNone, nil, n, &errFrame{"a fragmented control frame"}
			}
		case opText, opBinary:
			if r.inMsg {
				return evNone, nil, n, &errFrame{"a new message before the last one's final fragment"}
			}
		case opContinuation:
			if !r.inMsg {
				return evNone, nil, n, &errFrame{"a continuation frame with no message to continue"}
			}
		default:
			return evNone, nil, n, &errFrame{fmt.Sprintf("unknown opcode %d", op)}
		}
		end := n + hdr + int(size)
		if len(b) < end {
			return evNone, nil, n, nil
		}
		payload := b[n+hdr : end]
		n = end
		switch op {
		case opPing:
			return evPing, payload, n, nil
		case opPong:
			continue
		case opClose:
			return evClose, nil, n, closeError(payload)
		}
		switch {
		case fin && !r.inMsg:
			return evMessage, payload, n, nil
		case !fin:
			r.msg = append(r.msg, payload...)
			r.inMsg = true
		default: // the final fragment
			r.msg = append(r.msg, payload...)
			r.inMsg = false
			return evMessage, r.msg, n, nil
		}
	}
}

// done is called once the message next returned has been handled: it
// forgets the fragments, and lets a large buffer go.
func (r *wsReader) done() {
	if r.inMsg {
		return
	}
	if cap(r.msg) > 64<<10 {
		r.msg = nil
	} else {
		r.msg = r.msg[:0]
	}
}

// closeError is a close frame's payload as gorilla reports it.
func closeError(p []byte) error {
	if len(p) < 2 {
		return &websocket.CloseError{Code: websocket.CloseNoStatusReceived}
	}
	ce := &websocket.CloseError{Code: int(binary.BigEndian.Uint16(p)), Text: string(p[2:])}
	if !validCloseCode(ce.Code) {
		return &errFrame{fmt.Sprintf("invalid close code %d", ce.Code)}
	}
	if !utf8.ValidString(ce.Text) {
		return &errFrame{"a close reason that is not UTF-8"}
	}
	return ce
}

// validCloseCode is gorilla's isValidReceivedCloseCode.
func validCloseCode(code int) bool {
	switch code {
	case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013:
		return true
	}
	return code >= 3000 && code <= 4999
}

// isFrameError reports whether err is a protocol violation by the server
// (the bench then closes with 1002, as gorilla does).
func isFrameError(err error) bool {
	var fe *errFrame
	return errors.As(err, &fe)
}
