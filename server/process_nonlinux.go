//go:build !linux

package server

// rssBytes returns the Go runtime's mapped memory: outside Linux there is
// no cheap and portable way to read the resident set (getrusage gives only
// its peak). docs/api.md says so.
func rssBytes() uint64 { return runtimeMemory() }
