// Package redistest starts a real redis-server for tests: on a free
// loopback port, in the test's temporary directory, without persistence
// unless asked, and killed when the test ends. Outage tests stop, kill and
// restart it on the same port. StartSentinel runs a Redis Sentinel
// watching one.
//
// Start fails the test (never skips it) when redis-server cannot start:
// `make deps` installs it (Debian's redis-server package).
//
// A Server is safe for use by one test goroutine; its methods are not
// meant to be called concurrently.
package redistest
