// Package top is `rtsync top`: a live terminal monitor of an rtsync
// server or cluster, drawn from the server's HTTP API (client.API):
// a header with the node(s), version, uptime, connections, rooms, uids,
// memory, CPU and goroutines; charts of connections, messages in,
// deliveries and drops per second over the last minutes; and a table of
// the busiest rooms or of the connected clients, sortable and filterable,
// from which a client can be kicked. In a cluster, each node gets a row
// with the totals below. Summary writes one snapshot as plain text, for
// `rtsync top --once`.
//
// The server sends counters, not rates: each rate here is the difference
// between two snapshots over the time between them by the server's clock.
// Counters that go back mean the server restarted; the rate across the
// restart would be nonsense, so that interval has none (a gap in the
// charts) and the status line says why. A server that cannot be reached
// is a state, not an error: the last data stays on screen greyed, the
// charts get a gap per missed snapshot, and polling goes on at the same
// pace until the server answers again or the user quits. Nothing a
// server answers can crash the view: missing fields are zero, NaN and
// infinite rates are drawn as "-", and huge figures are shortened to fit.
//
// The UI depends on the API interface, which *client.API implements, so
// tests drive it with canned snapshots.
//
// # Concurrency contract
//
// The model belongs to the bubbletea program's goroutine: Update and View
// run there and nothing else touches it. Network work never runs in
// Update. Polling is one command that waits out the interval, fetches the
// stats (and the clients page while that view is up) and returns them as
// a message; Update issues it again on each result, so exactly one round
// is in flight and a slow server is never asked twice at once. Fetching
// the clients when their view opens, and kicking, are one-off commands
// whose results come back as messages too; a clients page that arrives
// after a newer one is dropped. Commands copy what they need from the
// model before they are returned and share nothing with it.
//
// Run cancels the context the commands use when the program ends, so no
// request outlives it. Summary runs on the caller's goroutine.
package top
