package server

import (
	"encoding/binary"
	"sync"
	"unicode/utf8"
)

// Client frames are parsed here, by rtsync, not by gorilla, which only
// upgrades the connection (RFC 6455 §5). The parser is fed whatever bytes
// a read returned, many frames at once or a few bytes of one: it handles
// every complete frame, streams the payload of a data frame into its
// message as the bytes come, and leaves unconsumed only an incomplete
// header or an incomplete control frame (at most 131 bytes), which the
// caller gives again with the next bytes. Between messages it holds no
// buffer.
//
// No extension is negotiated, so the reserved bits must be clear. Client
// frames must be masked. A violation ends the connection with close code
// 1002 (protocol error), invalid UTF-8 in a text message or a close reason
// with 1007, a message past the hard limit with 1009.

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// WebSocket close codes the reader sends.
const (
	closeNormal         = 1000
	closeProtocolError  = 1002
	closeNoStatus       = 1005
	closeInvalidPayload = 1007
	closeTooBig         = 1009
)

// wsError ends the connection: a protocol violation by the client (peer
// false: the server closes with code and text), or the client's own close
// frame (peer true: code and text are what it sent; code 1005 when it
// sent none).
type wsError struct {
	code int
	text string
	peer bool
}

func (e *wsError) Error() string {
	if e.peer {
		return "websocket: the client closed with code " + itoa(e.code) + " " + e.text
	}
	return "websocket: " + e.text
}

func protoErr(text string) *wsError { return &wsError{code: closeProtocolError, text: text} }

// wsSink receives what the parser finds, in the order the frames came.
type wsSink interface {
	// wsMessage is a whole message: a text message's payload (valid
	// UTF-8), or nil with tooLarge when it passed the size limit and was
	// discarded, or nil with binary for a binary message (discarded).
	wsMessage(payload []byte, tooLarge, binary bool)
	wsPing(payload []byte)
	wsPong()
}

// msgBufs holds the buffers of messages that span several frames or reads.
var msgBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// wsParser is the state of one connection's client frames between reads.
type wsParser struct {
	// limit is the size past which a message is discarded (too_large);
	// hard the size past which the connection closes (1009).
	limit, hard int64

	// The data frame whose payload is being read.
	remain  uint64 // payload bytes still to come
	mask    [4]byte
	maskPos uint8
	fin     bool
	inFrame bool

	// The message being read.
	msgOp byte    // opText or opBinary; 0 between messages
	size  int64   // payload bytes so far
	over  bool    // past limit: discarded
	msg   *[]byte // a text message's payload so far, pooled; nil when discarded
	utf   utf8Stream
}

// reset drops what the parser holds, returning its buffer to the pool.
func (p *wsParser) reset() {
	if p.msg != nil {
		putMsgBuf(p.msg)
		p.msg = nil
	}
	*p = wsParser{limit: p.limit, hard: p.hard}
}

func putMsgBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		*bp = (*bp)[:0]
		msgBufs.Put(bp)
	}
}

// parse handles the frames in b and returns how many bytes it consumed;
// the rest (an incomplete header or control frame) must be given again,
// followed by more bytes. A *wsError ends the connection. b is unmasked in
// place.
func (p *wsParser) parse(b []byte, sink wsSink) (int, error) {
	done := 0
	for done < len(b) {
		if p.inFrame {
			n := min(uint64(len(b)-done), p.remain)
			if err := p.payload(b[done:done+int(n)], sink); err != nil {
				return done, err
			}
			done += int(n)
			continue
		}
		n, err := p.frame(b[done:], sink)
		if err != nil || n == 0 {
			return done, err
		}
		done += n
	}
	return done, nil
}

// frame handles the frame b starts with: a control frame whole, a data
// frame's header and as much of its payload as b holds. It returns 0 when
// b holds too little to start.
func (p *wsParser) frame(b []byte, sink wsSink) (int, error) {
	if len(b) < 2 {
		return 0, nil
	}
	b0, b1 := b[0], b[1]
	if b0&0x70 != 0 {
		return 0, protoErr("a frame has reserved bits set, and no extension was negotiated")
	}
	if b1&0x80 == 0 {
		return 0, protoErr("a client frame is not masked")
	}
	op, fin := b0&0x0f, b0&0x80 != 0
	hlen := 2 + 4
	length := uint64(b1 & 0x7f)
	switch length {
	case 126:
		hlen += 2
	case 127:
		hlen += 8
	}
	switch op {
	case opClose, opPing, opPong:
		if !fin {
			return 0, protoErr("a control frame is fragmented")
		}
		if length > 125 {
			return 0, protoErr("a control frame is longer than 125 bytes")
		}
	case opText, opBinary, opContinuation:
	default:
		return 0, protoErr("unknown opcode " + itoa(int(op)))
	}
	if len(b) < hlen {
		return 0, nil
	}
	switch length {
	case 126:
		length = uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		length = binary.BigEndian.Uint64(b[2:])
		if length>>63 != 0 {
			return 0, protoErr("a frame length has its most significant bit set")
		}
	}
	mask := [4]byte(b[hlen-4 : hlen])
	if op >= opClose {
		end := hlen + int(length)
		if len(b) < end {
			return 0, nil
		}
		pl := b[hlen:end]
		maskBytes(mask, 0, pl)
		return end, p.control(op, pl, sink)
	}
	switch {
	case op == opContinuation && p.msgOp == 0:
		return 0, protoErr("a continuation frame came with no message to continue")
	case op != opContinuation && p.msgOp != 0:
		return 0, protoErr("a new message started before the last one ended")
	}
	base := int64(0)
	if op == opContinuation {
		base = p.size
	}
	if length > uint64(p.hard-base) {
		return 0, &wsError{code: closeTooBig, text: "a message is longer than the server's hard limit of " + itoa(int(p.hard)) + " bytes"}
	}
	rest := b[hlen:]
	// The common case: a whole message in one frame, all in b. It is
	// unmasked and handled in place.
	if fin && op == opText && uint64(len(rest)) >= length && int64(length) <= p.limit {
		pl := rest[:length]
		maskBytes(mask, 0, pl)
		if !utf8.Valid(pl) {
			return 0, &wsError{code: closeInvalidPayload, text: "a text message is not valid UTF-8"}
		}
		sink.wsMessage(pl, false, false)
		return hlen + int(length), nil
	}
	if op != opContinuation {
		p.msgOp, p.size, p.over = op, 0, op == opBinary
		p.utf = utf8Stream{}
	}
	p.inFrame, p.fin, p.remain, p.mask, p.maskPos = true, fin, length, mask, 0
	if length == 0 {
		return hlen, p.endFrame(sink)
	}
	return hlen, nil
}

// payload handles the next bytes of the current data frame's payload:
// b holds at most what is left of it.
func (p *wsParser) payload(b []byte, sink wsSink) error {
	maskBytes(p.mask, int(p.maskPos), b)
	p.maskPos = uint8((int(p.maskPos) + len(b)) & 3)
	p.remain -= uint64(len(b))
	p.size += int64(len(b))
	if !p.over && p.size > p.limit {
		// Discarded from here on; what was kept is still checked.
		p.over = true
		if p.msg != nil {
			if !p.utf.feed(*p.msg) {
				return errBadUTF8
			}
			putMsgBuf(p.msg)
			p.msg = nil
		}
	}
	switch {
	case p.msgOp == opBinary:
	case p.over:
		if !p.utf.feed(b) {
			return errBadUTF8
		}
	default:
		if p.msg == nil {
			p.msg = msgBufs.Get().(*[]byte)
		}
		*p.msg = append(*p.msg, b...)
	}
	if p.remain == 0 {
		return p.endFrame(sink)
	}
	return nil
}

var errBadUTF8 = &wsError{code: closeInvalidPayload, text: "a text message is not valid UTF-8"}

// endFrame ends the current data frame and, on its last frame, the
// message.
func (p *wsParser) endFrame(sink wsSink) error {
	p.inFrame = false
	if !p.fin {
		return nil
	}
	op, over := p.msgOp, p.over
	p.msgOp = 0
	switch {
	case op == opBinary:
		sink.wsMessage(nil, false, true)
	case over:
		if !p.utf.end() {
			return errBadUTF8
		}
		sink.wsMessage(nil, true, false)
	default:
		var pl []byte
		if p.msg != nil {
			pl = *p.msg
		}
		if !utf8.Valid(pl) {
			return errBadUTF8
		}
		sink.wsMessage(pl, false, false)
		if p.msg != nil {
			putMsgBuf(p.msg)
			p.msg = nil
		}
	}
	return nil
}

// control handles a whole, unmasked control frame.
func (p *wsParser) control(op byte, pl []byte, sink wsSink) error {
	switch op {
	case opPing:
		sink.wsPing(pl)
	case opPong:
		sink.wsPong()
	case opClose:
		return closeFrame(pl)
	}
	return nil
}

// closeFrame checks the payload of the client's close frame and returns it
// as the error that ends the connection (RFC 6455 §5.5.1, §7.4).
func closeFrame(pl []byte) *wsError {
	switch {
	case len(pl) == 0:
		return &wsError{code: closeNoStatus, peer: true}
	case len(pl) == 1:
		return protoErr("a close frame has a 1-byte payload")
	}
	code := int(binary.BigEndian.Uint16(pl))
	if !validCloseCode(code) {
		return protoErr("a close frame has the code " + itoa(code) + ", which a client may not send")
	}
	if !utf8.Valid(pl[2:]) {
		return &wsError{code: closeInvalidPayload, text: "a close frame's reason is not valid UTF-8"}
	}
	return &wsError{code: code, text: string(pl[2:]), peer: true}
}

// validCloseCode reports whether a client may send code in a close frame:
// the defined codes that are not reserved for local use (1004, 1005, 1006,
// 1015), and the registered and private ranges 3000-4999.
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// maskBytes XORs b with the mask key, starting pos bytes into it, eight
// bytes at a time where it can.
func maskBytes(key [4]byte, pos int, b []byte) {
	i := 0
	for ; i < len(b) && (pos+i)&3 != 0; i++ {
		b[i] ^= key[(pos+i)&3]
	}
	if len(b)-i >= 8 {
		k32 := uint64(binary.LittleEndian.Uint32(key[:]))
		k := k32 | k32<<32
		for ; len(b)-i >= 8; i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k)
		}
	}
	for ; i < len(b); i++ {
		b[i] ^= key[(pos+i)&3]
	}
}

// utf8Stream checks UTF-8 given in pieces that may split a character.
type utf8Stream struct {
	part [utf8.UTFMax]byte // the start of a character split by a piece's end
	n    uint8
}

// feed checks the next piece; false means the text is not UTF-8.
func (u *utf8Stream) feed(b []byte) bool {
	for u.n > 0 && len(b) > 0 {
		u.part[u.n] = b[0]
		u.n++
		b = b[1:]
		if utf8.FullRune(u.part[:u.n]) {
			r, size := utf8.DecodeRune(u.part[:u.n])
			if r == utf8.RuneError && size <= 1 || int(size) != int(u.n) {
				return false
			}
			u.n = 0
		}
	}
	if len(b) == 0 {
		return true
	}
	// Keep an incomplete last character for the next piece.
	start := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			start = i
			break
		}
	}
	if start < len(b) && !utf8.FullRune(b[start:]) {
		u.n = uint8(copy(u.part[:], b[start:]))
		b = b[:start]
	}
	return utf8.Valid(b)
}

// end reports whether the text ended on a whole character.
func (u *utf8Stream) end() bool { return u.n == 0 }
