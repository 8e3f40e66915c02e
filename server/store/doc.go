// Package store defines where rooms' history and users' offline inboxes
// live: the Store interface, with one contract (storetest) for every
// implementation. The memory store (store/memory) keeps a ring per room in
// the process; the disk store (store/disk), the default, keeps them in an
// embedded database under a data directory, so that history, epochs and
// inboxes survive a restart; Redis (for clusters) is the third.
//
// Durability is a Commit: Append returns at once with the seq, and the
// Commit reports when the message is durable. Stores that write to disk
// let many appends share one sync (group commit).
package store
