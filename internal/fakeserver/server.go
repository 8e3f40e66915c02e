package fakeserver

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Tuning. The fake is meant for a few thousand connections on a laptop.
const (
	// DefaultQueueLimit is the number of queued items past which a
	// connection is closed as a slow consumer (4008).
	DefaultQueueLimit = 100_000
	// DefaultReorderHold is how long a message held back by ReorderEvery
	// waits for a successor before it is delivered anyway, so that the end
	// of a run is not counted as loss.
	DefaultReorderHold = time.Second
	// maxBatchBytes caps one rtsync frame built from queued items.
	maxBatchBytes = 64 << 10
	// readLimit caps a client frame (16 × rtsync's default message size).
	readLimit = 1 << 20
	// writeTimeout bounds one frame write, so a client that stops reading
	// cannot hold its writer forever.
	writeTimeout = 5 * time.Second
	// closeGrace is how long a connection closed by the server waits for
	// the client's close frame before the socket is dropped: closing at once
	// could reset the socket and lose the close frame on the client side.
	closeGrace = time.Second
	// controlTimeout bounds writing a close frame.
	controlTimeout = time.Second
)

// Protocol selects what the server speaks.
type Protocol string

// Protocols.
const (
	// ProtocolRTSync is a minimal subset of rtsync's wire protocol v1.
	ProtocolRTSync Protocol = "rtsync"
	// ProtocolRaw broadcasts every text frame to every client.
	ProtocolRaw Protocol = "raw"
)

// Options configures a Server. The zero value is a faithful rtsync server.
type Options struct {
	// Protocol is ProtocolRTSync when empty.
	Protocol Protocol
	// Faults to inject; zero means none.
	Faults Faults
	// QueueLimit is the most items a connection may have queued; past it
	// the connection is closed with 4008 and counted in Stats.SlowConsumers.
	// Zero means DefaultQueueLimit.
	QueueLimit int
}

// Faults are deliberate misbehaviours. Message numbers k are 1-based: the
// room seq in rtsync mode, the count of frames the server received (from
// all clients) in raw mode. Drop, duplicate and reorder apply to room
// messages only; direct messages have no number and are only delayed.
type Faults struct {
	// Delay, when positive, delays every delivery (msg, direct, raw frame)
	// to one receiver, the DelayConn-th (0-based), by Delay from the moment
	// the message is fanned out. Receivers are numbered in the order they
	// become receivers:
	//   - raw: in the order their upgrade completed, skipping connections
	//     refused (RejectAfter) or closed after the welcome
	//     (CloseAfterWelcomeEvery);
	//   - rtsync: in the order of their first successful join (any room);
	//     connections that never join are not numbered, and re-joining or
	//     joining more rooms does not renumber.
	// Replies and the welcome are not delayed themselves, but they wait
	// behind a delayed delivery queued before them, since a connection's
	// stream is never reordered.
	DelayConn int
	Delay     time.Duration

	// DropEvery: message k with k%DropEvery == 0 is delivered to nobody. In
	// rtsync mode its seq is still used and the publisher gets its ok reply,
	// so receivers see a gap.
	DropEvery int
	// DuplicateEvery: message k with k%DuplicateEvery == 0 is delivered
	// twice in a row to every receiver. Drop wins over duplicate.
	DuplicateEvery int
	// ReorderEvery: message k with k%ReorderEvery == 0 is held back and
	// delivered to every receiver right after the next message of the same
	// stream (room in rtsync, the whole server in raw mode), so k+1 arrives
	// before k. If nothing follows within ReorderHold, k is delivered alone.
	// Only one message is held at a time: a candidate arriving while one is
	// held is delivered normally and releases the held one. Drop wins over
	// reorder; a held message that is also a duplicate is delivered twice
	// when released.
	ReorderEvery int
	// ReorderHold: zero means DefaultReorderHold.
	ReorderHold time.Duration

	// RejectAfter, when positive, lets only the first RejectAfter upgrades
	// (counted over the server's life, not concurrently open ones) through:
	// later ones get HTTP 503 and no WebSocket.
	RejectAfter int
	// CloseAfterWelcomeEvery, when positive, closes every n-th accepted
	// connection (n, 2n, ... in accept order, 1-based) with close code 4008
	// "slow consumer" right after its welcome (raw: right after the
	// upgrade). Such a connection never becomes a receiver.
	CloseAfterWelcomeEvery int

	// FloodCloseAfter, when positive, treats a connection's pubs past
	// this many as a flood, as rtsync does past its publish rate (rtsync
	// mode): the rest of the frame and everything the connection sends
	// after it is ignored, unanswered, and FloodHold later (zero: at once)
	// the connection is closed with 4009 "rate limited". A client sees
	// its later messages neither answered nor delivered.
	FloodCloseAfter int
	FloodHold       time.Duration
}

// Stats are counters since the server started. A delivery is one object
// (msg, direct) or raw frame written to one client.
type Stats struct {
	// ConnsAccepted counts completed upgrades; ConnsRefused the HTTP 503s
	// from RejectAfter; ConnsClosedAfterWelcome those closed by
	// CloseAfterWelcomeEvery; SlowConsumers those closed because their
	// queue passed QueueLimit; FloodClosed those FloodCloseAfter closed.
	ConnsAccepted           uint64
	ConnsRefused            uint64
	ConnsClosedAfterWelcome uint64
	SlowConsumers           uint64
	FloodClosed             uint64

	// Published counts messages received from publishers: accepted pubs
	// (rtsync) or text frames (raw), dropped ones included. Directs counts
	// accepted sends.
	Published uint64
	Directs   uint64

	// Deliveries counts deliveries written to sockets (a duplicate counts
	// twice). Replies, welcomes and errors are not counted.
	Deliveries uint64

	// Dropped counts messages dropped by DropEvery, DroppedDeliveries the
	// deliveries that were therefore not made (one per receiver).
	Dropped           uint64
	DroppedDeliveries uint64
	// Duplicated counts messages sent twice, DuplicateDeliveries the extra
	// deliveries queued.
	Duplicated          uint64
	DuplicateDeliveries uint64
	// Reordered counts messages held back and delivered right after their
	// successor; ReleasedByTimeout those delivered alone after ReorderHold.
	// A held message whose successor was dropped is in neither.
	Reordered         uint64
	ReleasedByTimeout uint64
	// Delayed counts deliveries queued with Delay.
	Delayed uint64
}

type counters struct {
	connsAccepted, connsRefused, connsClosedAfterWelcome, slowConsumers atomic.Uint64
	floodClosed                                                         atomic.Uint64
	published, directs, deliveries                                      atomic.Uint64
	dropped, droppedDeliveries, duplicated, duplicateDeliveries         atomic.Uint64
	reordered, releasedByTimeout, delayed                               atomic.Uint64
}

// Server is a running fake server.
type Server struct {
	opts Options
	ln   net.Listener
	http *http.Server
	up   websocket.Upgrader
	st   counters
	wg   sync.WaitGroup

	// raw is the one stream of raw mode; nil in rtsync mode.
	raw *stream

	// numMu orders receiver numbering (DelayConn); it nests inside no
	// other lock and holds none but changedMu, which holds none.
	numMu     sync.Mutex
	receivers int

	// changed, guarded by changedMu, is closed and replaced whenever
	// Receivers may have changed, for WaitReceivers.
	changedMu sync.Mutex
	changed   chan struct{}

	mu       sync.Mutex
	closed   bool
	reserved int // upgrades admitted (RejectAfter), failed ones given back
	accepted int // completed upgrades; names clients c1, c2, ...
	conns    map[*conn]struct{}
	byClient map[string]*conn
	byUID    map[string]map[*conn]struct{}
	rooms    map[string]*stream
}

// New starts a server listening on 127.0.0.1 on a free port.
func New(opts Options) (*Server, error) {
	if opts.Protocol == "" {
		opts.Protocol = ProtocolRTSync
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	if opts.QueueLimit == 0 {
		opts.QueueLimit = DefaultQueueLimit
	}
	if opts.Faults.ReorderHold == 0 {
		opts.Faults.ReorderHold = DefaultReorderHold
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fakeserver: listen on 127.0.0.1: %w", err)
	}
	s := &Server{
		opts:     opts,
		ln:       ln,
		conns:    make(map[*conn]struct{}),
		byClient: make(map[string]*conn),
		byUID:    make(map[string]map[*conn]struct{}),
		rooms:    make(map[string]*stream),
		up: websocket.Upgrader{
			ReadBufferSize:  1024,
			WriteBufferSize: 4096,
			WriteBufferPool: &sync.Pool{},
			CheckOrigin:     func(*http.Request) bool { return true },
		},
	}
	if opts.Protocol == ProtocolRaw {
		s.raw = newStream("")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.http.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// Start is New for tests: it fails t on error and closes the server when
// the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func (o *Options) check() error {
	f := o.Faults
	switch {
	case o.Protocol != ProtocolRTSync && o.Protocol != ProtocolRaw:
		return fmt.Errorf("fakeserver: unknown protocol %q; use %q or %q", o.Protocol, ProtocolRTSync, ProtocolRaw)
	case o.QueueLimit < 0:
		return errors.New("fakeserver: QueueLimit must not be negative")
	case f.DelayConn < 0 || f.Delay < 0:
		return errors.New("fakeserver: DelayConn and Delay must not be negative")
	case f.DropEvery < 0 || f.DuplicateEvery < 0 || f.ReorderEvery < 0 || f.ReorderHold < 0:
		return errors.New("fakeserver: DropEvery, DuplicateEvery, ReorderEvery and ReorderHold must not be negative")
	case f.RejectAfter < 0 || f.CloseAfterWelcomeEvery < 0:
		return errors.New("fakeserver: RejectAfter and CloseAfterWelcomeEvery must not be negative")
	case f.FloodCloseAfter < 0 || f.FloodHold < 0:
		return errors.New("fakeserver: FloodCloseAfter and FloodHold must not be negative")
	}
	return nil
}

// URL is the WebSocket endpoint, "ws://127.0.0.1:PORT/ws".
func (s *Server) URL() string { return "ws://" + s.ln.Addr().String() + "/ws" }

// Addr is the listening address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stats returns a snapshot of the counters. Counters are read one by one,
// so a snapshot taken while traffic flows need not add up; take it once the
// clients are done.
func (s *Server) Stats() Stats {
	c := &s.st
	return Stats{
		ConnsAccepted:           c.connsAccepted.Load(),
		ConnsRefused:            c.connsRefused.Load(),
		ConnsClosedAfterWelcome: c.connsClosedAfterWelcome.Load(),
		SlowConsumers:           c.slowConsumers.Load(),
		FloodClosed:             c.floodClosed.Load(),
		Published:               c.published.Load(),
		Directs:                 c.directs.Load(),
		Deliveries:              c.deliveries.Load(),
		Dropped:                 c.dropped.Load(),
		DroppedDeliveries:       c.droppedDeliveries.Load(),
		Duplicated:              c.duplicated.Load(),
		DuplicateDeliveries:     c.duplicateDeliveries.Load(),
		Reordered:               c.reordered.Load(),
		ReleasedByTimeout:       c.releasedByTimeout.Load(),
		Delayed:                 c.delayed.Load(),
	}
}

// DelayedClient returns the client id ("c3") of the connection that
// Faults.Delay applies to, once it has been numbered; false before that or
// when no delay is set.
func (s *Server) DelayedClient() (string, bool) {
	if s.opts.Faults.Delay <= 0 {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.index.Load() == int64(s.opts.Faults.DelayConn) {
			return c.id, true
		}
	}
	return "", false
}

// Receivers is the number of live connections that receive messages: in
// raw mode those registered after their upgrade, in rtsync mode those that
// have joined a room at least once. A raw client cannot tell when it is
// registered (its dial may return just before), so a test waits for this
// to reach its client count before publishing.
func (s *Server) Receivers() int {
	if s.raw != nil {
		s.raw.mu.Lock()
		defer s.raw.mu.Unlock()
		return len(s.raw.members)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.index.Load() >= 0 {
			n++
		}
	}
	return n
}

// WaitReceivers waits until Receivers is at least n, or fails after
// timeout.
func (s *Server) WaitReceivers(n int, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		changed := s.changes()
		got := s.Receivers()
		if got >= n {
			return nil
		}
		select {
		case <-changed:
		case <-t.C:
			return fmt.Errorf("fakeserver: %d receivers after %v, want %d", s.Receivers(), timeout, n)
		}
	}
}

// changes returns a channel closed at the next change of Receivers; take
// it before reading Receivers, so no change falls between.
func (s *Server) changes() <-chan struct{} {
	s.changedMu.Lock()
	defer s.changedMu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// receiversChanged wakes WaitReceivers.
func (s *Server) receiversChanged() {
	s.changedMu.Lock()
	defer s.changedMu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// Close stops accepting, drops every connection without a close frame and
// waits for every goroutine the server started. It is safe to call more
// than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	streams := make([]*stream, 0, len(s.rooms)+1)
	for _, st := range s.rooms {
		streams = append(streams, st)
	}
	if s.raw != nil {
		streams = append(streams, s.raw)
	}
	s.mu.Unlock()

	_ = s.http.Close()
	for _, st := range streams {
		st.stopHold()
	}
	for _, c := range conns {
		c.shutdown()
	}
	s.wg.Wait()
}

// serveWS admits, upgrades and then reads one connection until it ends.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	f := s.opts.Faults
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "fakeserver: closed", http.StatusServiceUnavailable)
		return
	}
	if f.RejectAfter > 0 && s.reserved >= f.RejectAfter {
		s.mu.Unlock()
		s.st.connsRefused.Add(1)
		http.Error(w, fmt.Sprintf("fakeserver: refusing connections past RejectAfter=%d", f.RejectAfter), http.StatusServiceUnavailable)
		return
	}
	s.reserved++
	s.wg.Add(1) // under mu with closed false, so never after Close's Wait
	s.mu.Unlock()
	defer s.wg.Done()

	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered with an HTTP error already.
		s.mu.Lock()
		s.reserved--
		s.mu.Unlock()
		return
	}
	ws.SetReadLimit(readLimit)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.accepted++
	n := s.accepted
	c := newConn(s, ws, fmt.Sprintf("c%d", n))
	s.conns[c] = struct{}{}
	s.byClient[c.id] = c
	s.wg.Add(1)
	s.mu.Unlock()
	s.st.connsAccepted.Add(1)
	go c.writeLoop()

	kick := f.CloseAfterWelcomeEvery > 0 && n%f.CloseAfterWelcomeEvery == 0
	if s.opts.Protocol == ProtocolRTSync {
		c.welcome()
	}
	if kick {
		s.st.connsClosedAfterWelcome.Add(1)
		c.closeWith(4008)
	} else if s.raw != nil {
		s.number(c)
		s.raw.mu.Lock()
		s.raw.members[c] = struct{}{}
		s.raw.mu.Unlock()
		s.receiversChanged()
	}

	c.readLoop()
	s.drop(c)
	c.shutdown()
}

// number gives c its receiver index, once. It is called before c is added
// to a stream's members, so the delay is in place before any delivery.
func (s *Server) number(c *conn) {
	s.numMu.Lock()
	defer s.numMu.Unlock()
	if c.index.Load() >= 0 {
		return
	}
	i := s.receivers
	s.receivers++
	c.index.Store(int64(i))
	defer s.receiversChanged()
	if s.opts.Faults.Delay > 0 && i == s.opts.Faults.DelayConn {
		c.mu.Lock()
		c.delay = s.opts.Faults.Delay
		c.mu.Unlock()
	}
}

// drop removes c from everything that could deliver to it. It runs on c's
// reader goroutine after its loop ended.
func (s *Server) drop(c *conn) {
	if s.raw != nil {
		s.raw.mu.Lock()
		delete(s.raw.members, c)
		s.raw.mu.Unlock()
	}
	for _, st := range c.rooms {
		st.mu.Lock()
		delete(st.members, c)
		st.mu.Unlock()
	}
	s.mu.Lock()
	delete(s.conns, c)
	delete(s.byClient, c.id)
	s.unbindUID(c)
	s.mu.Unlock()
	s.receiversChanged()
}
