// Package client is the Go client of rtsync's wire protocol v1 over
// WebSocket. `rtsync chat`, `rtsync top` and `rtsync bench` use it, and so
// can any Go program.
//
// It also holds API, a client of the server's HTTP API (/api/v1): the
// stats snapshot, the detailed client list and kicking, which `rtsync top`
// shows and `rtsync bench` reads server memory from. API is a plain HTTP
// client, safe for concurrent use, and decodes answers tolerantly so a
// newer or older server does not break it.
//
// Dial connects, waits for the server's welcome and sends hello when
// Options carry an identity. The methods Hello, Join, Leave, Publish,
// SendToUID, SendToClient, Presence, History, Ping, Ack and RPC (a
// question for the application behind the server) send one command each
// and wait for its reply; a reply with an error returns it as a
// *protocol.Error, so errors.As tells a not_joined from a bad_room (or a
// store_unavailable from a not_stored). Room messages, direct messages,
// presence changes and connection state arrive as Events.
//
// # Offline direct messages
//
// A direct message sent to a user with no connection is kept in the
// user's inbox on the server (SendToUID reports SendResult.Stored). When a
// connection of the client takes that uid, the server hands the inbox
// over as KindDirect events with Event.Offline set, oldest first, in pages
// of at most 100; it sends the next page after an ack covering the last.
// The client acks on its own: once the events of a burst were handed to
// the application, one ack for the highest inbox id. A message handed out
// before without an ack comes again marked Redelivered; one this client
// already acked is dropped. With Options.NoAutoAck the application acks
// with Ack after processing, and until then the server keeps the messages
// and hands them out again on the next connection.
//
// # Reconnection and recovery
//
// When a connection ends, the client reconnects with exponential backoff
// and jitter (Options.Backoff), unless Options.NoReconnect is set, Close
// was called, or the close code says not to (protocol.ShouldReconnect:
// unauthorized, kicked). On the new connection it sends hello again and
// re-joins every room with since = the last seq it delivered and that
// room's epoch; the server replays what was missed, however much its
// history holds, before live messages, and a KindRecovered event per room
// says whether the recovery was complete. The rooms re-joined are those
// the client joined and those the server put it in: through its API (a
// join event about the client itself; a leave event about itself takes
// the room off) or its connect hook (the room's messages arrive though
// the client never joined it). A recovery is incomplete only when the
// room's history no longer reaches back to since, or its epoch changed
// (the server's history of the room was lost or reset). Messages the client already delivered are dropped by seq, so a
// consumer sees each seq of a room and epoch at most once, in order, and
// with no gap when Recovered says so.
//
// # Failover across the nodes of a cluster
//
// Several `rtsync serve --redis` nodes on one Redis are one server: they
// share rooms, history (a room's seqs and epoch are the same on every
// node), inboxes and users, so a join with since and epoch replays what
// was missed on whichever node it reaches. Options.FallbackURLs lists the
// other nodes, for a client with no load balancer in front of them. Dial
// tries its URL, then each fallback in order, and keeps the first that
// answers (a refused token ends the search: every node would refuse it).
// After a drop the client reconnects to the node it was on, or to the next
// when that node closed the connection as going away (4012) or full
// (4011); each failed attempt moves on to the next URL, round robin, with
// the same backoff as with one URL. Recovery is the same on any node:
// the client keeps no state of a node's (client ids and node names are
// per connection), only per room the last seq and epoch and per user the
// inbox ids it acked, which every node of the cluster shares. URL and
// the Connected and Reconnecting events say which URL is in use.
//
// Only list nodes of the same cluster. A server that does not share the
// history answers a re-join with a new epoch (Recovered.EpochChanged, so
// the consumer reloads the room); one with another set of inboxes may
// number its offline messages below ids the client acked elsewhere, and
// those would be dropped as duplicates.
//
// While disconnected, requests fail at once with ErrNotConnected instead
// of waiting: a chat can show the error, a load generator can count it. A
// request whose connection breaks before the reply fails with ErrConnLost;
// it may have taken effect.
//
// # Concurrency contract
//
// Each Client has exactly one goroutine of its own, the reader. It owns the
// socket's read side, decodes every frame, settles replies, keeps each
// room's last seq and epoch, and emits every event, so events reach the
// consumer in the order the server sent them. Between connections the same
// goroutine waits out the backoff and makes the next connection. The one
// other goroutine is a timer's: it sends the automatic ack of offline
// direct messages a few milliseconds after the last of a burst.
//
// Requests run on the caller's goroutine: they write their command under a
// per-connection mutex (gorilla/websocket allows one writer at a time) and
// wait for the reader to hand them the reply. Every method of Client is
// safe to call from any number of goroutines; replies are matched by id,
// and commands from one goroutine take effect in the order it sent them.
//
// Events are delivered on a bounded channel (Options.EventBuffer), or to
// Options.OnEvent on the reader goroutine. When the consumer falls behind
// and the channel is full, the reader waits for it: it stops reading, TCP
// pushes back to the server, and a server whose queue for this client
// fills closes it with protocol.CloseSlowConsumer; the client reconnects
// and recovers. Nothing is dropped silently and memory stays bounded, but
// replies are read by the same goroutine, so requests wait too. Hence a
// request made from the goroutine that reads Events may wait until its
// timeout if the channel fills meanwhile: make requests from other
// goroutines (as bubbletea commands do), and never wait for one in
// OnEvent.
//
// The client drops no message on its own: a message that arrives is
// delivered unless the same room, epoch and seq was delivered before, or it
// is the client's own noecho message coming back in a recovery, or it is
// an offline direct message whose inbox id this client already acked.
//
// Close sends a normal close frame, stops reconnecting, fails requests in
// flight with ErrConnLost, and closes the Events channel once the reader
// has exited; later requests fail with ErrClosed.
package client
