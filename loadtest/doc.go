// Package loadtest is the engine of `rtsync bench`: it opens thousands of
// WebSocket connections to a real-time server, publishes on a fixed
// schedule, and measures what arrives.
//
// It is a library with no flags (the command in cmd/ maps flags onto a
// Config): Run takes a Config and returns a Result, and the reporters in
// loadtest/report turn a Result into tables, CSV, JSON, charts and HTML.
//
// # Measuring
//
// Every message carries a marker (see marker.go): the run's id, the
// publishing stream, the message's number in that stream and its intended
// send time. Latency is taken from the intended time, not from when the
// publisher got round to sending, so a stalled publisher or server shows
// as latency rather than as a pause nobody measured (no coordinated
// omission). Every receiver keeps a bitmap per stream, so each delivery is
// classified as new, duplicate or out of order, and loss is what the
// published messages owed their receivers minus what arrived.
//
// # Clusters
//
// With Config.Cluster the URLs are the nodes of one cluster: a room is one
// room across them, and its subscribers are dealt round-robin over the
// nodes, so one message owes deliveries on every node. Each shard counts
// its connections and its receivers' deliveries per node (and how many of
// those came from a sender on another node); the coordinator works out
// what each node's receivers were owed from the room's subscribers there,
// so the per-node figures in Result.Nodes add up exactly to the totals.
//
// # Shards and processes
//
// Connections are dealt round-robin over shards. A shard runs in this
// process, or in a worker process (the same binary, `rtsync bench
// --worker`) when one process cannot hold every connection: one process
// may hold at most 20,000 open files. The coordinator and its shards talk
// in the same messages either way (JSON lines to a worker), and shard
// results merge exactly: histograms are HdrHistograms, counts are sums,
// and per-message fan-out times are merged by maximum.
//
// # Concurrency contract
//
// Run owns everything it starts and returns only when all of it has
// stopped. Inside a shard each connection is read by one goroutine, which
// alone touches that connection's receive state: its own reader goroutine
// on the goroutine path, or on the poll path (readmode.go) the poller it
// was registered with, which reads it only under the poller's lock, so a
// connection taken off its poller is never read again. One pacer
// goroutine per shard does every publish write. Counters shared across
// goroutines are atomics, histograms are sharded under locks.
package loadtest
