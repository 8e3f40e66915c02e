package server

import (
	"cmp"
	"context"
	"maps"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtsync/rtsync/internal/procstat"
	"github.com/rtsync/rtsync/server/store"
)

// Counters, rates and the stats snapshot behind GET /api/v1/stats and
// GET /metrics (prom.go). The hot paths only add to atomics they already
// touched or to fields under locks they already hold; everything else is
// computed when a snapshot is taken.

// Stats tuning.
const (
	// rateInterval is how often the rate sampler reads every room's
	// publish counter: one ticker for the whole server.
	rateInterval = time.Second
	// rateWindow is how many rateIntervals a room's msg_rate averages
	// over.
	rateWindow = 10
	// defaultTopRooms and maxTopRooms bound the busiest rooms a snapshot
	// lists (GET /api/v1/stats?rooms=N).
	defaultTopRooms = 10
	maxTopRooms     = 100
)

// metrics are the server's counters. They only ever grow; stats and
// /metrics read them.
type metrics struct {
	accepted      atomic.Uint64
	rejected      atomic.Uint64
	commands      atomic.Uint64 // objects received from clients
	published     atomic.Uint64
	deliveries    atomic.Uint64 // room messages queued for members
	directs       atomic.Uint64
	frames        atomic.Uint64 // frames written
	objects       atomic.Uint64 // objects written
	bytesOut      atomic.Uint64 // bytes of the objects written, separators included; the writers add in bulk
	slowConsumers atomic.Uint64
	timeouts      atomic.Uint64
	// Frames a room's fan-out wrote to a socket itself (fanout.go):
	// whole, or short (the socket took part; the writer finished it).
	fanWhole atomic.Uint64
	fanShort atomic.Uint64
	errors   atomic.Uint64
	// The global bounds biting (limits.go): history messages evicted,
	// rooms forgotten to make way and rooms refused at MaxRooms, times
	// the heap passed MaxMemory and connections refused meanwhile.
	roomsReclaimed atomic.Uint64
	roomsRefused   atomic.Uint64
	memoryShed     atomic.Uint64
	memoryRefused  atomic.Uint64
	// The store: messages it refused at once (storeRefused: closing or
	// full, nothing sent), messages delivered but not stored (storeFailed:
	// the write failed), data it dropped for its bounds (storeTrimmed).
	storeRefused atomic.Uint64
	storeFailed  atomic.Uint64
	storeTrimmed atomic.Uint64
	// Offline inboxes: direct messages stored for offline uids, handed
	// to connections (redeliveries included), and acknowledged.
	inboxStored    atomic.Uint64
	inboxDelivered atomic.Uint64
	inboxAcked     atomic.Uint64

	mu     sync.Mutex
	byCode map[string]uint64
}

func (m *metrics) countError(code string) {
	m.errors.Add(1)
	m.mu.Lock()
	if m.byCode == nil {
		m.byCode = make(map[string]uint64)
	}
	m.byCode[code]++
	m.mu.Unlock()
}

func (m *metrics) errorsByCode() map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]uint64, len(m.byCode))
	maps.Copy(out, m.byCode)
	return out
}

// Stats is a snapshot of the cluster's counters and sizes: the totals over
// its nodes, and each node's own figures in Nodes. A server that is not in
// a cluster is a cluster of one, so the totals are its own figures.
type Stats struct {
	NodeStats
	// Nodes has one entry per node, the answering one first.
	Nodes []NodeStats `json:"nodes"`
}

// NodeStats is one node's snapshot. Counters only grow from the start of
// the process; a reader computes rates from two snapshots.
type NodeStats struct {
	Node    string `json:"node"`
	Version string `json:"version"`
	// Started is when the server was created, Time when the snapshot
	// was taken, both by the server's clock.
	Started       time.Time `json:"started"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Time          time.Time `json:"time"`

	// Connections counts open connections, those still in their
	// connect hook included; ConnectionsByTransport splits them by
	// transport ("ws", "tcp": both always present).
	Connections            int64            `json:"connections"`
	ConnectionsByTransport map[string]int64 `json:"connections_by_transport"`
	// Rooms counts the rooms that exist (members or stored messages),
	// UIDs the user ids with a connection.
	Rooms int `json:"rooms"`
	UIDs  int `json:"uids"`
	// Accepted and Rejected count connections accepted, and refused
	// (server full, bad token, origin, the application said no).
	Accepted uint64 `json:"accepted"`
	Rejected uint64 `json:"rejected"`
	// Guards counts what was refused before the protocol: hosts,
	// origins, keyless API requests, connections over the per-address
	// limit, and failed accepts.
	Guards GuardStats `json:"guards"`

	// MessagesIn counts the commands received from clients, every op;
	// Published the room messages published (pub op and server API);
	// Directs the direct messages queued, one per receiving connection;
	// Deliveries the room messages queued for members.
	MessagesIn uint64 `json:"messages_in"`
	Published  uint64 `json:"published"`
	Directs    uint64 `json:"directs"`
	Deliveries uint64 `json:"deliveries"`
	// MessagesOut counts the objects (events, replies) written to
	// clients; FramesOut the writes (WebSocket frames, TCP writes) that
	// carried them; BytesOut their bytes, separators included, framing
	// and TLS not. The writers add to BytesOut in bulk, so it may trail
	// the others by up to a second.
	MessagesOut uint64 `json:"messages_out"`
	FramesOut   uint64 `json:"frames_out"`
	BytesOut    uint64 `json:"bytes_out"`

	// SlowConsumers counts connections closed with 4008 because their
	// send queue overflowed; HeartbeatTimeouts those closed with 4009
	// for silence. Dropped counts the connections closed because they
	// could not keep up: today the slow consumers.
	SlowConsumers     uint64 `json:"slow_consumers"`
	HeartbeatTimeouts uint64 `json:"heartbeat_timeouts"`
	Dropped           uint64 `json:"dropped"`
	// Errors counts the error replies and events sent to clients, by
	// code (rate_limited, not_joined, ...).
	Errors map[string]uint64 `json:"errors"`

	// HistoryMessages counts the messages held in the rooms' history,
	// HistoryBytes approximately the memory they take: the encoded
	// messages plus a fixed overhead per message.
	HistoryMessages int64 `json:"history_messages"`
	HistoryBytes    int64 `json:"history_bytes"`

	// The global bounds (docs/api.md): HistoryEvicted counts the
	// messages evicted to keep history under --max-history-bytes;
	// RoomsReclaimed the rooms without members forgotten to make way at
	// --max-rooms-total, RoomsRefused the joins and publishes refused for
	// want of a room (that limit, or --max-rooms-created); MemoryHigh is
	// set while the heap is past --max-memory, MemoryShed counts the
	// times it went past, and MemoryRefused the connections refused
	// meanwhile (also in Rejected).
	HistoryEvicted uint64 `json:"history_evicted"`
	RoomsReclaimed uint64 `json:"rooms_reclaimed"`
	RoomsRefused   uint64 `json:"rooms_refused"`
	MemoryHigh     bool   `json:"memory_high"`
	MemoryShed     uint64 `json:"memory_shed"`
	MemoryRefused  uint64 `json:"memory_refused"`

	// Goroutines, RSSBytes and CPUSeconds describe the process: resident
	// memory (on Linux from /proc/self/statm; elsewhere the memory the Go
	// runtime has mapped, runtime/metrics /memory/classes/total:bytes)
	// and CPU time, user plus system, so far.
	Goroutines int     `json:"goroutines"`
	RSSBytes   uint64  `json:"rss_bytes"`
	CPUSeconds float64 `json:"cpu_seconds"`

	// Hooks counts the calls to the application's event handler.
	Hooks HookStats `json:"hooks"`
	// Store has the store's figures: its kind, history and inbox sizes,
	// group commits, trims and failures.
	Store StoreStats `json:"store"`

	// Commands, Frames and Objects are MessagesIn, FramesOut and
	// MessagesOut under the names GET /stats first gave them, and
	// Timeouts is HeartbeatTimeouts under its first Go name.
	//
	// Deprecated: read MessagesIn, FramesOut, MessagesOut and
	// HeartbeatTimeouts. These stay so programs and scripts written for
	// the first API keep working.
	Commands uint64 `json:"commands"`
	Frames   uint64 `json:"frames"`
	Objects  uint64 `json:"objects"`
	Timeouts uint64 `json:"-"`

	// TopRooms are the busiest rooms, busiest first: highest msg_rate,
	// then most members, then by name.
	TopRooms []RoomStats `json:"top_rooms"`

	// Cluster is set on a node of a cluster (serve --redis).
	Cluster *ClusterStats `json:"cluster,omitempty"`
}

// ClusterStats is a node's view of its cluster.
type ClusterStats struct {
	// Healthy is false while the node cannot reach Redis; Error then
	// says why.
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
	// Nodes counts the live nodes, this one included (0 when Redis
	// cannot say).
	Nodes int `json:"nodes"`
}

// RoomStats sums up one room for the stats.
type RoomStats struct {
	Room      string `json:"room"`
	Members   int    `json:"members"`
	Published uint64 `json:"published"`
	// MsgRate is messages published per second over about the last 10
	// seconds; a server that is not Run samples no rates, so it is 0.
	MsgRate float64 `json:"msg_rate"`
	// History counts the messages the room's history holds; Seq is its
	// last assigned seq.
	History int    `json:"history"`
	Seq     uint64 `json:"seq"`
}

// StatsOptions selects what a snapshot includes.
type StatsOptions struct {
	// TopRooms is how many of the busiest rooms to list: 0 means 10, a
	// negative number none; at most 100.
	TopRooms int
}

// Stats returns a snapshot of the server's counters and sizes with its
// ten busiest rooms.
func (s *Server) Stats() Stats { return s.StatsWith(StatsOptions{}) }

// StatsWith returns a snapshot of the server's counters and sizes.
func (s *Server) StatsWith(opts StatsOptions) Stats {
	top := opts.TopRooms
	switch {
	case top == 0:
		top = defaultTopRooms
	case top < 0:
		top = 0
	}
	node := s.nodeStats(min(top, maxTopRooms))
	// The entry in Nodes is a copy, so a Go caller changing one does
	// not change the other.
	own := node
	own.ConnectionsByTransport = maps.Clone(node.ConnectionsByTransport)
	own.Errors = maps.Clone(node.Errors)
	own.TopRooms = slices.Clone(node.TopRooms)
	own.Hooks.Calls = maps.Clone(node.Hooks.Calls)
	own.Hooks.Failures = maps.Clone(node.Hooks.Failures)
	own.Hooks.OpenBreakers = slices.Clone(node.Hooks.OpenBreakers)
	st := Stats{NodeStats: node, Nodes: []NodeStats{own}}
	s.addNodeStats(&st, min(top, maxTopRooms))
	return st
}

// nodeStats takes this node's snapshot with its top busiest rooms.
func (s *Server) nodeStats(top int) NodeStats {
	m := &s.metrics
	now := time.Now()
	st := NodeStats{
		Node: s.cfg.Node, Version: s.cfg.Version,
		Started: s.started.UTC().Truncate(time.Millisecond), Time: now.UTC().Truncate(time.Millisecond),
		UptimeSeconds: now.Sub(s.started).Seconds(),
		Connections:   s.hub.count.Load(), ConnectionsByTransport: s.hub.byTransport(),
		Accepted: m.accepted.Load(), Rejected: m.rejected.Load(),
		MessagesIn: m.commands.Load(), Published: m.published.Load(), Directs: m.directs.Load(),
		Deliveries: m.deliveries.Load(), MessagesOut: m.objects.Load(), FramesOut: m.frames.Load(),
		BytesOut: m.bytesOut.Load(), SlowConsumers: m.slowConsumers.Load(), HeartbeatTimeouts: m.timeouts.Load(),
		Errors: m.errorsByCode(), Goroutines: runtime.NumGoroutine(), RSSBytes: procstat.RSS(),
		CPUSeconds: procstat.CPUTime().Seconds(), Hooks: s.hookStats(), Guards: s.guards.snapshot(),
		RoomsReclaimed: m.roomsReclaimed.Load(), RoomsRefused: m.roomsRefused.Load(),
		MemoryHigh: s.hub.memHigh.Load(), MemoryShed: m.memoryShed.Load(), MemoryRefused: m.memoryRefused.Load(),
	}
	st.Dropped = st.SlowConsumers
	st.Commands, st.Frames, st.Objects, st.Timeouts = st.MessagesIn, st.FramesOut, st.MessagesOut, st.HeartbeatTimeouts
	s.hub.mu.RLock()
	st.UIDs = len(s.hub.uids)
	s.hub.mu.RUnlock()
	ss := s.store.Stats()
	st.Store = StoreStats{Stats: ss, Refused: m.storeRefused.Load(), Failed: m.storeFailed.Load(),
		InboxStored: m.inboxStored.Load(), InboxDelivered: m.inboxDelivered.Load(), InboxAcked: m.inboxAcked.Load()}
	st.HistoryMessages, st.HistoryBytes, st.HistoryEvicted = ss.Messages, ss.Bytes, ss.Evicted
	var members int
	members, st.TopRooms = s.roomStats(top)
	st.Rooms = max(members, ss.Rooms)
	st.Cluster = s.clusterStats()
	return st
}

// clusterStats is this node's view of its cluster, nil when it is not in
// one.
func (s *Server) clusterStats() *ClusterStats {
	if s.querier == nil {
		return nil
	}
	cs := &ClusterStats{Healthy: true}
	if s.health != nil {
		if err := s.health.Healthy(); err != nil {
			cs.Healthy, cs.Error = false, err.Error()
		}
	}
	if nodes, err := s.querier.Nodes(); err == nil {
		cs.Nodes = len(nodes)
	}
	return cs
}

// StoreStats are the store's figures (history, inboxes, commits) and
// what the server counted of it.
type StoreStats struct {
	store.Stats
	// Refused counts publishes the store refused at once (nothing was
	// sent); Failed those delivered live that could not be stored
	// (not_stored).
	Refused uint64 `json:"refused"`
	Failed  uint64 `json:"failed"`
	// InboxStored, InboxDelivered and InboxAcked count offline direct
	// messages stored, handed to connections (again, when redelivered)
	// and acknowledged.
	InboxStored    uint64 `json:"inbox_stored"`
	InboxDelivered uint64 `json:"inbox_delivered"`
	InboxAcked     uint64 `json:"inbox_acked"`
}

// busier orders rooms busiest first: highest msg_rate, then most members,
// then by name.
func busier(a, b RoomStats) int {
	if c := cmp.Compare(b.MsgRate, a.MsgRate); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Members, a.Members); c != 0 {
		return c
	}
	return cmp.Compare(a.Room, b.Room)
}

// roomStats counts the rooms, sums up their history and picks the top
// busiest. Each room's lock is taken in turn, briefly. The busiest are
// kept in order as the rooms go by, so most rooms cost one comparison
// with the least busy kept rather than a place in a sort of them all (a
// snapshot of 100,000 rooms took 16 ms, against 52 ms sorting them).
func (s *Server) roomStats(top int) (int, []RoomStats) {
	rooms := s.hub.appendRooms(nil)
	best := make([]RoomStats, 0, min(top, len(rooms)))
	for _, r := range rooms {
		r.mu.Lock()
		rs := RoomStats{Room: r.name, Members: len(r.members), Seq: r.seq}
		r.mu.Unlock()
		if top == 0 {
			continue
		}
		rs.Published = r.pubs.Load()
		rs.MsgRate = math.Float64frombits(r.rate.bits.Load())
		if len(best) == top && busier(rs, best[top-1]) >= 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(best, rs, busier)
		if len(best) == top {
			best = best[:top-1]
		}
		best = slices.Insert(best, i, rs)
	}
	// The history of the busiest only: a read of the store each.
	for i := range best {
		if h, err := s.store.Head(best[i].Room); err == nil {
			best[i].History = h.Count
		}
	}
	return len(rooms), best
}

// rateMeter turns a room's publish counter into msg_rate: the sampler
// records how many messages were published in each of the last
// rateWindow intervals, and the rate is their mean. Only the sampler
// goroutine touches the fields but bits, which stats read.
type rateMeter struct {
	last    uint64
	deltas  [rateWindow]uint32
	next, n uint8
	bits    atomic.Uint64 // the rate, a float64 in messages per second
}

// sample records the counter's value at the end of an interval.
func (m *rateMeter) sample(count uint64) {
	d := count - m.last
	m.last = count
	m.deltas[m.next] = uint32(min(d, math.MaxUint32))
	m.next = (m.next + 1) % rateWindow
	m.n = min(m.n+1, rateWindow)
	var sum uint64
	for _, v := range m.deltas {
		sum += uint64(v)
	}
	m.bits.Store(math.Float64bits(float64(sum) / (float64(m.n) * rateInterval.Seconds())))
}

// sampleRates feeds every room's rate meter once per rateInterval until
// ctx ends. One ticker serves all rooms, so a room costs nothing but its
// counter between samples, and publishing only adds to that counter.
func (s *Server) sampleRates(ctx context.Context) {
	tick := time.NewTicker(rateInterval)
	defer tick.Stop()
	var rooms []*room
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rooms = s.hub.appendRooms(rooms[:0])
		for i, r := range rooms {
			r.rate.sample(r.pubs.Load())
			rooms[i] = nil
		}
	}
}
