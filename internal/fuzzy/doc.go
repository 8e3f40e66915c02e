// Package fuzzy finds near misses: the "did you mean" for a mistyped flag
// or chat command.
//
// # Concurrency contract
//
// Pure functions; safe from any goroutine.
package fuzzy
