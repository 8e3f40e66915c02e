// Package buildinfo tells which build of rtsync is running: the version,
// commit and build date that release builds stamp in with the linker
// (-ldflags -X), or what the Go toolchain recorded when they were not.
//
// The stamped variables are written only by the linker, so reading them
// from any goroutine is safe.
package buildinfo
