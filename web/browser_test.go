package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/testserver"
	"github.com/rtsync/rtsync/server"
	"github.com/rtsync/rtsync/web"
)

// screenshot, when set, is where TestBrowserChat saves a PNG of Bob's tab
// mid-conversation (docs/img/web-chat.png is made this way:
// go test ./web -run TestBrowserChat -args -screenshot ../docs/img/web-chat.png).
var screenshot = flag.String("screenshot", "", "save a PNG of the chat page to this `file`")

// wait bounds every single step of the browser test: page loads, a message
// crossing from one tab to another, a reconnect.
const wait = 20 * time.Second

// TestBrowserChat drives the page in headless Chromium against a real
// server: two people in two tabs and a Go client chat, see each other in
// the member list, write directly, switch rooms, and live through a network
// cut (recovery: nothing missed, nothing twice) and a server restart
// (history reset).
func TestBrowserChat(t *testing.T) {
	start := time.Now()
	srv1 := startServer(t)
	px := startProxy(t, srv1.addr)
	browser := startBrowser(t)
	ada := openTab(t, browser, "Ada", "http://"+px.addr()+"/")
	bob := openTab(t, browser, "Bob", "http://"+px.addr()+"/")

	gopher, directs := dialGo(t, srv1.addr, "Gopher", "gopher")
	if _, err := gopher.Join(bounded(t), "lobby"); err != nil {
		t.Fatal(err)
	}
	for _, tab := range []*tab{ada, bob} {
		tab.waitFor("everyone in the member list", `members().join() === "Ada,Bob,Gopher"`)
	}
	bob.waitFor("the (you) mark", `[...document.querySelectorAll("#members .you")].length === 1`)
	ada.waitFor("Bob's arrival", `sysLines("#lobby").includes("Bob joined")`)

	// Tab to tab, both ways; own messages are marked.
	ada.send("Hi Bob! Is the deploy done?")
	bob.waitMessage("#lobby", "Ada", "Hi Bob! Is the deploy done?")
	ada.waitFor("own mark", `document.querySelector(".log:not([hidden]) .msg:last-child")?.classList.contains("own") === true`)
	bob.send("Yes, v1.4 is live since 10:20")
	ada.waitMessage("#lobby", "Bob", "Yes, v1.4 is live since 10:20")
	ada.send("Nice! Any trouble with the new history store?")
	bob.waitMessage("#lobby", "Ada", "Nice! Any trouble with the new history store?")
	bob.send("None so far; p99 is down to 11 ms")
	ada.waitMessage("#lobby", "Bob", "None so far; p99 is down to 11 ms")

	// The Go client publishes; both tabs show it.
	if _, err := gopher.Publish(bounded(t), "lobby", map[string]string{"text": "v1.4 rolled out to 3/3 nodes"}); err != nil {
		t.Fatal(err)
	}
	for _, tab := range []*tab{ada, bob} {
		tab.waitMessage("#lobby", "Gopher", "v1.4 rolled out to 3/3 nodes")
	}

	// A direct message from Go to Ada's uid lands in her direct view with
	// an unread count; she answers by clicking Gopher in the member list.
	if _, err := gopher.SendToUID(bounded(t), "Ada", map[string]string{"text": "psst: the changelog is out"}); err != nil {
		t.Fatal(err)
	}
	ada.waitMessage("Direct messages", "Gopher", "psst: the changelog is out")
	ada.waitFor("direct unread badge", `badge("Direct messages") === "1"`)
	ada.eval(`[...document.querySelectorAll("#members button.who")].find((b) => b.firstChild.textContent === "Gopher").click()`)
	ada.waitFor("composer prefilled and focused", `document.activeElement.id === "text" && document.activeElement.value === "/msg gopher "`)
	ada.keys("thanks!\n")
	select {
	case d := <-directs:
		if d != "Ada: thanks!" {
			t.Errorf("Go client got direct %q, want %q", d, "Ada: thanks!")
		}
	case <-time.After(wait):
		t.Fatal("the Go client got no direct message from Ada's tab")
	}
	ada.waitFor("the direct view shown after /msg", `title() === "Direct messages" && badge("Direct messages") === ""`)

	// Rooms: Bob joins #random and goes back to #lobby; Ada posts there,
	// and Bob's room list counts it as unread.
	bob.do(chromedp.SendKeys(chromedp.ID("join-room"), "random\n"))
	bob.waitFor("#random open", `title() === "#random" && document.activeElement.id === "text"`)
	bob.open("#lobby")
	ada.open("#lobby")
	ada.send("/join #random")
	ada.waitFor("#random open", `title() === "#random"`)
	ada.send("Lunch at 12?")
	bob.waitFor("unread count on #random", `badge("#random") === "1"`)
	ada.open("#lobby")
	ada.send("/msg Bob see you there")
	ada.waitFor("the direct view shown after /msg", `title() === "Direct messages"`)
	bob.waitFor("unread count on direct messages", `badge("Direct messages") === "1"`)
	ada.open("#lobby")
	bob.waitFor("#random in the saved rooms", `localStorage.getItem("rtsync.rooms") === '["lobby","random"]'`)
	bob.waitFor("a round-trip time", `/^\d+ ms$/.test(document.getElementById("rtt").textContent)`)
	if *screenshot != "" {
		bob.do(chromedp.EmulateViewport(1100, 600))
		png, err := chromedp.Run(bob.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(*screenshot), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Bob leaves #random with its × button; Ada sees him go.
	bob.eval(`roomButton("#random").parentElement.querySelector(".leave").click()`)
	bob.waitFor("#random gone", `roomButton("#random") === undefined && localStorage.getItem("rtsync.rooms") === '["lobby"]'`)
	ada.waitFor("Bob leaving #random", `sysLines("#random").includes("Bob left")`)

	// A network cut: the tabs reconnect with since+epoch and get what was
	// published meanwhile, once.
	px.cut()
	for _, tab := range []*tab{ada, bob} {
		tab.waitFor("the reconnecting state", `state() === "reconnecting"`)
	}
	if _, err := gopher.Publish(bounded(t), "lobby", map[string]string{"text": "sent while you were away"}); err != nil {
		t.Fatal(err)
	}
	px.route(srv1.addr)
	for _, tab := range []*tab{ada, bob} {
		tab.waitFor("the recovery line", `sysLines("#lobby").includes("back online; 1 missed message(s) recovered")`)
		tab.waitMessage("#lobby", "Gopher", "sent while you were away")
	}
	// Live delivery goes on after the replay; by the time this arrives,
	// a duplicate of the replayed message would have too.
	if _, err := gopher.Publish(bounded(t), "lobby", map[string]string{"text": "and this is live"}); err != nil {
		t.Fatal(err)
	}
	for _, tab := range []*tab{ada, bob} {
		tab.waitMessage("#lobby", "Gopher", "and this is live")
		if n := evalT[int](tab, `count("#lobby", "sent while you were away")`); n != 1 {
			t.Errorf("%s shows the message sent while away %d times, want once", tab.name, n)
		}
	}
	_ = gopher.Close()

	// A restart of a server that keeps history in memory (its data is
	// gone: a new epoch): the tabs come back to the new server and say the
	// room's history was lost or reset.
	srv2 := startServer(t)
	px.route(srv2.addr)
	srv1.stop()
	for _, tab := range []*tab{ada, bob} {
		tab.waitFor("the reset line", `sysLines("#lobby").some((s) => s.includes("history of this room was lost or reset"))`)
		tab.waitFor("connected again", `state() === "connected"`)
	}
	ada.send("anyone still here?")
	bob.waitMessage("#lobby", "Ada", "anyone still here?")
	bob.waitFor("the new member list", `members().join() === "Ada,Bob"`)
	for _, tab := range []*tab{ada, bob} {
		if n := evalT[int](tab, `count("#lobby", "Hi Bob! Is the deploy done?")`); n != 1 {
			t.Errorf("%s shows an old message %d times after the restart, want once", tab.name, n)
		}
	}
	t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond))
}

// TestBrowserToken checks that ?token= on the page's URL reaches the
// server, which then decides who the user is, and that a refused
// connection stops for good instead of retrying.
func TestBrowserToken(t *testing.T) {
	const secret = "web-test-secret-0123456789abcdef"
	srv := startServer(t, func(c *server.Config) { c.JWTSecret = secret })
	browser := startBrowser(t)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "carol", "name": "Carol", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	carol := openTab(t, browser, "whoever", "http://"+srv.addr+"/?token="+tok)
	carol.waitFor("the token's name", `document.getElementById("me").textContent === "Carol"`)
	carol.waitFor("the member list", `members().join() === "Carol"`)

	// No token: the server closes with 4001 after the first join, and the
	// page says so and does not reconnect.
	anon := openTabNoWait(t, browser, "anon", "http://"+srv.addr+"/")
	anon.waitFor("the closed state", `state() === "closed"`)
	anon.waitFor("the reason", `/unauthorized|no token/.test(document.getElementById("status-text").textContent)`)
	anon.waitFor("the composer off", `document.getElementById("text").disabled`)
	anon.waitFor("the room kept for when a token comes", `roomButton("#lobby") !== undefined`)
}

// bounded is a context for one call of the Go client.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// --- the server and a cuttable network ---

type testServer struct {
	addr string
	stop func()
	srv  *server.Server
}

func startServer(t *testing.T, opts ...func(*server.Config)) *testServer {
	t.Helper()
	cfg := server.Config{
		Page:            web.Handler(),
		ShutdownTimeout: 2 * time.Second,
		Logger:          slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := testserver.Start(t, cfg)
	return &testServer{addr: s.Addr, stop: s.Stop, srv: s.Srv}
}

// proxy stands between the browser and the server, so the test can cut
// the network (connections drop, new ones are refused) and point it at
// another server, as a load balancer would after a restart.
type proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string // "" while cut
	conns  map[net.Conn]bool
	trap   *trap // armed by setTrap, taken by the first WebSocket that springs it
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) pipe(c net.Conn) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	if target == "" {
		_ = c.Close()
		return
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.target == "" {
		p.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	// The browser's requests go up as they are; what comes down is read
	// frame by frame on WebSocket connections, so that a trap can cut one
	// at an exact event.
	br := bufio.NewReader(c)
	first, _ := br.Peek(len("GET /ws"))
	go func() { _, _ = io.Copy(up, br); _ = up.Close(); _ = c.Close() }()
	if string(first) == "GET /ws" {
		p.frames(c, up)
	} else {
		_, _ = io.Copy(c, up)
	}
	_ = c.Close()
	_ = up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// trap cuts a WebSocket connection right after the first event (one line
// of a frame) that match accepts: the lines after it in that frame and
// everything after that frame are lost, as when a network fails between
// two packets. Before the cut, it calls hook, if any, while the
// connection is held.
type trap struct {
	match func(line []byte) bool
	hook  func()
}

// setTrap arms t for the next event that matches, on any connection.
func (p *proxy) setTrap(t *trap) {
	p.mu.Lock()
	p.trap = t
	p.mu.Unlock()
}

// spring reports whether line springs the armed trap, and disarms it.
func (p *proxy) spring(line []byte) *trap {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.trap; t != nil && t.match(line) {
		p.trap = nil
		return t
	}
	return nil
}

// frames copies a WebSocket upgrade response and then the server's frames
// (unmasked, uncompressed: rtsync negotiates no extension) from up to c,
// looking at each line of each text frame for the trap.
func (p *proxy) frames(c, up net.Conn) {
	r := bufio.NewReader(up)
	for { // the HTTP response, up to its empty line
		l, err := r.ReadBytes('\n')
		if _, werr := c.Write(l); err != nil || werr != nil {
			return
		}
		if len(bytes.TrimSpace(l)) == 0 {
			break
		}
	}
	for {
		var h [2]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return
		}
		head := append([]byte(nil), h[:]...)
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126, 127:
			ext := make([]byte, map[uint64]int{126: 2, 127: 8}[n])
			if _, err := io.ReadFull(r, ext); err != nil {
				return
			}
			head = append(head, ext...)
			n = 0
			for _, b := range ext {
				n = n<<8 | uint64(b)
			}
		}
		if n > 1<<24 {
			return
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		if h[0]&0x0f == 1 { // a text frame: one event or several, one a line
			lines := bytes.Split(payload, []byte("\n"))
			for i, l := range lines {
				if t := p.spring(l); t != nil {
					if t.hook != nil {
						t.hook()
					}
					_, _ = c.Write(wsTextFrame(bytes.Join(lines[:i+1], []byte("\n"))))
					return
				}
			}
		}
		if _, err := c.Write(append(head, payload...)); err != nil {
			return
		}
	}
}

// wsTextFrame is a final, unmasked text frame holding payload.
func wsTextFrame(payload []byte) []byte {
	n := len(payload)
	f := []byte{0x81}
	switch {
	case n < 126:
		f = append(f, byte(n))
	case n < 1<<16:
		f = append(f, 126, byte(n>>8), byte(n))
	default:
		f = append(f, 127)
		for i := 7; i >= 0; i-- {
			f = append(f, byte(uint64(n)>>(8*i)))
		}
	}
	return append(f, payload...)
}

// cut drops every connection and refuses new ones until route.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = ""
	for c := range p.conns {
		_ = c.Close()
	}
}

// route sends new connections to target; open ones stay where they are.
func (p *proxy) route(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

// dialGo connects a Go client and returns it with a channel of the direct
// messages it receives, as "name: text".
func dialGo(t *testing.T, addr, name, uid string) (*client.Client, <-chan string) {
	t.Helper()
	directs := make(chan string, 16)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, "ws://"+addr+"/ws", client.Options{
		Name: name, UID: uid,
		OnEvent: func(ev client.Event) {
			if ev.Kind != client.KindDirect {
				return
			}
			var d struct{ Text string }
			_ = json.Unmarshal(ev.Wire.Data, &d)
			select {
			case directs <- ev.Wire.From.Name + ": " + d.Text:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, directs
}

// --- the browser ---

func startBrowser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("slow: drives Chromium; runs without -short")
	}
	if os.Getenv("RTSYNC_SKIP_BROWSER") == "1" {
		t.Skip("RTSYNC_SKIP_BROWSER=1: the browser test of the chat page is skipped")
	}
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Fatal("the chat page's browser test needs Chromium: install chromium (apt-get install -y chromium), or set RTSYNC_SKIP_BROWSER=1 to skip this test")
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 660),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser); err != nil { // starts the browser, with no timeout
		t.Fatalf("start %s: %v", path, err)
	}
	return browser
}

// tab is one person's page, in a browser context of its own (its own
// localStorage, as if on another machine).
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// helpersJS reads the page the way a person would: by what it shows.
const helpersJS = `
window.logOf = (label) => document.querySelector('.log[aria-label="' + label + '"]');
window.count = (label, text) => [...logOf(label).querySelectorAll(".msg .text")].filter((e) => e.textContent === text).length;
window.hasMessage = (label, who, text) => [...logOf(label).querySelectorAll(".msg")].some((li) =>
  li.querySelector(".who").textContent === who && li.querySelector(".text").textContent === text);
window.sysLines = (label) => [...logOf(label).querySelectorAll(".sys .text")].map((e) => e.textContent);
window.members = () => [...document.querySelectorAll("#members button.who")].map((b) => b.firstChild.textContent);
window.roomButton = (label) => [...document.querySelectorAll(".room")].find((b) => b.firstChild.textContent === label);
window.badge = (label) => roomButton(label).querySelector(".badge").textContent.replace(/^0$/, "");
window.title = () => document.getElementById("room-title").textContent;
window.state = () => document.getElementById("status").dataset.state;
`

// openTab opens url in a new tab, enters name and waits until the page is
// connected with the focus in the composer.
func openTab(t *testing.T, browser context.Context, name, url string) *tab {
	t.Helper()
	b := openTabNoWait(t, browser, name, url)
	b.waitFor("connected", `state() === "connected"`)
	b.waitFor("focus in the composer", `document.activeElement.id === "text"`)
	return b
}

// openTabNoWait is openTab up to entering the name.
func openTabNoWait(t *testing.T, browser context.Context, name, url string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &tab{t: t, name: name, ctx: ctx}
	// Open the tab with ctx itself, not a context with a timeout: the
	// first action on a context ties the tab's life to the context it is
	// given. It must also run alone, so the console is watched after.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	console := chromedp.Console(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); b.watchConsole(console) }()
	// The watcher may log; it must be done before the test is.
	t.Cleanup(func() { cancel(); <-watched })
	b.do(
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SetValue(chromedp.ID("name"), name),
		chromedp.Click(chromedp.CSS("#login button")),
		chromedp.WaitVisible(chromedp.ID("text")),
	)
	b.eval(helpersJS)
	return b
}

// watchConsole fails the test on an exception in the page.
func (b *tab) watchConsole(console iter.Seq2[chromedp.ConsoleMessage, error]) {
	for m, err := range console {
		if err != nil {
			return
		}
		switch {
		case m.Type == chromedp.ConsoleException, strings.HasPrefix(m.Text, "rtsync:"):
			b.t.Errorf("%s's page: %s: %s", b.name, m.Type, m.Text)
		case m.Type == chromedp.ConsoleError && !strings.Contains(m.Text, "WebSocket"):
			// A refused WebSocket during a cut is expected; anything else
			// is worth seeing.
			b.t.Logf("%s's page: %s: %s", b.name, m.Type, m.Text)
		}
	}
}

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s's tab: %v\npage:\n%s", b.name, err, b.text())
	}
}

func (b *tab) eval(js string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](js))
}

func evalT[T any](b *tab, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("%s's tab: %s: %v", b.name, js, err)
	}
	return v
}

// waitFor polls a JavaScript condition (no sleeps: it is checked every
// 50 ms, up to wait).
func (b *tab) waitFor(what, cond string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(wait)))
	if err != nil {
		b.t.Fatalf("%s's tab: waiting for %s (%s): %v\npage:\n%s", b.name, what, cond, err, b.text())
	}
}

func (b *tab) waitMessage(label, who, text string) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("%q from %s in %s", text, who, label), fmt.Sprintf("hasMessage(%q, %q, %q)", label, who, text))
}

// send types text and Enter in the composer.
func (b *tab) send(text string) {
	b.t.Helper()
	// (chromedp's SetValue cannot set "": it reports a mismatch.)
	b.eval(`document.getElementById("text").value = ""`)
	b.do(chromedp.SendKeys(chromedp.ID("text"), text+"\n"))
}

// keys types at the end of what the composer holds.
func (b *tab) keys(text string) {
	b.t.Helper()
	b.do(chromedp.SendKeys(chromedp.ID("text"), text))
}

// open clicks a room in the room list.
func (b *tab) open(label string) {
	b.t.Helper()
	b.eval(fmt.Sprintf("roomButton(%q).click()", label))
	b.waitFor(label+" open", fmt.Sprintf("title() === %q", label))
}

// text is what the page shows, for failure messages.
func (b *tab) text() string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText + "\n" +
		[...document.querySelectorAll(".log")].map((l) => l.getAttribute("aria-label") + ": " + l.textContent).join("\n")`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}
