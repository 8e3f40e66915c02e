// Package human formats figures for people: the bench's report and live
// view and top all print counts the same way.
//
// # Concurrency contract
//
// Pure functions; safe from any goroutine.
package human
