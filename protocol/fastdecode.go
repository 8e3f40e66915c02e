package protocol

import (
	"bytes"
	"encoding/json"
	"math"
)

// decodeFast decodes a command the way encoding/json would, for the
// commands clients ordinarily send: keys spelled exactly as Command's
// tags, strings without escapes in the string fields, unsigned integers
// in the number fields, true or false in noecho, and any JSON value but
// null in id, meta and data. For anything else it reports false and
// Decode uses encoding/json, which also gives the errors. It never
// accepts what encoding/json rejects: obj is checked with json.Valid
// first, so the walk below may assume valid JSON. obj must be valid UTF-8
// (Decode checks), as encoding/json would replace bad bytes in strings.
//
// What it decodes (a hello, a join, a pub) costs a fraction of
// encoding/json's reflection; FuzzDecodeFast checks the two agree.
func decodeFast(obj []byte) (Command, bool) {
	var c Command
	if !json.Valid(obj) {
		return c, false
	}
	d := fastDecoder{b: obj}
	d.space()
	if !d.eat('{') {
		return c, false
	}
	d.space()
	if d.eat('}') {
		return c, d.end()
	}
	for {
		key, ok := d.plainString()
		if !ok {
			return c, false
		}
		d.space()
		d.eat(':')
		d.space()
		if !d.field(&c, key) {
			return c, false
		}
		d.space()
		if d.eat(',') {
			d.space()
			continue
		}
		if d.eat('}') {
			return c, d.end()
		}
		return c, false
	}
}

// fastDecoder walks a valid JSON object.
type fastDecoder struct {
	b []byte
	i int
}

func (d *fastDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

func (d *fastDecoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (d *fastDecoder) end() bool {
	d.space()
	return d.i == len(d.b)
}

// plainString reads a string without escapes and returns its bytes.
func (d *fastDecoder) plainString() ([]byte, bool) {
	if !d.eat('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case '"':
			s := d.b[start:d.i]
			d.i++
			return s, true
		case '\\':
			return nil, false
		}
		d.i++
	}
	return nil, false
}

// str reads a string field's value.
func (d *fastDecoder) str(dst *string) bool {
	s, ok := d.plainString()
	if ok {
		*dst = string(s)
	}
	return ok
}

// uint reads an unsigned integer of at most max.
func (d *fastDecoder) uint(max uint64) (uint64, bool) {
	start := d.i
	var n uint64
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		digit := uint64(d.b[d.i] - '0')
		if n > (max-digit)/10 {
			return 0, false
		}
		n = n*10 + digit
		d.i++
	}
	if d.i == start || d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return 0, false
	}
	return n, true
}

// raw reads any value but null and returns a copy of its bytes, as
// json.RawMessage keeps them.
func (d *fastDecoder) raw(dst *json.RawMessage) bool {
	start := d.i
	if d.i >= len(d.b) || d.b[d.i] == 'n' {
		return false
	}
	switch d.b[d.i] {
	case '"':
		d.skipString()
	case '{', '[':
		depth := 0
	scan:
		for d.i < len(d.b) {
			switch d.b[d.i] {
			case '"':
				d.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			d.i++
			if depth == 0 {
				break scan
			}
		}
	default: // number, true, false
		for d.i < len(d.b) {
			switch d.b[d.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				*dst = bytes.Clone(d.b[start:d.i])
				return true
			}
			d.i++
		}
	}
	*dst = bytes.Clone(d.b[start:d.i])
	return true
}

// skipString moves past the string that starts at d.i.
func (d *fastDecoder) skipString() {
	d.i++
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case '\\':
			d.i += 2
			continue
		case '"':
			d.i++
			return
		}
		d.i++
	}
}

// field reads the value of key into c.
func (d *fastDecoder) field(c *Command, key []byte) bool {
	switch string(key) {
	case "op":
		return d.str(&c.Op)
	case "id":
		return d.raw(&c.ID)
	case "name":
		return d.str(&c.Name)
	case "token":
		return d.str(&c.Token)
	case "uid":
		return d.str(&c.UID)
	case "meta":
		return d.raw(&c.Meta)
	case "room":
		return d.str(&c.Room)
	case "since", "before":
		n, ok := d.uint(math.MaxUint64)
		if !ok {
			return false
		}
		if key[0] == 's' {
			c.Since = &n
		} else {
			c.Before = &n
		}
		return true
	case "epoch":
		return d.str(&c.Epoch)
	case "limit":
		n, ok := d.uint(math.MaxInt)
		c.Limit = int(n)
		return ok
	case "after":
		return d.str(&c.After)
	case "data":
		return d.raw(&c.Data)
	case "noecho":
		switch {
		case bytes.HasPrefix(d.b[d.i:], []byte("true")):
			c.NoEcho, d.i = true, d.i+4
		case bytes.HasPrefix(d.b[d.i:], []byte("false")):
			c.NoEcho, d.i = false, d.i+5
		default:
			return false
		}
		return true
	case "to_uid":
		return d.str(&c.ToUID)
	case "to_client":
		return d.str(&c.ToClient)
	case "method":
		return d.str(&c.Method)
	case "inbox":
		n, ok := d.uint(math.MaxUint64)
		c.Inbox = n
		return ok
	}
	return false
}
