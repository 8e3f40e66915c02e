// Package redisstore is the store that keeps room history, epochs and
// offline inboxes in Redis, so that every rtsync node on one Redis shares
// them (issue 15, clustering). It keeps the store.Store contract: each
// operation is one Lua script, so a room's seq is assigned atomically with
// the history append, whichever node appends.
//
// Keys, all under Options.Prefix (default "rtsync:"), with P the prefix:
//
//	P m:{room}   hash: seq, epoch (set once, by the first append), count, bytes,
//	             ots (the time of the oldest message kept)
//	P h:{room}   sorted set: the room's messages, scored by seq
//	P i:{uid}    sorted set: uid's inbox, scored by id
//	P d:{uid}    string: the highest inbox id handed to a connection
//	P known      sorted set: every room with a seq, scored by its newest time (room bound)
//	P rooms      sorted set, all scores 0: the rooms holding history (Rooms listing)
//	P oldest     sorted set: rooms holding history, scored by their oldest message's time (size bound)
//	P inboxes    set: the uids with an inbox
//	P inboxid    counter: the last inbox id given, across uids
//	P stats      hash: messages, bytes, trimmed, evicted, inbox_messages, inbox_bytes, inbox_expired
//
// A message is stored as "seq:ts:len(from):" followed by From and Data.
//
// Bounds. Retention by count is applied on every append; by age on every
// append, Head and Read of the room, and by Sweep (store.Sweeper) for the
// rooms and inboxes nobody touches: each call looks at 200 rooms, round
// robin in the order of their oldest message, and scans about 200 inboxes.
// MaxBytes bounds the history of all rooms together as Message.Size counts
// it (0: DefaultMaxBytes, negative: none): an append that takes the total
// past it evicts the oldest messages across rooms, down to nine tenths of
// the bound, as the memory store does; offline inboxes may take a quarter
// of it, past which InboxAppend fails with store.ErrFull. MaxRooms bounds
// the rooms with a seq: a new room past it makes the store forget the
// hundredth of the rooms (at least one) whose newest message is the
// oldest, epoch and all. These bounds count what the store wrote, not what
// Redis uses: set Redis's own maxmemory (with noeviction) for that.
//
// Durability is Redis's: Append returns after the script ran, with a nil
// Commit; whether the message survives a Redis restart depends on Redis's
// persistence settings (appendonly).
//
// It needs Redis 6.2 or newer. Limits of this version: the scripts build their keys from the prefix
// and touch shared keys (stats, rooms), so they need a single Redis (or
// one behind Sentinel), not Redis Cluster; Rooms and Stats are one round
// trip each but MaxRooms eviction reads the room index in the script.
package redisstore
