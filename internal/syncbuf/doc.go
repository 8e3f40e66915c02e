// Package syncbuf is a byte buffer safe for concurrent writes and reads:
// a log or a program's output that one goroutine writes while another
// reads it, as tests and the bench's child servers need.
package syncbuf
