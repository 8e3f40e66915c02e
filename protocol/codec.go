package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Limits on fields, enforced by Validate.
const (
	MaxRoomLen    = 128
	MaxUIDLen     = 128
	MaxNameRunes  = 64
	MaxIDLen      = 64
	MaxEpochLen   = 64
	MaxMetaBytes  = 2048
	MaxTokenBytes = 8192
	MaxMethodLen  = 128
	// MaxHistoryLimit caps one history reply; DefaultHistoryLimit is used
	// when the command gives no limit.
	MaxHistoryLimit     = 1000
	DefaultHistoryLimit = 100
)

// Split calls fn for each object of a frame. A frame holds one object or
// several separated by '\n'; blank lines and a trailing '\r' (TCP clients
// that send CRLF) are skipped. Split stops at the first error fn returns.
func Split(frame []byte, fn func(obj []byte) error) error {
	for len(frame) > 0 {
		line := frame
		if i := bytes.IndexByte(frame, '\n'); i >= 0 {
			line, frame = frame[:i], frame[i+1:]
		} else {
			frame = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	return nil
}

// Decode parses one command object and validates it. On failure the returned
// Error says what was wrong; the Command still carries whatever id could be
// read, so the error reply can echo it.
func Decode(obj []byte) (Command, *Error) {
	var c Command
	if !utf8.Valid(obj) {
		return c, Errorf(CodeBadFrame, "frame is not valid UTF-8")
	}
	if len(obj) == 0 || obj[0] != '{' {
		return c, Errorf(CodeBadJSON, "a command must be a JSON object like {\"op\":\"ping\"}")
	}
	// The command is one level; what it carries (data, meta) may use
	// MaxDepth more. Checked before decoding, so a deep value costs one
	// pass and no allocation.
	if Depth(obj) > MaxDepth+1 {
		c.ID = recoverID(obj)
		return c, Errorf(CodeBadRequest, "the command nests objects and arrays more than %d levels deep (data and meta may nest %d)", MaxDepth+1, MaxDepth)
	}
	if fc, ok := decodeFast(obj); ok {
		c = fc
	} else if err := json.Unmarshal(obj, &c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			c.ID = recoverID(obj)
			return c, Errorf(CodeBadRequest, "field %q must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return c, Errorf(CodeBadJSON, "invalid JSON: %v", err)
	}
	if e := c.Validate(); e != nil {
		return c, e
	}
	return c, nil
}

// recoverID extracts a usable id from an object whose other fields failed to
// decode, so the error reply still reaches the right caller.
func recoverID(obj []byte) json.RawMessage {
	var probe struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(obj, &probe) != nil || validID(probe.ID) != nil {
		return nil
	}
	return probe.ID
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int64", "uint64", "ptr":
		return "a whole number"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return goKind
}

// Validate checks the fields the command's op needs. It also compacts Data
// and Meta, so that a message never carries a raw newline into a batched
// frame.
func (c *Command) Validate() *Error {
	if e := validID(c.ID); e != nil {
		c.ID = nil
		return e
	}
	if c.Op == "" {
		return Errorf(CodeBadRequest, "missing \"op\"; one of hello, join, leave, pub, send, presence, history, ack, ping, rpc")
	}
	switch c.Op {
	case OpPing:
		return nil
	case OpAck:
		if c.Inbox == 0 {
			return Errorf(CodeBadRequest, "ack needs \"inbox\": the id of the last offline message received")
		}
		return nil
	case OpRPC:
		if c.Method == "" || len(c.Method) > MaxMethodLen {
			return Errorf(CodeBadRequest, "rpc needs \"method\", 1 to %d bytes", MaxMethodLen)
		}
		c.Data = Compact(c.Data)
		return nil
	case OpHello:
		if e := ValidName(c.Name); e != nil {
			return e
		}
		if c.UID != "" {
			if e := ValidUID(c.UID); e != nil {
				return e
			}
		}
		if len(c.Token) > MaxTokenBytes {
			return Errorf(CodeBadRequest, "token is longer than %d bytes", MaxTokenBytes)
		}
		if len(c.Meta) > 0 {
			if len(c.Meta) > MaxMetaBytes {
				return Errorf(CodeBadRequest, "meta is longer than %d bytes", MaxMetaBytes)
			}
			if c.Meta[0] != '{' && !bytes.Equal(c.Meta, []byte("null")) {
				return Errorf(CodeBadRequest, "meta must be a JSON object")
			}
			c.Meta = Compact(c.Meta)
		}
		return nil
	case OpJoin, OpLeave, OpPresence, OpHistory, OpPub:
		if e := ValidRoom(c.Room); e != nil {
			return e
		}
	case OpSend:
		switch {
		case c.ToUID == "" && c.ToClient == "":
			return Errorf(CodeBadRequest, "send needs \"to_uid\" or \"to_client\"")
		case c.ToUID != "" && c.ToClient != "":
			return Errorf(CodeBadRequest, "send takes \"to_uid\" or \"to_client\", not both")
		case c.ToUID != "":
			if e := ValidUID(c.ToUID); e != nil {
				return e
			}
		case len(c.ToClient) > MaxUIDLen:
			return Errorf(CodeBadRequest, "to_client is longer than %d bytes", MaxUIDLen)
		}
	default:
		return Errorf(CodeUnknownOp, "unknown op %q; one of hello, join, leave, pub, send, presence, history, ack, ping, rpc", truncate(c.Op, 32))
	}
	switch c.Op {
	case OpJoin:
		if len(c.Epoch) > MaxEpochLen {
			return Errorf(CodeBadRequest, "epoch is longer than %d bytes", MaxEpochLen)
		}
		if c.Epoch != "" && c.Since == nil {
			return Errorf(CodeBadRequest, "epoch without since: give the seq of the last message you have")
		}
	case OpPub, OpSend:
		if len(c.Data) == 0 {
			return Errorf(CodeBadRequest, "%s needs \"data\" (any JSON value)", c.Op)
		}
		c.Data = Compact(c.Data)
	case OpPresence:
		if c.Limit < 0 {
			return Errorf(CodeBadRequest, "limit must not be negative; omit it for as many members as one reply holds")
		}
		if len(c.After) > MaxUIDLen {
			return Errorf(CodeBadRequest, "after is longer than %d bytes", MaxUIDLen)
		}
	case OpHistory:
		if c.Since != nil && c.Before != nil {
			return Errorf(CodeBadRequest, "history takes \"since\" or \"before\", not both")
		}
		if c.Limit < 0 || c.Limit > MaxHistoryLimit {
			return Errorf(CodeBadRequest, "limit must be between 1 and %d", MaxHistoryLimit)
		}
	}
	return nil
}

func validID(id json.RawMessage) *Error {
	if len(id) == 0 {
		return nil
	}
	if len(id) > MaxIDLen {
		return Errorf(CodeBadRequest, "id is longer than %d bytes", MaxIDLen)
	}
	switch c := id[0]; {
	case c == '"', c == '-', c >= '0' && c <= '9':
		return nil
	case bytes.Equal(id, []byte("null")):
		return nil
	}
	return Errorf(CodeBadRequest, "id must be a number or a string")
}

// Compact removes insignificant white space from a valid JSON value when it
// holds any, and returns it unchanged otherwise, so that the value never
// carries a raw newline into a batched frame.
func Compact(v json.RawMessage) json.RawMessage {
	if !bytes.ContainsAny(v, " \t\r\n") {
		return v
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return v
	}
	return b.Bytes()
}

// ValidRoom checks a room name: 1 to 128 bytes of ASCII letters, digits and
// the punctuation - _ . : @ / #. Names starting with '$' are reserved.
func ValidRoom(room string) *Error {
	if room == "" {
		return Errorf(CodeBadRoom, "missing \"room\"")
	}
	if len(room) > MaxRoomLen {
		return Errorf(CodeBadRoom, "room name is longer than %d bytes", MaxRoomLen)
	}
	for i := 0; i < len(room); i++ {
		if !roomByte(room[i]) {
			// Name the whole character, not its first byte, when it is
			// not ASCII.
			r, _ := utf8.DecodeRuneInString(room[i:])
			return Errorf(CodeBadRoom, "room %q: character %q is not allowed; use letters, digits and - _ . : @ / #", truncate(room, 32), r)
		}
	}
	return nil
}

func roomByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', ':', '@', '/', '#':
		return true
	}
	return false
}

// ValidUID checks a user id: 1 to 128 bytes of printable UTF-8 without
// white space, not starting with '$'. Ids starting with '$' are the
// server's own (the server API sends as client "$server"), so no client,
// token or application can take one and pass for the server.
func ValidUID(uid string) *Error {
	if uid == "" || len(uid) > MaxUIDLen {
		return Errorf(CodeBadRequest, "uid must be 1 to %d bytes", MaxUIDLen)
	}
	if !utf8.ValidString(uid) {
		return Errorf(CodeBadRequest, "uid is not valid UTF-8 text")
	}
	if uid[0] == '$' {
		return Errorf(CodeBadRequest, "uid %q: ids starting with $ are reserved for the server", truncate(uid, 32))
	}
	for _, r := range uid {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return Errorf(CodeBadRequest, "uid %q holds a space or control character", truncate(uid, 32))
		}
	}
	return nil
}

// ValidName checks a display name: valid UTF-8, at most 64 characters, no
// control characters, not starting with '$' (reserved, as for uids). The
// empty name is valid (anonymous). Names may hold bidi controls and other
// invisible characters; every place that prints a name to a terminal
// cleans it first.
func ValidName(name string) *Error {
	if !utf8.ValidString(name) {
		return Errorf(CodeBadRequest, "name is not valid UTF-8 text")
	}
	if utf8.RuneCountInString(name) > MaxNameRunes {
		return Errorf(CodeBadRequest, "name is longer than %d characters", MaxNameRunes)
	}
	if strings.HasPrefix(name, "$") {
		return Errorf(CodeBadRequest, "name %q: names starting with $ are reserved for the server", truncate(name, 32))
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return Errorf(CodeBadRequest, "name holds a control character")
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Marshal encodes a server event or client command as one line of JSON with
// no trailing newline. Values of this package never fail to encode; an error
// here means a caller put an unencodable value in a RawMessage field.
//
// It does not escape < > & as json.Marshal does: that would grow a payload up
// to six times, past the limits (id, meta, frame size) it was checked against.
func Marshal(v any) ([]byte, error) {
	e := encoders.Get().(*encoder)
	defer e.put()
	if err := e.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	b := bytes.TrimSuffix(e.buf.Bytes(), []byte{'\n'})
	// The one allocation: the result, with room for the newline a line
	// transport appends.
	out := make([]byte, len(b), len(b)+1)
	copy(out, b)
	return out, nil
}

// encoder is a reusable json.Encoder writing into its own buffer: one per
// Marshal cost an encoder and a few buffer growths each time.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

// put returns e to the pool, unless it grew past what a small event
// needs (a history page): that memory goes back to the heap.
func (e *encoder) put() {
	if e.buf.Cap() > 64<<10 {
		return
	}
	e.buf.Reset()
	encoders.Put(e)
}

// DecodeEvent parses one server → client object.
func DecodeEvent(obj []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(obj, &e); err != nil {
		return e, fmt.Errorf("decode event: %w", err)
	}
	if e.Type == "" {
		return e, errors.New("decode event: missing \"type\"")
	}
	return e, nil
}
