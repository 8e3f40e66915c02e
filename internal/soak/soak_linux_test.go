package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
)

// Timing of the driver.
const (
	// handshakeTimeout bounds one connect (dial, upgrade, welcome) and
	// requestTimeout one request (join, publish, history).
	handshakeTimeout = 15 * time.Second
	requestTimeout   = 15 * time.Second
	// connectAttempts is how often a subscriber tries to connect before
	// it counts as a connect failure; retryPause is the pause between.
	connectAttempts = 3
	retryPause      = time.Second
	// dialers is how many connects run at once during the ramp.
	dialers = 32
	// closers is how many clients close at once at the end.
	closers = 64
	// settlePoll is how often the server is read while waiting for its
	// goroutines and files to come back.
	settlePoll = time.Second
	// slack is added to the run's bound for building, closing and
	// stopping.
	slack = 5 * time.Minute
)

// TestSoak loads the real binary with churning, recovering subscribers
// while publishers publish with acknowledgements, and checks that memory
// plateaus, goroutines and open files come back, and that no
// acknowledged message is lost. RTSYNC_SOAK=1 runs it; see docs/soak.md.
func TestSoak(t *testing.T) {
	if os.Getenv("RTSYNC_SOAK") != "1" {
		t.Skip("the soak runs with RTSYNC_SOAK=1 (make soak); docs/soak.md has the knobs")
	}
	cfg, err := configFromEnv(os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	bound := cfg.Ramp + cfg.Steady + cfg.Drain + cfg.Settle + slack
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()

	bin := buildBinary(t)
	srv := startServer(t, bin, cfg)
	r := newRun(t, cfg, srv)
	figs, problems := r.run(ctx)

	var table strings.Builder
	_ = figs.WriteTable(&table)
	fmt.Fprintf(os.Stdout, "\n--- soak figures ---\n%s\n", table.String())
	if cfg.Out != "" {
		r.writeOut(table.String())
	}
	for _, p := range problems {
		t.Error(p)
	}
}

type kind int

const (
	// stayer: connected for the whole run; owed every message.
	stayer kind = iota
	// recoverer: churned, re-joins with since; owed every message.
	recoverer
	// fresh: churned, re-joins without since; owed nothing in particular.
	fresh
)

// subscriber is one of the churning or staying connections.
type subscriber struct {
	room  int
	kind  kind
	track *Sub
	// busy is set while a churn holds the subscriber.
	busy atomic.Bool

	mu sync.Mutex
	c  *client.Client
}

func (s *subscriber) client() *client.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// close closes the subscriber's client, if any, and waits for it.
func (s *subscriber) close() bool {
	s.mu.Lock()
	c := s.c
	s.c = nil
	s.mu.Unlock()
	if c == nil {
		return false
	}
	_ = c.Close()
	return true
}

// run is one soak run.
type run struct {
	t      *testing.T
	cfg    config
	srv    *serverProc
	led    *Ledger
	start  time.Time
	dialer *websocket.Dialer

	subs []*subscriber
	pubs []*client.Client

	phase atomic.Value // string

	mu         sync.Mutex
	samples    []Sample
	pubErrs    map[string]int64
	unexpected map[string]int64

	published, churned, recoveries, freshJoins, replayed atomic.Int64
	incomplete, connectFailures, churnSkipped            atomic.Int64
	sampleErrors                                         atomic.Int64
}

func newRun(t *testing.T, cfg config, srv *serverProc) *run {
	r := &run{
		t:          t,
		cfg:        cfg,
		srv:        srv,
		led:        NewLedger(cfg.Rooms),
		pubErrs:    map[string]int64{},
		unexpected: map[string]int64{},
		// Thousands of clients: small buffers, written through a pool.
		dialer: &websocket.Dialer{
			NetDialContext:   (&net.Dialer{Timeout: handshakeTimeout}).DialContext,
			HandshakeTimeout: handshakeTimeout,
			ReadBufferSize:   2048,
			WriteBufferSize:  1024,
			WriteBufferPool:  &sync.Pool{},
		},
	}
	r.phase.Store(PhaseBaseline)
	for i := range cfg.Conns {
		room := i % cfg.Rooms
		k := stayer
		switch (i / cfg.Rooms) % 4 {
		case 1, 2:
			k = recoverer
		case 3:
			k = fresh
		}
		r.subs = append(r.subs, &subscriber{room: room, kind: k, track: r.led.NewSub(room, k != fresh)})
	}
	return r
}

func roomName(i int) string { return fmt.Sprintf("soak-%03d", i) }

// run drives the phases and returns the figures and every check that
// failed.
func (r *run) run(ctx context.Context) (Figures, []string) {
	cfg := r.cfg
	f := Figures{Conns: cfg.Conns, Rooms: cfg.Rooms, Publishers: cfg.publishers(), Ramp: cfg.Ramp, Steady: cfg.Steady,
		Rate: cfg.Rate, Churn: cfg.Churn, LoadBefore: loadAvg()}
	var problems []string
	fail := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	r.start = time.Now()

	base, err := r.baseline(ctx)
	if err != nil {
		return f, []string{fmt.Sprintf("baseline: %v", err)}
	}
	r.t.Logf("baseline: %d goroutines, %d open files, RSS %s", base.Goroutines, base.FDs, mib(base.RSS))
	f.Settled.BaseGoroutines, f.Settled.BaseFDs = base.Goroutines, base.FDs
	startStats := r.serverStats(ctx)

	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	sampling.Go(func() { r.sampleLoop(sampleCtx) })

	// Ramp: publishers first, so every room exists with its publisher,
	// then the subscribers on a schedule.
	r.phase.Store(PhaseRamp)
	if err := r.connectPublishers(ctx); err != nil {
		stopSampling()
		sampling.Wait()
		return f, []string{fmt.Sprintf("publishers: %v", err)}
	}
	r.ramp(ctx)
	r.t.Logf("ramp: %d subscribers connected in %s, %d failed", r.connected(), time.Since(r.start).Round(time.Second), r.connectFailures.Load())
	if n := r.connectFailures.Load(); n > 0 {
		fail("%d subscribers could not connect during the ramp", n)
	}

	// Steady: publish, churn.
	r.phase.Store(PhaseSteady)
	stop := make(chan struct{})
	var load sync.WaitGroup
	for p, pc := range r.pubs {
		load.Go(func() { r.publish(ctx, p, pc, stop) })
	}
	load.Go(func() { r.churn(ctx, stop) })
	select {
	case <-time.After(cfg.Steady):
	case <-ctx.Done():
	}
	close(stop)
	load.Wait()
	r.t.Logf("steady phase over: %d published, %d churned", r.published.Load(), r.churned.Load())

	// Drain: wait until every subscriber owed the last acknowledged seq
	// of its room has it.
	r.phase.Store(PhaseDrain)
	select {
	case <-r.led.Drain():
		f.Drained = true
	case <-time.After(cfg.Drain):
		fail("after %s, %d subscribers still lacked their room's last acknowledged message", cfg.Drain, r.led.Waiting())
	case <-ctx.Done():
	}
	f.HistoryChecked, f.HistoryMissing = r.checkHistory(ctx)
	endStats := r.serverStats(ctx)

	// Close every client; then the server must come back to its baseline.
	r.phase.Store(PhaseClose)
	r.closeAll()
	closed := time.Now()
	stopSampling()
	sampling.Wait()
	r.phase.Store(PhaseSettle)
	end, after := r.settle(ctx, base)
	if after > 0 {
		f.Settled.After = after
	}
	f.Settled.EndGoroutines, f.Settled.EndFDs, f.Settled.EndConns = end.Goroutines, end.FDs, end.Conns
	r.t.Logf("settle: %d goroutines, %d open files, %d connections %s after the last close", end.Goroutines, end.FDs, end.Conns, time.Since(closed).Round(100*time.Millisecond))
	if err := f.Settled.Check(cfg.GoroutineSlack, cfg.FDSlack); err != nil {
		fail("after every client closed: %v", err)
		r.saveGoroutines(ctx)
	}
	if err := r.srv.stop(); err != nil {
		fail("rtsync serve did not exit cleanly on SIGTERM: %v\n%s", err, r.srv.log.String())
	}
	f.LoadAfter = loadAvg()

	// Figures and the remaining verdicts.
	r.mu.Lock()
	samples := append([]Sample(nil), r.samples...)
	f.PublishErrors, f.Unexpected = r.pubErrs, r.unexpected
	r.mu.Unlock()
	for _, s := range samples {
		f.Settled.PeakGoroutines = max(f.Settled.PeakGoroutines, s.Goroutines)
		f.Settled.PeakFDs = max(f.Settled.PeakFDs, s.FDs)
	}
	rss, err := CheckRSS(samples, cfg.RSSTolerance)
	f.RSS = rss
	if err != nil {
		fail("memory: %v", err)
	}
	f.Tally = r.led.Tally()
	f.Published = r.published.Load()
	f.Churned, f.Recoveries, f.Fresh, f.Replayed = r.churned.Load(), r.recoveries.Load(), r.freshJoins.Load(), r.replayed.Load()
	f.RecoveryIncomplete, f.ConnectFailures = r.incomplete.Load(), r.connectFailures.Load()
	f.ServerCPU = time.Duration((endStats.CPUSeconds - startStats.CPUSeconds) * float64(time.Second))
	f.SlowConsumers, f.Dropped = endStats.SlowConsumers-startStats.SlowConsumers, endStats.Dropped-startStats.Dropped
	t := f.Tally
	if t.Acked == 0 {
		fail("no publish was acknowledged")
	}
	if t.Lost > 0 {
		fail("%d acknowledged deliveries lost, e.g. %s", t.Lost, strings.Join(t.Examples, "; "))
	}
	if t.Duplicates+t.OutOfOrder+t.Foreign > 0 {
		fail("%d duplicates, %d out of order, %d of another epoch", t.Duplicates, t.OutOfOrder, t.Foreign)
	}
	if f.RecoveryIncomplete > 0 {
		fail("%d recoveries were not complete (the history should hold every message of this run)", f.RecoveryIncomplete)
	}
	if f.HistoryMissing > 0 {
		fail("%d acknowledged messages missing from their room's history", f.HistoryMissing)
	}
	if n := r.sampleErrors.Load(); n > 0 {
		fail("%d samples of the server failed (see the log)", n)
	}
	return f, problems
}

// baseline reads the idle server until two readings in a row agree on
// goroutines and open files (at most ten, half a second apart).
func (r *run) baseline(ctx context.Context) (Sample, error) {
	var prev Sample
	for i := range 10 {
		s, _, err := r.srv.sample(ctx)
		if err != nil {
			return s, err
		}
		s.Phase = PhaseBaseline
		s.At = time.Since(r.start)
		r.record(s)
		if i > 0 && s.Goroutines == prev.Goroutines && s.FDs == prev.FDs {
			return s, nil
		}
		prev = s
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return s, ctx.Err()
		}
	}
	return prev, nil
}

func (r *run) record(s Sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

// sampleLoop reads the server every interval until ctx ends.
func (r *run) sampleLoop(ctx context.Context) {
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		phase := r.phase.Load().(string)
		s, _, err := r.srv.sample(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.sampleErrors.Add(1)
				r.t.Logf("sample: %v", err)
			}
			continue
		}
		s.Phase, s.At = phase, time.Since(r.start)
		r.record(s)
	}
}

func (r *run) serverStats(ctx context.Context) client.ServerStats {
	_, st, err := r.srv.sample(ctx)
	if err != nil {
		r.t.Logf("server stats: %v", err)
	}
	return st
}

// connectPublishers connects one publisher per roomsPerPublisher rooms
// and joins it to them.
func (r *run) connectPublishers(ctx context.Context) error {
	for p := range r.cfg.publishers() {
		c, err := client.Dial(ctx, r.srv.wsURL(), r.options(func(e client.Event) { r.onConnEvent(e) }))
		if err != nil {
			return err
		}
		r.pubs = append(r.pubs, c)
		for room := p; room < r.cfg.Rooms; room += r.cfg.publishers() {
			if _, err := c.Join(ctx, roomName(room)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *run) options(onEvent func(client.Event)) client.Options {
	return client.Options{
		Dialer:           r.dialer,
		HandshakeTimeout: handshakeTimeout,
		RequestTimeout:   requestTimeout,
		OnEvent:          onEvent,
	}
}

// onConnEvent counts connections the server ended: the run closes its
// clients itself, and a client that closes hears no event of it.
func (r *run) onConnEvent(e client.Event) {
	if e.Kind == client.KindDisconnected {
		r.mu.Lock()
		r.unexpected["close_"+strconv.Itoa(e.Disconnected.Code)]++
		r.mu.Unlock()
	}
}

// onEvent handles a subscriber's events on its client's reader goroutine.
func (r *run) onEvent(s *subscriber) func(client.Event) {
	return func(e client.Event) {
		switch e.Kind {
		case client.KindMessage:
			s.track.Message(e.Wire.Seq, e.Wire.Epoch)
		case client.KindRecovered:
			// The client's own recovery after the server ended a
			// connection.
			if rec := e.Recovered; rec.Err != nil || !rec.Recovered {
				r.incomplete.Add(1)
			}
		default:
			r.onConnEvent(e)
		}
	}
}

// ramp connects every subscriber, connection i at i/N of the ramp.
func (r *run) ramp(ctx context.Context) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range dialers {
		wg.Go(func() {
			for i := range jobs {
				r.connectSub(ctx, r.subs[i], false)
			}
		})
	}
	start := time.Now()
	step := r.cfg.Ramp / time.Duration(len(r.subs))
	timer := time.NewTimer(0)
	defer timer.Stop()
feed:
	for i := range r.subs {
		timer.Reset(time.Until(start.Add(time.Duration(i) * step)))
		select {
		case <-timer.C:
		case <-ctx.Done():
			break feed
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
}

func (r *run) connected() int {
	n := 0
	for _, s := range r.subs {
		if s.client() != nil {
			n++
		}
	}
	return n
}

// connectSub connects s and joins its room: a recoverer coming back
// re-joins with since its last message, a fresh one without.
func (r *run) connectSub(ctx context.Context, s *subscriber, again bool) {
	var err error
	for attempt := range connectAttempts {
		if attempt > 0 {
			select {
			case <-time.After(retryPause):
			case <-ctx.Done():
				return
			}
		}
		if err = r.joinSub(ctx, s, again); err == nil {
			return
		}
	}
	r.connectFailures.Add(1)
	r.t.Logf("subscriber of %s: %v", roomName(s.room), err)
}

func (r *run) joinSub(ctx context.Context, s *subscriber, again bool) error {
	c, err := client.Dial(ctx, r.srv.wsURL(), r.options(r.onEvent(s)))
	if err != nil {
		return err
	}
	var opts []client.JoinOption
	resume := again && s.kind == recoverer
	if resume {
		last, epoch := s.track.Position()
		opts = append(opts, client.Since(last, epoch))
	}
	res, err := c.Join(ctx, roomName(s.room), opts...)
	if err != nil {
		_ = c.Close()
		return err
	}
	s.track.Joined(res.Seq, res.Epoch)
	switch {
	case resume:
		r.recoveries.Add(1)
		r.replayed.Add(int64(res.Replayed))
		if res.Recovered == nil || !*res.Recovered {
			r.incomplete.Add(1)
		}
	case again:
		r.freshJoins.Add(1)
	}
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
	return nil
}

// publish publishes to the publisher's rooms in turn at its share of the
// rate until stop, recording every acknowledged seq.
func (r *run) publish(ctx context.Context, p int, c *client.Client, stop <-chan struct{}) {
	n := r.cfg.publishers()
	var rooms []int
	for room := p; room < r.cfg.Rooms; room += n {
		rooms = append(rooms, room)
	}
	payload := payloadOf(r.cfg.Payload)
	interval := time.Duration(float64(time.Second) * float64(n) / r.cfg.Rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		room := rooms[k%len(rooms)]
		r.published.Add(1)
		seq, err := c.Publish(ctx, roomName(room), payload, client.NoEcho())
		if err != nil {
			r.mu.Lock()
			r.pubErrs[errorCause(err)]++
			r.mu.Unlock()
			continue
		}
		r.led.Acked(room, seq)
	}
}

// payloadOf is a JSON object of about size bytes.
func payloadOf(size int) json.RawMessage {
	return json.RawMessage(`{"soak":"` + strings.Repeat("x", max(size-12, 1)) + `"}`)
}

func errorCause(err error) string {
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe):
		return pe.Code
	case errors.Is(err, client.ErrConnLost):
		return "conn_lost"
	case errors.Is(err, client.ErrNotConnected):
		return "not_connected"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "other"
}

// churn closes and reopens subscribers that are not stayers, at the
// configured share per second, until stop. Each stays away for a random
// time up to Downtime, so messages are published while it is gone.
func (r *run) churn(ctx context.Context, stop <-chan struct{}) {
	perSec := r.cfg.Churn * float64(len(r.subs))
	if perSec <= 0 {
		return
	}
	var pool []*subscriber
	for _, s := range r.subs {
		if s.kind != stayer {
			pool = append(pool, s)
		}
	}
	// Enough in flight for the rate, with the downtime and a slow
	// connect; past it a tick is skipped (and counted) rather than
	// piling up work on a loaded machine.
	maxInflight := max(int(perSec*(r.cfg.Downtime.Seconds()+5)), 8)
	var inflight atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(time.Duration(float64(time.Second) / perSec))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if inflight.Load() >= int64(maxInflight) {
			r.churnSkipped.Add(1)
			continue
		}
		for range 8 {
			s := pool[rand.IntN(len(pool))]
			if s.client() == nil || !s.busy.CompareAndSwap(false, true) {
				continue
			}
			inflight.Add(1)
			wg.Go(func() {
				defer inflight.Add(-1)
				defer s.busy.Store(false)
				r.churnOne(ctx, s)
			})
			break
		}
	}
}

func (r *run) churnOne(ctx context.Context, s *subscriber) {
	if !s.close() {
		return
	}
	r.churned.Add(1)
	away := time.Duration(rand.Int64N(int64(r.cfg.Downtime) + 1))
	select {
	case <-time.After(away):
	case <-ctx.Done():
		return
	}
	r.connectSub(ctx, s, true)
}

// checkHistory asks each room's history for the acknowledged seqs: every
// one the history should still hold must be there. It returns how many
// were looked up and how many were missing.
func (r *run) checkHistory(ctx context.Context) (checked, missing int64) {
	c, err := client.Dial(ctx, r.srv.wsURL(), r.options(func(client.Event) {}))
	if err != nil {
		r.t.Logf("history check: %v", err)
		return 0, -1
	}
	defer c.Close()
	zero := uint64(0)
	for room := range r.cfg.Rooms {
		name := roomName(room)
		acked := r.led.AckedSeqs(room)
		if _, err := c.Join(ctx, name); err != nil {
			r.t.Logf("history check: %v", err)
			return checked, missing + int64(len(acked))
		}
		h, err := c.History(ctx, name, client.HistoryOptions{Since: &zero, Limit: r.cfg.History})
		if err != nil {
			r.t.Logf("history check: %v", err)
			return checked, missing + int64(len(acked))
		}
		_ = c.Leave(ctx, name)
		held := map[uint64]bool{}
		for _, m := range h.Messages {
			held[m.Seq] = true
		}
		var oldest uint64
		if len(h.Messages) >= r.cfg.History {
			// A full history has let the oldest go, as it should.
			oldest = h.Messages[0].Seq
		}
		for _, seq := range acked {
			if seq < oldest {
				continue
			}
			checked++
			if !held[seq] {
				missing++
				if missing <= 5 {
					r.t.Logf("history of %s lacks acknowledged seq %d", name, seq)
				}
			}
		}
	}
	return checked, missing
}

// closeAll closes every subscriber and publisher, a few dozen at a time.
func (r *run) closeAll() {
	jobs := make(chan *subscriber)
	var wg sync.WaitGroup
	for range closers {
		wg.Go(func() {
			for s := range jobs {
				s.close()
			}
		})
	}
	for _, s := range r.subs {
		jobs <- s
	}
	close(jobs)
	for _, c := range r.pubs {
		wg.Go(func() { _ = c.Close() })
	}
	wg.Wait()
}

// settle reads the server until its connections are gone and its
// goroutines and open files are back within slack of the baseline, or
// the bound passes; it returns the last reading and, when it got there,
// how long after the call that was. The server is another process, so
// reading it is the only way to know.
func (r *run) settle(ctx context.Context, base Sample) (Sample, time.Duration) {
	start := time.Now()
	deadline := start.Add(r.cfg.Settle)
	var last Sample
	for {
		s, _, err := r.srv.sample(ctx)
		if err == nil {
			s.Phase, s.At = PhaseSettle, time.Since(r.start)
			r.record(s)
			last = s
			if s.Conns == 0 && s.Goroutines <= base.Goroutines+r.cfg.GoroutineSlack && s.FDs <= base.FDs+r.cfg.FDSlack {
				return s, time.Since(start)
			}
		} else {
			r.t.Logf("settle: %v", err)
		}
		if time.Now().After(deadline) {
			return last, 0
		}
		select {
		case <-time.After(settlePoll):
		case <-ctx.Done():
			return last, 0
		}
	}
}

// saveGoroutines keeps the server's goroutines for a report on what
// stayed behind.
func (r *run) saveGoroutines(ctx context.Context) {
	dump := r.srv.goroutineDump(ctx)
	if r.cfg.Out != "" {
		_ = os.MkdirAll(r.cfg.Out, 0o755)
		path := filepath.Join(r.cfg.Out, "goroutines.txt")
		if err := os.WriteFile(path, []byte(dump), 0o644); err == nil {
			r.t.Logf("the server's goroutines are in %s", path)
			return
		}
	}
	if len(dump) > 8000 {
		dump = dump[:8000] + "\n..."
	}
	r.t.Logf("the server's goroutines:\n%s", dump)
}

// writeOut keeps the table and the samples in the output directory.
func (r *run) writeOut(table string) {
	if err := os.MkdirAll(r.cfg.Out, 0o755); err != nil {
		r.t.Errorf("output directory: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(r.cfg.Out, "summary.txt"), []byte(table), 0o644); err != nil {
		r.t.Errorf("summary: %v", err)
	}
	f, err := os.Create(filepath.Join(r.cfg.Out, "samples.csv"))
	if err != nil {
		r.t.Errorf("samples: %v", err)
		return
	}
	defer f.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := WriteCSV(f, r.samples); err != nil {
		r.t.Errorf("samples: %v", err)
	}
}

// loadAvg is the machine's 1-, 5- and 15-minute load, for the figures:
// the soak shares the machine with whatever else runs.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
