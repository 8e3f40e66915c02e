package chat

import (
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/testserver"
	"github.com/rtsync/rtsync/internal/tuitest"
	"github.com/rtsync/rtsync/server"
)

// waitTimeout bounds every wait in these tests, so a hang fails the test
// instead of stalling the suite. It is not a timing assumption: each wait
// ends as soon as its condition holds.
const waitTimeout = 10 * time.Second

// testServer is a real rtsync server on a loopback port, which a test can
// stop and start again on the same address (a server restart: new
// epochs, since history is kept in memory).
type testServer struct {
	t    *testing.T
	addr string

	mu  sync.Mutex
	cur *testserver.Server
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, addr: ln.Addr().String()}
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) url() string { return "ws://" + s.addr + "/ws" }

func (s *testServer) serve(ln net.Listener) {
	s.t.Helper()
	cur := testserver.StartOn(s.t, ln, server.Config{
		WriteCoalesce:   -1,
		ShutdownTimeout: 2 * time.Second,
	})
	s.mu.Lock()
	s.cur = cur
	s.mu.Unlock()
}

// waitMembers waits until room has n members.
func (s *testServer) waitMembers(t *testing.T, room string, n int) {
	t.Helper()
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := cur.Srv.Room(room)
		if err == nil && info.Clients == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s: %+v, %v; want %d members", room, info, err, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop shuts the server down (clients get 4012) and waits for it.
func (s *testServer) stop() {
	s.mu.Lock()
	cur := s.cur
	s.cur = nil
	s.mu.Unlock()
	if cur != nil {
		cur.Stop()
	}
}

// restart starts a fresh server on the same address.
func (s *testServer) restart() {
	s.t.Helper()
	s.stop()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// proxy forwards TCP to a server and can cut every connection and refuse
// new ones, which is a network outage as the client sees it while the
// server (and its history) lives on.
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  []net.Conn
	refuse bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut(true)
	})
	return p
}

func (p *proxy) url() string { return "ws://" + p.ln.Addr().String() + "/ws" }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.refuse {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(b, c); _ = b.Close() }()
		go func() { _, _ = io.Copy(c, b); _ = c.Close() }()
	}
}

// cut drops every connection; with refuse, new ones are closed at once
// until allow.
func (p *proxy) cut(refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = refuse
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *proxy) allow() {
	p.mu.Lock()
	p.refuse = false
	p.mu.Unlock()
}

// testOptions are the chat's options for a test: a fixed clock face and
// no round-trip measurement, so that frames are the same on every run.
func testOptions(url, name string, rooms ...string) Options {
	return Options{
		URL:          url,
		Name:         name,
		Rooms:        rooms,
		PingInterval: -1,
		TimeFormat:   func(time.Time) string { return "12:34" },
		DayFormat:    func(time.Time) string { return "Today" },
		Client: client.Options{
			Backoff: client.Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond, Jitter: -1},
		},
	}
}

// dialChat dials the client the chat under test uses.
func dialChat(t *testing.T, opts Options) Client {
	t.Helper()
	opts = opts.withDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := opts.Dial(ctx, opts.URL, opts.clientOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// peer is a second user: a plain client that drains its events so that it
// never holds the server back, and keeps the direct messages it gets.
type peer struct {
	*client.Client
	mu      sync.Mutex
	directs []string
}

func dialPeer(t *testing.T, url, name string, rooms ...string) *peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	p := &peer{}
	c, err := client.Dial(ctx, url, client.Options{Name: name, UID: name, OnEvent: func(ev client.Event) {
		if ev.Kind == client.KindDirect {
			p.mu.Lock()
			p.directs = append(p.directs, messageText(ev.Wire.Data))
			p.mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	p.Client = c
	t.Cleanup(func() { _ = c.Close() })
	for _, r := range rooms {
		if _, err := c.Join(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p *peer) say(t *testing.T, room string, data any) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	seq, err := p.Publish(ctx, room, data)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func (p *peer) gotDirects() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.directs...)
}

func text(s string) textData { return textData{Text: s} }

// harness drives a model the way bubbletea would, but from the test's
// goroutine: commands run on goroutines of their own and their messages
// are applied by waitFor, so the test can look at the model between
// messages without a race.
type harness struct {
	t    *testing.T
	m    *model
	msgs chan tea.Msg
	done chan struct{}
	quit bool
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	c := dialChat(t, opts)
	h := &harness{t: t, msgs: make(chan tea.Msg, 64), done: make(chan struct{})}
	// Registered after dialChat's cleanup, so it runs first: command
	// goroutines stop delivering before the client closes under them.
	t.Cleanup(func() { close(h.done) })
	h.m = newModel(context.Background(), c, opts)
	h.apply(tea.WindowSizeMsg{Width: 100, Height: 30})
	h.run(h.m.Init())
	return h
}

func (h *harness) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		select {
		case h.msgs <- msg:
		case <-h.done:
		}
	}()
}

func (h *harness) apply(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			h.run(c)
		}
	case tea.QuitMsg:
		h.quit = true
	default:
		_, cmd := h.m.Update(msg)
		h.run(cmd)
	}
}

// waitFor applies messages until cond holds. It also looks again every
// few milliseconds, for conditions on the server rather than the model.
func (h *harness) waitFor(what string, cond func(m *model) bool) {
	h.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond(h.m) {
		select {
		case msg := <-h.msgs:
			h.apply(msg)
		case <-tick.C:
		case <-deadline.C:
			h.t.Fatalf("timed out waiting for %s; screen:\n%s", what, h.screen())
		}
	}
}

// waitScreen applies messages until the screen shows want.
func (h *harness) waitScreen(want string) {
	h.t.Helper()
	h.waitFor("the screen to show "+want, func(*model) bool { return strings.Contains(h.screen(), want) })
}

func (h *harness) screen() string { return ansi.Strip(h.m.render()) }

func (h *harness) press(keys ...tea.KeyPressMsg) {
	for _, k := range keys {
		h.apply(k)
	}
}

// enter types a line and presses enter.
func (h *harness) enter(s string) {
	for _, r := range s {
		h.apply(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	h.apply(tea.KeyPressMsg{Code: tea.KeyEnter})
}

// joined waits until every start room is joined.
func (h *harness) joined() {
	h.t.Helper()
	h.waitFor("the rooms to be joined", func(m *model) bool {
		for _, r := range m.rooms {
			if r.kind == kindRoom && (r.joining || r.presenceWait > 0) {
				return false
			}
		}
		return true
	})
}

func roomLines(r *room) []string {
	var out []string
	for _, l := range r.lines {
		out = append(out, l.text)
	}
	return out
}

var (
	keyTab      = tea.KeyPressMsg{Code: tea.KeyTab}
	keyShiftTab = tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	keyUp       = tea.KeyPressMsg{Code: tea.KeyUp}
	keyDown     = tea.KeyPressMsg{Code: tea.KeyDown}
	keyPgUp     = tea.KeyPressMsg{Code: tea.KeyPgUp}
	keyPgDown   = tea.KeyPressMsg{Code: tea.KeyPgDown}
	keyF1       = tea.KeyPressMsg{Code: tea.KeyF1}
)

func altDigit(d rune) tea.KeyPressMsg { return tea.KeyPressMsg{Code: d, Mod: tea.ModAlt} }

// portRE matches the server's random port wherever a frame shows the
// address; goldens hold XXXXX instead (same width: the kernel's ephemeral
// ports have five digits).
var portRE = regexp.MustCompile(`127\.0\.0\.1:\d+`)

func maskPorts(s string) string {
	return portRE.ReplaceAllStringFunc(s, func(m string) string {
		host, port, _ := strings.Cut(m, ":")
		return host + ":" + strings.Repeat("X", len(port))
	})
}

// probe wraps the model under teatest and publishes the screen after
// every Update, so a test can wait for what the user would see.
type probe struct {
	*model
	scr *tuitest.Screen
}

func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := p.model.Update(msg)
	p.scr.Show(ansi.Strip(p.model.render()))
	return p, cmd
}

func (p probe) waitScreen(t *testing.T, want string) {
	t.Helper()
	p.scr.WaitText(t, want, waitTimeout)
}

func (p probe) waitFor(t *testing.T, what string, cond func(screen string) bool) {
	t.Helper()
	p.scr.WaitFor(t, what, func() bool { return cond(p.scr.Text()) }, waitTimeout)
}
