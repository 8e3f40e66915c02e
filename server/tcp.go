package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rtsync/rtsync/internal/termtext"
	"github.com/rtsync/rtsync/protocol"
)

// The TCP transport: the same JSON objects as WebSocket, one per line, for
// clients without a WebSocket library (apps, devices, game clients). A
// connection whose first line is not JSON is in text mode instead, so that
// `nc host port` is a chat client: see docs/protocol.md, "TCP transport".
//
// Each connection has one goroutine, its reader (see the package doc);
// writes go through the same queue and writers as WebSocket ones.

// TCP tuning.
const (
	// tcpReadBufferSize is the reader's buffer, held for the connection's
	// whole life. Longer lines are gathered in a pooled buffer, up to
	// Config.MaxMessageSize; longer still are discarded as they arrive.
	tcpReadBufferSize = 512
	// maxPooledWrite is the largest write buffer kept for reuse.
	maxPooledWrite = 128 << 10
	// acceptBackoffMax caps the pause after a failed Accept (out of file
	// descriptors, say), which is doubled from 5ms on each failure.
	acceptBackoffMax = time.Second
	// textRoom is the room a text-mode client starts in.
	textRoom = "lobby"
	// shortIDLen is how much of a client id names an anonymous client in
	// text mode.
	shortIDLen = 6
)

var tcpWriteBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// textModeOn is queued, by identity, when a connection turns out to be in
// text mode: the transport renders what comes after it as human lines and
// writes what came before (the welcome) as JSON, whatever the timing.
var textModeOn = []byte(`{"type":"$text"}`)

// textLine returns a line the reader queues for a text-mode client: its
// first byte, 0, can start no JSON object, and the rest is written as is.
func textLine(format string, args ...any) []byte {
	return fmt.Appendf([]byte{0}, format, args...)
}

// ServeTCP has Run also serve the line-based TCP transport on ln. Call it
// before Run; Run closes ln on shutdown.
func (s *Server) ServeTCP(ln net.Listener) {
	s.tcpListeners = append(s.tcpListeners, ln)
}

// acceptTCP accepts TCP clients on ln until ln is closed (by shutdown) or
// ctx ends. After a shutdown it waits, briefly, until every connection it
// accepted has written its close line, so that a process exiting when Run
// returns does not cut them off.
func (s *Server) acceptTCP(ctx context.Context, ln net.Listener) {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var conns sync.WaitGroup
	var backoff time.Duration
	for {
		nc, err := guardListener{ln, s}.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil || s.draining.Load() {
				break
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), acceptBackoffMax)
			s.log.Debug("accepting a TCP connection failed; retrying", "addr", ln.Addr().String(), "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		conns.Add(1)
		go s.serveTCP(nc, conns.Done)
	}
	if !s.draining.Load() {
		return
	}
	done := make(chan struct{})
	go func() { conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeGrace):
	}
}

// keepAliver is a connection whose TCP keepalive can be tuned
// (*net.TCPConn).
type keepAliver interface {
	SetKeepAliveConfig(net.KeepAliveConfig) error
}

// serveTCP admits a new TCP connection and starts its reader; done is
// called once its transport is closed.
func (s *Server) serveTCP(nc net.Conn, done func()) {
	remote := nc.RemoteAddr().String()
	if kc, ok := nc.(keepAliver); ok {
		// TCP has no ping frame: the OS probes an idle peer instead and
		// drops it after about two heartbeat intervals without an answer.
		hb := s.cfg.HeartbeatInterval
		cfg := net.KeepAliveConfig{Enable: true, Idle: hb, Interval: max(hb/2, time.Second), Count: 2}
		if err := kc.SetKeepAliveConfig(cfg); err != nil {
			s.log.Debug("TCP keepalive not set", "remote", remote, "err", err)
		}
	}
	t := &tcpTransport{nc: nc, remote: remote, wt: s.cfg.WriteTimeout, done: done}
	c := newConn(s, t)
	if s.draining.Load() {
		t.Close(protocol.CloseGoingAway, "")
		return
	}
	if !s.open(c, &connInfo{transport: "tcp", remote: remote}) {
		return
	}
	// A fresh goroutine starts on the smallest stack, which the open
	// path (hooks, auth) may have grown; an idle connection keeps only
	// this one.
	go s.readTCP(c, t)
}

// tcpTransport is a Transport over a TCP connection: objects are written
// as lines, or, in text mode, rendered as human lines.
type tcpTransport struct {
	nc     net.Conn
	remote string
	wt     time.Duration
	done   func()

	// text is set by the reader when the connection turns out to be in
	// text mode; Close and the heartbeat sweep read it.
	text atomic.Bool
	// closing is set when Close starts: the reader ignores further lines.
	closing atomic.Bool
	// lingering is set once the close line is out and the socket is
	// half-closed: the reader may drop it as soon as the peer is done.
	lingering atomic.Bool
	closeOnce sync.Once

	// render is owned by the writer (WriteBatch's caller): objects after
	// textModeOn are rendered as text.
	render bool

	// wmu serialises socket writes; Close takes it to write the close
	// line after any pending write.
	wmu    sync.Mutex
	shut   bool  // Close has written, or given up on, the close line
	broken error // a write failed: the stream may end mid-line
}

func (t *tcpTransport) Kind() string       { return "tcp" }
func (t *tcpTransport) RemoteAddr() string { return t.remote }

// Ping does nothing: TCP has no ping frame, and the OS keepalive set up at
// accept time probes the peer instead. JSON-mode clients prove they are
// alive by sending something (the ping op) within the silence limit.
func (t *tcpTransport) Ping() error { return nil }

// silenceAllowed exempts text-mode clients from the heartbeat silence
// rule: a person on nc may say nothing for hours, and keepalive still
// drops the connection if the peer is gone.
func (t *tcpTransport) silenceAllowed() bool { return t.text.Load() }

func (t *tcpTransport) WriteBatch(objs [][]byte) error {
	bp := tcpWriteBufs.Get().(*[]byte)
	b := (*bp)[:0]
	for _, o := range objs {
		switch {
		case len(o) == 0:
		case &o[0] == &textModeOn[0]:
			t.render = true
		case t.render:
			b = appendText(b, o)
		case o[0] == 0:
			// A text line can only follow textModeOn; never write one
			// to a JSON client.
		default:
			b = append(append(b, o...), '\n')
		}
	}
	err := t.write(b)
	if cap(b) <= maxPooledWrite {
		*bp = b[:0]
		tcpWriteBufs.Put(bp)
	}
	return err
}

func (t *tcpTransport) write(b []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	switch {
	case t.shut:
		return net.ErrClosed
	case t.broken != nil:
		return t.broken
	case len(b) == 0:
		return nil
	}
	if _, err := t.nc.Write(b); err != nil {
		t.broken = err
		return err
	}
	return nil
}

// Close writes a last line saying why, since TCP has no close frame: in
// JSON mode {"type":"close","close_code":C,"reason":R}, in text mode
// "! closed: R (C)". It then half-closes the socket and gives the peer a
// moment to read before dropping it. Code 0 drops the socket at once.
func (t *tcpTransport) Close(code int, reason string) {
	t.closeOnce.Do(func() {
		defer t.done()
		t.closing.Store(true)
		if code == 0 {
			_ = t.nc.Close()
			return
		}
		if reason == "" {
			reason = protocol.CloseReason(code)
		}
		line := t.closeLine(code, reason)
		// A writer blocked on a full socket holds wmu until the peer reads
		// or this deadline passes; wait as long, so a slow consumer that
		// does read on learns why it was cut off.
		_ = t.nc.SetWriteDeadline(time.Now().Add(t.wt))
		t.wmu.Lock()
		t.shut = true
		ok := t.broken == nil
		if ok {
			_, err := t.nc.Write(line)
			ok = err == nil
		}
		t.wmu.Unlock()
		if cw, can := t.nc.(interface{ CloseWrite() error }); ok && can {
			ok = cw.CloseWrite() == nil
		}
		if !ok {
			_ = t.nc.Close()
			return
		}
		t.lingering.Store(true)
		// The reader drops the socket when the peer closes its end; this
		// drops it if the peer never does.
		time.AfterFunc(closeGrace, func() { _ = t.nc.Close() })
	})
}

func (t *tcpTransport) closeLine(code int, reason string) []byte {
	if t.text.Load() {
		return fmt.Appendf(nil, "! closed: %s (%d)\n", clean(reason), code)
	}
	b, err := protocol.Marshal(protocol.CloseEvent{Type: protocol.TypeClose, CloseCode: code, Reason: reason})
	if err != nil {
		b = fmt.Appendf(nil, `{"type":"close","close_code":%d}`, code)
	}
	return append(b, '\n')
}

// Reader modes: a connection is in JSON or text mode from its first
// non-blank line on.
const (
	modeUnknown = iota
	modeJSON
	modeText
)

// tcpReader is a connection's reader goroutine and the state it owns.
type tcpReader struct {
	s  *Server
	c  *conn
	t  *tcpTransport
	br *bufio.Reader
	// acc gathers a line longer than br's buffer; from frameBufs, nil
	// between such lines.
	acc  *[]byte
	mode int
	// room is where a text-mode client's lines go.
	room string
	// stopped is set when a close is under way (/quit, lobby refused):
	// further lines are read, so that closing does not reset the
	// connection over unread data, and ignored.
	stopped bool
}

// readTCP is the connection's reader: it reads lines until the connection
// ends and hands each to the JSON or text path. Idle, it holds its
// goroutine, parked in the read, and a tcpReadBufferSize buffer.
func (s *Server) readTCP(c *conn, t *tcpTransport) {
	r := &tcpReader{s: s, c: c, t: t, br: bufio.NewReaderSize(t.nc, tcpReadBufferSize)}
	for {
		line, tooLarge, err := r.readLine()
		// A line cut short by a failed read is not a line.
		if (tooLarge || len(line) > 0) && (err == nil || errors.Is(err, io.EOF)) {
			r.handle(line, tooLarge)
		}
		if r.acc != nil {
			if cap(*r.acc) <= 64<<10 {
				*r.acc = (*r.acc)[:0]
				frameBufs.Put(r.acc)
			}
			r.acc = nil
		}
		if err != nil {
			r.end(err)
			return
		}
	}
}

// end handles the end of the input.
func (r *tcpReader) end(err error) {
	switch {
	case r.stopped:
		// The close under way drops the socket.
	case r.t.closing.Load():
		// The server is closing it: drop the socket now if the close line
		// is out; Close drops it later otherwise.
		if r.t.lingering.Load() {
			_ = r.t.nc.Close()
		}
	case errors.Is(err, io.EOF):
		// The client closed its end, maybe only for writing (nc -N,
		// shutdown(SHUT_WR)): answer what it sent, then close.
		r.s.log.Debug("connection closed", "client", r.c.id)
		r.c.drainAndClose(0)
	default:
		r.s.log.Debug("read failed", "client", r.c.id, "err", err)
		r.c.close(0, "")
	}
}

// readLine reads the next line and returns it without its line end. A
// line that fits in the reader's buffer is returned in place, valid until
// the next read; a longer one is gathered in r.acc. Past
// Config.MaxMessageSize the line is discarded up to its newline as it
// arrives, and tooLarge reports it. A last line with no newline is
// returned with io.EOF.
func (r *tcpReader) readLine() (line []byte, tooLarge bool, err error) {
	limit := r.s.cfg.MaxMessageSize
	for {
		chunk, err := r.br.ReadSlice('\n')
		switch {
		case tooLarge:
		case r.acc == nil && !errors.Is(err, bufio.ErrBufferFull):
			line = chunk
		default:
			if r.acc == nil {
				r.acc = frameBufs.Get().(*[]byte)
			}
			// Room for the "\r\n" the check after trimming ignores.
			if len(*r.acc)+len(chunk) > limit+2 {
				tooLarge = true
				*r.acc = (*r.acc)[:0]
				break
			}
			*r.acc = append(*r.acc, chunk...)
			line = *r.acc
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if tooLarge || len(line) > limit {
			return nil, true, err
		}
		return line, false, err
	}
}

// handle acts on one line.
func (r *tcpReader) handle(line []byte, tooLarge bool) {
	c := r.c
	c.touch()
	if r.stopped || r.t.closing.Load() || c.flooded {
		return
	}
	if tooLarge {
		c.sendError(protocol.CodeTooLarge, "line is longer than the server's limit of "+itoa(r.s.cfg.MaxMessageSize)+" bytes; it was dropped")
		return
	}
	if r.mode == modeUnknown {
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 {
			return
		}
		if trimmed[0] == '{' {
			r.mode = modeJSON
		} else {
			r.mode = modeText
			if !r.startText() {
				r.stopped = true
				return
			}
		}
	}
	if r.mode == modeJSON {
		c.handleFrame(line)
		return
	}
	r.text(line)
}

// startText switches the connection to text mode and puts it in the lobby;
// false means it may not join and is being closed.
func (r *tcpReader) startText() bool {
	c := r.c
	r.t.text.Store(true)
	c.push(textModeOn, true)
	r.room = textRoom
	r.do(&protocol.Command{Op: protocol.OpJoin, Room: textRoom})
	if !r.inRoom(textRoom) {
		// The refusal was shown; a refused token closes the connection
		// itself (and sets flooded).
		if !c.flooded {
			c.drainAndClose(protocol.CloseForbidden)
		}
		return false
	}
	c.push(textLine("* you are %s in %s (%d here); type to chat, /help lists commands", r.me(), textRoom, r.roomSize(textRoom)), true)
	return true
}

// textData is the data of a text-mode client's message.
type textData struct {
	Text string `json:"text"`
}

// text handles a text-mode line: a command, or a message to the current
// room.
func (r *tcpReader) text(line []byte) {
	c := r.c
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	if !utf8.Valid(line) {
		c.sendError(protocol.CodeBadFrame, "line is not valid UTF-8; set your terminal to UTF-8")
		return
	}
	if line[0] == '/' {
		if len(line) < 2 || line[1] != '/' {
			r.command(string(line[1:]))
			return
		}
		line = line[1:] // "//text" sends "/text"
	}
	data, err := protocol.Marshal(textData{Text: string(line)})
	if err != nil {
		return
	}
	// noecho: nc already shows what the user typed.
	r.do(&protocol.Command{Op: protocol.OpPub, Room: r.room, Data: data, NoEcho: true})
}

// textHelp is the answer to /help.
var textHelp = []string{
	"* /nick NAME   set your display name",
	"* /join ROOM   leave this room for ROOM",
	"* /who         list who is in this room",
	"* /quit        disconnect",
	"* //text       send a line that starts with /",
}

// command runs a text-mode command line (without its '/').
func (r *tcpReader) command(line string) {
	c := r.c
	name, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "nick":
		if arg == "" {
			c.sendError(protocol.CodeBadRequest, "usage: /nick NAME")
			break
		}
		if r.do(&protocol.Command{Op: protocol.OpHello, Name: arg}) {
			c.push(textLine("* you are now %s", r.me()), true)
		}
	case "join":
		if arg == "" || strings.ContainsAny(arg, " \t") {
			c.sendError(protocol.CodeBadRequest, "usage: /join ROOM")
			break
		}
		if !r.do(&protocol.Command{Op: protocol.OpJoin, Room: arg}) || !r.inRoom(arg) {
			break // the error was shown
		}
		if arg != r.room && r.inRoom(r.room) {
			r.do(&protocol.Command{Op: protocol.OpLeave, Room: r.room})
		}
		r.room = arg
		c.push(textLine("* you are in %s (%d here)", arg, r.roomSize(arg)), true)
	case "who":
		r.do(&protocol.Command{Op: protocol.OpPresence, Room: r.room})
	case "quit":
		c.push(textLine("* bye"), true)
		r.stopped = true
		c.drainAndClose(0)
	case "help":
		for _, l := range textHelp {
			c.push(textLine("%s", l), true)
		}
	default:
		c.sendError(protocol.CodeBadRequest, fmt.Sprintf("unknown command /%s; /help lists commands", clean(truncateRunes(name, 32))))
	}
}

// do runs a command on the client's behalf exactly as if it had sent it
// (checks, rate limit, hooks); the reply, in text mode, shows only when it
// is an error. It reports false when the command was invalid.
func (r *tcpReader) do(cmd *protocol.Command) bool {
	r.c.received()
	if e := cmd.Validate(); e != nil {
		r.c.replyErr(nil, e)
		return false
	}
	r.c.dispatch(cmd)
	return true
}

func (r *tcpReader) inRoom(room string) bool {
	r.c.stateMu.Lock()
	defer r.c.stateMu.Unlock()
	_, ok := r.c.rooms[room]
	return ok
}

func (r *tcpReader) roomSize(room string) int {
	r.c.stateMu.Lock()
	rm := r.c.rooms[room]
	r.c.stateMu.Unlock()
	if rm == nil {
		return 0
	}
	return rm.size()
}

// me is how others see this client in text mode.
func (r *tcpReader) me() string {
	_, uid, name := r.c.identity()
	return displayName(name, uid, r.c.id)
}

// displayName names a client for people: its name, else its uid, else
// the start of its client id.
func displayName(name, uid, client string) string {
	switch {
	case name != "":
		return clean(name)
	case uid != "":
		return clean(uid)
	case client != "":
		return clean(client[:min(len(client), shortIDLen)])
	}
	return "server"
}

// appendText renders one queued object for a text-mode client and appends
// the resulting line, if any, to b: messages, presence and errors are
// shown; replies are shown only when they failed or list members, since
// the client sent no command it would expect an answer to.
func appendText(b, obj []byte) []byte {
	if obj[0] == 0 {
		return append(append(b, obj[1:]...), '\n')
	}
	var e protocol.Event
	if json.Unmarshal(obj, &e) != nil {
		return b
	}
	from := func() string {
		if e.From == nil {
			return "server"
		}
		return displayName(e.From.Name, e.From.UID, e.From.Client)
	}
	var line string
	switch e.Type {
	case protocol.TypeMsg:
		line = "[" + e.Room + "] " + from() + ": " + dataText(e.Data)
	case protocol.TypeDirect:
		line = "[direct] " + from() + ": " + dataText(e.Data)
	case protocol.TypeJoin:
		line = "* " + displayName(e.Name, e.UID, e.Client) + " joined " + e.Room
	case protocol.TypeLeave:
		line = "* " + displayName(e.Name, e.UID, e.Client) + " left " + e.Room
	case protocol.TypeError:
		line = "! " + e.Code + ": " + clean(e.Message)
	case protocol.TypeReply:
		switch {
		case e.Error != nil:
			line = "! " + e.Error.Code + ": " + clean(e.Error.Message)
		case len(e.Members) > 0:
			names := make([]string, len(e.Members))
			for i, m := range e.Members {
				names[i] = displayName(m.Name, m.UID, m.Client)
			}
			line = "* in " + e.Room + ": " + strings.Join(names, ", ") + " (" + strconv.Itoa(len(names)) + ")"
		default:
			return b
		}
	default:
		return b
	}
	return append(append(b, line...), '\n')
}

// dataText is a message's data as text: its "text" field when it is an
// object with a string text, its compact JSON otherwise.
func dataText(data json.RawMessage) string {
	if len(data) > 0 && data[0] == '{' {
		var d struct {
			Text *string `json:"text"`
		}
		if json.Unmarshal(data, &d) == nil && d.Text != nil {
			return clean(*d.Text)
		}
	}
	return clean(string(data))
}

// clean makes s safe to print on a terminal on one line, by the rules
// every rtsync terminal shares (internal/termtext): line breaks become
// spaces; escape sequences and other control characters (C1 included),
// bidi controls and invisible format characters become U+FFFD.
func clean(s string) string { return termtext.Line(s) }

// truncateRunes cuts s to at most n bytes on a character boundary.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
