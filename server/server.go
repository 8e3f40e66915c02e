package server

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/broker"
	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/memory"
)

// roomSweepInterval is how often expired history is trimmed and unused
// rooms are forgotten.
const roomSweepInterval = 5 * time.Second

// storeTrimMessage is the log line of a store dropping data to keep
// within a bound.
func storeTrimMessage(reason string) string {
	switch reason {
	case "size":
		return "history past --max-history-bytes: the store dropped the oldest messages across rooms"
	case "rooms":
		return "history of more rooms than --max-rooms-total: the store forgot the rooms idle longest (their epochs change)"
	}
	return "the store dropped data to keep within its bounds: " + reason
}

// HTTP limits, for every request before it becomes a WebSocket. Each
// connection waiting on them holds an open file, so they bound how long
// a slow or idle client can keep one from the WebSocket clients.
const (
	// httpReadHeaderTimeout bounds reading a request's headers: a client
	// sending them a byte at a time is cut off after it.
	httpReadHeaderTimeout = 5 * time.Second
	// httpIdleTimeout closes a keep-alive connection idle between
	// requests for this long.
	httpIdleTimeout = 30 * time.Second
	// httpMaxHeaderBytes bounds a request's headers (Go's default is
	// 1 MiB). It leaves room for a token of protocol.MaxTokenBytes in the
	// query or in Authorization, besides ordinary headers and cookies.
	httpMaxHeaderBytes = 32 << 10
)

// Server is one rtsync node: a hub of connections, rooms and users behind
// an HTTP handler that serves the WebSocket endpoint.
type Server struct {
	cfg Config
	log *slog.Logger
	hub *hub
	// store keeps history and offline inboxes; broker carries messages
	// between nodes (Config.OpenStore, Config.Broker). uidLocks order
	// direct sends to a uid with the hand-over of its inbox (connops.go).
	store    store.Store
	broker   broker.Broker
	uidLocks uidLocks
	// cluster is what the broker offers beyond the Broker interface
	// (cluster.go); its fields are nil for the in-process broker.
	cluster
	up *websocket.Upgrader
	// poller reads the WebSocket connections Run accepted on the poll
	// path (wsin.go); nil on the goroutine path and outside Run.
	poller  atomic.Pointer[poller]
	metrics metrics
	writers *writerPool
	started time.Time

	draining atomic.Bool
	// fanouts counts the rooms' fan-out goroutines running (fanout.go).
	fanouts fanCount
	mux     *http.ServeMux
	// life ends when shutdown begins (endLife), and with it every hook
	// call under way but the close events'.
	life    context.Context
	endLife context.CancelCauseFunc

	// events is the application's event handler (Config.Events, or
	// httpHooks when a hook URL is set), nil when there is none.
	events    EventHandler
	httpHooks *httpHooks
	hookm     hookMetrics
	closes    *closeQueue
	// auth is the client authentication and origin policy (auth.go),
	// fixed at New.
	auth *auth
	// hosts is the Host check against DNS rebinding (hosts.go).
	hosts *hostPolicy
	// perIP bounds the connections from one address; guards counts the
	// refusals of hosts, origins, the keyless API and perIP (listen.go).
	perIP  ipLimiter
	guards guardMetrics
	// root is mux behind the Host check.
	root http.Handler
	// api serves the HTTP server API under /api/v1 (api.go).
	api *api
	// prom is the Prometheus registry behind /metrics (prom.go).
	prom *promMetrics

	tcpListeners []net.Listener
}

// ErrOpenStore is what New returns, wrapping the store's own error (a
// store.Err* kind where there is one), when Config.OpenStore fails.
var ErrOpenStore = errors.New("cannot open the store")

// connInfo is what is known about a connection before it is accepted.
type connInfo struct {
	transport string
	remote    string
	header    http.Header
	// rawQuery is the upgrade request's query (hasQuery: there was a
	// request), parsed only when a connect hook asks for it.
	rawQuery string
	hasQuery bool
	token    string
}

// query returns the upgrade request's query parameters; nil for a
// transport without a request (TCP).
func (i *connInfo) query() url.Values {
	if !i.hasQuery {
		return nil
	}
	q, _ := url.ParseQuery(i.rawQuery) // as http.Request's URL.Query: bad pairs are dropped
	return q
}

// New checks cfg, fills its defaults and returns a Server ready to Run.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("node", cfg.Node), started: time.Now()}
	s.life, s.endLife = context.WithCancelCause(context.Background())
	if s.auth, err = newAuth(cfg, s.log); err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	if s.hosts, err = newHostPolicy(cfg.AllowedHosts); err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	s.perIP.max = cfg.MaxConnsPerIP
	s.hub = newHub(s)
	s.uidLocks.seed = maphash.MakeSeed()
	opts := cfg.storeOptions(func(reason string, n int) {
		s.metrics.storeTrimmed.Add(uint64(n))
		s.hub.logLim.note(s.log, "store-trim-"+reason, storeTrimMessage(reason), "dropped", n, "max_history_bytes", cfg.MaxHistoryBytes, "max_rooms", cfg.MaxRooms)
	})
	if cfg.OpenStore != nil {
		if s.store, err = cfg.OpenStore(opts); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrOpenStore, err)
		}
	} else {
		s.store = memory.New(opts)
	}
	s.broker = cfg.Broker
	if s.broker == nil {
		s.broker = broker.NewInProcess()
	}
	s.cluster.init(s.broker)
	if s.presence != nil {
		go s.sendPresence()
	}
	if err := s.broker.Start(s.hub); err != nil {
		_ = s.store.Close()
		return nil, fmt.Errorf("start the broker: %w", err)
	}
	s.prom = newPromMetrics(s)
	s.writers = newWriterPool(max(cfg.WriteCoalesce, time.Millisecond), s)
	s.up = s.upgrader()
	// Close events may use half the hook slots, so a wave of
	// disconnects cannot starve connects and messages.
	s.closes = &closeQueue{s: s, max: max(1, cfg.HookConcurrency/2), limit: closeQueueLimit}
	if cfg.Events != nil {
		s.events = cfg.Events
	} else if s.httpHooks = newHTTPHooks(cfg, &s.hookm, s.log); s.httpHooks != nil {
		s.events = s.httpHooks
		urls := make([]string, 0, len(s.httpHooks.routes))
		for _, event := range []string{eventConnect, eventMessage, eventRPC, eventClose} {
			if rt := s.httpHooks.routes[event]; rt != nil {
				urls = append(urls, event+"="+rt.safe)
			}
		}
		s.log.Info("event hooks", "urls", urls, "timeout", cfg.HookTimeout, "concurrency", cfg.HookConcurrency,
			"fail_open", cfg.HookFailOpen, "signed", cfg.HookSecret != "")
		if cfg.HookSecret == "" {
			s.log.Warn("event hook requests are not signed: set a hook secret so the application can tell them from forged ones")
		}
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /ws", s.serveWS)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		if s.health != nil {
			if err := s.health.Healthy(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	s.registerAPI(s.mux)
	s.mux.Handle("GET "+metricsPath, s.serveMetrics())
	if cfg.Pprof {
		s.registerPprof(s.mux)
	}
	if cfg.Page != nil {
		// "/" rather than "GET /": the mux refuses "GET /" beside the API's
		// "/api/v1/" (neither pattern is more specific than the other).
		// The more specific routes above still win over "/".
		s.mux.Handle("/", getOnly(cfg.Page))
	}
	s.root = s.checkHost(s.mux)
	return s, nil
}

// getOnly passes GET and HEAD requests to h and answers others with 405,
// as a "GET /" pattern would.
func getOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Config returns the configuration in force, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Handler returns the HTTP handler: GET /ws (WebSocket), /healthz, /readyz,
// the server API under /api/v1/, GET /metrics (Prometheus, under the API's
// authentication) and, when Config.Page is set, the page at /.
func (s *Server) Handler() http.Handler { return s.root }

// open admits a new connection: it checks capacity, authenticates it,
// asks the application (connect hook), applies what it said, and greets the
// client. It reports false, after closing the connection with the reason,
// when the connection is refused.
//
// The connection becomes reachable (by client id, by uid, in rooms) only
// after its welcome is queued, so the welcome is the first thing the
// client receives and carries the uid and name the application set.
func (s *Server) open(c *conn, info *connInfo) bool {
	refuse := func(code int, reason string) bool {
		s.metrics.rejected.Add(1)
		c.mu.Lock()
		c.markClosedLocked()
		c.mu.Unlock()
		c.t.Close(code, closeReason(code, reason))
		return false
	}
	if !s.hub.admit(c) {
		if s.hub.memHigh.Load() {
			// Logged, rate-limited, by the memory watcher (limits.go).
			return refuse(protocol.CloseServerFull, "server low on memory, try again later")
		}
		s.log.Warn("connection refused: server full", "remote", info.remote, "max_conns", s.cfg.MaxConnections)
		return refuse(protocol.CloseServerFull, "")
	}
	registered := false
	defer func() {
		if !registered {
			s.hub.release(c)
		}
	}()
	ar, e := s.authenticate(info.token)
	if e != nil {
		s.log.Info("connection refused: bad token", "remote", info.remote, "err", e.Message)
		return refuse(protocol.CloseUnauthorized, e.Message)
	}
	c.setAuth(ar)
	c.presetIdentity(ar.UID, ar.Name)
	res, e := s.hookConnect(c, info, ar.Claims)
	if e != nil {
		// The failure was logged (rate-limited) by the hook plumbing.
		return refuse(protocol.CloseTryAgainLater, e.Message)
	}
	if res != nil {
		if res.Refuse {
			s.log.Debug("connection refused by the application", "remote", info.remote, "reason", res.Reason)
			return refuse(protocol.CloseForbidden, res.Reason)
		}
		c.presetIdentity(res.UID, res.Name)
		if len(res.Session) > 0 {
			c.setSession(res.Session)
		}
	}
	_, uid, name := c.identity()
	c.welcomed.Store(true)
	c.greet(protocol.Welcome{
		Type: protocol.TypeWelcome, Client: c.id, UID: uid, Name: name, Node: s.cfg.Node, Server: s.cfg.Version,
		Protocol: protocol.Version, Heartbeat: s.cfg.HeartbeatInterval.Milliseconds(),
	})
	if !s.hub.register(c) {
		return false // its first write failed; it is closed already
	}
	registered = true
	s.metrics.accepted.Add(1)
	if res != nil {
		for _, room := range res.Rooms {
			if e := s.joinFor(c, room); e != nil {
				s.log.Warn("connect hook asked for a room that cannot be joined", "client", c.id, "room", room, "err", e.Message)
			}
		}
	}
	// What was sent to the uid while it was offline, after the welcome
	// and the rooms (connops.go).
	s.deliverInbox(c, uid, 0)
	s.recheckInbox(c, uid)
	if s.draining.Load() {
		// Shutdown began while the hook ran, and its sweep may have
		// missed this connection.
		c.drainAndClose(protocol.CloseGoingAway)
	}
	return true
}

// presetIdentity sets the uid and name (empty: unchanged) of a connection
// not yet registered in the hub, which indexes the uid on registration.
func (c *conn) presetIdentity(uid, name string) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if uid != "" {
		c.uid = uid
	}
	if name != "" {
		c.name = name
	}
	c.from = nil
}

// Run serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, closes every client with 4012 and waits up to
// Config.ShutdownTimeout for queues to drain. It returns nil after a clean
// shutdown.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.root,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if s.cfg.ReadMode == ReadModePoll {
		p, err := newPoller(s.log)
		if err != nil {
			return fmt.Errorf("start the poller of --read-mode poll: %w; use --read-mode goroutine", err)
		}
		s.poller.Store(p)
		defer func() { s.poller.Store(nil); p.stop() }()
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(frameListener{ln, s}) }()

	var wg sync.WaitGroup
	loopCtx, stopLoops := context.WithCancel(context.Background())
	wg.Go(func() { s.heartbeats(loopCtx) })
	wg.Go(func() { s.sweepRooms(loopCtx) })
	wg.Go(func() { s.sampleRates(loopCtx) })
	wg.Go(func() { s.watchMemory(loopCtx) })
	for _, tl := range s.tcpListeners {
		wg.Go(func() { s.acceptTCP(loopCtx, tl) })
	}
	defer func() { stopLoops(); wg.Wait() }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	return s.shutdown(hs)
}

// shutdown stops accepting, tells every client to reconnect elsewhere, and
// waits for their queues to drain.
func (s *Server) shutdown(hs *http.Server) error {
	s.draining.Store(true)
	s.endLife(errServerStopping)
	for _, tl := range s.tcpListeners {
		_ = tl.Close() // acceptTCP returns; its clients are in the hub
	}
	start := time.Now()
	deadline, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	// Stop accepting; hijacked WebSocket connections are ours to close.
	err := hs.Shutdown(deadline)
	// What the rooms queued reaches the queues before they drain.
	s.fanouts.wait(deadline)
	conns := s.hub.snapshot()
	s.log.Info("shutting down", "clients", len(conns), "timeout", s.cfg.ShutdownTimeout)
	for _, c := range conns {
		c.drainAndClose(protocol.CloseGoingAway)
	}
	s.hub.waitEmpty(deadline)
	if n := s.hub.count.Load(); n > 0 {
		s.log.Warn("shutdown timed out; dropping clients", "clients", n)
		for _, c := range s.hub.snapshot() {
			c.close(0, "")
		}
	}
	// Let the application hear about the connections that just closed.
	s.closes.wait(deadline)
	if n := s.closes.len(); n > 0 {
		s.log.Warn("shutdown timed out; close events not sent to the application", "events", n)
	}
	s.writers.stop()
	s.stopPresence(deadline)
	if berr := s.broker.Close(); berr != nil {
		s.log.Warn("broker close", "err", berr)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	if serr := s.store.Close(); serr != nil {
		s.log.Error("store close: what was pending may not be durable", "err", serr)
		err = errors.Join(err, fmt.Errorf("close the store: %w", serr))
	}
	s.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	return err
}

// closeDrainWait bounds how long drainAndClose waits for the writer to
// flush what is queued before it closes anyway.
const closeDrainWait = time.Second

// drainAndClose lets the writer flush what is queued, then closes with code.
func (c *conn) drainAndClose(code int) { c.drainAndCloseWith(code, "") }

// drainAndCloseWith is drainAndClose with a close reason ("": the code's
// standard one).
func (c *conn) drainAndCloseWith(code int, reason string) {
	go func() {
		c.waitDrained(closeDrainWait)
		c.close(code, reason)
	}()
}

// heartbeats pings every connection each interval from one goroutine and
// closes those silent for two intervals, so idle connections need no timer
// of their own. It also runs the write watchdog.
func (s *Server) heartbeats(ctx context.Context) {
	tick := time.NewTicker(s.cfg.HeartbeatInterval)
	defer tick.Stop()
	watch := time.NewTicker(max(s.cfg.WriteTimeout/4, 10*time.Millisecond))
	defer watch.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s.sweepHeartbeats(now)
		case now := <-watch.C:
			s.watchWrites(now)
		}
	}
}

func (s *Server) sweepHeartbeats(now time.Time) {
	dead := now.Add(-2 * s.cfg.HeartbeatInterval).UnixNano()
	for _, c := range s.hub.snapshot() {
		if reason, expired := c.authExpired(now); expired {
			s.log.Debug("closing client: token expired or never sent", "client", c.id, "remote", c.t.RemoteAddr())
			go c.close(protocol.CloseUnauthorized, reason)
			continue
		}
		if c.lastSeen.Load() < dead && !silenceAllowed(c.t) {
			s.metrics.timeouts.Add(1)
			s.log.Debug("closing silent client", "client", c.id, "remote", c.t.RemoteAddr())
			go c.close(protocol.CloseNoHeartbeat, "")
			continue
		}
		c.mu.Lock()
		busy := c.writing
		c.mu.Unlock()
		if !busy {
			// A busy writer proves the socket is being used; one whose peer
			// is gone fails on its write deadline instead.
			if err := c.t.Ping(); err != nil {
				go c.close(0, "")
			}
		}
	}
}

func (s *Server) sweepRooms(ctx context.Context) {
	tick := time.NewTicker(roomSweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s.hub.sweepRooms(now)
		}
	}
}
