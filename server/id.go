package server

import (
	"crypto/rand"
	"encoding/base32"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomID returns a random lower-case id of about 1.6 characters per byte
// of entropy given.
func randomID(bytes int) string {
	b := make([]byte, bytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported systems
	return idEncoding.EncodeToString(b)
}
