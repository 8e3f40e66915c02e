// Package disk is the embedded store: room history, epochs and offline
// inboxes kept in a Pebble database under a data directory, so that they
// survive a restart (and, with fsync "batch" or "always", a power cut).
//
// Concurrency: a Store is safe for concurrent use, with the store.Store
// rule that the caller orders the Appends of one room. Append assigns the
// seq under the room's lock and queues the message; one committer
// goroutine owns every write to the engine, groups queued appends into one
// synced batch, and then records them in the in-memory summaries (each
// room's and inbox's messages: seq, time, size) under their locks. Reads
// plan a page from the summary under the room's lock and read it from the
// engine without it. A sweeper goroutine trims by age every few seconds.
//
// Check and Compact are for operators, on a directory no server uses.
package disk
