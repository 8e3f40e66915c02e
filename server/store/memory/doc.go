// Package memory is the store that keeps history and offline inboxes in
// the process: a ring of the newest messages per room, bounded in count,
// age, total bytes and rooms. Nothing survives a restart; epochs say so.
package memory
