package protocol

import (
	"unicode/utf8"
)

// MaxDepth is how deeply the JSON values a client or an application sends
// (data, meta, sessions) may nest: objects and arrays inside each other.
// The server wraps a value in up to three levels of its own (a history
// reply's messages list and msg event), and Go's decoder, which clients
// use, stops at 10,000, so a value accepted here is always readable again
// wherever the server relays it.
const MaxDepth = 64

// CheckValue checks that v, a JSON value about to be stored or relayed, is
// valid UTF-8 and nests at most MaxDepth levels deep. It does not check
// the JSON grammar (the decoder that produced v did). what names the value
// in the error ("data", "meta", "session").
//
// Invalid UTF-8 relayed in a WebSocket text frame makes browsers fail the
// connection, so no input path may store it: this is the one check they
// all share.
func CheckValue(what string, v []byte) *Error {
	if !utf8.Valid(v) {
		return Errorf(CodeBadRequest, "%s is not valid UTF-8 text", what)
	}
	if Depth(v) > MaxDepth {
		return Errorf(CodeBadRequest, "%s nests objects and arrays more than %d levels deep", what, MaxDepth)
	}
	return nil
}

// Depth returns how deeply the JSON text b nests objects and arrays: 0 for
// a scalar, 1 for {} or [1,2], 2 for {"a":[]}. It reads b once without
// decoding it and does not check its grammar; brackets inside strings do
// not count.
func Depth(b []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			// Skip the string: its escapes may hide a quote, never a
			// bracket that counts.
			for i++; i < len(b); i++ {
				if b[i] == '\\' {
					i++
				} else if b[i] == '"' {
					break
				}
			}
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
	}
	return deepest
}
