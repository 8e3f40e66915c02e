package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/rtsync/rtsync/protocol"
)

// The HTTP hook: an EventHandler that POSTs each event to the application
// as JSON and reads its answer. docs/hooks.md is the full contract; in
// short:
//
//	POST <url>
//	Content-Type: application/json
//	X-Rtsync-Event: connect | message | rpc | close
//	X-Rtsync-Timestamp: <unix seconds>
//	X-Rtsync-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>   (with HookSecret)
//
//	{"event":"message","node":"n1","time":<unix ms>,"client":"...","uid":"...","room":"lobby","data":{...}}
//
// The answer is 200 with the event's result as JSON (ConnectResult,
// MessageResult, RPCResult), or 204 or an empty body to accept the event
// unchanged. Anything else (another status, a timeout, a body that is not
// the result, no connection) is a failure, and the failure policy applies.
//
// Calls are bounded three ways: each by HookTimeout (waiting for a slot
// included), all together by HookConcurrency, and per URL by a circuit
// breaker: after HookBreakerFailures failures in a row, calls to that URL
// fail at once for HookBreakerCooldown; then one call goes through as a
// probe, and its success closes the breaker again.

// Hook transport tuning.
const (
	// hookIdleTimeout is how long an idle keep-alive connection to the
	// application is kept.
	hookIdleTimeout = 90 * time.Second
	// hookMaxAnswer is the largest answer read, on top of the message
	// size limit (a rewritten message may be that large).
	hookMaxAnswer = 1 << 20
)

// Headers of a hook request.
const (
	headerEvent     = "X-Rtsync-Event"
	headerTimestamp = "X-Rtsync-Timestamp"
	headerSignature = "X-Rtsync-Signature"
)

// httpHooks is the EventHandler behind Config.HookURL.
type httpHooks struct {
	client  *http.Client
	routes  map[string]*hookRoute // by event; an event without one is not sent
	secret  []byte
	node    string
	agent   string
	timeout time.Duration
	slots   chan struct{} // one per call in flight
	maxBody int64
	m       *hookMetrics
	log     *slog.Logger
}

// hookRoute is where one event goes.
type hookRoute struct {
	url  string
	safe string // url without credentials or query, for logs and stats
	br   *breaker
}

// newHTTPHooks builds the HTTP hook from cfg, or returns nil when no hook
// URL is set.
func newHTTPHooks(cfg Config, m *hookMetrics, log *slog.Logger) *httpHooks {
	urls := map[string]string{
		eventConnect: firstNonEmpty(cfg.HookConnectURL, cfg.HookURL),
		eventMessage: firstNonEmpty(cfg.HookMessageURL, cfg.HookURL),
		eventRPC:     firstNonEmpty(cfg.HookRPCURL, cfg.HookURL),
		eventClose:   firstNonEmpty(cfg.HookCloseURL, cfg.HookURL),
	}
	h := &httpHooks{
		routes:  make(map[string]*hookRoute),
		node:    cfg.Node,
		agent:   "rtsync/" + cfg.Version,
		timeout: cfg.HookTimeout,
		slots:   make(chan struct{}, cfg.HookConcurrency),
		maxBody: hookMaxAnswer + int64(cfg.MaxMessageSize),
		m:       m,
		log:     log,
	}
	if cfg.HookSecret != "" {
		h.secret = []byte(cfg.HookSecret)
	}
	// Events sent to the same URL share its breaker: it is one
	// application, up or down.
	byURL := make(map[string]*hookRoute)
	for event, u := range urls {
		if u == "" {
			continue
		}
		rt := byURL[u]
		if rt == nil {
			rt = &hookRoute{url: u, safe: redactURL(u), br: newBreaker(cfg.HookBreakerFailures, cfg.HookBreakerCooldown)}
			byURL[u] = rt
		}
		h.routes[event] = rt
	}
	if len(h.routes) == 0 {
		return nil
	}
	h.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: cfg.HookTimeout, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          cfg.HookConcurrency * len(byURL),
			MaxIdleConnsPerHost:   cfg.HookConcurrency,
			IdleConnTimeout:       hookIdleTimeout,
			TLSHandshakeTimeout:   cfg.HookTimeout,
			ExpectContinueTimeout: time.Second,
		},
		// A redirect is a misconfigured URL, not something to follow with
		// a signed body.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return h
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// redactURL drops credentials and the query (either may hold a secret), so
// the URL can be logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	s := u.Scheme + "://" + u.Host + u.Path
	if u.RawQuery != "" {
		s += "?…"
	}
	return s
}

// checkHookURL reports what is wrong with a configured hook URL.
func checkHookURL(name, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s must be an absolute http:// or https:// URL, like http://127.0.0.1:8080/rtsync", name)
	}
	return nil
}

func (h *httpHooks) handles(event string) bool { return h.routes[event] != nil }

// Connect implements EventHandler.
func (h *httpHooks) Connect(ctx context.Context, ev *ConnectEvent) (*ConnectResult, error) {
	var res *ConnectResult
	err := h.post(ctx, eventConnect, ev, &res)
	return res, err
}

// Message implements EventHandler.
func (h *httpHooks) Message(ctx context.Context, ev *MessageEvent) (*MessageResult, error) {
	var res *MessageResult
	err := h.post(ctx, eventMessage, ev, &res)
	return res, err
}

// RPC implements EventHandler.
func (h *httpHooks) RPC(ctx context.Context, ev *RPCEvent) (*RPCResult, error) {
	var res *RPCResult
	err := h.post(ctx, eventRPC, ev, &res)
	return res, err
}

// Close implements EventHandler; the server calls closeEvent instead, to
// count failures.
func (h *httpHooks) Close(ctx context.Context, ev *CloseEvent) { _ = h.closeEvent(ctx, ev) }

func (h *httpHooks) closeEvent(ctx context.Context, ev *CloseEvent) error {
	// The answer to a close event is not used: only its status counts.
	return h.post(ctx, eventClose, ev, nil)
}

// post sends one event and decodes the answer into out (a pointer to a
// result pointer), leaving it nil for an empty answer; a nil out ignores
// the answer's body.
func (h *httpHooks) post(ctx context.Context, event string, ev, out any) error {
	rt := h.routes[event]
	if rt == nil {
		return errNoRoute
	}
	if !rt.br.allow(time.Now()) {
		return &hookErr{kind: failBreakerOpen, err: fmt.Errorf("POST %s skipped: the circuit breaker is open after %d failures in a row; a probe goes through within %s", rt.safe, rt.br.threshold, rt.br.cooldown)}
	}
	if !h.acquire(ctx) {
		rt.br.abandon()
		if errors.Is(ctx.Err(), context.Canceled) {
			return &hookErr{kind: failCanceled, err: fmt.Errorf("POST %s: cut short while waiting for a hook slot: %w", rt.safe, context.Cause(ctx))}
		}
		return &hookErr{kind: failSaturated, err: fmt.Errorf("POST %s: all %d hook slots stayed busy for %s; raise --hook-concurrency or make the application answer faster", rt.safe, cap(h.slots), h.timeout)}
	}
	defer func() { <-h.slots }()
	err := h.do(ctx, rt, event, ev, out)
	if errors.Is(ctx.Err(), context.Canceled) {
		// Cut short by the client or the server, not failed by the
		// application: not a failure for the breaker.
		rt.br.abandon()
		return err
	}
	switch rt.br.done(err == nil, time.Now()) {
	case breakerOpened:
		h.log.Warn("event hook circuit breaker open: calls to this URL fail at once and the failure policy applies, until a probe succeeds",
			"url", rt.safe, "failures_in_a_row", rt.br.threshold, "probe_every", rt.br.cooldown)
	case breakerClosed:
		h.log.Info("event hook answering again; circuit breaker closed", "url", rt.safe)
	}
	return err
}

// acquire takes a call slot, waiting for one until ctx ends.
func (h *httpHooks) acquire(ctx context.Context) bool {
	select {
	case h.slots <- struct{}{}:
		return true
	default:
	}
	h.m.waiting.Add(1)
	defer h.m.waiting.Add(-1)
	select {
	case h.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// do makes the request and reads the answer.
func (h *httpHooks) do(ctx context.Context, rt *hookRoute, event string, ev, out any) error {
	now := time.Now()
	body, err := hookBody(event, h.node, now, ev)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", event, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rt.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("POST %s: %w", rt.safe, err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", h.agent)
	req.Header.Set(headerEvent, event)
	req.Header.Set(headerTimestamp, ts)
	if h.secret != nil {
		req.Header.Set(headerSignature, Sign(h.secret, ts, body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return h.transportErr(ctx, rt, err)
	}
	defer func() { _ = resp.Body.Close() }()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, h.maxBody+1))
	if err != nil {
		return h.transportErr(ctx, rt, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		hint := "answer 200 with a JSON result, or 204 to accept the event unchanged"
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			hint = "check that the application's hook secret is the server's (--hook-secret)"
		}
		return &hookErr{kind: failStatus, err: fmt.Errorf("POST %s: status %q; %s", rt.safe, resp.Status, hint)}
	}
	if int64(len(answer)) > h.maxBody {
		return &hookErr{kind: failBadResponse, err: fmt.Errorf("POST %s: the answer is longer than %d bytes", rt.safe, h.maxBody)}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent || len(bytes.TrimSpace(answer)) == 0 {
		return nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return &hookErr{kind: failBadResponse, err: fmt.Errorf("POST %s: the answer is not a JSON %s result: %w", rt.safe, event, err)}
	}
	return nil
}

// transportErr classifies a failed request: a timeout, or a connection
// problem. The URL in err is replaced by the redacted one.
func (h *httpHooks) transportErr(ctx context.Context, rt *hookRoute, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return &hookErr{kind: failCanceled, err: fmt.Errorf("POST %s: cut short: %w", rt.safe, context.Cause(ctx))}
	}
	if ctx.Err() != nil {
		return &hookErr{kind: failTimeout, err: fmt.Errorf("POST %s: no answer within %s (--hook-timeout)", rt.safe, h.timeout)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &hookErr{kind: failConnection, err: fmt.Errorf("POST %s: %w", rt.safe, err)}
}

// hookBody encodes a hook request: the event's own fields after event,
// node and time.
func hookBody(event, node string, now time.Time, ev any) ([]byte, error) {
	fields, err := protocol.Marshal(ev)
	if err != nil {
		return nil, err
	}
	nodeJSON, err := json.Marshal(node)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(fields)+len(nodeJSON)+48)
	b = append(b, `{"event":"`...)
	b = append(b, event...)
	b = append(b, `","node":`...)
	b = append(b, nodeJSON...)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	if len(fields) > 2 { // not "{}"
		b = append(b, ',')
		b = append(b, fields[1:]...)
	} else {
		b = append(b, '}')
	}
	return b, nil
}

// Sign returns the X-Rtsync-Signature value of a hook request:
// "sha256=" and the hex HMAC-SHA256, keyed with secret, of the
// X-Rtsync-Timestamp value, a dot, and the raw body. An application checks
// a request by computing the same over the body it received and comparing
// in constant time (hmac.Equal), and by refusing timestamps more than a
// few minutes from its clock, so a recorded request cannot be replayed
// later.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (h *httpHooks) openBreakers() []string {
	var open []string
	seen := make(map[*hookRoute]bool)
	for _, rt := range h.routes {
		if !seen[rt] && rt.br.isOpen() {
			open = append(open, rt.safe)
		}
		seen[rt] = true
	}
	return open
}

// Breaker transitions reported by done, for logging.
const (
	breakerSame = iota
	breakerOpened
	breakerClosed
)

// breaker is a circuit breaker over one hook URL. Closed, calls go
// through; threshold failures in a row open it; open, calls fail at once
// until cooldown has passed, when one call goes through as a probe:
// success closes the breaker, failure opens it for another cooldown.
// threshold < 0 disables it.
type breaker struct {
	threshold int
	cooldown  time.Duration

	mu        sync.Mutex
	fails     int       // failures in a row
	openUntil time.Time // zero: closed
	probing   bool      // the probe is under way
}

func newBreaker(threshold int, cooldown time.Duration) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown}
}

// allow reports whether a call may go out now. After the cooldown the first
// caller is let through as the probe; the others keep failing until it
// returns.
func (b *breaker) allow(now time.Time) bool {
	if b.threshold < 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openUntil.IsZero() {
		return true
	}
	if b.probing || now.Before(b.openUntil) {
		return false
	}
	b.probing = true
	return true
}

// abandon releases a probe that did not go out (no slot was free).
func (b *breaker) abandon() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// done records a call's outcome and reports a transition.
func (b *breaker) done(ok bool, now time.Time) int {
	if b.threshold < 0 {
		return breakerSame
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		wasOpen := !b.openUntil.IsZero()
		b.fails, b.openUntil, b.probing = 0, time.Time{}, false
		if wasOpen {
			return breakerClosed
		}
		return breakerSame
	}
	b.fails++
	switch {
	case b.probing:
		b.probing = false
		b.openUntil = now.Add(b.cooldown)
	case b.openUntil.IsZero() && b.fails >= b.threshold:
		b.openUntil = now.Add(b.cooldown)
		return breakerOpened
	}
	return breakerSame
}

func (b *breaker) isOpen() bool {
	if b.threshold < 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.openUntil.IsZero()
}
