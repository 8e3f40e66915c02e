// Package chat is the interactive terminal client behind `rtsync chat`: a
// bubbletea program with a room list, a message view, a member list, an
// input line with history and a status bar, over one rtsync connection.
//
// It is meant to be a faithful window onto the server rather than a chat
// of its own: every line it shows is something the server said (a message
// with its seq, a presence event, a reply or an error), and every command
// maps to one op of the wire protocol (docs/protocol.md). Reconnection and
// recovery are the client library's work; this package only tells the user
// what happened: "reconnecting…" while the connection is down, then per
// room how many missed messages were recovered, or which were missed for
// good (the server's history no longer held them), or that the room's
// history was lost or reset on the server and some may be missing. With
// the fallback URLs of a cluster (Options.Client.FallbackURLs), the status
// bar shows the host the connection is to and the status buffer which
// node a reconnection reached. Direct
// messages the server kept while the user was offline are marked as such,
// under a line that counts them; the client library acks them.
//
// Run is the entry point; cmd/chat.go parses flags into Options and calls
// it with the terminal's streams. The UI depends on the Client interface,
// which *client.Client implements, so tests can dial the real client to a
// real server in-process, and nothing here knows about WebSocket.
//
// # Message order without gaps or duplicates
//
// The client library delivers each room's live messages once and in seq
// order, across reconnects. History pages (on join, /history, after a
// reset) come through separate requests and may overlap live messages, so
// a room's buffer keeps its lines sorted by (epoch generation, seq) and
// drops a message whose seq it already holds. System lines take the seq of
// the newest message known when they were made, so a "you joined" line
// stays below the backlog that arrives after it.
//
// # Concurrency contract
//
// The model belongs to the bubbletea program's goroutine: Update and View
// run there and nothing else touches it. Network work never runs in
// Update: every request (join, publish, presence, history, ping, hello)
// is a tea.Cmd that bubbletea runs on a goroutine of its own and whose
// result comes back as a message. Events enter through one command that
// waits on Client.Events, takes whatever else is already queued (so a
// burst costs one Update, not hundreds), and is issued again after each
// batch; exactly one such command is outstanding at any time, so events
// are applied in the order the client emitted them.
//
// The client library is safe for concurrent use, so commands may overlap
// (a publish while a join is in flight). Their replies can reach Update
// in a different order from the events around them, which is why buffers
// are ordered by seq rather than by arrival, and why presence events that
// arrive while a presence request is in flight are re-applied on top of
// its answer.
//
// Run owns the client it dials: it closes it when the program ends, which
// also ends the command waiting on the events channel.
package chat
