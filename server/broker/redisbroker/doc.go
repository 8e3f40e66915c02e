// Package redisbroker joins rtsync nodes into a cluster over one Redis
// (issue 15): the broker.Broker of cluster mode, with all of its optional
// parts (Sequencer, Querier, Membership, Health), and the Redis store on
// the same connections (Broker.Store).
//
// # Redis
//
// Open takes redis://[user:password@]host:port/db, rediss:// (TLS),
// unix:///path?db=N, or a Sentinel URL (redis://sentinel:port?master_name=
// NAME&addr=other-sentinel:port; the URL's user and password are the
// sentinels', the master's go in ?username= and ?password=). Redis Cluster
// is not supported, and a URL naming several addresses without
// master_name is refused: the scripts touch keys of several rooms and
// shared counters, which Redis Cluster allows only within one hash slot.
// It needs Redis 6.2 or newer.
//
// # Keys and channels
//
// All under Options.Prefix (default "rtsync:"), written P below; the
// store's keys are listed in package redisstore.
//
//	channel P r:ROOM     a room's messages (appended and presence)
//	channel P u:UID      direct messages and controls for a uid's connections
//	channel P c:CLIENT   direct messages and controls for one connection
//	channel P n:NODE     answers to the queries NODE asked
//	channel P all        queries to every node
//	key     P nodes      sorted set: node id -> its last heartbeat (Redis's clock, ms)
//	key     P mem:NODE   hash: NODE's room memberships -> the leave event to publish if it dies
//	key     P reap:NODE  string, expires: the node publishing dead NODE's leave events
//
// Each node subscribes to its own rooms, uids and clients (Subscribe),
// plus P n:NODE and P all: a node whose clients are in 3 rooms does not
// receive the traffic of the others.
//
// # Messages
//
// A payload is a kind byte then fields, each its length in decimal, ":"
// and its bytes (see codec.go). AppendRoom runs one script that appends
// the message to the room's history (seq, epoch, retention and bounds as
// the store does) and publishes it on the room's channel: Redis runs
// scripts one at a time, so every node receives a room's messages in seq
// order, whoever appended them. The publishing node gets its own messages
// back through the subscription like every other node, and hands the
// handler a RoomMessage with TS, From and Data set and Event nil (Local
// does not travel). PublishRoom carries presence events (Event set) to
// the other nodes only. PublishUser, PublishClient and PublishControl
// publish on the uid's or client's channel and every node subscribed,
// this one included, hands them to its handler; PublishUser returns the
// number of nodes reached, not of connections.
//
// # Delivery and resync
//
// One goroutine reads the subscription connection and hands each message
// to one of Options.Workers delivery goroutines, picked by the room (or
// uid, or client) name, so a room's messages keep their order while big
// rooms fan out in parallel. Each worker queue holds 4096 messages; when
// the workers fall behind, the reader waits, Redis buffers the node's
// messages, and past Redis's client-output-buffer-limit for pubsub (32 MB
// hard by default) Redis drops the connection. Then, and whenever the
// connection is lost, go-redis reconnects and subscribes again, and each
// room's subscription confirmed by Redis reaches the handler as
// HandleResync, on the room's worker, before any message that follows it
// (confirmations queued together go in one call): the node reads from the
// store what its members missed. HandleResync also comes for each room's
// first subscription. A subscription connection that reads nothing (not
// even the broker's pings) for NodeTTL + Heartbeat while Redis answers
// commands is made again, with the same resyncs.
//
// # Nodes, queries and dead nodes
//
// Every Heartbeat (default 1s) a node records itself in P nodes at
// Redis's time; a node is live while its last heartbeat is younger than
// NodeTTL (default 5s). Query publishes a request on P all; every other
// node answers from a small pool of goroutines (HandleQuery may block)
// on the asker's P n:NODE; the asker waits for every node that was live
// when it asked, or for its context or QueryTimeout (default 2s), and
// names the missing ones in a *broker.PartialError. One answer may take
// MaxAnswer (16 MB; a bigger one comes back as an error), all the answers
// of one query MaxAnswers (64 MB).
//
// Joined and Left keep the node's memberships in memory and write them to
// P mem:NODE in pipelined batches (the whole hash again after Redis was
// lost). On each heartbeat every node looks for dead nodes; the one that
// takes P reap:DEAD publishes each leave event DEAD recorded as a
// presence message on its room's channel, naming DEAD as the publisher so
// that every live node delivers it, then deletes DEAD's hash and entry.
// So the clients of a node that died leave presence within NodeTTL +
// Heartbeat, plus the time to publish their leaves. Leaves are published
// at least once (a reaper that dies midway is followed by another after
// 30s). Close removes the node and its hash without publishing leaves: a
// node shutting down cleanly has told its rooms itself.
//
// # Redis lost
//
// A call that fails for want of Redis marks it lost: Healthy returns an
// error, the log says "Redis lost" once (and "Redis back after ..." once
// when a heartbeat succeeds again), and meanwhile AppendRoom, Publish*,
// Query and Nodes fail at once with errors wrapping store.ErrUnavailable
// instead of waiting for a timeout each. Heartbeats go on four times as
// often; when Redis answers again the node writes its memberships again
// and, as its subscriptions are confirmed, resyncs its rooms. go-redis's
// own log goes through the broker's logger, one line per 10s at most.
// Commands are never retried by the client: a retried script could
// append a message twice.
//
// # Concurrency
//
// Every method is safe for concurrent use. Subscribe, Unsubscribe,
// Joined and Left never block (the hub calls them under its lock): they
// record the wish and wake the goroutine that applies it. The handler's
// methods are called from the delivery workers (HandleRoom, HandleUser,
// HandleClient, HandleControl, HandleResync) and from the query workers
// (HandleQuery); PublishRoom calls HandleRoom on the caller's goroutine
// for a non-presence message.
package redisbroker
