// Package procstat reads what a process costs: its CPU time and resident
// memory. The server reports its own in /api/v1/stats, the bench its own
// CPU and the memory of the server it started.
//
// # Concurrency contract
//
// Stateless functions; safe from any goroutine.
package procstat
