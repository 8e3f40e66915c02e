package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rtsync/rtsync/internal/procstat"
	"github.com/rtsync/rtsync/protocol"
)

// progressEvery is how often a shard reports its running totals.
const progressEvery = 250 * time.Millisecond

// fanSlot is one message's fan-out so far in this shard.
type fanSlot struct {
	count atomic.Uint32
	maxUs atomic.Uint32
}

// streamWin is a stream's measuring window and its fan-out slots.
type streamWin struct {
	lo, hi int
	fan    []fanSlot
}

// shard runs its share of the connections. See doc.go for who owns what.
type shard struct {
	p   *plan
	cfg *Config
	l   *layout
	out func(shardMsg)

	conns []*benchConn
	wins  []streamWin // per stream
	// streamTargets is each stream's sender's target (cluster).
	streamTargets []int

	attempted, connected, failed, dropped, reconnects atomic.Int64
	// sumMu guards replacing a conn in conns (churn) against progress
	// summing their counters.
	sumMu sync.Mutex

	mu         sync.Mutex
	failures   map[string]int64
	drops      map[string]int64
	errorCodes map[string]int64
	firstDial  time.Time
	lastReady  time.Time
	server     string
	node       string
	heartbeat  time.Duration // the longest a welcome gave

	handshake *shardedHist
	// lat is one histogram, or with a cluster one per target (of the
	// receiver), which together make the total.
	lat []*shardedHist
	// nodes are the per-target counts of a cluster run; nil otherwise.
	nodes []nodeCounts

	// Set by start: the schedule and the window in absolute time.
	t0         time.Time
	windowFrom time.Time
	windowTo   time.Time
	roomSubs   []int
	started    atomic.Bool
	stopping   atomic.Bool

	senders     []*sender
	publishDone atomic.Bool
	publishLag  atomic.Int64 // ns, max
	cpuWindow   float64
	schedP99    float64
	readers     sync.WaitGroup
	measureMu   sync.Mutex
	// pollers read the connections on the poll path (readmode.go); nil
	// on the goroutine path.
	pollers []*poller
}

// benchConn is one connection and, owned by its reader goroutine, its
// receive state.
type benchConn struct {
	s  slot
	ws *websocket.Conn
	// pc is the connection's poll-path state, nil when a goroutine reads it.
	pc *pollConn
	// closing is set before the bench closes the connection itself, so
	// its reader does not count a drop.
	closing atomic.Bool
	dead    atomic.Bool
	// dropped is set when the connection ended during the run and not by
	// the bench's hand: a drop.
	dropped atomic.Bool

	// Receive state, owned by the reader goroutine.
	base, nstreams int
	seen           []streamSeen
	// delivered and bytes are written by the reader alone; progress
	// sums them, so the hot path touches no shared cache line.
	delivered atomic.Int64
	bytes     atomic.Int64
	dup, ooo  int64
	// cross counts the deliveries (cluster) from a sender on another
	// target.
	cross int64
}

// nodeCounts are one target's connection counts in a shard (cluster).
type nodeCounts struct {
	attempted, connected, failed, dropped atomic.Int64
	// node is the name the target's first welcome gave (under shard.mu).
	node string
}

// streamSeen is one receiver's view of one stream.
type streamSeen struct {
	bits []uint64 // over the stream's window
	maxN int      // highest message number seen, -1 before any
}

// sender is a connection that publishes one stream, driven by the pacer.
type sender struct {
	c                       *benchConn
	stream                  int
	cmd                     []byte // the JSON prefix of each command (rtsync protocol)
	buf                     []byte
	due                     int // messages batched in buf
	sent, rejected, notSent atomic.Int64
	firstDue                time.Time
	// queued is the number of the last message added to buf (pacer
	// only); written that of the last one written, replied that of the
	// last one the server answered (rtsync protocol), -1 before any. What
	// lies between them when the server drops the sender may never have
	// been taken (see unconfirmed in merge.go).
	queued           int
	written, replied atomic.Int64
}

func newShard(p *plan, out func(shardMsg)) *shard {
	cfg := &p.Config
	cfg.Token = p.Token
	l := newLayout(cfg, p.Run)
	s := &shard{
		p: p, cfg: cfg, l: l, out: out,
		failures:   map[string]int64{},
		drops:      map[string]int64{},
		errorCodes: map[string]int64{},
		handshake:  newShardedHist(histShards),
	}
	if cfg.Cluster {
		// Fewer locks per target: a receiver records into its target's.
		for range l.targets {
			s.lat = append(s.lat, newShardedHist(max(histShards/l.targets, 8)))
		}
		s.nodes = make([]nodeCounts, l.targets)
	} else {
		s.lat = []*shardedHist{newShardedHist(histShards)}
	}
	s.wins = make([]streamWin, l.streams)
	for st := range s.wins {
		lo, hi := l.window(st)
		s.wins[st] = streamWin{lo: lo, hi: hi, fan: make([]fanSlot, hi-lo)}
	}
	if cfg.Cluster {
		s.streamTargets = make([]int, l.streams)
		for st := range s.streamTargets {
			s.streamTargets[st] = l.streamTarget(st)
		}
	}
	for g := p.Shard; g < l.total; g += p.Shards {
		s.conns = append(s.conns, &benchConn{s: l.slot(g)})
	}
	return s
}

// run is a shard's whole life: connect, report ready, wait for start,
// publish and receive, report progress, and on stop (or ctx's end) close
// everything and report the result.
func (s *shard) run(ctx context.Context, ctl <-chan ctrl) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.out(shardMsg{Type: msgProgress, Progress: s.progress()})
			}
		}
	}()

	s.connectAll(ctx)
	s.out(shardMsg{Type: msgReady, Ready: s.ready()})

	var pacerDone, windowDone chan struct{}
	stop := func() {
		s.stopping.Store(true)
		cancel()
		if pacerDone != nil {
			<-pacerDone
			<-windowDone
		}
		s.closeAll()
		<-progressDone
		s.out(shardMsg{Type: msgResult, Result: s.result()})
	}
	for {
		select {
		case <-ctx.Done():
			stop()
			return
		case c, ok := <-ctl:
			if !ok || c.Cmd == cmdStop {
				stop()
				return
			}
			if c.Cmd == cmdStart && !s.started.Load() {
				s.begin(c)
				pacerDone = make(chan struct{})
				windowDone = make(chan struct{})
				go func() { defer close(pacerDone); s.pace(ctx) }()
				go func() { defer close(windowDone); s.watchWindow(ctx) }()
			}
		}
	}
}

func (s *shard) begin(c ctrl) {
	s.t0 = c.T0
	s.windowFrom = c.T0.Add(time.Duration(s.cfg.Warmup))
	s.windowTo = s.windowFrom.Add(time.Duration(s.cfg.Duration))
	s.roomSubs = c.RoomSubs
	s.started.Store(true)
}

// watchWindow takes the bench's CPU and scheduler figures over the
// measuring window, and runs the connect scenario's churn in it.
func (s *shard) watchWindow(ctx context.Context) {
	if !sleepUntil(ctx, s.windowFrom) {
		return
	}
	cpu0 := procstat.CPUTime()
	sched0 := readSched()
	if s.cfg.Scenario == ScenarioConnect && s.cfg.Churn > 0 {
		s.churn(ctx)
	} else if !sleepUntil(ctx, s.windowTo) {
		return
	}
	s.measureMu.Lock()
	s.cpuWindow = (procstat.CPUTime() - cpu0).Seconds()
	s.schedP99 = schedP99(sched0, readSched())
	s.measureMu.Unlock()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// connectAll dials every connection of the shard, each no earlier than
// its place in the ramp, with at most the shard's share of --dialers at
// once.
func (s *shard) connectAll(ctx context.Context) {
	if s.cfg.ReadMode == ReadModePoll {
		s.startPollers()
	}
	dialers := max(s.cfg.Dialers/s.p.Shards, 1)
	ips, _ := ParseSourceIPs(s.cfg.SourceIPs)
	dl := map[netip.Addr]*websocket.Dialer{}
	for _, ip := range ips {
		dl[ip] = newDialer(ip)
	}
	dl[netip.Addr{}] = newDialer(netip.Addr{})
	pick := func(g int) *websocket.Dialer {
		if len(ips) == 0 {
			return dl[netip.Addr{}]
		}
		return dl[ips[g%len(ips)]]
	}
	total := s.l.total
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(dialers, len(s.conns)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(s.conns) {
					return
				}
				c := s.conns[i]
				at := s.p.RampStart.Add(time.Duration(float64(s.cfg.Ramp) * float64(c.s.g) / float64(total)))
				if !sleepUntil(ctx, at) {
					return
				}
				s.connect(ctx, c, pick(c.s.g))
			}
		})
	}
	wg.Wait()
}

// connect dials one connection and sets it up; a failure is counted by
// cause and the connection stays dead.
func (s *shard) connect(ctx context.Context, c *benchConn, d *websocket.Dialer) bool {
	start := time.Now()
	s.attempted.Add(1)
	nc := s.nodeOf(c)
	if nc != nil {
		nc.attempted.Add(1)
	}
	s.mu.Lock()
	if s.firstDial.IsZero() || start.Before(s.firstDial) {
		s.firstDial = start
	}
	s.mu.Unlock()
	ws, hs, err := s.dial(ctx, c, d)
	if err != nil {
		c.dead.Store(true)
		if ctx.Err() != nil {
			// The run ended mid-dial: an abandoned attempt, not a
			// failure of the server.
			s.attempted.Add(-1)
			if nc != nil {
				nc.attempted.Add(-1)
			}
			return false
		}
		s.failed.Add(1)
		if nc != nil {
			nc.failed.Add(1)
		}
		s.count(s.failures, err.cause)
		return false
	}
	now := time.Now()
	s.handshake.record(c.s.g, int64(now.Sub(start)/time.Microsecond))
	s.mu.Lock()
	if now.After(s.lastReady) {
		s.lastReady = now
	}
	if s.server == "" {
		s.server, s.node = hs.server, hs.node
	}
	if nc != nil && nc.node == "" {
		nc.node = hs.node
	}
	s.heartbeat = max(s.heartbeat, hs.heartbeat)
	s.mu.Unlock()
	c.ws = ws
	s.prepareReceiver(c)
	s.connected.Add(1)
	if nc != nil {
		nc.connected.Add(1)
	}
	if h, ok := ws.NetConn().(*handoffConn); ok {
		if err := s.pollers[c.s.g%len(s.pollers)].add(c, h, h.tcp, h.held()); err == nil {
			h.take()
			connsPolled.Add(1)
			return true
		}
		// The poller could not take it: gorilla reads on.
		h.release()
	}
	s.readers.Add(1)
	go s.read(c, ws)
	return true
}

// connsPolled counts the connections the poll path took, for the tests.
var connsPolled atomic.Int64

// startPollers starts one poller per core for the poll path; where that
// fails, every connection is read on its own goroutine.
func (s *shard) startPollers() {
	for range runtime.GOMAXPROCS(0) {
		p, err := newPoller(s)
		if err != nil {
			stopPollers(s.pollers)
			s.pollers = nil
			s.count(s.errorCodes, "poller_unavailable")
			return
		}
		s.pollers = append(s.pollers, p)
	}
}

// closeConn closes c: off its poller first, if it has one.
func (s *shard) closeConn(c *benchConn) {
	c.closing.Store(true)
	if c.pc != nil {
		c.pc.p.close(c.pc)
		return
	}
	c.ws.Close()
}

type dialErr struct {
	cause string
	err   error
}

func (s *shard) dial(ctx context.Context, c *benchConn, d *websocket.Dialer) (*websocket.Conn, handshake, *dialErr) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	var hdr http.Header
	if s.cfg.Token != "" && s.cfg.Protocol == ProtocolRtsync {
		hdr = http.Header{"Authorization": {"Bearer " + s.cfg.Token}}
	}
	url := s.cfg.URLs[c.s.target]
	// The poll path takes the connections that only receive after their
	// set-up: a sender writes through gorilla, on its own goroutine.
	if s.pollers != nil && c.s.stream < 0 && strings.HasPrefix(url, "ws://") {
		ctx = wantHandoff(ctx)
	}
	ws, resp, err := d.DialContext(ctx, url, hdr)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, handshake{}, &dialErr{cause(err, resp), err}
	}
	if s.cfg.Protocol == ProtocolRaw {
		return ws, handshake{}, nil
	}
	hello, join := s.setupCommands(c)
	hs, err := rtsyncSetup(ws, hello, join)
	if err != nil {
		ws.Close()
		return nil, hs, &dialErr{cause(err, nil), err}
	}
	return ws, hs, nil
}

// setupCommands are the hello and join a connection sends after the
// welcome (nil when not needed).
func (s *shard) setupCommands(c *benchConn) (hello, join []byte) {
	hello = append(strconv.AppendInt([]byte(`{"op":"hello","id":1,"name":"bench-`), int64(c.s.g), 10), '"')
	if s.cfg.Scenario == ScenarioDirect {
		hello = appendJSONString(append(hello, `,"uid":`...), s.l.uid(c.s.g))
	}
	hello = append(hello, '}')
	room := -1
	switch s.cfg.Scenario {
	case ScenarioBroadcast:
		room = c.s.room
	case ScenarioConnect:
		// A connect is a whole client's arrival: hello and a join, both
		// answered. Connections are dealt over --rooms round-robin.
		room = c.s.g
	}
	if room >= 0 {
		join = append(appendJSONString([]byte(`{"op":"join","id":2,"room":`), s.l.roomName(room)), '}')
	}
	return hello, join
}

// appendJSONString appends s as a JSON string: as it is, quoted, when it
// needs no escaping (the bench's names and rooms), else as encoding/json
// writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// prepareReceiver sets up which streams c receives and their bitmaps.
func (s *shard) prepareReceiver(c *benchConn) {
	switch {
	case c.s.role != roleSub:
		return // publishers read only replies
	case s.cfg.Scenario == ScenarioBroadcast:
		c.base, c.nstreams = c.s.room*s.l.perRoom, s.l.perRoom
	case s.cfg.Scenario == ScenarioDirect:
		c.base, c.nstreams = c.s.peer, 1
	default:
		return
	}
	if c.seen != nil {
		return
	}
	c.seen = make([]streamSeen, c.nstreams)
	for i := range c.seen {
		w := s.wins[c.base+i]
		c.seen[i] = streamSeen{bits: make([]uint64, (w.hi-w.lo+63)/64), maxN: -1}
	}
}

var (
	okFalse   = []byte(`"ok":false`)
	idKey     = []byte(`"id":`)
	replyType = []byte(`"type":"reply"`)
)

// read is a connection's reader goroutine: it records every marker it
// finds and, for a sender, counts the server's refusals.
func (s *shard) read(c *benchConn, ws *websocket.Conn) {
	defer s.readers.Done()
	// Small to start with (an idle connection keeps it); readAll grows it
	// to the largest frame.
	buf := make([]byte, 0, 512)
	for {
		_, r, err := ws.NextReader()
		if err != nil {
			s.lost(c, err)
			return
		}
		buf, err = readAll(r, buf[:0])
		if err != nil {
			s.lost(c, err)
			return
		}
		if s.started.Load() {
			s.deliver(c, buf, time.Now())
		}
	}
}

// deliver handles one whole message c received at now, on either read
// path: its bytes, its markers, and a sender's replies.
func (s *shard) deliver(c *benchConn, msg []byte, now time.Time) {
	if !s.started.Load() {
		return
	}
	if now.After(s.windowFrom) && now.Before(s.windowTo) {
		c.bytes.Add(int64(len(msg)))
	}
	if c.seen != nil {
		s.receive(c, msg, now)
	}
	if c.s.stream >= 0 && s.cfg.Protocol == ProtocolRtsync && bytes.Contains(msg, replyType) {
		s.replies(c, msg)
	}
}

func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// receive classifies every marker in a frame: new (latency and fan-out
// recorded), duplicate, or out of order.
func (s *shard) receive(c *benchConn, frame []byte, now time.Time) {
	run := s.p.Run
	nowNs := now.UnixNano()
	rest := frame
	for {
		m, r, ok := nextMark(rest, run)
		if !ok {
			return
		}
		rest = r
		i := m.stream - c.base
		if i < 0 || i >= c.nstreams {
			continue // not a stream this receiver is owed
		}
		st := &c.seen[i]
		w := &s.wins[m.stream]
		late := m.n < st.maxN
		if m.n > st.maxN {
			st.maxN = m.n
		}
		if m.n < w.lo || m.n >= w.hi {
			continue // warm-up, or after the window
		}
		k := m.n - w.lo
		if st.bits[k/64]&(1<<(k%64)) != 0 {
			c.dup++
			continue
		}
		st.bits[k/64] |= 1 << (k % 64)
		if late {
			c.ooo++
		}
		c.delivered.Add(1)
		us := max((nowNs-m.intended)/1000, 0)
		s.latOf(c).record(c.s.g, us)
		if s.nodes != nil && s.streamTargets[m.stream] != c.s.target {
			c.cross++
		}
		f := &w.fan[k]
		f.count.Add(1)
		u := uint32(min(us, 1<<32-1))
		for {
			old := f.maxUs.Load()
			if u <= old || f.maxUs.CompareAndSwap(old, u) {
				break
			}
		}
	}
}

// replies notes the last message a sender's replies answered, and counts
// the error replies to its messages in the measuring window (a reply's id
// is the message number).
func (s *shard) replies(c *benchConn, frame []byte) {
	w := s.wins[c.s.stream]
	snd := s.senders[s.senderIndex(c.s.stream)]
	_ = protocol.Split(frame, func(line []byte) error {
		n := -1
		if bytes.Contains(line, replyType) {
			n = replyID(line)
		}
		if n < 0 {
			return nil
		}
		if int64(n) > snd.replied.Load() {
			snd.replied.Store(int64(n)) // this reader is the only writer
		}
		if n >= w.lo && n < w.hi && bytes.Contains(line, okFalse) {
			code := "unknown"
			var ev wireEvent
			if json.Unmarshal(line, &ev) == nil && ev.Error != nil {
				code = ev.Error.Code
			}
			snd.rejected.Add(1)
			s.count(s.errorCodes, code)
		}
		return nil
	})
}

// replyID is the numeric id of a reply line the server wrote, -1 when it
// has none. Cheaper than decoding the line: every publish is answered.
func replyID(line []byte) int {
	i := bytes.Index(line, idKey)
	if i < 0 {
		return -1
	}
	rest := bytes.TrimLeft(line[i+len(idKey):], " \t\r\n") // JSON may space the value
	n, digits := 0, 0
	for _, b := range rest {
		if b == '.' || b == 'e' || b == 'E' {
			return -1 // 1.5 or 1e3: not a message number either
		}
		if b < '0' || b > '9' {
			break
		}
		if digits == 18 {
			// Not a message number the bench gave out; cutting it short
			// would count a stranger's reply as acknowledging everything.
			return -1
		}
		n = 10*n + int(b-'0')
		digits++
	}
	if digits == 0 {
		return -1
	}
	return n
}

// lost handles a reader's end: a drop unless the bench closed it.
func (s *shard) lost(c *benchConn, err error) {
	c.dead.Store(true)
	if c.closing.Load() || s.stopping.Load() {
		return
	}
	c.dropped.Store(true)
	s.connected.Add(-1)
	s.dropped.Add(1)
	if nc := s.nodeOf(c); nc != nil {
		nc.connected.Add(-1)
		nc.dropped.Add(1)
	}
	s.count(s.drops, cause(err, nil))
}

// nodeOf is c's target's counts in a cluster run, nil otherwise.
func (s *shard) nodeOf(c *benchConn) *nodeCounts {
	if s.nodes == nil {
		return nil
	}
	return &s.nodes[c.s.target]
}

// latOf is the histogram c's deliveries go to.
func (s *shard) latOf(c *benchConn) *shardedHist {
	if len(s.lat) == 1 {
		return s.lat[0]
	}
	return s.lat[c.s.target]
}

// latency is every delivery's latency so far, over all targets.
func (s *shard) latency() *Hist {
	h := s.lat[0].snapshot()
	for _, o := range s.lat[1:] {
		h.Merge(o.snapshot())
	}
	return h
}

func (s *shard) count(m map[string]int64, k string) {
	s.mu.Lock()
	m[k]++
	s.mu.Unlock()
}

// ready summarises the connect phase.
func (s *shard) ready() *readyInfo {
	keys := s.l.roomKeys()
	ri := &readyInfo{RoomSubs: make([]int, keys), Connected: s.connected.Load(), Failed: s.failed.Load()}
	if s.nodes != nil {
		ri.NodeRoomSubs = make([]int, keys*s.l.targets)
	}
	for _, c := range s.conns {
		if c.s.role == roleSub && !c.dead.Load() && c.ws != nil {
			ri.RoomSubs[c.s.room]++
			if ri.NodeRoomSubs != nil {
				ri.NodeRoomSubs[c.s.target*keys+c.s.room]++
			}
		}
	}
	s.mu.Lock()
	ri.Server, ri.Node, ri.HeartbeatMS = s.server, s.node, s.heartbeat.Milliseconds()
	for i := range s.nodes {
		ri.NodeNames = append(ri.NodeNames, s.nodes[i].node)
	}
	s.mu.Unlock()
	// Senders in stream order, for the pacer.
	for _, c := range s.conns {
		if c.s.stream < 0 || s.cfg.Scenario == ScenarioConnect || s.cfg.Scenario == ScenarioIdle {
			continue
		}
		snd := &sender{c: c, stream: c.s.stream, queued: -1}
		snd.written.Store(-1)
		snd.replied.Store(-1)
		if s.cfg.Protocol == ProtocolRtsync {
			if s.cfg.Scenario == ScenarioDirect {
				snd.cmd = fmt.Appendf(nil, `{"op":"send","to_uid":%q,"data":"`, s.l.uid(c.s.peer))
			} else {
				snd.cmd = fmt.Appendf(nil, `{"op":"pub","room":%q,"noecho":true,"data":"`, s.l.roomName(c.s.room))
			}
		}
		s.senders = append(s.senders, snd)
	}
	return ri
}

// senderIndex finds the sender of a stream (senders are in stream order).
func (s *shard) senderIndex(stream int) int {
	lo, hi := 0, len(s.senders)
	for lo < hi {
		m := (lo + hi) / 2
		if s.senders[m].stream < stream {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// receivers is how many deliveries one message of stream st owes.
func (s *shard) receivers(st int) int64 {
	if s.cfg.Scenario == ScenarioDirect {
		return 1
	}
	return int64(s.roomSubs[s.l.streamRoom(st)])
}

// pace publishes every stream of the shard on schedule: stream s's
// message n at t0 + intended(s, n), for as long as the warm-up and the
// measuring window last. All messages due by the time it wakes go out
// together, one frame per sender (the rtsync protocol allows several
// commands per frame), so a late wake-up costs one write, not many.
func (s *shard) pace(ctx context.Context) {
	defer s.publishDone.Store(true)
	if len(s.senders) == 0 {
		return
	}
	end := time.Duration(s.cfg.Warmup + s.cfg.Duration)
	idx, n := 0, 0
	dirty := make([]*sender, 0, len(s.senders))
	for ctx.Err() == nil {
		snd := s.senders[idx]
		at := s.l.intended(snd.stream, n)
		if at >= end {
			return
		}
		if !sleepUntil(ctx, s.t0.Add(at)) {
			return
		}
		now := time.Now()
		horizon := now.Sub(s.t0)
		for batched := 0; batched < 65536; batched++ {
			snd := s.senders[idx]
			at := s.l.intended(snd.stream, n)
			if at > horizon || at >= end {
				break
			}
			s.queue(snd, n, s.t0.Add(at), &dirty)
			if idx++; idx == len(s.senders) {
				idx, n = 0, n+1
			}
		}
		for _, d := range dirty {
			s.flush(d, now)
		}
		dirty = dirty[:0]
	}
}

// queue adds message n of snd's stream to its pending frame.
func (s *shard) queue(snd *sender, n int, intended time.Time, dirty *[]*sender) {
	w := s.wins[snd.stream]
	inWindow := n >= w.lo && n < w.hi
	if snd.c.dead.Load() {
		if inWindow {
			snd.notSent.Add(1)
		}
		return
	}
	if s.cfg.Protocol == ProtocolRaw {
		snd.buf = appendMarker(snd.buf[:0], s.p.Run, snd.stream, n, intended.UnixNano(), s.cfg.Payload)
		if err := snd.c.ws.WriteMessage(websocket.TextMessage, snd.buf); err != nil {
			s.writeFailed(snd, err)
			if inWindow {
				snd.notSent.Add(1)
			}
			return
		}
		s.lag(time.Since(intended))
		if inWindow {
			snd.sent.Add(1)
		}
		return
	}
	if snd.due == 0 {
		snd.buf = snd.buf[:0]
		snd.firstDue = intended
		*dirty = append(*dirty, snd)
	} else {
		snd.buf = append(snd.buf, '\n')
	}
	snd.buf = append(snd.buf, snd.cmd...)
	snd.buf = appendMarker(snd.buf, s.p.Run, snd.stream, n, intended.UnixNano(), s.cfg.Payload)
	snd.buf = append(snd.buf, `","id":`...)
	snd.buf = strconv.AppendInt(snd.buf, int64(n), 10)
	snd.buf = append(snd.buf, '}')
	snd.due++
	snd.queued = n
	if inWindow {
		snd.sent.Add(1) // undone by flush if the write fails
	}
}

func (s *shard) flush(snd *sender, now time.Time) {
	defer func() { snd.due = 0 }()
	if err := snd.c.ws.WriteMessage(websocket.TextMessage, snd.buf); err != nil {
		s.writeFailed(snd, err)
		// Which of the batch were in the window is not worth tracking
		// exactly: a failed write means a dead publisher and an error.
		moved := min(int64(snd.due), snd.sent.Load())
		snd.sent.Add(-moved)
		snd.notSent.Add(moved)
		return
	}
	snd.written.Store(int64(snd.queued))
	s.lag(now.Sub(snd.firstDue))
}

func (s *shard) lag(d time.Duration) {
	for {
		old := s.publishLag.Load()
		if int64(d) <= old || s.publishLag.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

func (s *shard) writeFailed(snd *sender, err error) {
	if snd.c.dead.Swap(true) {
		return
	}
	s.count(s.errorCodes, "write_"+cause(err, nil))
}

// churn closes and reopens a share of the connections every tick of the
// measuring window (connect scenario).
func (s *shard) churn(ctx context.Context) {
	const tick = 100 * time.Millisecond
	perTick := s.cfg.Churn * float64(len(s.conns)) * tick.Seconds()
	var owed float64
	d := newDialer(netip.Addr{})
	t := time.NewTicker(tick)
	defer t.Stop()
	rng := rand.New(rand.NewPCG(uint64(s.p.Shard), 1))
	for time.Now().Before(s.windowTo) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		owed += perTick
		for ; owed >= 1; owed-- {
			i := rng.IntN(len(s.conns))
			c := s.conns[i]
			if c.dead.Load() || c.ws == nil {
				continue
			}
			s.closeConn(c)
			s.connected.Add(-1)
			if nc := s.nodeOf(c); nc != nil {
				nc.connected.Add(-1)
			}
			// A fresh benchConn: the old one's reader may still be on
			// its way out.
			fresh := &benchConn{s: c.s}
			s.sumMu.Lock()
			s.conns[i] = fresh
			s.sumMu.Unlock()
			if s.connect(ctx, fresh, d) {
				s.reconnects.Add(1)
			}
		}
	}
}

// closeAll closes every connection and waits for the readers.
func (s *shard) closeAll() {
	for _, c := range s.conns {
		if c.ws != nil {
			s.closeConn(c)
		}
	}
	stopPollers(s.pollers)
	s.readers.Wait()
}

func (s *shard) progress() *shardProgress {
	p := &shardProgress{
		Attempted:   s.attempted.Load(),
		Connected:   s.connected.Load(),
		Failed:      s.failed.Load(),
		Dropped:     s.dropped.Load(),
		PublishDone: s.publishDone.Load(),
		CPUSeconds:  procstat.CPUTime().Seconds(),
	}
	p.Delivered, _ = s.sums()
	if s.started.Load() {
		for _, snd := range s.senders {
			sent, rej := snd.sent.Load(), snd.rejected.Load()
			p.Published += sent
			p.PublishErrors += rej + snd.notSent.Load()
			if snd.c.dropped.Load() && s.cfg.Protocol == ProtocolRtsync {
				// Only what the server answered is surely owed (see
				// unconfirmed in merge.go); draining waits for no more.
				w := s.wins[snd.stream]
				sent = min(sent, max(min(snd.replied.Load()+1, int64(w.hi))-int64(w.lo), 0))
			}
			p.Owed += max(sent-rej, 0) * s.receivers(snd.stream)
		}
	}
	if p.Delivered > 0 {
		h := s.latency()
		p.P50, p.P99 = float64(h.Quantile(50))/1000, float64(h.Quantile(99))/1000
	}
	return p
}

// result gathers the shard's figures once every goroutine has stopped.
func (s *shard) result() *shardResult {
	keys := s.l.roomKeys()
	r := &shardResult{
		Attempted:     s.attempted.Load(),
		Connected:     s.connected.Load(),
		Failed:        s.failed.Load(),
		Dropped:       s.dropped.Load(),
		Reconnects:    s.reconnects.Load(),
		Handshake:     s.handshake.snapshot(),
		Latency:       s.latency(),
		RoomDelivered: make([]int64, keys),
		RoomDup:       make([]int64, keys),
		RoomOOO:       make([]int64, keys),
		PublishLagMax: float64(s.publishLag.Load()) / 1e6,
	}
	_, r.Bytes = s.sums()
	s.mu.Lock()
	r.Failures, r.Drops, r.ErrorCodes = s.failures, s.drops, s.errorCodes
	r.FirstDial, r.LastReady = s.firstDial, s.lastReady
	r.Server, r.Node = s.server, s.node
	s.mu.Unlock()
	s.measureMu.Lock()
	r.CPUSeconds, r.SchedP99 = s.cpuWindow, s.schedP99
	s.measureMu.Unlock()
	for i := range s.nodes {
		nc := &s.nodes[i]
		r.Nodes = append(r.Nodes, shardNode{
			Attempted: nc.attempted.Load(), Connected: nc.connected.Load(), Failed: nc.failed.Load(), Dropped: nc.dropped.Load(),
			RoomDelivered: make([]int64, keys), Latency: s.lat[i].snapshot(),
		})
	}
	for _, c := range s.conns {
		if c.seen == nil {
			continue
		}
		k := c.s.room
		r.RoomDelivered[k] += c.delivered.Load()
		r.RoomDup[k] += c.dup
		r.RoomOOO[k] += c.ooo
		if r.Nodes != nil {
			n := &r.Nodes[c.s.target]
			n.RoomDelivered[k] += c.delivered.Load()
			n.Dup += c.dup
			n.OOO += c.ooo
			n.Cross += c.cross
		}
	}
	for _, snd := range s.senders {
		t := streamTally{Stream: snd.stream, Sent: snd.sent.Load(), Rejected: snd.rejected.Load(), NotSent: snd.notSent.Load()}
		if snd.c.dropped.Load() && s.cfg.Protocol == ProtocolRtsync {
			t.Dropped, t.Replied, t.Written = true, snd.replied.Load(), snd.written.Load()
		}
		r.Streams = append(r.Streams, t)
	}
	for st := range s.wins {
		if len(s.wins[st].fan) == 0 {
			continue
		}
		any := false
		for i := range s.wins[st].fan {
			if s.wins[st].fan[i].count.Load() > 0 {
				any = true
				break
			}
		}
		if any {
			r.Fan = append(r.Fan, fanBlob{Stream: st, Packed: packFan(s.wins[st].fan)})
		}
	}
	return r
}

var errNoConnections = errors.New("no connection succeeded")

// sums adds up the connections' delivery and byte counters.
func (s *shard) sums() (delivered, bytes int64) {
	s.sumMu.Lock()
	defer s.sumMu.Unlock()
	for _, c := range s.conns {
		delivered += c.delivered.Load()
		bytes += c.bytes.Load()
	}
	return delivered, bytes
}
