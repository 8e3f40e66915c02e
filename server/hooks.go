package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

// Event hooks: the plumbing between connections and the application's
// EventHandler, whichever it is (Config.Events in-process, or the HTTP hook
// of hookhttp.go). Every call goes through callHook, which bounds it by
// HookTimeout, counts it, turns a panic into a failure and logs failures
// without flooding the log; the callers below apply the failure policy.

// Event names, as sent in a hook request's "event" field and used as keys
// of HookStats.Calls.
const (
	eventConnect = "connect"
	eventMessage = "message"
	eventRPC     = "rpc"
	eventClose   = "close"
)

// Failure kinds: the keys of HookStats.Failures and the "kind" of a log
// line.
const (
	failTimeout     = "timeout"      // no answer within HookTimeout
	failConnection  = "connection"   // the application could not be reached, or the connection broke
	failStatus      = "status"       // the application answered with a status other than 2xx
	failBadResponse = "bad_response" // the body is not the JSON result, or is too large
	failBadResult   = "bad_result"   // a result the server cannot apply: bad uid, name, room or JSON
	failSaturated   = "saturated"    // every HookConcurrency slot stayed busy for the whole timeout
	failBreakerOpen = "breaker_open" // skipped at once: the circuit breaker is open
	failDropped     = "dropped"      // a close event dropped: too many were waiting
	failError       = "error"        // an in-process handler returned an error
	failPanic       = "panic"        // an in-process handler panicked
	failCanceled    = "canceled"     // cut short: the client left or the server shut down
)

const (
	// hookLogEvery: a failing hook logs at most one line per failure kind
	// per interval, counting the failures it held back, so an application
	// that is down under load costs a few log lines, not one per
	// connection. Every failure is also logged at debug level.
	hookLogEvery = 10 * time.Second
	// closeQueueLimit bounds the close events waiting for the
	// application; past it they are dropped and counted.
	closeQueueLimit = 10_000
	// maxCloseReason is the most a WebSocket close frame can carry as its
	// reason (125 bytes of payload less the 2-byte code).
	maxCloseReason = 123
)

// Causes of a hook call cut short, as context.Cause reports them to the
// handler.
var (
	errConnClosed     = errors.New("the connection closed")
	errClientGone     = errors.New("the client disconnected")
	errServerStopping = errors.New("the server is shutting down")
)

// errNoRoute is returned by a handler for an event it has no route for
// (the HTTP hook with only per-event URLs).
var errNoRoute = errors.New("no hook URL for this event")

// hookErr is a failed hook call and its kind.
type hookErr struct {
	kind string
	err  error
}

func (e *hookErr) Error() string { return e.err.Error() }
func (e *hookErr) Unwrap() error { return e.err }

// router is implemented by handlers that take only some events, so the
// others are not counted as calls (the HTTP hook with per-event URLs).
type router interface{ handles(event string) bool }

// closeReporter is implemented by handlers whose Close can fail (the HTTP
// hook), so that the failure is counted and logged.
type closeReporter interface {
	closeEvent(ctx context.Context, ev *CloseEvent) error
}

// handler returns the application's event handler, or nil when there is
// none: Config.Events, or the HTTP hook client when a hook URL is set.
func (s *Server) handler() EventHandler { return s.events }

// handlerFor returns the handler for one event, or nil when nothing takes
// it.
func (s *Server) handlerFor(event string) EventHandler {
	h := s.handler()
	if h == nil {
		return nil
	}
	if r, ok := h.(router); ok && !r.handles(event) {
		return nil
	}
	return h
}

func (c *conn) who() Who {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return Who{Client: c.id, UID: c.uid, Name: c.name, Session: c.session}
}

// hookMetrics are the hook counters behind HookStats.
type hookMetrics struct {
	connects, messages, rpcs, closes atomic.Uint64
	inFlight                         atomic.Int64 // calls under way
	waiting                          atomic.Int64 // HTTP calls waiting for a slot
	latency                          atomic.Int64 // total nanoseconds spent in calls

	mu       sync.Mutex
	failures map[string]uint64
	// byEvent counts the failures by event and kind, for /metrics.
	byEvent map[hookFailKey]uint64
	// logged is when each failure kind was last logged at warn level;
	// held counts those not logged since.
	logged map[string]time.Time
	held   map[string]int
}

// hookFailKey names a kind of failure of one event.
type hookFailKey struct{ event, kind string }

// failuresByEvent returns the failure counts by event and kind.
func (m *hookMetrics) failuresByEvent() map[hookFailKey]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.byEvent)
}

func (m *hookMetrics) count(event string) {
	switch event {
	case eventConnect:
		m.connects.Add(1)
	case eventMessage:
		m.messages.Add(1)
	case eventRPC:
		m.rpcs.Add(1)
	case eventClose:
		m.closes.Add(1)
	}
}

// HookStats counts the calls to the application's event handler: the HTTP
// hook (Config.HookURL) or Config.Events.
type HookStats struct {
	// Calls counts the events offered to the handler, by event (connect,
	// message, rpc, close), failed ones included.
	Calls map[string]uint64 `json:"calls"`
	// Failures counts failed calls by kind: timeout, connection, status,
	// bad_response, bad_result, saturated, breaker_open, dropped, error,
	// panic, canceled. docs/hooks.md says what each means.
	Failures map[string]uint64 `json:"failures"`
	// InFlight is the number of calls under way; Waiting, of those, the
	// HTTP calls waiting for a free slot (HookConcurrency).
	InFlight int64 `json:"in_flight"`
	Waiting  int64 `json:"waiting"`
	// LatencySeconds is the time spent in calls, in total: divided by the
	// sum of Calls it is the mean latency.
	LatencySeconds float64 `json:"latency_seconds"`
	// CloseQueued is the number of close events waiting to be sent.
	CloseQueued int `json:"close_queued"`
	// OpenBreakers lists the hook URLs (without query or credentials)
	// whose circuit breaker is open: calls to them fail at once.
	OpenBreakers []string `json:"open_breakers,omitempty"`
}

func (s *Server) hookStats() HookStats {
	m := &s.hookm
	st := HookStats{
		Calls: map[string]uint64{
			eventConnect: m.connects.Load(), eventMessage: m.messages.Load(),
			eventRPC: m.rpcs.Load(), eventClose: m.closes.Load(),
		},
		Failures:       map[string]uint64{},
		InFlight:       m.inFlight.Load(),
		Waiting:        m.waiting.Load(),
		LatencySeconds: time.Duration(m.latency.Load()).Seconds(),
		CloseQueued:    s.closes.len(),
	}
	m.mu.Lock()
	for k, v := range m.failures {
		st.Failures[k] = v
	}
	m.mu.Unlock()
	if s.httpHooks != nil {
		st.OpenBreakers = s.httpHooks.openBreakers()
	}
	return st
}

// hookContext returns the context of a hook call about c: it ends when c
// closes, when its WebSocket peer hangs up (where the platform tells), or
// when the server starts shutting down, so a handler that waits on a slow
// backend stops waiting for a client that is gone. done must be called
// when the call returns. The connection's reader makes the call, so there
// is one at a time.
func (c *conn) hookContext() (ctx context.Context, done func()) {
	ctx, cancel := context.WithCancelCause(c.srv.life)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel(errConnClosed)
		return ctx, func() {}
	}
	c.hookCancel = cancel
	c.mu.Unlock()
	stopWatch := func() {}
	if hw, ok := c.t.(hangupWatcher); ok {
		stopWatch = hw.watchHangup(func() { cancel(errClientGone) })
	}
	return ctx, func() {
		stopWatch()
		c.mu.Lock()
		c.hookCancel = nil
		c.mu.Unlock()
		cancel(nil)
	}
}

// callHook makes one call to the application, bounded by HookTimeout and
// by parent. It counts the call and, when it fails, classifies, counts and
// logs the failure. A panicking handler is a failure, not a crash.
func (s *Server) callHook(parent context.Context, event, client string, call func(ctx context.Context) error) (err error) {
	m := &s.hookm
	m.count(event)
	m.inFlight.Add(1)
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, s.cfg.HookTimeout)
	defer cancel()
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = &hookErr{kind: failPanic, err: fmt.Errorf("the %s handler panicked: %v", event, p)}
			}
		}()
		err = call(ctx)
	}()
	m.latency.Add(int64(time.Since(start)))
	m.inFlight.Add(-1)
	if err != nil {
		kind := failError
		var he *hookErr
		switch {
		case parent.Err() != nil:
			// The reason, not the handler's error, is what the log needs.
			kind, err = failCanceled, fmt.Errorf("cut short: %w", context.Cause(parent))
		case errors.As(err, &he):
			kind = he.kind
		case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
			kind = failTimeout
		}
		s.hookFailure(event, kind, client, err)
	}
	return err
}

// hookFailure counts a failure and logs it: every one at debug level, and
// one line per kind per hookLogEvery at warn level, with the number held
// back since the last.
func (s *Server) hookFailure(event, kind, client string, err error) {
	m := &s.hookm
	now := time.Now()
	m.mu.Lock()
	if m.failures == nil {
		m.failures, m.logged, m.held = make(map[string]uint64), make(map[string]time.Time), make(map[string]int)
		m.byEvent = make(map[hookFailKey]uint64)
	}
	m.failures[kind]++
	m.byEvent[hookFailKey{event, kind}]++
	warn := now.Sub(m.logged[kind]) >= hookLogEvery
	held := m.held[kind]
	if warn {
		m.logged[kind], m.held[kind] = now, 0
	} else {
		m.held[kind]++
	}
	m.mu.Unlock()
	s.log.Debug("event hook failed", "event", event, "kind", kind, "client", client, "err", err)
	if warn {
		s.log.Warn("event hook failed", "event", event, "kind", kind, "err", err,
			"policy", s.failPolicyName(event), "suppressed", held, "log_every", hookLogEvery)
	}
}

// failPolicyName says, for logs, what a failure of event does.
func (s *Server) failPolicyName(event string) string {
	switch {
	case event == eventRPC:
		return "rpc replies unavailable"
	case event == eventClose:
		return "close event lost"
	case s.cfg.HookFailOpen:
		return "fail open: " + event + " accepted unchanged"
	}
	return "fail closed: " + event + " refused"
}

// failPolicy applies the failure policy to a connect or message: fail open
// lets it through (nil), fail closed refuses it.
func (s *Server) failPolicy() *protocol.Error {
	if s.cfg.HookFailOpen {
		return nil
	}
	return protocol.Errorf(protocol.CodeUnavailable, "the application behind this server did not answer, or gave an answer it cannot use; try again later")
}

// hookConnect asks the application about a new connection. A nil result
// and nil error accept it unchanged; an error refuses it (the failure
// policy said so). A result it returns is valid to apply.
func (s *Server) hookConnect(c *conn, info *connInfo, claims map[string]any) (*ConnectResult, *protocol.Error) {
	h := s.handlerFor(eventConnect)
	if h == nil {
		return nil, nil
	}
	ev := &ConnectEvent{Who: c.who(), Transport: info.transport, RemoteAddr: info.remote, Header: info.header, Query: info.query(), Claims: claims}
	var res *ConnectResult
	ctx, done := c.hookContext()
	defer done()
	err := s.callHook(ctx, eventConnect, c.id, func(ctx context.Context) (err error) {
		res, err = h.Connect(ctx, ev)
		return err
	})
	if err == nil && res != nil {
		res, err = res.checked()
		if err != nil {
			s.hookFailure(eventConnect, failBadResult, c.id, err)
		}
	}
	if err != nil {
		return nil, s.failPolicy()
	}
	return res, nil
}

// checked returns a copy of r ready to apply, or why it cannot be.
func (r *ConnectResult) checked() (*ConnectResult, error) {
	out := *r
	if out.Refuse {
		return &out, nil
	}
	if out.UID != "" {
		if e := protocol.ValidUID(out.UID); e != nil {
			return nil, fmt.Errorf("connect result: %s", e.Message)
		}
	}
	if e := protocol.ValidName(out.Name); e != nil {
		return nil, fmt.Errorf("connect result: %s", e.Message)
	}
	var err error
	if out.Session, err = compactJSON(out.Session); err != nil {
		return nil, fmt.Errorf("connect result: session: %w", err)
	}
	for _, room := range out.Rooms {
		if e := protocol.ValidRoom(room); e != nil {
			return nil, fmt.Errorf("connect result: rooms: %s", e.Message)
		}
	}
	return &out, nil
}

// compactJSON checks v is one JSON value and compacts it; JSON null counts
// as absent (nil).
func compactJSON(v json.RawMessage) (json.RawMessage, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return nil, nil
	}
	if e := protocol.CheckValue("the value", v); e != nil {
		return nil, errors.New(e.Message)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	return b.Bytes(), nil
}

// closeReason fits a close reason into a close frame, cutting it at a
// character boundary; empty means the code's standard text.
func closeReason(code int, reason string) string {
	if reason == "" {
		return protocol.CloseReason(code)
	}
	// An application's reason reaches the client as close frame text,
	// which must be UTF-8.
	reason = strings.ToValidUTF8(reason, "\uFFFD")
	if len(reason) <= maxCloseReason {
		return reason
	}
	cut := maxCloseReason
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}

// hookMessage runs a publish past the application: it returns the data to
// send (maybe rewritten) or an error for the publisher.
func (c *conn) hookMessage(room string, data json.RawMessage) (json.RawMessage, *protocol.Error) {
	s := c.srv
	h := s.handlerFor(eventMessage)
	if h == nil {
		return data, nil
	}
	ev := &MessageEvent{Who: c.who(), Room: room, Data: data}
	var res *MessageResult
	ctx, done := c.hookContext()
	defer done()
	err := s.callHook(ctx, eventMessage, c.id, func(ctx context.Context) (err error) {
		res, err = h.Message(ctx, ev)
		return err
	})
	var rewritten json.RawMessage
	if err == nil && res != nil && !res.Refuse {
		rewritten, err = compactJSON(res.Data)
		if err == nil && len(rewritten) > s.cfg.MaxMessageSize {
			err = fmt.Errorf("message result: data is %d bytes, more than the server's limit of %d", len(rewritten), s.cfg.MaxMessageSize)
		}
		if err != nil {
			err = fmt.Errorf("message result: data: %w", err)
			s.hookFailure(eventMessage, failBadResult, c.id, err)
		}
	}
	switch {
	case err != nil:
		if e := s.failPolicy(); e != nil {
			return nil, e
		}
		return data, nil
	case res == nil:
		return data, nil
	case res.Refuse:
		reason := strings.ToValidUTF8(res.Reason, "\uFFFD")
		if reason == "" {
			reason = "the application refused this message"
		}
		return nil, protocol.Errorf(protocol.CodeForbidden, "%s", reason)
	case rewritten != nil:
		return rewritten, nil
	}
	return data, nil
}

// rpc relays an rpc command to the application and replies with its answer.
func (c *conn) rpc(cmd *protocol.Command) {
	s := c.srv
	h := s.handlerFor(eventRPC)
	if h == nil {
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeUnknownOp, "rpc needs an application behind the server (--hook-url or --hook-rpc-url); none is configured"))
		return
	}
	ev := &RPCEvent{Who: c.who(), Method: cmd.Method, Data: cmd.Data}
	var res *RPCResult
	ctx, done := c.hookContext()
	defer done()
	err := s.callHook(ctx, eventRPC, c.id, func(ctx context.Context) (err error) {
		res, err = h.RPC(ctx, ev)
		return err
	})
	var data json.RawMessage
	if err == nil && res != nil && res.Error == nil {
		if data, err = compactJSON(res.Data); err != nil {
			err = fmt.Errorf("rpc result: data: %w", err)
			s.hookFailure(eventRPC, failBadResult, c.id, err)
		}
	}
	switch {
	case err != nil:
		c.replyErr(cmd.ID, protocol.Errorf(protocol.CodeUnavailable, "the application behind this server did not answer, or gave an answer it cannot use; try again later"))
	case res != nil && res.Error != nil:
		e := *res.Error
		e.Code, e.Message = strings.ToValidUTF8(e.Code, "\uFFFD"), strings.ToValidUTF8(e.Message, "\uFFFD")
		if e.Code == "" {
			e.Code = protocol.CodeRPCError
		}
		c.replyErr(cmd.ID, &e)
	default:
		c.send(protocol.Reply{Type: protocol.TypeReply, ID: cmd.ID, OK: true, Data: data})
	}
}

// peerClosed records the close code and reason the client sent, for the
// close event. 1006 is no code sent but a dropped connection, which the
// close event reports anyway.
func (c *conn) peerClosed(code int, reason string) {
	if code == websocket.CloseAbnormalClosure {
		return
	}
	c.stateMu.Lock()
	c.peerCode, c.peerReason = code, reason
	c.stateMu.Unlock()
}

// hookClose tells the application a connection ended. Nothing waits for
// it: the event is queued for the close workers.
func (c *conn) hookClose(code int, reason string) {
	s := c.srv
	if !c.welcomed.Load() || s.handlerFor(eventClose) == nil {
		return
	}
	ev := &CloseEvent{Who: c.who(), Code: code, Reason: reason}
	if code == 0 {
		c.stateMu.Lock()
		ev.Code, ev.Reason = c.peerCode, c.peerReason
		c.stateMu.Unlock()
	}
	if ev.Code == 0 {
		ev.Code = websocket.CloseAbnormalClosure // dropped, no close code either way
	}
	if !s.closes.push(ev) {
		s.hookm.count(eventClose)
		s.hookFailure(eventClose, failDropped, ev.Client, errors.New("too many close events are waiting for the application; this one was dropped"))
	}
}

// closeQueue delivers close events off the closing goroutine, with at
// most max worker goroutines and limit waiting events, so a dead
// application costs bounded memory and goroutines however many clients
// leave. Workers start when events come and exit when none are left.
type closeQueue struct {
	s     *Server
	max   int
	limit int

	mu      sync.Mutex
	q       []*CloseEvent
	workers int
	// idle is made by wait when it has to wait, and closed when the last
	// worker exits.
	idle chan struct{}
}

// push queues ev, starting a worker if there is room for one; false when
// the queue is full.
func (q *closeQueue) push(ev *CloseEvent) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.q) >= q.limit {
		return false
	}
	q.q = append(q.q, ev)
	if q.workers < q.max {
		q.workers++
		go q.work()
	}
	return true
}

func (q *closeQueue) work() {
	for {
		q.mu.Lock()
		if len(q.q) == 0 {
			q.q = nil
			q.workers--
			if q.workers == 0 && q.idle != nil {
				close(q.idle)
				q.idle = nil
			}
			q.mu.Unlock()
			return
		}
		ev := q.q[0]
		q.q[0] = nil
		q.q = q.q[1:]
		q.mu.Unlock()
		q.deliver(ev)
	}
}

func (q *closeQueue) deliver(ev *CloseEvent) {
	s := q.s
	h := s.handlerFor(eventClose)
	// Not s.life: shutdown waits for the close events (up to its
	// timeout), which are the application's only word that clients left.
	_ = s.callHook(context.Background(), eventClose, ev.Client, func(ctx context.Context) error {
		if cr, ok := h.(closeReporter); ok {
			return cr.closeEvent(ctx, ev)
		}
		h.Close(ctx, ev)
		return nil
	})
}

func (q *closeQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.q)
}

// wait returns when every queued close event was delivered, or ctx ends.
func (q *closeQueue) wait(ctx context.Context) {
	for {
		q.mu.Lock()
		if q.workers == 0 {
			q.mu.Unlock()
			return
		}
		if q.idle == nil {
			q.idle = make(chan struct{})
		}
		idle := q.idle
		q.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return
		}
	}
}
