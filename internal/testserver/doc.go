// Package testserver runs a real rtsync server on a loopback port for
// tests outside package server (the bench, the CLI, the chat UI, the web
// page), so each test talks to the real thing over real sockets.
//
// # Concurrency contract
//
// Start and Stop may be called from any goroutine; Stop is idempotent and
// waits until the server's Run has returned. The server's own goroutines
// are the server package's business.
package testserver
