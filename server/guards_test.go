package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

// The attacks of a web page on this machine against a keyless server, and
// of a reverse proxy in front of it: each must be refused, and a plain
// local tool must still get through.
func TestKeylessAPIRefusesBrowsersAndProxies(t *testing.T) {
	t.Parallel()
	s, api, wsURL := startAPI(t, Config{}, "")
	victim := dial(t, wsURL)
	mustOK(t, victim.cmd(map[string]any{"op": "join", "room": "lobby"}))
	client := victim.welcome.Client

	tests := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
	}{
		{"text/plain publish from a page (no preflight)", "POST", "/api/v1/rooms/lobby/publish", `{"data":"pwned"}`,
			map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example"}, 403},
		{"text/plain publish without Origin (an old browser)", "POST", "/api/v1/rooms/lobby/publish", `{"data":"pwned"}`,
			map[string]string{"Content-Type": "text/plain"}, 415},
		{"form post", "POST", "/api/v1/broadcast", `data=1`,
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"batch carrying PUT uid from a page", "POST", "/api/v1/batch",
			`{"ops":[{"method":"PUT","path":"/api/v1/clients/` + client + `/uid","body":{"uid":"mallory"}}]}`,
			map[string]string{"Content-Type": "text/plain", "Origin": "null"}, 403},
		{"JSON from a page", "POST", "/api/v1/broadcast", `{"data":"x"}`,
			map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:9"}, 403},
		{"a page's fetch of stats", "GET", "/api/v1/stats", "",
			map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}, 403},
		{"same-site page", "GET", "/api/v1/stats", "",
			map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"metrics from a page", "GET", "/metrics", "", map[string]string{"Origin": "https://evil.example"}, 403},
		{"empty X-Forwarded-For ahead of a proxy's", "GET", "/api/v1/stats", "", map[string]string{"X-Forwarded-For": ""}, 403},
		{"Via from a proxy", "GET", "/api/v1/stats", "", map[string]string{"Via": "1.1 nginx"}, 403},
		{"X-Real-IP from a proxy", "GET", "/metrics", "", map[string]string{"X-Real-IP": "203.0.113.9"}, 403},
		{"Forwarded", "GET", "/api/v1/stats", "", map[string]string{"Forwarded": "for=203.0.113.9"}, 403},

		{"a local tool", "GET", "/api/v1/stats", "", nil, 200},
		{"a typed address in a browser", "GET", "/api/v1/stats", "", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"a local tool's JSON", "POST", "/api/v1/rooms/lobby/publish", `{"data":"ok"}`,
			map[string]string{"Content-Type": "application/json; charset=utf-8"}, 200},
		{"a local tool's DELETE without body", "DELETE", "/api/v1/rooms/nosuch", "", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, api.base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header[http.CanonicalHeaderKey(k)] = []string{v}
			}
			resp, err := api.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, b, tt.status)
			}
			if tt.status >= 400 && !strings.Contains(string(b), "--api-key") && !strings.Contains(string(b), "application/json") {
				t.Errorf("refusal %s does not say what to do", b)
			}
		})
	}
	// Only the local tool's publish reached the victim; its uid is its own.
	e := victim.expect(protocol.TypeMsg)
	if string(e.Data) != `"ok"` {
		t.Fatalf("victim got %s, want the local tool's message only", e.Data)
	}
	victim.quiet(100 * time.Millisecond)
	if uid, _ := s.UIDByClientID(client); uid != "" {
		t.Fatalf("the victim's uid was bound to %q", uid)
	}
	if n := s.guards.apiRefused.Load(); n < 10 {
		t.Errorf("api_refused = %d, want every refusal counted", n)
	}
}

// With a key, the browser rules do not apply: a page cannot have the key.
func TestKeyedAPIIgnoresBrowserHeaders(t *testing.T) {
	t.Parallel()
	_, api, _ := startAPI(t, Config{APIKeys: []string{"k"}}, "k")
	req, _ := http.NewRequest("GET", api.base+"/api/v1/stats", nil)
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("Origin", "https://admin.example")
	resp, err := api.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("keyed request through a proxy = %d, want 200", resp.StatusCode)
	}
}

// DNS rebinding: a page whose name resolves to 127.0.0.1 sends its own
// name as Host. Every route refuses it on a loopback listener.
func TestHostCheck(t *testing.T) {
	t.Parallel()
	s, api, _ := startAPI(t, Config{Page: http.NotFoundHandler()}, "")
	_, listed, _ := startAPI(t, Config{AllowedHosts: []string{"chat.example.com", "*.corp.example"}}, "")
	tests := []struct {
		name  string
		api   *apiTester
		host  string
		path  string
		want  int
		wsHdr bool
	}{
		{"rebinding name on the API", api, "evil.example:80", "/api/v1/stats", 421, false},
		{"rebinding name on metrics", api, "evil.example", "/metrics", 421, false},
		{"rebinding name on the WebSocket", api, "evil.example", "/ws", 421, true},
		{"rebinding name on healthz", api, "evil.example", "/healthz", 421, false},
		{"rebinding name on the page", api, "evil.example", "/", 421, false},
		{"localhost", api, "localhost:7000", "/api/v1/stats", 200, false},
		{"a localhost subdomain", api, "app.localhost", "/healthz", 200, false},
		{"an IP", api, "127.0.0.1:7000", "/api/v1/stats", 200, false},
		{"IPv6 loopback", api, "[::1]:7000", "/healthz", 200, false},
		{"trailing dot", api, "localhost.", "/healthz", 200, false},
		{"listed", listed, "chat.example.com", "/healthz", 200, false},
		{"listed pattern", listed, "a.corp.example", "/healthz", 200, false},
		{"not listed", listed, "evil.example", "/healthz", 421, false},
		{"pattern is not the bare domain", listed, "corp.example", "/healthz", 421, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tt.api.base+tt.path, nil)
			req.Host = tt.host
			if tt.wsHdr {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
				req.Header.Set("Sec-WebSocket-Version", "13")
				req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			}
			resp, err := tt.api.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want && !(tt.want == 200 && resp.StatusCode == 404) {
				t.Fatalf("Host %s %s = %d %s, want %d", tt.host, tt.path, resp.StatusCode, b, tt.want)
			}
			if tt.want == 421 && !strings.Contains(string(b), "--allowed-hosts") {
				t.Errorf("refusal %q does not name --allowed-hosts", b)
			}
		})
	}
	if s.guards.hostRefused.Load() != 5 {
		t.Errorf("host_refused = %d, want 5", s.guards.hostRefused.Load())
	}
}

// A page on another site opening a WebSocket is refused by default, so it
// cannot take a uid in open mode and read its direct messages.
func TestDefaultOriginRefusesOtherSites(t *testing.T) {
	t.Parallel()
	s, wsURL := startServer(t, Config{})
	h := http.Header{"Origin": {"https://evil.example"}}
	ws, resp, err := websocket.DefaultDialer.Dial(wsURL, h)
	if err == nil {
		ws.Close()
		t.Fatal("another site's page opened a WebSocket")
	}
	if resp == nil || resp.StatusCode != 403 {
		t.Fatalf("got %v, want 403", err)
	}
	if s.guards.originRefused.Load() != 1 {
		t.Errorf("origin_refused = %d, want 1", s.guards.originRefused.Load())
	}
}

// Connections over the per-address limit are closed at accept, before a
// byte is read; closing one frees its slot.
func TestPerIPLimit(t *testing.T) {
	t.Parallel()
	s, err := New(Config{MaxConnsPerIP: 3})
	if err != nil {
		t.Fatal(err)
	}
	s.perIP.loopbackToo = true // the test's clients can only be loopback
	addr := strings.TrimSuffix(strings.TrimPrefix(runServer(t, s), "ws://"), "/ws")

	// Three idle HTTP connections (slow headers) hold the address's slots.
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\n"))
		held = append(held, c)
	}
	// The fourth is closed unread, whatever it sends.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Fatalf("fourth connection answered (%d bytes); want it closed", n)
	}
	c.Close()
	if got := s.guards.perIPRefused.Load(); got != 1 {
		t.Fatalf("per_ip_refused = %d, want 1", got)
	}
	// One closes: its slot is free again. (Refused connections took none:
	// the next one is served although one was refused.)
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err == nil && strings.Contains(line, "200") {
			break
		}
		// The server sees held[0] closed only when its read returns.
		if time.Now().After(deadline) {
			t.Fatalf("no slot came free after a close: %q %v", line, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range held[1:] {
		c.Close()
	}
}

// Headers past 32 KiB are refused with 431 rather than read up to Go's
// 1 MiB default; a token of the protocol's largest size still fits.
func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	_, api, wsURL := startAPI(t, Config{}, "")
	req, _ := http.NewRequest("GET", api.base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := api.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header = %d, want 431", resp.StatusCode)
	}
	h := http.Header{"Authorization": {"Bearer " + strings.Repeat("t", protocol.MaxTokenBytes)}}
	c, err := dialHeader(t, wsURL, h)
	if err != nil {
		t.Fatalf("a %d-byte token in the upgrade was refused: %v", protocol.MaxTokenBytes, err)
	}
	c.ws.Close()
}
