// Package server is rtsync's sync/chat server: a hub of connections, rooms,
// user ids and per-connection sessions, reached over WebSocket and, through
// the same Transport interface, over TCP as JSON lines or plain text lines
// (tcp.go). Which transport a client used makes no difference past its
// reader: commands, events and rules are the same.
//
// # Concurrency contract
//
// Each connection has at most one reader goroutine at a time, which owns
// decoding and runs every command the client sends, so a client's commands
// take effect in the order it sent them. A WebSocket connection's reader
// (wsin.go) exists only while the socket has bytes, on the poll path
// (epoll or kqueue readiness, netpoll.go), or for the connection's life on
// the goroutine path (TLS, Config.ReadMode goroutine); TCP connections have
// one for their life. Writes go through the connection's bounded send
// queue (conn.enqueue); a writer goroutine exists only while the queue holds
// something, and it writes everything queued as one frame (a frame per
// 64 KiB), each frame with one write to the socket. An idle WebSocket
// connection on the poll path therefore holds no goroutine and no timers:
// a single sweeper sends heartbeats and closes silent connections, and
// those whose token expired (see auth.go).
//
// A room's lock orders everything that happens to the room: seq assignment,
// history, fan-out and membership changes all take it, so every member sees
// messages in seq order and a join with since can replay history and start
// live delivery with no gap and no duplicate. Fan-out encodes a message once
// and queues the same bytes for every member.
//
// The application's event handler (hooks.go, hookhttp.go) is called on the
// connection's goroutine too: connect before the connection is reachable
// and its welcome queued, message and rpc in command order, so a slow
// application delays only the clients it is answering. Close events go to
// a bounded queue served by a few worker goroutines that exist only while
// events wait.
//
// The server API (ops.go: the exported *Server methods; api.go: the same
// over HTTP under /api/v1) runs on its caller's goroutine and changes
// connections through the same locks and queues as their own commands, so
// a server-side publish or join is ordered with the room's other traffic
// like a member's. It sees a connection only once its welcome is queued.
//
// Statistics (metrics.go; prom.go for GET /metrics) cost the hot paths
// no lock and no allocation: counters are atomics, a room's publish count
// included, read when a snapshot is taken. One sampler goroutine per
// server turns each room's count into its msg_rate once a second, and
// each writer goroutine keeps its histogram counts to itself, adding them
// to the server's every 100 ms or so (writestats.go). A snapshot takes
// each room's lock in turn, briefly, for its members and history size.
//
// Lock order: hub.mu, then room.mu, then conn.mu (and conn.stateMu before
// conn.mu; room.mu before conn.stateMu). None of them is held while writing
// to a socket. A WebSocket connection's frames are written holding its
// frame writer's lock (wsframe.go), which is taken with no other held and
// orders every frame to the socket: batches, pings, pongs, closes.
package server
