// Package fakeserver is a small WebSocket broadcast server with faults that
// a test injects on purpose (delay, drop, duplicate, reorder, refuse, close,
// ignore a flooding publisher),
// so that tests of `rtsync bench` can check that the figures the load
// generator reports match what the server made happen: a subscriber delayed
// by a known amount shows up in the latency percentiles, one message in a
// hundred dropped shows up as 1% loss, and so on.
//
// It listens on 127.0.0.1 only and speaks one of two protocols:
//
//   - ProtocolRaw: every text frame a client sends is broadcast as it is to
//     every connected client, the sender included (gorilla/websocket's chat
//     example). No welcome, no replies.
//   - ProtocolRTSync (the default): a minimal subset of rtsync's wire
//     protocol v1 (docs/protocol.md): welcome, hello, join, leave, pub, send
//     and ping. One room history generation ("e1"), no history, no presence
//     events, no authentication, no rate limit, no heartbeats.
//
// Faults (see Faults) act on deliveries of room messages (msg events, raw
// frames) and, for Delay only, direct events; never on welcomes, replies or
// error events, except FloodCloseAfter, which stops answering a publisher. With a zero Faults the server is faithful. Stats returns
// counters a test compares with what its client measured.
//
// # Concurrency contract
//
// Every connection has one reader goroutine (the HTTP handler that
// upgraded it), which runs the client's commands in the order sent, and one
// writer goroutine, the only one that writes data frames to its socket. They
// meet at the connection's bounded queue (conn.enqueue): any goroutine may
// queue, the writer drains in order, batching ready items into one frame in
// rtsync mode (one frame per item in raw mode). A delayed item is written at
// its due time and everything queued behind it waits, so a delay never
// reorders a connection's stream and never slows another connection.
//
// A stream's lock (one per rtsync room; a single stream in raw mode) orders
// seq assignment, the drop/duplicate/reorder decision and fan-out, so every
// receiver sees the same order. Lock order: Server.mu, then stream.mu, then
// conn.mu; no lock is held while writing to a socket.
//
// Every goroutine the server starts (listener, readers, writers) is waited
// for by Close; a reorder hold timer that fires during Close finds nothing
// to do and returns at once. All exported methods are safe for concurrent use.
package fakeserver
