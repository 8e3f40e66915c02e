package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// Options are how Run reports and what it may start; none of them
// changes what is measured.
type Options struct {
	// Progress, when set, receives a snapshot a few times a second from
	// Run's goroutine; it must not block for long.
	Progress func(Progress)
	// Worker returns the command that runs one worker process (this
	// binary in worker mode, which calls RunWorker). With Config.Procs > 1
	// it is required.
	Worker func(ctx context.Context) *exec.Cmd
	// ServerRSS reads the server's resident memory in KB, for the idle
	// scenario; ok is false when it cannot.
	ServerRSS func(ctx context.Context) (kb int64, source string, ok bool)
	// Tool names the bench and its version in the result.
	Tool string
	// Child records that the bench started the server itself.
	Child bool
}

// startDelay leaves the shards time to receive the start command before
// the warm-up's first message is due.
const startDelay = 200 * time.Millisecond

// Run carries out one run and returns what it measured. It returns an
// error only when nothing could be measured (bad config, no connection,
// a worker that failed); a run that hits its --timeout or is cancelled
// returns what it has, with a warning.
func Run(ctx context.Context, cfg Config, opt Options) (*Result, error) {
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	if cfg.Procs > 1 && opt.Worker == nil {
		return nil, errors.New("this run needs worker processes, and no way to start them was given")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.Timeout))
	defer cancel()
	run := runID()
	l := newLayout(&cfg, run)
	res := &Result{
		Schema:  Schema,
		Tool:    opt.Tool,
		Started: time.Now(),
		Config:  cfg,
		Machine: machine(),
		Target:  Target{URLs: cfg.URLs, Protocol: cfg.Protocol, Child: opt.Child},
	}
	c := &coord{cfg: &cfg, l: l, opt: opt, res: res, start: time.Now()}

	var rssBefore int64
	rssSource := ""
	if cfg.Scenario == ScenarioIdle && opt.ServerRSS != nil {
		if kb, src, ok := opt.ServerRSS(ctx); ok {
			rssBefore, rssSource = kb, src
		}
	}

	// Shards, in this process or in workers.
	rampStart := time.Now().Add(100 * time.Millisecond)
	shardCtx, stopShards := context.WithCancel(context.Background())
	defer stopShards()
	for i := range cfg.Procs {
		p := &plan{Config: cfg, Token: cfg.Token, Run: run, Shard: i, Shards: cfg.Procs, RampStart: rampStart}
		if cfg.Procs == 1 {
			c.shards = append(c.shards, startLocal(shardCtx, p))
			continue
		}
		h, err := startProc(opt.Worker(shardCtx), p)
		if err != nil {
			c.abort()
			return nil, err
		}
		c.shards = append(c.shards, h)
	}
	c.states = make([]shardState, len(c.shards))
	c.fanIn()

	// Connecting.
	c.phase(PhaseConnecting)
	if err := c.waitReady(ctx); err != nil {
		c.abort()
		return nil, err
	}
	readyAt := time.Now()
	connected := int64(0)
	for _, st := range c.states {
		connected += st.ready.Connected
	}
	if connected == 0 {
		r, _ := c.finish()
		return r, fmt.Errorf("%w: %s", errNoConnections, failureSummary(r.Connect.Failures))
	}
	roomSubs := make([]int, l.roomKeys())
	if cfg.Cluster {
		c.nodeRoomSubs = make([]int, l.roomKeys()*l.targets)
		c.nodeNames = make([]string, l.targets)
	}
	var heartbeat time.Duration
	for _, st := range c.states {
		heartbeat = max(heartbeat, time.Duration(st.ready.HeartbeatMS)*time.Millisecond)
		for k, n := range st.ready.RoomSubs {
			roomSubs[k] += n
		}
		for i, n := range st.ready.NodeRoomSubs {
			if i < len(c.nodeRoomSubs) {
				c.nodeRoomSubs[i] += n
			}
		}
		for i, n := range st.ready.NodeNames {
			if i < len(c.nodeNames) && c.nodeNames[i] == "" {
				c.nodeNames[i] = n
			}
		}
		if res.Target.Server == "" {
			res.Target.Server = st.ready.Server
		}
		if st.ready.Node != "" && !contains(res.Target.Nodes, st.ready.Node) {
			res.Target.Nodes = append(res.Target.Nodes, st.ready.Node)
		}
	}
	c.roomSubs = roomSubs

	// Warm-up, measuring, draining.
	t0 := time.Now().Add(startDelay)
	for _, h := range c.shards {
		_ = h.send(ctrl{Cmd: cmdStart, T0: t0, RoomSubs: roomSubs})
	}
	windowFrom := t0.Add(time.Duration(cfg.Warmup))
	windowTo := windowFrom.Add(time.Duration(cfg.Duration))
	c.phaseAt(PhaseWarmup, t0)
	c.watch(ctx, windowFrom)
	c.phaseAt(PhaseMeasuring, windowFrom)
	c.watch(ctx, windowTo)
	// Idle: the server's memory once the connections were held for the
	// whole window, so it includes what its heartbeats cost them.
	var rssAfter int64
	if cfg.Scenario == ScenarioIdle && opt.ServerRSS != nil && rssSource != "" && ctx.Err() == nil {
		if kb, _, ok := opt.ServerRSS(ctx); ok {
			rssAfter = kb
		}
		if held := time.Since(readyAt); heartbeat > 0 && held < heartbeat {
			c.warn("the connections were held %.0f s, less than the server's %.0f s heartbeat, so the memory figure is from before their first heartbeat and may be low; hold them longer (--duration %.0fs)",
				held.Seconds(), heartbeat.Seconds(), (heartbeat + time.Duration(cfg.Duration)).Seconds())
		}
	}
	if cfg.Scenario == ScenarioBroadcast || cfg.Scenario == ScenarioDirect {
		c.phase(PhaseDraining)
		drainTo := time.Now().Add(time.Duration(cfg.Drain))
		c.drain(ctx, drainTo)
	}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.warn("the run hit --timeout %s before it finished; the figures cover only what was done", time.Duration(cfg.Timeout))
		} else {
			c.warn("the run was interrupted; the figures cover only what was done")
		}
	}
	r, err := c.finish()
	if err != nil {
		return r, err
	}
	if rssSource != "" && rssAfter > 0 {
		conns := r.Connect.Connected
		r.Server = &ServerStats{Source: rssSource, RSSBeforeKB: rssBefore, RSSAfterKB: rssAfter, Conns: conns}
		if conns > 0 {
			r.Server.KBPerConn = float64(rssAfter-rssBefore) / float64(conns)
		}
	}
	return r, nil
}

// shardState is the coordinator's latest knowledge of one shard.
type shardState struct {
	ready    *readyInfo
	progress shardProgress
	result   *shardResult
	err      string
	ended    bool
}

// coord is the coordinator's state during Run.
type coord struct {
	cfg      *Config
	l        *layout
	opt      Options
	res      *Result
	start    time.Time
	shards   []shardHandle
	states   []shardState
	in       chan indexed
	roomSubs []int
	// nodeRoomSubs and nodeNames are the shards' readyInfo fields of the
	// same names, summed (cluster).
	nodeRoomSubs []int
	nodeNames    []string
	phaseNow     string
	phaseAt0     time.Time
	warnings     []string
	rate         rateMeter
}

type indexed struct {
	i   int
	m   shardMsg
	end bool
}

// fanIn merges every shard's messages into one channel.
func (c *coord) fanIn() {
	c.in = make(chan indexed, 64*len(c.shards))
	for i, h := range c.shards {
		go func() {
			for m := range h.msgs() {
				c.in <- indexed{i: i, m: m}
			}
			c.in <- indexed{i: i, end: true}
		}()
	}
}

func (c *coord) apply(x indexed) {
	st := &c.states[x.i]
	if x.end {
		st.ended = true
		return
	}
	switch x.m.Type {
	case msgReady:
		st.ready = x.m.Ready
	case msgProgress:
		st.progress = *x.m.Progress
	case msgResult:
		st.result = x.m.Result
	case msgError:
		st.err = x.m.Error
	}
}

// step applies messages until the deadline or the next progress tick.
func (c *coord) step(ctx context.Context, until time.Time) {
	tick := time.NewTimer(min(max(time.Until(until), 0), 250*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case x := <-c.in:
			c.apply(x)
		case <-tick.C:
			c.report()
			return
		case <-ctx.Done():
			return
		}
	}
}

func (c *coord) waitReady(ctx context.Context) error {
	for {
		all := true
		for _, st := range c.states {
			if st.err != "" {
				return fmt.Errorf("bench worker failed: %s", st.err)
			}
			if st.ended && st.ready == nil {
				return errors.New("a bench worker ended before it connected; see its error above")
			}
			if st.ready == nil {
				all = false
			}
		}
		if all {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connecting took longer than --timeout %s", time.Duration(c.cfg.Timeout))
		}
		c.step(ctx, time.Now().Add(250*time.Millisecond))
	}
}

// watch reports progress until t.
func (c *coord) watch(ctx context.Context, t time.Time) {
	for time.Now().Before(t) && ctx.Err() == nil {
		c.step(ctx, t)
	}
}

// drain waits until every delivery the sent messages owe has arrived, or
// the drain time is up.
func (c *coord) drain(ctx context.Context, until time.Time) {
	for time.Now().Before(until) && ctx.Err() == nil {
		var delivered, owed int64
		done := true
		for _, st := range c.states {
			delivered += st.progress.Delivered
			owed += st.progress.Owed
			done = done && st.progress.PublishDone
		}
		if done && delivered >= owed {
			return
		}
		c.step(ctx, until)
	}
}

// finish stops the shards and merges their results.
func (c *coord) finish() (*Result, error) {
	c.phase(PhaseDone)
	for _, h := range c.shards {
		_ = h.send(ctrl{Cmd: cmdStop})
	}
	ended := 0
	for _, st := range c.states {
		if st.ended {
			ended++
		}
	}
	for ended < len(c.states) {
		x := <-c.in
		c.apply(x)
		if x.end {
			ended++
		}
	}
	var errs []string
	for i, h := range c.shards {
		if err := h.wait(); err != nil {
			errs = append(errs, err.Error())
		}
		if c.states[i].err != "" {
			errs = append(errs, c.states[i].err)
		}
	}
	r := c.merge()
	if len(errs) > 0 {
		return r, fmt.Errorf("bench worker: %s", strings.Join(errs, "; "))
	}
	return r, nil
}

func (c *coord) abort() {
	for _, h := range c.shards {
		_ = h.send(ctrl{Cmd: cmdStop})
	}
	if c.in == nil {
		for _, h := range c.shards {
			for range h.msgs() {
			}
			_ = h.wait()
		}
		return
	}
	ended := 0
	for _, st := range c.states {
		if st.ended {
			ended++
		}
	}
	for ended < len(c.shards) {
		if x := <-c.in; x.end {
			ended++
		}
	}
	for _, h := range c.shards {
		_ = h.wait()
	}
}

func (c *coord) phase(name string) { c.phaseAt(name, time.Now()) }

func (c *coord) phaseAt(name string, at time.Time) {
	if c.phaseNow != "" {
		n := len(c.res.Phases) - 1
		c.res.Phases[n].Seconds = at.Sub(c.res.Phases[n].Start).Seconds()
	}
	c.phaseNow, c.phaseAt0 = name, at
	if name != PhaseDone {
		c.res.Phases = append(c.res.Phases, Phase{Name: name, Start: at})
	}
	c.report()
}

func (c *coord) warn(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// report sends the current snapshot to Options.Progress.
func (c *coord) report() {
	if c.opt.Progress == nil {
		return
	}
	p := Progress{Phase: c.phaseNow, Phases: c.phaseNames(), Elapsed: time.Since(c.start), Conns: c.l.total}
	var p50, p99 float64
	var weight int64
	for _, st := range c.states {
		pr := st.progress
		p.Connected += pr.Connected
		p.Failed += pr.Failed
		p.Delivered += pr.Delivered
		p.Published += pr.Published
		p.Errors += pr.PublishErrors + pr.Dropped
		p.CPU += pr.CPUSeconds
		// Percentiles from shards cannot be merged exactly while running:
		// p50 is weighted, p99 the worst shard's. The final report merges
		// the histograms exactly.
		p50 += pr.P50 * float64(pr.Delivered)
		weight += pr.Delivered
		p99 = max(p99, pr.P99)
	}
	if weight > 0 {
		p.P50, p.P99 = p50/float64(weight), p99
	}
	p.DeliveriesPerSec, p.CPU = c.rate.update(p.Delivered, p.CPU)
	switch c.phaseNow {
	case PhaseConnecting:
		var attempted int64
		for _, st := range c.states {
			attempted += st.progress.Attempted
		}
		p.PhaseDone = float64(attempted) / float64(max(c.l.total, 1))
	case PhaseWarmup:
		p.PhaseDone = frac(c.phaseAt0, c.phaseAt0.Add(time.Duration(c.cfg.Warmup)))
	case PhaseMeasuring:
		p.PhaseDone = frac(c.phaseAt0, c.phaseAt0.Add(time.Duration(c.cfg.Duration)))
	case PhaseDraining:
		var owed int64
		for _, st := range c.states {
			owed += st.progress.Owed
		}
		if owed > 0 {
			p.PhaseDone = float64(p.Delivered) / float64(owed)
		}
	case PhaseDone:
		p.PhaseDone = 1
	}
	p.PhaseDone = min(max(p.PhaseDone, 0), 1)
	p.Warnings = append([]string(nil), c.warnings...)
	c.opt.Progress(p)
}

func (c *coord) phaseNames() []string {
	names := []string{PhaseConnecting, PhaseWarmup, PhaseMeasuring}
	if c.cfg.Scenario == ScenarioBroadcast || c.cfg.Scenario == ScenarioDirect {
		names = append(names, PhaseDraining)
	}
	return names
}

// rateMeter turns running totals into per-second rates.
type rateMeter struct {
	at        time.Time
	delivered int64
	cpu       float64
	rate, pct float64
}

func (m *rateMeter) update(delivered int64, cpu float64) (perSec, cpuPct float64) {
	now := time.Now()
	if !m.at.IsZero() {
		if dt := now.Sub(m.at).Seconds(); dt >= 0.2 {
			m.rate = float64(delivered-m.delivered) / dt
			m.pct = 100 * (cpu - m.cpu) / dt
		} else {
			return m.rate, m.pct
		}
	}
	m.at, m.delivered, m.cpu = now, delivered, cpu
	return m.rate, m.pct
}

func frac(from, to time.Time) float64 {
	if !to.After(from) {
		return 1
	}
	return float64(time.Since(from)) / float64(to.Sub(from))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// failureSummary names the causes of failed connects, most first.
func failureSummary(m map[string]int64) string {
	if len(m) == 0 {
		return "no failures recorded"
	}
	type kv struct {
		k string
		v int64
	}
	var list []kv
	for k, v := range m {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].v > list[j].v || list[i].v == list[j].v && list[i].k < list[j].k })
	var parts []string
	for _, e := range list {
		parts = append(parts, fmt.Sprintf("%s: %d", e.k, e.v))
	}
	return strings.Join(parts, ", ")
}

func runID() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		binary.BigEndian.PutUint32(b[:], uint32(time.Now().UnixNano()))
	}
	return hex.EncodeToString(b[:])
}
