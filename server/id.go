package server

import (
	"crypto/rand"
	"encoding/base32"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomID returns a random lower-case id of about 1.6 characters per byte
// of entropy given.
func randomID(bytes int) string {
	// Up to 20 bytes (32 characters) on the stack: a connection's id costs
	// one allocation, the string.
	var raw [20]byte
	var enc [32]byte
	if bytes > len(raw) {
		b := make([]byte, bytes)
		_, _ = rand.Read(b) // crypto/rand.Read never fails on supported systems
		return idEncoding.EncodeToString(b)
	}
	b := raw[:bytes]
	_, _ = rand.Read(b)
	out := enc[:idEncoding.EncodedLen(bytes)]
	idEncoding.Encode(out, b)
	return string(out)
}
