package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/protocol"
)

// startTCPServer runs a Server with the TCP transport on free loopback
// ports until the test ends; it returns the server, its ws:// URL and the
// TCP address.
func startTCPServer(t *testing.T, cfg Config) (*Server, string, string) {
	t.Helper()
	s, wsURL, tcpAddr, stop := runTCPServer(t, cfg)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("server Run: %v", err)
		}
	})
	return s, wsURL, tcpAddr
}

// runTCPServer is startTCPServer with the stop left to the caller: stop
// ends Run and returns what it returned.
func runTCPServer(t *testing.T, cfg Config) (s *Server, wsURL, tcpAddr string, stop func() error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ServeTCP(tl)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	var res error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			res = <-done
		}
		return res
	}
	return s, "ws://" + ln.Addr().String() + "/ws", tl.Addr().String(), stop
}

// tcpClient is a bare TCP client for tests: it writes raw lines and reads
// lines one by one.
type tcpClient struct {
	t       *testing.T
	nc      net.Conn
	lines   chan string
	err     chan error // the read error that ended the reader (io.EOF at the end)
	pending []protocol.Event
	welcome protocol.Event
	nextID  int
}

// dialTCP connects without reading anything.
func dialTCP(t *testing.T, addr string) *tcpClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &tcpClient{t: t, nc: nc, lines: make(chan string, 1<<16), err: make(chan error, 1)}
	t.Cleanup(func() { _ = nc.Close() })
	go c.readLoop()
	return c
}

// dialTCPJSON connects and reads the welcome.
func dialTCPJSON(t *testing.T, addr string) *tcpClient {
	t.Helper()
	c := dialTCP(t, addr)
	c.welcome = c.expect(protocol.TypeWelcome)
	return c
}

func (c *tcpClient) readLoop() {
	sc := bufio.NewScanner(c.nc)
	sc.Buffer(make([]byte, 4096), 4<<20)
	for sc.Scan() {
		c.lines <- sc.Text()
	}
	err := sc.Err()
	if err == nil {
		err = io.EOF
	}
	c.err <- err
}

// send writes the lines, each '\n'-terminated, in one write.
func (c *tcpClient) send(lines ...string) {
	c.t.Helper()
	c.sendRaw(strings.Join(lines, "\n") + "\n")
}

func (c *tcpClient) sendRaw(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// tryLine returns the next line, or the error that ended the connection,
// or errTimeout.
func (c *tcpClient) tryLine(d time.Duration) (string, error) {
	select {
	case l := <-c.lines:
		return l, nil
	default:
	}
	select {
	case l := <-c.lines:
		return l, nil
	case err := <-c.err:
		c.err <- err
		select {
		case l := <-c.lines:
			return l, nil
		default:
		}
		return "", err
	case <-time.After(d):
		return "", errTimeout
	}
}

func (c *tcpClient) line() string {
	c.t.Helper()
	l, err := c.tryLine(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read line: %v", err)
	}
	return l
}

// expectLine fails unless the next line is want.
func (c *tcpClient) expectLine(want string) {
	c.t.Helper()
	if got := c.line(); got != want {
		c.t.Fatalf("got line %q, want %q", got, want)
	}
}

// event reads the next line as a JSON event.
func (c *tcpClient) event() protocol.Event {
	c.t.Helper()
	if len(c.pending) > 0 {
		e := c.pending[0]
		c.pending = c.pending[1:]
		return e
	}
	l := c.line()
	e, err := protocol.DecodeEvent([]byte(l))
	if err != nil {
		c.t.Fatalf("line %q: %v", l, err)
	}
	return e
}

func (c *tcpClient) expect(typ string) protocol.Event {
	c.t.Helper()
	e := c.event()
	if e.Type != typ {
		c.t.Fatalf("got %s event %+v, want %s", e.Type, e, typ)
	}
	return e
}

// cmd sends a command with a fresh id and returns its reply, keeping the
// events that arrive before it for later event calls.
func (c *tcpClient) cmd(fields map[string]any) protocol.Event {
	c.t.Helper()
	c.nextID++
	fields["id"] = c.nextID
	b, _ := json.Marshal(fields)
	c.send(string(b))
	var skipped []protocol.Event
	for {
		l := c.line()
		e, err := protocol.DecodeEvent([]byte(l))
		if err != nil {
			c.t.Fatalf("line %q: %v", l, err)
		}
		if e.Type == protocol.TypeReply && string(e.ID) == itoa(c.nextID) {
			c.pending = append(c.pending, skipped...)
			return e
		}
		skipped = append(skipped, e)
	}
}

// expectEOF fails unless the server ends the connection, with no more
// lines, within d.
func (c *tcpClient) expectEOF(d time.Duration) {
	c.t.Helper()
	l, err := c.tryLine(d)
	if err == nil {
		c.t.Fatalf("got line %q, want the end of the connection", l)
	}
	if err == errTimeout {
		c.t.Fatal("connection still open")
	}
}

// quiet fails if a line arrives within d.
func (c *tcpClient) quiet(d time.Duration) {
	c.t.Helper()
	if l, err := c.tryLine(d); err != errTimeout {
		c.t.Fatalf("got %q %v, want nothing", l, err)
	}
}

func closeLine(code int) string {
	return fmt.Sprintf(`{"type":"close","close_code":%d,"reason":%q}`, code, protocol.CloseReason(code))
}

func TestTCPJSONOps(t *testing.T) {
	t.Parallel()
	_, _, addr := startTCPServer(t, Config{Node: "n1", Version: "v9", HeartbeatInterval: 7 * time.Second})
	c := dialTCPJSON(t, addr)
	w := c.welcome
	if w.Client == "" || w.Node != "n1" || w.Server != "v9" || w.Protocol != protocol.Version || w.Heartbeat != 7000 {
		t.Fatalf("welcome = %+v", w)
	}
	if r := mustOK(t, c.cmd(map[string]any{"op": "ping"})); !r.Pong {
		t.Fatalf("ping reply = %+v", r)
	}
	r := mustOK(t, c.cmd(map[string]any{"op": "hello", "name": "Dev", "uid": "dev1"}))
	if r.Client != w.Client || r.UID != "dev1" || r.Name != "Dev" {
		t.Fatalf("hello reply = %+v", r)
	}
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "t"}))
	r = mustOK(t, c.cmd(map[string]any{"op": "pub", "room": "t", "data": map[string]any{"v": 1}}))
	if r.Seq != 1 || r.Epoch == "" {
		t.Fatalf("pub reply = %+v", r)
	}
	if m := c.expect(protocol.TypeMsg); m.Seq != 1 || m.From.UID != "dev1" || string(m.Data) != `{"v":1}` {
		t.Fatalf("msg = %+v", m)
	}
	r = mustOK(t, c.cmd(map[string]any{"op": "presence", "room": "t"}))
	if len(r.Members) != 1 || r.Members[0].Client != w.Client || r.Members[0].Name != "Dev" {
		t.Fatalf("presence reply = %+v", r)
	}
	r = mustOK(t, c.cmd(map[string]any{"op": "history", "room": "t"}))
	if len(r.Messages) != 1 || r.Messages[0].Seq != 1 {
		t.Fatalf("history reply = %+v", r)
	}
	r = mustOK(t, c.cmd(map[string]any{"op": "send", "to_client": w.Client, "data": "self"}))
	if r.Delivered == nil || *r.Delivered != 1 {
		t.Fatalf("send reply = %+v", r)
	}
	if d := c.expect(protocol.TypeDirect); string(d.Data) != `"self"` || d.From.Client != w.Client {
		t.Fatalf("direct = %+v", d)
	}
	mustOK(t, c.cmd(map[string]any{"op": "send", "to_uid": "dev1", "data": 2}))
	c.expect(protocol.TypeDirect)
	if r := mustOK(t, c.cmd(map[string]any{"op": "send", "to_uid": "nobody", "data": 2})); !r.Stored {
		t.Fatalf("send to an offline uid = %+v, want stored", r)
	}
	mustOK(t, c.cmd(map[string]any{"op": "leave", "room": "t"}))
	mustErr(t, c.cmd(map[string]any{"op": "pub", "room": "t", "data": 1}), protocol.CodeNotJoined)
	// No application is behind this server: rpc gets an error reply,
	// whatever its code.
	if r := c.cmd(map[string]any{"op": "rpc", "method": "m"}); r.OK || r.Error == nil {
		t.Fatalf("rpc reply = %+v", r)
	}
}

// TestTCPBatchedLines: several lines in one write, CRLF, blank lines: each
// object is handled in order.
func TestTCPBatchedLines(t *testing.T) {
	t.Parallel()
	_, _, addr := startTCPServer(t, Config{})
	c := dialTCPJSON(t, addr)
	c.sendRaw("{\"op\":\"join\",\"id\":1,\"room\":\"b\"}\r\n\r\n  \n{\"op\":\"pub\",\"id\":2,\"room\":\"b\",\"data\":1}\n{\"op\":\"ping\",\"id\":3}\r\n")
	if r := c.expect(protocol.TypeReply); string(r.ID) != "1" || !r.OK {
		t.Fatalf("join reply = %+v", r)
	}
	var msg, pub, ping bool
	for !(msg && pub && ping) {
		e := c.event()
		switch {
		case e.Type == protocol.TypeMsg && e.Seq == 1:
			msg = true
		case e.Type == protocol.TypeReply && string(e.ID) == "2" && e.OK && e.Seq == 1:
			pub = true
		case e.Type == protocol.TypeReply && string(e.ID) == "3" && e.Pong:
			if !pub {
				t.Fatal("ping answered before the pub before it")
			}
			ping = true
		default:
			t.Fatalf("unexpected %+v", e)
		}
	}
}

func TestTCPBadInput(t *testing.T) {
	t.Parallel()
	const limit = 1024
	_, _, addr := startTCPServer(t, Config{MaxMessageSize: limit})
	c := dialTCPJSON(t, addr)
	tests := []struct {
		name  string
		line  string
		event string // "error" event, or "reply"
		code  string
	}{
		{"malformed json", `{"op":"pub",`, protocol.TypeError, protocol.CodeBadJSON},
		{"invalid utf-8", "{\"op\":\"ping\",\"x\":\"\xff\xfe\"}", protocol.TypeError, protocol.CodeBadFrame},
		{"unknown op", `{"op":"dance","id":1}`, protocol.TypeReply, protocol.CodeUnknownOp},
		{"bad room", `{"op":"join","id":2,"room":"a b"}`, protocol.TypeReply, protocol.CodeBadRoom},
		{"line one byte too long", `{"op":"ping","pad":"` + strings.Repeat("x", limit-21) + `"}`, protocol.TypeError, protocol.CodeTooLarge},
		{"line far too long", `{"op":"ping","pad":"` + strings.Repeat("x", 20*limit) + `"}`, protocol.TypeError, protocol.CodeTooLarge},
		{"not json after a json first line", `hello`, protocol.TypeError, protocol.CodeBadJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.line)
			e := c.event()
			got := e.Code
			if e.Error != nil {
				got = e.Error.Code
			}
			if e.Type != tt.event || got != tt.code {
				t.Fatalf("got %+v, want %s %s", e, tt.event, tt.code)
			}
			// The connection is still usable.
			if r := mustOK(t, c.cmd(map[string]any{"op": "ping"})); !r.Pong {
				t.Fatalf("ping reply = %+v", r)
			}
		})
	}
	c.t = t

	// A line of exactly the limit, CRLF-terminated, is handled.
	exact := `{"op":"ping","id":77,"pad":"` + strings.Repeat("y", limit-30) + `"}`
	if len(exact) != limit {
		t.Fatalf("test line is %d bytes", len(exact))
	}
	c.sendRaw(exact + "\r\n")
	if r := c.expect(protocol.TypeReply); string(r.ID) != "77" || !r.Pong {
		t.Fatalf("reply = %+v", r)
	}

	// A long line trickling in is discarded as it comes, up to its newline,
	// and the line after it in the same write is handled.
	c.sendRaw(`{"op":"ping","pad":"`)
	for range 10 {
		c.sendRaw(strings.Repeat("z", 1000))
		time.Sleep(5 * time.Millisecond)
	}
	c.sendRaw("\"}\n{\"op\":\"ping\",\"id\":78}\n")
	if e := c.expect(protocol.TypeError); e.Code != protocol.CodeTooLarge {
		t.Fatalf("error = %+v", e)
	}
	if r := c.expect(protocol.TypeReply); string(r.ID) != "78" || !r.Pong {
		t.Fatalf("reply = %+v", r)
	}
}

// TestTCPAndWSShareRooms: business code does not care which transport a
// client used.
func TestTCPAndWSShareRooms(t *testing.T) {
	t.Parallel()
	_, url, addr := startTCPServer(t, Config{})
	dev := dialTCPJSON(t, addr)
	web := dial(t, url)
	mustOK(t, dev.cmd(map[string]any{"op": "hello", "name": "Device", "uid": "dev"}))
	mustOK(t, web.cmd(map[string]any{"op": "hello", "name": "Web", "uid": "web"}))
	mustOK(t, dev.cmd(map[string]any{"op": "join", "room": "mix"}))
	mustOK(t, web.cmd(map[string]any{"op": "join", "room": "mix"}))
	if e := dev.expect(protocol.TypeJoin); e.UID != "web" || e.Room != "mix" {
		t.Fatalf("presence = %+v", e)
	}

	mustOK(t, web.cmd(map[string]any{"op": "pub", "room": "mix", "data": "from web", "noecho": true}))
	if m := dev.expect(protocol.TypeMsg); string(m.Data) != `"from web"` || m.From.UID != "web" {
		t.Fatalf("dev got %+v", m)
	}
	mustOK(t, dev.cmd(map[string]any{"op": "pub", "room": "mix", "data": "from dev", "noecho": true}))
	if m := web.expect(protocol.TypeMsg); string(m.Data) != `"from dev"` || m.From.UID != "dev" || m.From.Name != "Device" {
		t.Fatalf("web got %+v", m)
	}
	mustOK(t, web.cmd(map[string]any{"op": "send", "to_uid": "dev", "data": "psst"}))
	if d := dev.expect(protocol.TypeDirect); string(d.Data) != `"psst"` || d.From.UID != "web" {
		t.Fatalf("dev got %+v", d)
	}
	mustOK(t, dev.cmd(map[string]any{"op": "send", "to_client": web.welcome.Client, "data": "back"}))
	if d := web.expect(protocol.TypeDirect); string(d.Data) != `"back"` || d.From.UID != "dev" {
		t.Fatalf("web got %+v", d)
	}
	r := mustOK(t, web.cmd(map[string]any{"op": "presence", "room": "mix"}))
	if len(r.Members) != 2 {
		t.Fatalf("presence = %+v", r)
	}
	_ = dev.nc.Close()
	if e := web.expect(protocol.TypeLeave); e.UID != "dev" {
		t.Fatalf("presence = %+v", e)
	}
}

// TestTCPTextMode drives a text-mode (nc) client against a WebSocket one.
func TestTCPTextMode(t *testing.T) {
	t.Parallel()
	_, url, addr := startTCPServer(t, Config{})
	ada := dial(t, url)
	mustOK(t, ada.cmd(map[string]any{"op": "hello", "name": "Ada", "uid": "ada"}))
	mustOK(t, ada.cmd(map[string]any{"op": "join", "room": "lobby"}))

	nc := dialTCP(t, addr)
	// The welcome comes before the server knows the mode: it is JSON.
	w, err := protocol.DecodeEvent([]byte(nc.line()))
	if err != nil || w.Type != protocol.TypeWelcome {
		t.Fatalf("welcome = %+v %v", w, err)
	}
	short := w.Client[:6]

	// The first line decides the mode and is the first message.
	nc.send("hello all")
	nc.expectLine("* you are " + short + " in lobby (2 here); type to chat, /help lists commands")
	if e := ada.expect(protocol.TypeJoin); e.Client != w.Client {
		t.Fatalf("presence = %+v", e)
	}
	if m := ada.expect(protocol.TypeMsg); string(m.Data) != `{"text":"hello all"}` || m.From.Client != w.Client {
		t.Fatalf("ada got %+v", m)
	}

	// What others send is rendered for people; own publishes are not
	// echoed and their replies are not shown.
	for _, tt := range []struct {
		data any
		want string
	}{
		{map[string]any{"text": "hi nc"}, "[lobby] Ada: hi nc"},
		{map[string]any{"n": 1}, `[lobby] Ada: {"n":1}`},
		{map[string]any{"text": 5}, `[lobby] Ada: {"text":5}`},
		{"plain string", `[lobby] Ada: "plain string"`},
		{map[string]any{"text": "two\nlines\x1b[31m"}, "[lobby] Ada: two lines\uFFFD[31m"},
		{map[string]any{"text": "\x1b]52;c;eA==\x07\u009b2J\rover\u202Egnp.exe"}, "[lobby] Ada: \uFFFD]52;c;eA==\uFFFD\uFFFD2J over\uFFFDgnp.exe"},
	} {
		mustOK(t, ada.cmd(map[string]any{"op": "pub", "room": "lobby", "data": tt.data, "noecho": true}))
		nc.expectLine(tt.want)
	}
	mustOK(t, ada.cmd(map[string]any{"op": "send", "to_client": w.Client, "data": map[string]any{"text": "psst"}}))
	nc.expectLine("[direct] Ada: psst")

	bob := dial(t, url)
	mustOK(t, bob.cmd(map[string]any{"op": "hello", "uid": "bob"}))
	mustOK(t, bob.cmd(map[string]any{"op": "join", "room": "lobby"}))
	nc.expectLine("* bob joined lobby")
	mustOK(t, bob.cmd(map[string]any{"op": "leave", "room": "lobby"}))
	nc.expectLine("* bob left lobby")
	ada.expect(protocol.TypeJoin)
	ada.expect(protocol.TypeLeave)

	nc.send("/nick Zed")
	nc.expectLine("* you are now Zed")
	nc.send("again")
	if m := ada.expect(protocol.TypeMsg); m.From.Name != "Zed" || string(m.Data) != `{"text":"again"}` {
		t.Fatalf("ada got %+v", m)
	}
	nc.send("/who")
	if l := nc.line(); !strings.HasPrefix(l, "* in lobby: ") || !strings.Contains(l, "Ada") || !strings.Contains(l, "Zed") || !strings.HasSuffix(l, " (2)") {
		t.Fatalf("who = %q", l)
	}
	nc.send("//slash is text")
	if m := ada.expect(protocol.TypeMsg); string(m.Data) != `{"text":"/slash is text"}` {
		t.Fatalf("ada got %+v", m)
	}
	nc.send("/dance")
	nc.expectLine("! bad_request: unknown command /dance; /help lists commands")
	nc.send("/nick")
	nc.expectLine("! bad_request: usage: /nick NAME")
	nc.send("/help")
	for _, l := range textHelp {
		nc.expectLine(l)
	}
	nc.send("caf\xe9")
	nc.expectLine("! bad_frame: line is not valid UTF-8; set your terminal to UTF-8")
	nc.send(`{"looks":"like json"}`)
	if m := ada.expect(protocol.TypeMsg); string(m.Data) != `{"text":"{\"looks\":\"like json\"}"}` {
		t.Fatalf("ada got %+v", m)
	}
	nc.send("/join bad room!")
	nc.expectLine("! bad_request: usage: /join ROOM")
	nc.send("/join b@d!")
	if l := nc.line(); !strings.HasPrefix(l, "! bad_room: ") {
		t.Fatalf("got %q", l)
	}

	nc.send("/join kitchen")
	nc.expectLine("* you are in kitchen (1 here)")
	if e := ada.expect(protocol.TypeLeave); e.Client != w.Client || e.Name != "Zed" {
		t.Fatalf("presence = %+v", e)
	}
	mustOK(t, ada.cmd(map[string]any{"op": "join", "room": "kitchen"}))
	nc.expectLine("* Ada joined kitchen")
	nc.send("in the kitchen")
	if m := ada.expect(protocol.TypeMsg); m.Room != "kitchen" || string(m.Data) != `{"text":"in the kitchen"}` {
		t.Fatalf("ada got %+v", m)
	}
	mustOK(t, ada.cmd(map[string]any{"op": "pub", "room": "lobby", "data": map[string]any{"text": "lobby is quiet"}}))
	nc.quiet(100 * time.Millisecond)

	nc.send("/quit")
	nc.expectLine("* bye")
	nc.expectEOF(5 * time.Second)
	if e := ada.expect(protocol.TypeMsg); e.Room != "lobby" {
		t.Fatalf("ada got %+v", e)
	}
	if e := ada.expect(protocol.TypeLeave); e.Client != w.Client || e.Room != "kitchen" {
		t.Fatalf("presence = %+v", e)
	}
}

// TestTCPTextFirstLineCommand: blank lines decide nothing, a command as
// the first line enters text mode too, and an anonymous client is named by
// the start of its client id.
func TestTCPTextFirstLineCommand(t *testing.T) {
	t.Parallel()
	_, _, addr := startTCPServer(t, Config{})
	other := dialTCP(t, addr)
	otherShort := other.welcomeClient()[:6]
	other.send("", "  ", "first")
	other.expectLine("* you are " + otherShort + " in lobby (1 here); type to chat, /help lists commands")

	nc := dialTCP(t, addr)
	short := nc.welcomeClient()[:6]
	nc.send("/nick Eve")
	nc.expectLine("* you are " + short + " in lobby (2 here); type to chat, /help lists commands")
	nc.expectLine("* you are now Eve")
	other.expectLine("* " + short + " joined lobby")
	nc.send("hello")
	other.expectLine("[lobby] Eve: hello")
	nc.quiet(100 * time.Millisecond)
}

// welcomeClient reads the welcome line and returns the client id.
func (c *tcpClient) welcomeClient() string {
	c.t.Helper()
	w := c.expect(protocol.TypeWelcome)
	return w.Client
}

func TestTCPTextRateLimitAndHooks(t *testing.T) {
	t.Parallel()
	_, url, addr := startTCPServer(t, Config{PublishRate: 0.001, PublishBurst: 2, Events: shoutHooks{}})
	ada := dial(t, url)
	mustOK(t, ada.cmd(map[string]any{"op": "join", "room": "lobby"}))
	nc := dialTCP(t, addr)
	nc.line()
	nc.send("one", "two", "three")
	nc.line() // greeting
	ada.expect(protocol.TypeJoin)
	// The message hook sees text-mode messages like any pub.
	for _, want := range []string{`{"text":"ONE"}`, `{"text":"TWO"}`} {
		if m := ada.expect(protocol.TypeMsg); string(m.Data) != want {
			t.Fatalf("ada got %s, want %s", m.Data, want)
		}
	}
	if l := nc.line(); !strings.HasPrefix(l, "! rate_limited: ") {
		t.Fatalf("got %q", l)
	}
	ada.quiet(100 * time.Millisecond)
}

// shoutHooks upper-cases text messages and accepts everything else.
type shoutHooks struct{}

func (shoutHooks) Connect(context.Context, *ConnectEvent) (*ConnectResult, error) { return nil, nil }
func (shoutHooks) Message(_ context.Context, ev *MessageEvent) (*MessageResult, error) {
	var d textData
	if json.Unmarshal(ev.Data, &d) != nil {
		return nil, nil
	}
	b, _ := json.Marshal(textData{Text: strings.ToUpper(d.Text)})
	return &MessageResult{Data: b}, nil
}
func (shoutHooks) RPC(context.Context, *RPCEvent) (*RPCResult, error) { return nil, nil }
func (shoutHooks) Close(context.Context, *CloseEvent)                 {}

// roomHooks puts every client in one room at connect.
type roomHooks struct{ shoutHooks }

func (roomHooks) Connect(context.Context, *ConnectEvent) (*ConnectResult, error) {
	return &ConnectResult{Rooms: []string{"elsewhere"}}, nil
}

// TestTCPTextLobbyRefused: a text-mode client that may not join the lobby
// is told why and closed.
func TestTCPTextLobbyRefused(t *testing.T) {
	t.Parallel()
	_, _, addr := startTCPServer(t, Config{MaxRoomsPerConn: 1, Events: roomHooks{}})
	nc := dialTCP(t, addr)
	nc.line()
	nc.send("hi")
	if l := nc.line(); !strings.HasPrefix(l, "! too_many_rooms: ") {
		t.Fatalf("got %q", l)
	}
	nc.expectLine("! closed: forbidden (4003)")
	nc.expectEOF(5 * time.Second)
}

// TestTCPEOFAnswersFirst: a client that sends its last line (with no
// newline) and closes its end still gets the answers, then the end.
func TestTCPEOFAnswersFirst(t *testing.T) {
	t.Parallel()
	_, _, addr := startTCPServer(t, Config{})
	c := dialTCPJSON(t, addr)
	c.sendRaw(`{"op":"ping","id":9}`)
	if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if r := c.expect(protocol.TypeReply); string(r.ID) != "9" || !r.Pong {
		t.Fatalf("reply = %+v", r)
	}
	c.expectEOF(5 * time.Second)
}

func TestTCPServerFull(t *testing.T) {
	t.Parallel()
	_, _, addr := startTCPServer(t, Config{MaxConnections: 1})
	dialTCPJSON(t, addr)
	c := dialTCP(t, addr)
	c.expectLine(closeLine(protocol.CloseServerFull))
	c.expectEOF(5 * time.Second)
}

// TestTCPHeartbeat: a silent JSON-mode client is closed with the close line;
// a silent text-mode client is not.
func TestTCPHeartbeat(t *testing.T) {
	t.Parallel()
	// A client silent for two intervals is closed. The pinger pings every
	// 50 ms until then, which leaves it 450 ms of slack on a loaded machine.
	s, _, addr := startTCPServer(t, Config{HeartbeatInterval: 250 * time.Millisecond})
	text := dialTCP(t, addr)
	text.line()
	text.send("hi")
	text.line() // greeting
	silent := dialTCPJSON(t, addr)
	pinger := dialTCPJSON(t, addr)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mustOK(t, pinger.cmd(map[string]any{"op": "ping"}))
		l, err := silent.tryLine(50 * time.Millisecond)
		if err == nil {
			if want := closeLine(protocol.CloseNoHeartbeat); l != want {
				t.Fatalf("silent client got %q, want %q", l, want)
			}
			break
		}
		if !errors.Is(err, errTimeout) || time.Now().After(deadline) {
			t.Fatalf("silent client: %v before the heartbeat close", err)
		}
	}
	silent.expectEOF(5 * time.Second)
	text.send("/who")
	if l := text.line(); !strings.HasPrefix(l, "* in lobby: ") {
		t.Fatalf("got %q", l)
	}
	mustOK(t, pinger.cmd(map[string]any{"op": "ping"}))
	if n := s.hub.count.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

// TestTCPSlowConsumer: a TCP client that stops reading is closed with 4008;
// when it reads again it gets an unbroken prefix of its stream, then the
// close line.
func TestTCPSlowConsumer(t *testing.T) {
	t.Parallel()
	s, url, addr := startTCPServer(t, Config{SendQueueBytes: 1 << 20, MaxMessageSize: 256 << 10, PublishRate: 1e6, PublishBurst: 1e6,
		HistorySize: 10, WriteTimeout: 5 * time.Minute, WriteCoalesce: -1})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := io.WriteString(nc, `{"op":"join","id":1,"room":"big"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(nc)
	sc.Buffer(make([]byte, 4096), 1<<20)
	// The join's reply first: publishing before it lands would be a gap
	// of the test's making.
	_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for sc.Scan() && !strings.Contains(sc.Text(), `"id":1`) {
	}
	pub := dial(t, url)
	mustOK(t, pub.cmd(map[string]any{"op": "join", "room": "big"}))
	payload := strings.Repeat("x", 128<<10)
	for i := 0; s.Stats().SlowConsumers == 0; i++ {
		if i == 1000 {
			t.Fatal("no slow consumer after 1000 messages of 128 KiB")
		}
		mustOK(t, pub.cmd(map[string]any{"op": "pub", "room": "big", "noecho": true, "data": payload}))
	}
	var seq uint64
	var last string
	_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for sc.Scan() {
		last = sc.Text()
		e, err := protocol.DecodeEvent(sc.Bytes())
		if err != nil {
			break // the close line: a number where Event has a string code
		}
		if e.Type == protocol.TypeMsg {
			if e.Seq != seq+1 {
				t.Fatalf("seq %d after %d: a gap", e.Seq, seq)
			}
			seq = e.Seq
		}
	}
	if last != closeLine(protocol.CloseSlowConsumer) {
		t.Fatalf("last line %.100q, want the close line", last)
	}
	if sc.Scan() {
		t.Fatalf("line after the close line: %.100q", sc.Text())
	}
	if seq == 0 {
		t.Fatal("no message before the close")
	}
	waitFor(t, func() bool { return s.Stats().Connections == 1 })
}

// TestTCPShutdown: Run's shutdown stops accepting TCP clients, closes them
// with 4012 (a close line in either mode) and returns promptly.
func TestTCPShutdown(t *testing.T) {
	t.Parallel()
	_, url, addr, stop := runTCPServer(t, Config{})
	js := dialTCPJSON(t, addr)
	mustOK(t, js.cmd(map[string]any{"op": "join", "room": "x"}))
	text := dialTCP(t, addr)
	text.line()
	text.send("bye all")
	text.line()
	web := dial(t, url)
	mustOK(t, web.cmd(map[string]any{"op": "join", "room": "x"}))
	js.expect(protocol.TypeJoin)
	mustOK(t, web.cmd(map[string]any{"op": "pub", "room": "x", "data": "last words", "noecho": true}))

	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Run took %s to return", d)
	}
	if m := js.expect(protocol.TypeMsg); string(m.Data) != `"last words"` {
		t.Fatalf("msg = %+v", m)
	}
	// Other clients' leave events may come first.
	for l := js.line(); l != closeLine(protocol.CloseGoingAway); l = js.line() {
		if e, err := protocol.DecodeEvent([]byte(l)); err != nil || e.Type != protocol.TypeLeave {
			t.Fatalf("got %q before the close line", l)
		}
	}
	js.expectEOF(5 * time.Second)
	text.expectLine("! closed: server going away, reconnect (4012)")
	text.expectEOF(5 * time.Second)
	if code := web.closeCode(5 * time.Second); code != protocol.CloseGoingAway {
		t.Fatalf("ws close code %d", code)
	}
	if nc, err := net.Dial("tcp", addr); err == nil {
		nc.Close()
		t.Fatal("still accepting TCP after shutdown")
	}
}

func TestTextRendering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		obj  string
		want string
	}{
		{"msg with text", `{"type":"msg","room":"r","seq":1,"from":{"client":"abcdefgh","name":"Ann"},"data":{"text":"hi"}}`, "[r] Ann: hi\n"},
		{"msg from uid", `{"type":"msg","room":"r","seq":1,"from":{"client":"abcdefgh","uid":"ann"},"data":{"text":"hi"}}`, "[r] ann: hi\n"},
		{"msg anonymous", `{"type":"msg","room":"r","seq":1,"from":{"client":"abcdefgh"},"data":[1,2]}`, "[r] abcdef: [1,2]\n"},
		{"msg from the server", `{"type":"msg","room":"r","seq":1,"from":{"client":""},"data":"x"}`, "[r] server: \"x\"\n"},
		{"direct", `{"type":"direct","from":{"client":"c","name":"Bo"},"ts":1,"data":{"text":"psst","to":"x"}}`, "[direct] Bo: psst\n"},
		{"join", `{"type":"join","room":"r","client":"c1","name":"Ann"}`, "* Ann joined r\n"},
		{"leave", `{"type":"leave","room":"r","client":"c1xyzw12"}`, "* c1xyzw left r\n"},
		{"error event", `{"type":"error","code":"too_large","message":"too long"}`, "! too_large: too long\n"},
		{"failed reply", `{"type":"reply","ok":false,"error":{"code":"rate_limited","message":"slow down"}}`, "! rate_limited: slow down\n"},
		{"ok reply", `{"type":"reply","ok":true,"room":"r","seq":3}`, ""},
		{"members", `{"type":"reply","ok":true,"room":"r","members":[{"client":"c1","name":"Ann"},{"client":"c2xxxxxx"}]}`, "* in r: Ann, c2xxxx (2)\n"},
		{"welcome", `{"type":"welcome","client":"c"}`, ""},
		{"unknown type", `{"type":"future"}`, ""},
		{"name with control characters", `{"type":"join","room":"r","client":"c","name":"A\u001b[2Jnn"}`, "* A\uFFFD[2Jnn joined r\n"},
		{"name with a bidi override", `{"type":"join","room":"r","client":"c","name":"\u202Enimda"}`, "* \uFFFDnimda joined r\n"},
		{"error with C1", `{"type":"error","code":"x","message":"a\u009b2Jb\rc"}`, "! x: a\uFFFD2Jb c\n"},
		{"text line", "\x00* hello", "* hello\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(appendText(nil, []byte(tt.obj))); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
