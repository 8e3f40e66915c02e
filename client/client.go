package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

// Errors a request can return besides a *protocol.Error from the server.
var (
	// ErrNotConnected: the connection is down and the client is
	// reconnecting. Requests fail fast rather than queue, so that a caller
	// never acts on a stale decision; retry after the next KindConnected
	// event.
	ErrNotConnected = errors.New("not connected: the client is reconnecting; retry after the next Connected event")
	// ErrConnLost: the connection ended after the command was written and
	// before its reply came. The command may or may not have taken effect;
	// a publish that did is delivered (once) after the room is recovered.
	ErrConnLost = errors.New("connection lost before the reply; the command may have taken effect")
	// ErrClosed: Close was called, or the client stopped for good (then it
	// is joined with the reason, see Client.Err).
	ErrClosed = errors.New("client closed")
)

// Identity is who the server knows this client as on its current
// connection.
type Identity struct {
	Client string
	UID    string
	Name   string
	Node   string
}

// Client is a connection to an rtsync server that survives disconnects:
// it reconnects, re-joins its rooms and recovers what it missed. Its
// methods are safe for concurrent use; see the package doc.
type Client struct {
	// urls are the servers, normalized: the Dial URL, then
	// Options.FallbackURLs. at (guarded by mu) indexes the one of the
	// current connection, or of the last one while reconnecting.
	urls   []string
	opts   Options
	events chan Event // nil when opts.OnEvent is set

	ctx     context.Context // ends at Close; bounds reconnection dials
	cancel  context.CancelFunc
	closing chan struct{} // closed by Close
	done    chan struct{} // closed when the reader goroutine has exited

	closeOnce sync.Once
	inHandler atomic.Bool
	nextID    atomic.Uint64
	stats     counters

	mu     sync.Mutex
	closed bool
	cur    *conn // nil while disconnected
	at     int
	hello  *protocol.Command
	rooms  map[string]*roomState
	// leaving counts the Leave calls in flight per room: a message of a
	// room being left is not taken for one the server put the client in.
	leaving map[string]int
	inbox   inboxState
	ident   Identity
	stopErr error // why the client stopped on its own
}

// inboxState is what the client knows of its user's offline inbox.
// Guarded by Client.mu.
type inboxState struct {
	uid string // whose inbox the ids below are of
	// handed is the highest id handed to the application with auto-ack
	// on (it is acked, or will be); acked the highest id the server
	// confirmed an ack for. A message at or below them is a duplicate.
	handed, acked uint64
	// owed is the highest id to ack when timer fires; 0 when none.
	owed  uint64
	timer *time.Timer
}

// maxOwn bounds roomState.own; past it the oldest entries are forgotten
// and, at worst, an own noecho message is delivered after a recovery.
const maxOwn = 1024

// roomState is what the client remembers of a joined room to recover it
// and to drop duplicates. Guarded by Client.mu.
type roomState struct {
	// epoch is empty while the client does not know where it is in the
	// room: the server put it there (join event about itself) and no
	// message or join reply has told it the room's seq yet.
	epoch string
	last  uint64 // seq of the last message delivered (or published noecho)
	// own holds, ascending, seqs above last that this client published
	// with noecho: the server never sends them live, but would replay
	// them in a recovery. Usually empty: they fold into last as soon as
	// the messages before them arrive.
	own []uint64
}

// seen records an own noecho message.
func (st *roomState) seen(seq uint64) {
	if seq <= st.last {
		return
	}
	i := len(st.own)
	for i > 0 && st.own[i-1] > seq {
		i--
	}
	if i > 0 && st.own[i-1] == seq {
		return
	}
	st.own = append(st.own, 0)
	copy(st.own[i+1:], st.own[i:])
	st.own[i] = seq
	if len(st.own) > maxOwn {
		st.own = st.own[1:]
	}
	st.advance()
}

// advance folds into last the own seqs that directly follow it.
func (st *roomState) advance() {
	i := 0
	for ; i < len(st.own) && st.own[i] <= st.last+1; i++ {
		if st.own[i] == st.last+1 {
			st.last++
		}
	}
	if i > 0 {
		st.own = st.own[i:]
		if len(st.own) == 0 {
			st.own = nil
		}
	}
}

// isOwn reports whether seq is an own noecho message.
func (st *roomState) isOwn(seq uint64) bool {
	for _, s := range st.own {
		if s == seq {
			return true
		}
	}
	return false
}

// conn is one WebSocket connection. The reader goroutine owns the socket's
// read side and buf; writes take wmu.
type conn struct {
	ws           *websocket.Conn
	url          string // the server's, normalized
	at           int    // url's index in Client.urls
	welcome      protocol.Welcome
	heartbeat    time.Duration
	writeTimeout time.Duration
	reconnect    bool // not the client's first connection

	// uid is the connection's uid, from the welcome and then from hello
	// replies: whose inbox its offline messages come from. Owned by the
	// reader goroutine.
	uid string

	wmu sync.Mutex

	mu      sync.Mutex
	pending map[uint64]*call
	dead    bool

	// greet is set when the handshake sent a hello; Connected then waits
	// for its reply. Set before the reader starts.
	greet bool

	// Owned by the reader goroutine.
	rest  [][]byte // objects that shared the welcome's frame
	ready bool     // Connected was emitted
	fatal error    // ends the connection and stops the client
	buf   bytes.Buffer
}

// call is a request waiting for its reply. The reader settles it: it first
// updates the client's state from the reply (so that events read after the
// reply see that state), then hands the reply to done, if any.
type call struct {
	op     string
	room   string
	since  *uint64
	epoch  string
	noecho bool
	rejoin bool
	// probe marks a join the client sends for a room the server put it
	// in, only to learn the room's seq and epoch (see self).
	probe bool
	// ack: the inbox id, whose inbox, and whether the client sent it on
	// its own (auto-ack) rather than for Ack.
	inbox uint64
	uid   string
	auto  bool
	// greet marks the hello of a connection's handshake.
	greet bool
	hello *protocol.Command
	done  chan result // buffered; nil when nobody waits
}

type result struct {
	ev  protocol.Event
	err error
}

// Dial connects to the server at rawURL, waits for its welcome, sends hello
// when opts carry an identity, and starts the reader goroutine. rawURL may
// be ws:// or wss://, http:// or https:// (mapped to ws and wss), or a bare
// host:port; an empty path means /ws. With Options.FallbackURLs, a server
// that does not answer is passed over for the next, in order, within ctx;
// the error then lists every attempt. Dial does not retry a URL:
// reconnection starts only after a first connection succeeded.
func Dial(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	urls, err := normalizeURLs(rawURL, opts.FallbackURLs)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	hello, err := helloCommand(HelloOptions{Name: opts.Name, UID: opts.UID, Token: opts.Token, Meta: opts.Meta})
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		urls:    urls,
		opts:    opts,
		ctx:     cctx,
		cancel:  cancel,
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		rooms:   make(map[string]*roomState),
		leaving: make(map[string]int),
	}
	if opts.OnEvent == nil {
		c.events = make(chan Event, opts.EventBuffer)
	}
	if hello.Name != "" || hello.UID != "" || hello.Token != "" || len(hello.Meta) > 0 {
		c.hello = hello
	}

	cn, err := c.dialFirst(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	u := cn.url
	c.at = cn.at
	var hc *call
	if c.hello != nil {
		hc = &call{op: protocol.OpHello, hello: c.hello, greet: true, done: make(chan result, 1)}
		cn.greet = true
		cmd := *c.hello
		if _, err := c.send(cn, &cmd, hc); err != nil {
			_ = cn.ws.Close()
			cancel()
			return nil, fmt.Errorf("hello to %s: %w", u, err)
		}
	}
	c.cur = cn
	go c.loop(cn)
	if hc == nil {
		return c, nil
	}
	ctx, stop := c.withTimeout(ctx)
	defer stop()
	select {
	case r := <-hc.done:
		err = r.err
		if err == nil && r.ev.Error != nil {
			err = r.ev.Error
		}
	case <-ctx.Done():
		err = fmt.Errorf("no reply: %w", ctx.Err())
	}
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("hello to %s: %w", u, err)
	}
	return c, nil
}

// dialFirst connects to the first of c.urls that answers. When ctx has a
// deadline, each attempt gets at most an equal share of what is left of
// it among the URLs not yet tried, so that a server that swallows packets
// does not leave the others no time. An answer that would be the same from
// every node of a cluster (a token refused) ends the search.
func (c *Client) dialFirst(ctx context.Context) (*conn, error) {
	var errs []error
	for i := range c.urls {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok && i < len(c.urls)-1 {
			share := time.Until(dl) / time.Duration(len(c.urls)-i)
			actx, cancel = context.WithTimeout(ctx, share)
		}
		cn, status, err := c.connect(actx, i)
		cancel()
		if err == nil {
			return cn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !passOver(status, err) {
			break
		}
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, &dialErrors{errs: errs, of: len(c.urls)}
}

// passOver reports whether a failed connection attempt is worth trying
// on another node: not when the server refused the token or said not to
// come back, which any node of the cluster would do as well.
func passOver(status int, err error) bool {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return false
	}
	var ce *CloseError
	return !errors.As(err, &ce) || protocol.ShouldReconnect(ce.Code)
}

// dialErrors is Dial's error when it tried several URLs.
type dialErrors struct {
	errs []error
	of   int // URLs there were
}

func (e *dialErrors) Error() string {
	var b strings.Builder
	if len(e.errs) == e.of {
		fmt.Fprintf(&b, "none of the %d server URLs answered: ", e.of)
	} else {
		fmt.Fprintf(&b, "%d of the %d server URLs tried: ", len(e.errs), e.of)
	}
	for i, err := range e.errs {
		if i > 0 {
			b.WriteString("; then ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *dialErrors) Unwrap() []error { return e.errs }

// normalizeURLs normalizes the Dial URL and the fallbacks, dropping
// duplicates.
func normalizeURLs(rawURL string, fallbacks []string) ([]string, error) {
	u, err := normalizeURL(rawURL)
	if err != nil {
		return nil, err
	}
	urls := []string{u}
	for i, raw := range fallbacks {
		u, err := normalizeURL(raw)
		if err != nil {
			return nil, fmt.Errorf("fallback URL %d of %d: %w", i+1, len(fallbacks), err)
		}
		if !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls, nil
}

// NormalizeURL turns the forms people type into a WebSocket URL:
// host:port gets ws:// and /ws, http(s) becomes ws(s), and a missing path
// becomes /ws. Dial does this itself; tools that check a URL before
// dialling (the bench refuses non-loopback hosts) use it to see what will
// be dialled.
func NormalizeURL(raw string) (string, error) { return normalizeURL(raw) }

func normalizeURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("empty server URL; give one like ws://127.0.0.1:7000/ws")
	}
	if !strings.Contains(s, "://") {
		s = "ws://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("server URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("server URL %q: scheme %q is not ws, wss, http or https", raw, u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("server URL %q has no host; give one like ws://127.0.0.1:7000/ws", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/ws"
	}
	return u.String(), nil
}

// connect makes one connection to c.urls[at] and reads its welcome. It
// returns the HTTP status when the server refused the upgrade.
func (c *Client) connect(ctx context.Context, at int) (*conn, int, error) {
	u := c.urls[at]
	limit := c.opts.HandshakeTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < limit {
		limit = time.Until(dl).Round(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	ws, resp, err := c.opts.Dialer.DialContext(ctx, u, c.upgradeHeader())
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, dialError(ctx, u, limit, resp, err)
	}
	if c.opts.ReadLimit > 0 {
		ws.SetReadLimit(c.opts.ReadLimit)
	}
	cn := &conn{ws: ws, url: u, at: at, writeTimeout: c.opts.WriteTimeout, pending: make(map[uint64]*call)}
	ws.SetPingHandler(cn.onPing)

	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = ws.NetConn().Close() })
	err = cn.readWelcome()
	var ne net.Error
	switch {
	case !stop() && ctx.Err() != nil:
		err = fmt.Errorf("no welcome within %s: %w", limit, ctx.Err())
	case errors.As(err, &ne) && ne.Timeout():
		err = fmt.Errorf("no welcome within %s: %w", limit, err)
	}
	if err != nil {
		_ = ws.Close()
		return nil, 0, fmt.Errorf("dial %s: %w", u, err)
	}
	c.stats.bytesIn.Add(uint64(cn.buf.Len()))
	c.stats.framesIn.Add(1)
	cn.buf.Reset()
	cn.extendDeadline()
	return cn, 0, nil
}

// upgradeHeader returns the headers of the upgrade request, bearing the
// token of the last hello the server accepted: after Hello refreshed the
// token, a reconnect must not present the one the client started with,
// which may have expired. An Authorization header the caller set in
// Options.Header is left alone.
func (c *Client) upgradeHeader() http.Header {
	c.mu.Lock()
	var tok string
	if c.hello != nil {
		tok = c.hello.Token
	}
	c.mu.Unlock()
	h := c.opts.Header
	auth := h.Get("Authorization")
	if tok == "" || auth == "Bearer "+tok || (auth != "" && auth != "Bearer "+c.opts.Token) {
		return h
	}
	h = h.Clone()
	h.Set("Authorization", "Bearer "+tok)
	return h
}

// dialError says what failed and what to do about it.
func dialError(ctx context.Context, u string, limit time.Duration, resp *http.Response, err error) error {
	if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
		hint := "check the URL: rtsync serves WebSocket at /ws"
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			hint = "check the token"
		case http.StatusServiceUnavailable:
			hint = "the server is shutting down or overloaded; retry later"
		case http.StatusTooManyRequests:
			hint = "too many connections from here; retry later"
		}
		return fmt.Errorf("dial %s: %w: server answered %s; %s", u, err, resp.Status, hint)
	}
	var hint string
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		hint = "; is `rtsync serve` running?"
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		hint = fmt.Sprintf("; no answer within %s (firewall, or wrong host?)", limit)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		hint = "; check the host name"
	}
	return fmt.Errorf("dial %s: %w%s", u, err, hint)
}

func (cn *conn) readWelcome() error {
	typ, r, err := cn.ws.NextReader()
	if err != nil {
		return readError(err)
	}
	if _, err := cn.buf.ReadFrom(r); err != nil {
		return readError(err)
	}
	if typ != websocket.TextMessage {
		return errors.New("server sent a binary frame instead of a welcome; is this an rtsync server?")
	}
	first := true
	err = protocol.Split(cn.buf.Bytes(), func(obj []byte) error {
		if !first {
			cn.rest = append(cn.rest, bytes.Clone(obj))
			return nil
		}
		first = false
		if err := json.Unmarshal(obj, &cn.welcome); err != nil || cn.welcome.Type != protocol.TypeWelcome {
			return fmt.Errorf("server sent %.80q instead of a welcome; is this an rtsync server?", obj)
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case first:
		return errors.New("server sent an empty frame instead of a welcome")
	case cn.welcome.Protocol != 0 && cn.welcome.Protocol != protocol.Version:
		return fmt.Errorf("server speaks protocol v%d, this client v%d; use matching rtsync versions", cn.welcome.Protocol, protocol.Version)
	}
	cn.heartbeat = time.Duration(cn.welcome.Heartbeat) * time.Millisecond
	cn.uid = cn.welcome.UID
	return nil
}

// readError turns gorilla's close errors into ours.
func readError(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: ce.Code, Reason: ce.Text}
	}
	return err
}

// silence is how long the server may send nothing, not even a ping,
// before the connection is presumed dead: two heartbeats and some slack.
func (cn *conn) silence() time.Duration {
	return 2*cn.heartbeat + min(cn.heartbeat, heartbeatSlack)
}

// extendDeadline pushes the read deadline to silence from now; without a
// heartbeat there is none.
func (cn *conn) extendDeadline() {
	if cn.heartbeat <= 0 {
		_ = cn.ws.SetReadDeadline(time.Time{})
		return
	}
	_ = cn.ws.SetReadDeadline(time.Now().Add(cn.silence()))
}

// onPing answers the server's heartbeat. It runs on the reader goroutine,
// inside a read.
func (cn *conn) onPing(data string) error {
	cn.extendDeadline()
	err := cn.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(controlTimeout))
	var ne net.Error
	if err == nil || errors.Is(err, websocket.ErrCloseSent) || (errors.As(err, &ne) && ne.Timeout()) {
		return nil
	}
	return err
}

// register adds a pending call; it fails once the connection is dead, so
// that no call waits for a reply that cannot come.
func (cn *conn) register(id uint64, cl *call) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.dead {
		return false
	}
	cn.pending[id] = cl
	return true
}

func (cn *conn) take(id uint64) *call {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cl := cn.pending[id]
	delete(cn.pending, id)
	return cl
}

// fail marks the connection dead and fails every pending call.
func (cn *conn) fail(cause error) {
	cn.mu.Lock()
	cn.dead = true
	pending := cn.pending
	cn.pending = nil
	cn.mu.Unlock()
	err := ErrConnLost
	if cause != nil {
		err = fmt.Errorf("%w (%v)", ErrConnLost, cause)
	}
	for _, cl := range pending {
		if cl.done != nil {
			cl.done <- result{err: err}
		}
	}
}

// write sends one frame. gorilla allows one writer at a time, hence wmu.
// A failed write breaks the connection, so the socket is closed for the
// reader to notice.
func (cn *conn) write(b []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	_ = cn.ws.SetWriteDeadline(time.Now().Add(cn.writeTimeout))
	if err := cn.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		_ = cn.ws.NetConn().Close()
		return err
	}
	return nil
}

// shutdown starts the closing handshake and drops the socket if the server
// does not answer in time.
func (cn *conn) shutdown() {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if cn.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(controlTimeout)) != nil {
		_ = cn.ws.NetConn().Close()
		return
	}
	time.AfterFunc(closeGrace, func() { _ = cn.ws.NetConn().Close() })
}

// send assigns an id, registers cl and writes cmd.
func (c *Client) send(cn *conn, cmd *protocol.Command, cl *call) (uint64, error) {
	id := c.nextID.Add(1)
	cmd.ID = strconv.AppendUint(make([]byte, 0, 20), id, 10)
	b, err := protocol.Marshal(cmd)
	if err != nil {
		return 0, err
	}
	if !cn.register(id, cl) {
		return 0, ErrNotConnected
	}
	if err := cn.write(b); err != nil {
		cn.take(id)
		return 0, fmt.Errorf("%w (write failed: %v)", ErrNotConnected, err)
	}
	c.stats.commands.Add(1)
	c.stats.bytesOut.Add(uint64(len(b)))
	return id, nil
}

// loop is the reader goroutine: it reads the current connection until it
// ends, then reconnects, for the life of the client.
func (c *Client) loop(cn *conn) {
	defer c.finish()
	attempt := 0 // reconnection attempts since the last stable connection
	for {
		start := time.Now()
		err := c.serve(cn)
		if time.Since(start) >= c.opts.Backoff.Max {
			attempt = 0
		}
		c.drop(cn, err)
		if c.isClosing() {
			return
		}
		code, reason := 1006, ""
		var ce *CloseError
		if errors.As(err, &ce) {
			code, reason = ce.Code, ce.Reason
		}
		again := !c.opts.NoReconnect && protocol.ShouldReconnect(code) && cn.fatal == nil
		if !again {
			c.stop(err)
		}
		c.emit(Event{Kind: KindDisconnected, Disconnected: &Disconnected{Code: code, Reason: reason, Err: err, Reconnect: again}})
		if !again {
			return
		}
		// A node that is going away or full says so: try another first.
		at := cn.at
		if code == protocol.CloseGoingAway || code == protocol.CloseServerFull {
			at++
		}
		if cn, attempt = c.reconnect(attempt, at); cn == nil {
			return
		}
	}
}

func (c *Client) finish() {
	c.mu.Lock()
	c.cur = nil
	c.mu.Unlock()
	if c.events != nil {
		close(c.events)
	}
	close(c.done)
}

func (c *Client) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// stop records why the client stopped on its own.
func (c *Client) stop(err error) {
	c.mu.Lock()
	if c.stopErr == nil {
		c.stopErr = err
		if err == nil {
			c.stopErr = errors.New("connection ended")
		}
	}
	c.mu.Unlock()
}

// drop retires a connection that ended.
func (c *Client) drop(cn *conn, err error) {
	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil
	}
	c.mu.Unlock()
	cn.fail(err)
}

// serve reads cn until it fails, handling every event on this goroutine.
func (c *Client) serve(cn *conn) error {
	defer cn.ws.Close()
	if !cn.greet {
		c.connected(cn, nil)
	}
	now := time.Now()
	for _, obj := range cn.rest {
		c.handle(cn, obj, now)
	}
	cn.rest = nil
	for {
		if cn.fatal != nil {
			return cn.fatal
		}
		// The deadline runs from here, not from the last frame, so time
		// spent waiting for the consumer does not count as server silence.
		cn.extendDeadline()
		typ, r, err := cn.ws.NextReader()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("no frame or ping from the server for %s; connection presumed dead", cn.silence())
			}
			return readError(err)
		}
		cn.buf.Reset()
		if _, err := cn.buf.ReadFrom(r); err != nil {
			return readError(err)
		}
		now := time.Now()
		c.stats.framesIn.Add(1)
		c.stats.bytesIn.Add(uint64(cn.buf.Len()))
		if typ == websocket.TextMessage {
			_ = protocol.Split(cn.buf.Bytes(), func(obj []byte) error {
				c.handle(cn, obj, now)
				return nil
			})
		}
		if cn.buf.Cap() > 1<<20 {
			cn.buf = bytes.Buffer{} // let a rare huge frame's buffer go
		}
	}
}

// handle decodes and dispatches one server object.
func (c *Client) handle(cn *conn, obj []byte, now time.Time) {
	ev, err := protocol.DecodeEvent(obj)
	if err != nil {
		c.emit(Event{Kind: KindError, Received: now, Wire: protocol.Event{
			Type: protocol.TypeError, Code: protocol.CodeBadJSON, Message: fmt.Sprintf("undecodable event from server: %v", err),
		}})
		return
	}
	c.stats.events.Add(1)
	switch ev.Type {
	case protocol.TypeReply:
		c.reply(cn, &ev, now)
	case protocol.TypeMsg:
		if !c.fresh(&ev) {
			c.stats.duplicates.Add(1)
			return
		}
		c.stats.messages.Add(1)
		c.emit(Event{Kind: KindMessage, Received: now, Wire: ev})
	case protocol.TypeDirect:
		c.direct(cn, &ev, now)
	case protocol.TypeJoin:
		if ev.Client != "" && ev.Client == cn.welcome.Client {
			c.self(cn, &ev)
		}
		c.emit(Event{Kind: KindJoin, Received: now, Wire: ev})
	case protocol.TypeLeave:
		if ev.Client != "" && ev.Client == cn.welcome.Client {
			c.self(cn, &ev)
		}
		c.emit(Event{Kind: KindLeave, Received: now, Wire: ev})
	case protocol.TypeError:
		c.emit(Event{Kind: KindError, Received: now, Wire: ev})
	}
	// Other types (a second welcome, types of newer servers) are ignored.
}

// fresh reports whether a room message is new, and records it. Duplicates
// come from recovery overlapping what was already delivered.
func (c *Client) fresh(ev *protocol.Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.rooms[ev.Room]
	switch {
	case st == nil:
		if c.leaving[ev.Room] == 0 {
			// A room the server put this client in without a word (its
			// connect hook): from now on it is recovered like the others.
			c.rooms[ev.Room] = &roomState{epoch: ev.Epoch, last: ev.Seq}
		}
		return true
	case ev.Epoch != st.epoch:
		st.epoch, st.last, st.own = ev.Epoch, ev.Seq, nil
		return true
	case ev.Seq <= st.last:
		return false
	case st.isOwn(ev.Seq):
		// An own noecho message, replayed by a recovery.
		return false
	}
	st.last = ev.Seq
	st.advance()
	return true
}

// reply settles the call a reply answers.
func (c *Client) reply(cn *conn, ev *protocol.Event, now time.Time) {
	var cl *call
	if id, err := strconv.ParseUint(string(ev.ID), 10, 64); err == nil {
		cl = cn.take(id)
	}
	if cl == nil {
		if ev.Error != nil {
			c.emit(Event{Kind: KindError, Received: now, Wire: protocol.Event{Type: protocol.TypeError, Code: ev.Error.Code, Message: ev.Error.Message}})
		}
		return
	}
	switch cl.op {
	case protocol.OpHello:
		c.helloed(cn, cl, ev)
	case protocol.OpJoin:
		c.joined(cn, cl, ev, now)
	case protocol.OpAck:
		c.acked(cl, ev, now)
	case protocol.OpPub:
		if cl.noecho && (ev.Error == nil || ev.Error.Code == protocol.CodeNotStored) {
			// Without an echo, the reply is the client's only sight of its
			// own message; recording it keeps a recovery from replaying it.
			// It does not move last by itself: messages before it may still
			// be on their way. A message not stored was delivered all the
			// same, so it holds its seq too.
			c.mu.Lock()
			if st := c.rooms[cl.room]; st != nil && st.epoch == ev.Epoch {
				st.seen(ev.Seq)
			}
			c.mu.Unlock()
		}
	}
	if cl.done != nil {
		cl.done <- result{ev: *ev}
	}
}

func (c *Client) helloed(cn *conn, cl *call, ev *protocol.Event) {
	if ev.Error != nil {
		if cl.greet && cn.reconnect {
			// A reconnect's hello was refused: reconnecting again would be
			// refused the same way.
			cn.fatal = fmt.Errorf("hello after reconnect: %w", ev.Error)
		}
		return
	}
	// What a reconnect must send to be the same user again: the server
	// keeps uid, meta (and token) when a hello leaves them out, but a new
	// connection starts with none.
	h := *cl.hello
	c.mu.Lock()
	if old := c.hello; old != nil {
		if h.UID == "" {
			h.UID = old.UID
		}
		if h.Token == "" {
			h.Token = old.Token
		}
		if len(h.Meta) == 0 {
			h.Meta = old.Meta
		}
	}
	c.hello = &h
	c.ident.Client, c.ident.UID, c.ident.Name = ev.Client, ev.UID, ev.Name
	c.mu.Unlock()
	cn.uid = ev.UID
	if cl.greet {
		c.connected(cn, ev)
	}
}

// connected announces a connection whose handshake is complete.
func (c *Client) connected(cn *conn, hello *protocol.Event) {
	w := cn.welcome
	id := Identity{Client: w.Client, UID: w.UID, Name: w.Name, Node: w.Node}
	if hello != nil {
		id.Client, id.UID, id.Name = hello.Client, hello.UID, hello.Name
	}
	c.mu.Lock()
	c.ident = id
	c.mu.Unlock()
	cn.ready = true
	c.stats.connects.Add(1)
	c.emit(Event{Kind: KindConnected, Connected: &Connected{
		Client: id.Client, UID: id.UID, Name: id.Name, Node: w.Node, Server: w.Server,
		URL: cn.url, Heartbeat: cn.heartbeat, Reconnect: cn.reconnect,
	}})
}

// joined records a joined room before the replayed and live messages that
// follow the reply are read.
func (c *Client) joined(cn *conn, cl *call, ev *protocol.Event, now time.Time) {
	if cl.probe {
		c.probed(cl, ev)
		return
	}
	c.mu.Lock()
	st := c.rooms[cl.room]
	if ev.Error != nil {
		if cl.rejoin {
			delete(c.rooms, cl.room)
		}
		c.mu.Unlock()
		if cl.rejoin {
			c.emit(Event{Kind: KindRecovered, Received: now, Recovered: &Recovered{Room: cl.room, Err: ev.Error}})
		}
		return
	}
	if cl.rejoin && st == nil {
		// Left while the re-join was on its way.
		c.mu.Unlock()
		_, _ = c.send(cn, &protocol.Command{Op: protocol.OpLeave, Room: cl.room}, &call{op: protocol.OpLeave, room: cl.room})
		return
	}
	if st == nil {
		st = &roomState{}
		c.rooms[cl.room] = st
	}
	changed := cl.since != nil && cl.epoch != "" && ev.Epoch != cl.epoch
	switch {
	case cl.since == nil:
		st.last = ev.Seq
	case changed:
		// Seqs of another generation do not compare: take every message.
		st.last = 0
	case ev.Seq < *cl.since:
		st.last = ev.Seq
	default:
		st.last = *cl.since
	}
	if st.epoch != ev.Epoch {
		st.own = nil
	}
	st.epoch = ev.Epoch
	st.advance()
	c.mu.Unlock()
	if !cl.rejoin {
		return
	}
	rec := &Recovered{Room: cl.room, Epoch: ev.Epoch, EpochChanged: changed}
	if ev.Recovered != nil {
		rec.Recovered = *ev.Recovered
	}
	if ev.Replayed != nil {
		rec.Replayed = *ev.Replayed
	}
	if !rec.Recovered && !changed && cl.since != nil && ev.Seq > *cl.since {
		// History no longer reached back: what lies between since and
		// the first message replayed is gone.
		if n := uint64(max(rec.Replayed, 0)); n < ev.Seq-*cl.since {
			rec.MissedFrom, rec.MissedTo = *cl.since+1, ev.Seq-n
		}
	}
	c.emit(Event{Kind: KindRecovered, Received: now, Recovered: rec})
}

// self follows the server putting this connection in a room or taking it
// out (through its API): a join or leave event about the client itself.
// A room it is put in is recovered after a reconnect like one it joined;
// to know where it stands in the room before a message says so, it joins
// the room itself (a no-op on the server, which answers with the room's
// seq: every message up to it came before the reply).
func (c *Client) self(cn *conn, ev *protocol.Event) {
	c.mu.Lock()
	if ev.Type == protocol.TypeLeave {
		delete(c.rooms, ev.Room)
		c.mu.Unlock()
		return
	}
	if c.rooms[ev.Room] != nil {
		c.mu.Unlock()
		return
	}
	c.rooms[ev.Room] = &roomState{}
	c.mu.Unlock()
	_, _ = c.send(cn, &protocol.Command{Op: protocol.OpJoin, Room: ev.Room}, &call{op: protocol.OpJoin, room: ev.Room, probe: true})
}

// probed records the answer to self's join. A refusal (a token that does
// not allow joining the room) leaves the place unknown: the first message
// will tell.
func (c *Client) probed(cl *call, ev *protocol.Event) {
	if ev.Error != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.rooms[cl.room]
	switch {
	case st == nil:
	case st.epoch != ev.Epoch:
		st.epoch, st.last, st.own = ev.Epoch, ev.Seq, nil
	case ev.Seq > st.last:
		st.last = ev.Seq
		st.advance()
	}
}

// emit hands an event to the consumer. With a channel it blocks while the
// channel is full: the reader stops reading, TCP pushes back, and a server
// whose queue for this client overflows closes it as a slow consumer (the
// client then reconnects and recovers). It never blocks past Close.
func (c *Client) emit(ev Event) {
	if ev.Received.IsZero() {
		ev.Received = time.Now()
	}
	if c.opts.OnEvent != nil {
		if c.isClosing() {
			return
		}
		c.inHandler.Store(true)
		defer c.inHandler.Store(false)
		c.opts.OnEvent(ev)
		return
	}
	select {
	case c.events <- ev:
	case <-c.closing:
	}
}

// reconnect dials until it has a connection ready for use, or returns nil
// when the client closes or must give up. It numbers attempts on from
// prev, so that a server that keeps dropping the client right after
// accepting it sees the delays grow instead of a storm. The first attempt
// goes to c.urls[at] (modulo their number), each next one to the next URL.
func (c *Client) reconnect(prev, at int) (*conn, int) {
	var lastErr error
	for attempt := prev + 1; ; attempt, at = attempt+1, at+1 {
		at %= len(c.urls)
		d := c.opts.Backoff.Delay(attempt)
		c.emit(Event{Kind: KindReconnecting, Reconnecting: &Reconnecting{Attempt: attempt, Delay: d, URL: c.urls[at], Err: lastErr}})
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.closing:
			t.Stop()
			return nil, attempt
		}
		cn, status, err := c.connect(c.ctx, at)
		if err == nil {
			if err = c.handshake(cn); err != nil {
				_ = cn.ws.Close()
			}
		}
		if err == nil {
			c.stats.reconnects.Add(1)
			return cn, attempt
		}
		if c.isClosing() {
			return nil, attempt
		}
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			c.stop(err)
			c.emit(Event{Kind: KindDisconnected, Disconnected: &Disconnected{Code: protocol.CloseUnauthorized, Reason: protocol.CloseReason(protocol.CloseUnauthorized), Err: err}})
			return nil, attempt
		}
		// Closed before the welcome with a code that says not to come back
		// (4001: the token was refused, e.g. it expired meanwhile).
		if ce := (*CloseError)(nil); errors.As(err, &ce) && !protocol.ShouldReconnect(ce.Code) {
			c.stop(err)
			c.emit(Event{Kind: KindDisconnected, Disconnected: &Disconnected{Code: ce.Code, Reason: ce.Reason, Err: err}})
			return nil, attempt
		}
		lastErr = err
	}
}

// handshake sends, on a new connection, the hello and a join with since
// for every room the client is in, then makes the connection current. The
// server runs a connection's commands in order, so requests sent after
// this see the rooms joined.
func (c *Client) handshake(cn *conn) error {
	cn.reconnect = true
	c.mu.Lock()
	hello := c.hello
	rejoins := make([]*call, 0, len(c.rooms))
	for room, st := range c.rooms {
		cl := &call{op: protocol.OpJoin, room: room, epoch: st.epoch, rejoin: true}
		if st.epoch != "" {
			// A room whose place the client does not know is joined
			// afresh: since 0 would replay all of its history.
			since := st.last
			cl.since = &since
		}
		rejoins = append(rejoins, cl)
	}
	// Leaves in flight ended with the old connection.
	clear(c.leaving)
	c.mu.Unlock()
	if hello != nil {
		cmd := *hello
		cn.greet = true
		if _, err := c.send(cn, &cmd, &call{op: protocol.OpHello, hello: hello, greet: true}); err != nil {
			return err
		}
	}
	for _, cl := range rejoins {
		cmd := protocol.Command{Op: protocol.OpJoin, Room: cl.room, Since: cl.since, Epoch: cl.epoch}
		if _, err := c.send(cn, &cmd, cl); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.cur, c.at = cn, cn.at
	return nil
}

// current returns the connection to send on, or why there is none.
func (c *Client) current() (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.cur != nil:
		return c.cur, nil
	case c.closed:
		return nil, ErrClosed
	case c.stopErr != nil:
		return nil, fmt.Errorf("%w: %w", ErrClosed, c.stopErr)
	}
	return nil, ErrNotConnected
}

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.opts.RequestTimeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			return context.WithTimeout(ctx, c.opts.RequestTimeout)
		}
	}
	return ctx, func() {}
}

// request sends cmd and waits for its reply. A reply with an error returns
// that *protocol.Error. When ctx ends first the call stays registered, so
// that a late reply still updates the client's state (a join still counts).
func (c *Client) request(ctx context.Context, cmd *protocol.Command, cl *call) (protocol.Event, error) {
	cn, err := c.current()
	if err != nil {
		return protocol.Event{}, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	cl.done = make(chan result, 1)
	if _, err := c.send(cn, cmd, cl); err != nil {
		return protocol.Event{}, err
	}
	select {
	case r := <-cl.done:
		if r.err != nil {
			return r.ev, r.err
		}
		if r.ev.Error != nil {
			return r.ev, r.ev.Error
		}
		return r.ev, nil
	case <-ctx.Done():
		return protocol.Event{}, fmt.Errorf("no reply: %w", ctx.Err())
	}
}

// Events returns the channel of events, closed after the client stops
// (Close, or a disconnect it does not reconnect from). It is nil when
// Options.OnEvent is set. The consumer must keep reading it: while it is
// full the reader goroutine waits, so no replies are read either, requests
// time out, and the server eventually drops the client as a slow consumer.
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the client has stopped: after Close, or when a
// disconnect ended it for good (see Err).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped on its own (for example a
// *CloseError with code 4010 when kicked), or nil while it runs and after
// Close.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopErr
}

// URL returns the WebSocket URL of the current connection, or while the
// client reconnects, of the last one. With Options.FallbackURLs it changes
// when the client moves to another node.
func (c *Client) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.urls[c.at]
}

// URLs returns the WebSocket URLs the client connects to, normalized:
// the one given to Dial, then Options.FallbackURLs without duplicates.
func (c *Client) URLs() []string { return slices.Clone(c.urls) }

// Connected reports whether the client has a connection ready for
// requests.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil
}

// Identity returns who the server knows this client as on its latest
// connection.
func (c *Client) Identity() Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ident
}

// Rooms returns the rooms the client is in (and re-joins after a
// reconnect), in no particular order: those it joined, and those the
// server put it in that it learned of (see Recovered).
func (c *Client) Rooms() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.rooms))
	for r := range c.rooms {
		out = append(out, r)
	}
	return out
}

// Close closes the connection with a normal close frame, stops
// reconnecting, fails requests in flight, and closes the Events channel.
// It waits for the reader goroutine to exit, except when called from
// OnEvent. It is safe to call more than once and from any goroutine; it
// always returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		cn := c.cur
		owed, uid := c.inbox.owed, c.inbox.uid
		c.inbox.owed = 0
		if c.inbox.timer != nil {
			c.inbox.timer.Stop()
		}
		c.mu.Unlock()
		close(c.closing)
		c.cancel()
		if cn != nil {
			if owed > 0 {
				// The server reads the ack before the close frame, so what
				// the application got is not handed out again.
				_, _ = c.send(cn, &protocol.Command{Op: protocol.OpAck, Inbox: owed}, &call{op: protocol.OpAck, inbox: owed, uid: uid, auto: true})
			}
			cn.shutdown()
		}
	})
	if !c.inHandler.Load() {
		<-c.done
	}
	return nil
}
