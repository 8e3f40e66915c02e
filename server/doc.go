// Package server is rtsync's sync/chat server: a hub of connections, rooms,
// user ids and per-connection sessions, reached over WebSocket (and, through
// the same Transport interface, other transports).
//
// # Concurrency contract
//
// Each connection has exactly one reader goroutine, which owns decoding and
// runs every command the client sends, so a client's commands take effect in
// the order it sent them. Writes go through the connection's bounded send
// queue (conn.enqueue); a writer goroutine exists only while the queue holds
// something, and it writes everything queued as one frame. An idle
// connection therefore holds one parked goroutine and no timers: a single
// sweeper sends heartbeats and closes silent connections.
//
// A room's lock orders everything that happens to the room: seq assignment,
// history, fan-out and membership changes all take it, so every member sees
// messages in seq order and a join with since can replay history and start
// live delivery with no gap and no duplicate. Fan-out encodes a message once
// and queues the same bytes for every member.
//
// Lock order: hub.mu, then room.mu, then conn.mu (and conn.stateMu before
// conn.mu). No lock is held while writing to a socket.
package server
