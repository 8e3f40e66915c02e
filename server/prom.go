package server

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// GET /metrics: the server's counters in the Prometheus text format. Each
// Server has a registry of its own (several servers may share a process,
// as in tests), holding a collector that reads the same atomic counters
// as the stats API when scraped, so a scrape costs what a stats snapshot
// costs and serving traffic costs nothing more, and two histograms the
// writers feed (writestats.go); and the Go runtime and process
// collectors. docs/api.md lists every metric.

// metricsPath is where the metrics are served.
const metricsPath = "/metrics"

// Histogram buckets.
var (
	// publishToWriteBuckets span a write within the coalescing window
	// (10 ms by default) to a client seconds behind.
	publishToWriteBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	// sendQueueBuckets span one small event (256 B) to four times the
	// default send queue limit (1 MiB).
	sendQueueBuckets = prometheus.ExponentialBuckets(256, 4, 8)
)

// promMetrics are a server's Prometheus registry and the histograms its
// writers feed (writestats.go).
type promMetrics struct {
	reg *prometheus.Registry
	// publishToWrite is, for each batch written that carried room
	// messages, the time from the publish of the oldest of them until
	// the write of the frame that carried it completed (conn.writeLoop),
	// in nanoseconds.
	publishToWrite *histogram
	// queueBytes is the bytes a writer took from a connection's queue
	// each time it drained it.
	queueBytes *histogram
}

func newPromMetrics(s *Server) *promMetrics {
	p := &promMetrics{
		reg: prometheus.NewRegistry(),
		publishToWrite: newHistogram("rtsync_publish_to_write_seconds",
			"Time from a room message's publish until the write carrying it to a member completed: one sample per write that carries room messages, for the oldest of them.",
			publishToWriteBuckets, 1e-9),
		queueBytes: newHistogram("rtsync_send_queue_bytes",
			"Bytes queued for a connection, observed each time a writer drains its queue.",
			sendQueueBuckets, 1),
	}
	p.reg.MustRegister(
		newCollector(s, p),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return p
}

// serveMetrics answers GET /metrics under the API's authentication rule:
// with API keys configured a Bearer key is required, without them the
// caller must be on this machine.
func (s *Server) serveMetrics() http.Handler {
	return s.guarded(promhttp.HandlerFor(s.prom.reg, promhttp.HandlerOpts{ErrorLog: promLogger{s}}))
}

// promLogger sends promhttp's errors (a collector failed, the client went
// away) to the server's log.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.log.Warn("serving /metrics", "err", fmt.Sprint(v...)) }

// collector exposes the server's counters and sizes at scrape time.
type collector struct {
	s    *Server
	hist []*histogram

	buildInfo, connections, accepted, rejected, rooms, uids *prometheus.Desc
	messagesIn, published, directs, deliveries              *prometheus.Desc
	messagesOut, framesOut, bytesOut, fanoutWrites          *prometheus.Desc
	slowConsumers, heartbeatTimeouts, errors                *prometheus.Desc
	historyMessages, historyBytes                           *prometheus.Desc
	historyEvicted, roomsReclaimed, roomsRefused            *prometheus.Desc
	memoryHigh, memoryShed, memoryRefused                   *prometheus.Desc
	hookCalls, hookFailures, hookInFlight, hookWaiting      *prometheus.Desc
	hookLatency, hookCloseQueued, hookBreakersOpen          *prometheus.Desc
	guardRefused, acceptErrors                              *prometheus.Desc
	storeCommits, storeSynced, storeCommitSeconds           *prometheus.Desc
	storeErrors, storeNotStored, storeRefused, storeTrimmed *prometheus.Desc
	storeDiskBytes, inboxMessages                           *prometheus.Desc
	inboxStored, inboxDelivered, inboxAcked                 *prometheus.Desc
	clusterUp, clusterNodes                                 *prometheus.Desc
}

func newCollector(s *Server, p *promMetrics) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("rtsync_"+name, help, labels, nil)
	}
	return &collector{
		s:                 s,
		hist:              []*histogram{p.publishToWrite, p.queueBytes},
		buildInfo:         d("build_info", "Always 1; the labels say which rtsync version runs as which node.", "version", "node"),
		connections:       d("connections", "Open connections, by transport.", "transport"),
		accepted:          d("connections_accepted_total", "Connections accepted."),
		rejected:          d("connections_rejected_total", "Connections refused: server full, bad token, origin not allowed, refused by the application."),
		rooms:             d("rooms", "Rooms that exist: with members or stored messages."),
		uids:              d("uids", "User ids with at least one connection."),
		messagesIn:        d("messages_in_total", "Commands received from clients, every op."),
		published:         d("published_total", "Room messages published, by clients and through the server API."),
		directs:           d("directs_total", "Direct messages queued, one per receiving connection."),
		deliveries:        d("deliveries_total", "Room messages queued for members."),
		messagesOut:       d("messages_out_total", "Objects (events, replies) written to clients."),
		framesOut:         d("frames_out_total", "Writes to clients: WebSocket frames, TCP writes."),
		bytesOut:          d("bytes_out_total", "Bytes of the objects written to clients, separators included, framing and TLS not."),
		fanoutWrites:      d("fanout_writes_total", "Frames a room's fan-out wrote to a client's socket itself, without a writer: whole, or short (the socket took part of the frame and the connection's writer finished it).", "result"),
		slowConsumers:     d("slow_consumers_total", "Connections closed with 4008 because their send queue overflowed."),
		heartbeatTimeouts: d("heartbeat_timeouts_total", "Connections closed with 4009 because they were silent for two heartbeat intervals."),
		errors:            d("errors_total", "Error replies and events sent to clients, by code.", "code"),
		historyMessages:   d("history_messages", "Messages held in the rooms' history (the store's)."),
		historyBytes:      d("history_bytes", "What the rooms' history counts against --max-history-bytes: data and sender plus a fixed overhead per message."),
		historyEvicted:    d("history_evicted_total", "History messages evicted, oldest first across rooms, to keep history under --max-history-bytes or --max-rooms-total."),
		roomsReclaimed:    d("rooms_reclaimed_total", "Rooms without members forgotten, history and all, to make way for new rooms at --max-rooms-total."),
		roomsRefused:      d("rooms_refused_total", "Joins and publishes refused because they would make a room past --max-rooms-total or --max-rooms-created."),
		memoryHigh:        d("memory_high", "1 while the Go heap is past --max-memory and new connections are refused."),
		memoryShed:        d("memory_shed_total", "Times the Go heap went past --max-memory (history halved, new connections refused)."),
		memoryRefused:     d("memory_refused_total", "Connections refused because the Go heap was past --max-memory."),
		hookCalls:         d("hook_calls_total", "Events offered to the application's event handler, failed ones included.", "event"),
		hookFailures:      d("hook_failures_total", "Failed calls to the application's event handler, by event and kind (docs/hooks.md).", "event", "kind"),
		hookInFlight:      d("hook_in_flight", "Calls to the application's event handler under way."),
		hookWaiting:       d("hook_waiting", "HTTP hook calls waiting for a free slot."),
		hookLatency:       d("hook_latency_seconds_total", "Time spent in calls to the application's event handler; divided by the calls, the mean latency."),
		hookCloseQueued:   d("hook_close_queued", "Close events waiting to be sent to the application."),
		hookBreakersOpen:  d("hook_breakers_open", "Hook URLs whose circuit breaker is open."),
		guardRefused:      d("guard_refused_total", "Requests and connections refused before the protocol: host (DNS rebinding), origin (another site's page), api (keyless API from a proxy or a page), per_ip (--max-conns-per-ip).", "reason"),
		acceptErrors:      d("accept_errors_total", "Failed accepts, mostly for want of open files."),

		storeCommits:       d("store_commits_total", "Durable writes of the store (group commits: many messages share one)."),
		storeSynced:        d("store_committed_messages_total", "Messages and inbox entries the store's commits carried; divided by the commits, the mean group size."),
		storeCommitSeconds: d("store_commit_seconds_total", "Time the store's commits took, write and sync; divided by the commits, the mean commit latency."),
		storeErrors:        d("store_errors_total", "Failed store writes (disk full, I/O error)."),
		storeNotStored:     d("store_not_stored_total", "Room messages delivered live that the store failed to keep (publishers got not_stored)."),
		storeRefused:       d("store_refused_total", "Publishes the store refused at once (closing, full): nothing was sent."),
		storeTrimmed:       d("store_trimmed_total", "Messages the store dropped to keep within --max-history-bytes and --max-rooms-total."),
		storeDiskBytes:     d("store_disk_bytes", "What the store's files take on disk (0 for the memory store)."),
		inboxMessages:      d("inbox_messages", "Direct messages kept for offline users."),
		inboxStored:        d("inbox_stored_total", "Direct messages stored for offline users."),
		inboxDelivered:     d("inbox_delivered_total", "Offline direct messages handed to connections, redeliveries included."),
		inboxAcked:         d("inbox_acked_total", "Offline direct messages acknowledged by clients (they leave the inbox)."),
		clusterUp:          d("cluster_up", "In a cluster (serve --redis): 1 while this node reaches Redis, 0 while it is lost."),
		clusterNodes:       d("cluster_nodes", "In a cluster (serve --redis): the live nodes, this one included."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.buildInfo, c.connections, c.accepted, c.rejected, c.rooms, c.uids,
		c.messagesIn, c.published, c.directs, c.deliveries, c.messagesOut, c.framesOut, c.bytesOut, c.fanoutWrites,
		c.slowConsumers, c.heartbeatTimeouts, c.errors, c.historyMessages, c.historyBytes,
		c.historyEvicted, c.roomsReclaimed, c.roomsRefused, c.memoryHigh, c.memoryShed, c.memoryRefused,
		c.hookCalls, c.hookFailures, c.hookInFlight, c.hookWaiting, c.hookLatency, c.hookCloseQueued, c.hookBreakersOpen,
		c.guardRefused, c.acceptErrors,
		c.storeCommits, c.storeSynced, c.storeCommitSeconds, c.storeErrors, c.storeNotStored, c.storeRefused, c.storeTrimmed,
		c.storeDiskBytes, c.inboxMessages, c.inboxStored, c.inboxDelivered, c.inboxAcked,
		c.clusterUp, c.clusterNodes,
	} {
		ch <- d
	}
	for _, h := range c.hist {
		ch <- h.desc
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	m := &s.metrics
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.buildInfo, 1, s.cfg.Version, s.cfg.Node)
	for kind, n := range s.hub.byTransport() {
		gauge(c.connections, float64(n), kind)
	}
	counter(c.accepted, m.accepted.Load())
	counter(c.rejected, m.rejected.Load())
	s.hub.mu.RLock()
	uids := len(s.hub.uids)
	s.hub.mu.RUnlock()
	members, _ := s.roomStats(0)
	ss := s.store.Stats()
	gauge(c.rooms, float64(max(members, ss.Rooms)))
	gauge(c.uids, float64(uids))
	counter(c.messagesIn, m.commands.Load())
	counter(c.published, m.published.Load())
	counter(c.directs, m.directs.Load())
	counter(c.deliveries, m.deliveries.Load())
	counter(c.messagesOut, m.objects.Load())
	counter(c.framesOut, m.frames.Load())
	counter(c.bytesOut, m.bytesOut.Load())
	counter(c.fanoutWrites, m.fanWhole.Load(), "whole")
	counter(c.fanoutWrites, m.fanShort.Load(), "short")
	counter(c.slowConsumers, m.slowConsumers.Load())
	counter(c.heartbeatTimeouts, m.timeouts.Load())
	for code, n := range m.errorsByCode() {
		counter(c.errors, n, code)
	}
	gauge(c.historyMessages, float64(ss.Messages))
	gauge(c.historyBytes, float64(ss.Bytes))
	counter(c.historyEvicted, ss.Evicted)
	counter(c.storeCommits, ss.Commits)
	counter(c.storeSynced, ss.Synced)
	ch <- prometheus.MustNewConstMetric(c.storeCommitSeconds, prometheus.CounterValue, float64(ss.CommitNanos)/1e9)
	counter(c.storeErrors, ss.Errors)
	counter(c.storeNotStored, m.storeFailed.Load())
	counter(c.storeRefused, m.storeRefused.Load())
	counter(c.storeTrimmed, m.storeTrimmed.Load())
	gauge(c.storeDiskBytes, float64(ss.DiskBytes))
	gauge(c.inboxMessages, float64(ss.InboxMessages))
	counter(c.inboxStored, m.inboxStored.Load())
	counter(c.inboxDelivered, m.inboxDelivered.Load())
	counter(c.inboxAcked, m.inboxAcked.Load())
	counter(c.roomsReclaimed, m.roomsReclaimed.Load())
	counter(c.roomsRefused, m.roomsRefused.Load())
	high := 0.0
	if s.hub.memHigh.Load() {
		high = 1
	}
	gauge(c.memoryHigh, high)
	counter(c.memoryShed, m.memoryShed.Load())
	counter(c.memoryRefused, m.memoryRefused.Load())

	hs := s.hookStats()
	for event, n := range hs.Calls {
		counter(c.hookCalls, n, event)
	}
	for k, n := range s.hookm.failuresByEvent() {
		counter(c.hookFailures, n, k.event, k.kind)
	}
	gauge(c.hookInFlight, float64(hs.InFlight))
	gauge(c.hookWaiting, float64(hs.Waiting))
	ch <- prometheus.MustNewConstMetric(c.hookLatency, prometheus.CounterValue, hs.LatencySeconds)
	gauge(c.hookCloseQueued, float64(hs.CloseQueued))
	gauge(c.hookBreakersOpen, float64(len(hs.OpenBreakers)))
	if cs := s.clusterStats(); cs != nil {
		up := 0.0
		if cs.Healthy {
			up = 1
		}
		gauge(c.clusterUp, up)
		gauge(c.clusterNodes, float64(cs.Nodes))
	}
	g := s.guards.snapshot()
	counter(c.guardRefused, g.HostRefused, "host")
	counter(c.guardRefused, g.OriginRefused, "origin")
	counter(c.guardRefused, g.APIRefused, "api")
	counter(c.guardRefused, g.PerIPRefused, "per_ip")
	counter(c.acceptErrors, g.AcceptErrors)
	for _, h := range c.hist {
		ch <- h.metric()
	}
}
