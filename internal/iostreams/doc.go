// Package iostreams carries the standard streams a command reads and writes,
// so that commands never touch os.Stdin, os.Stdout or os.Stderr directly and
// tests can hand them buffers instead.
//
// Concurrency: an IOStreams is shared by every goroutine of a command (the
// server's goroutines log to ErrOut while the command waits). The system
// streams are safe for that; the test Buffers lock around every call.
package iostreams
