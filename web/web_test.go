package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rtsync/rtsync/server"
	"github.com/rtsync/rtsync/web"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(web.Handler())
	t.Cleanup(ts.Close)
	tests := []struct {
		name, method, path string
		status             int
		contentType        string
		bodyHas            string
	}{
		{"index at /", "GET", "/", 200, "text/html; charset=utf-8", `<script type="module" src="/app.js">`},
		{"index by name", "GET", "/index.html", 200, "text/html; charset=utf-8", "<title>rtsync chat</title>"},
		{"page script", "GET", "/app.js", 200, "text/javascript; charset=utf-8", `from "./rtsync.js"`},
		{"protocol client", "GET", "/rtsync.js", 200, "text/javascript; charset=utf-8", "export class Client"},
		{"style", "GET", "/style.css", 200, "text/css; charset=utf-8", "prefers-color-scheme: dark"},
		{"icon", "GET", "/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"head", "HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"unknown asset", "GET", "/nope.js", 404, "text/plain; charset=utf-8", "404 page not found"},
		{"no directory listing", "GET", "/static/", 404, "text/plain; charset=utf-8", ""},
		{"no path tricks", "GET", "/../web.go", 404, "text/plain; charset=utf-8", ""},
		{"post", "POST", "/", 405, "text/plain; charset=utf-8", "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, ts.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if !strings.Contains(string(body), tt.bodyHas) {
				t.Errorf("body does not contain %q:\n%.300s", tt.bodyHas, body)
			}
			// Every answer, errors included, carries the security headers.
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self' ws: wss:", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("Content-Security-Policy %q allows unsafe sources", csp)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if tt.status == 200 {
				if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
					t.Errorf("Cache-Control %q, want no-cache", got)
				}
				if resp.Header.Get("ETag") == "" {
					t.Error("no ETag")
				}
			}
		})
	}
}

// TestHandlerRevalidates checks that a browser holding the current page is
// told 304 Not Modified, and that each file has its own ETag.
func TestHandlerRevalidates(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	get := func(path, etag string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	etags := map[string]string{}
	for _, p := range []string{"/", "/app.js", "/rtsync.js", "/style.css"} {
		first := get(p, "")
		etag := first.Header().Get("ETag")
		if again := get(p, etag); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("%s with If-None-Match %s: %d, %d bytes; want 304 and no body", p, etag, again.Code, again.Body.Len())
		}
		if stale := get(p, `"old"`); stale.Code != http.StatusOK {
			t.Errorf("%s with a stale ETag: %d, want 200", p, stale.Code)
		}
		if other, dup := etags[etag]; dup {
			t.Errorf("%s and %s share ETag %s", p, other, etag)
		}
		etags[etag] = p
	}
}

// TestServerRoutes checks that the page, mounted at / in the server, leaves
// the server's own routes alone and answers what nothing else takes.
func TestServerRoutes(t *testing.T) {
	t.Parallel()
	for _, withPage := range []bool{true, false} {
		cfg := server.Config{Logger: slog.New(slog.DiscardHandler)}
		if withPage {
			cfg.Page = web.Handler()
		}
		s, err := server.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(s.Handler())
		t.Cleanup(ts.Close)
		pageStatus := http.StatusNotFound
		if withPage {
			pageStatus = http.StatusOK
		}
		tests := []struct {
			method, path string
			status       int
			bodyHas      string
		}{
			{"GET", "/", pageStatus, ""},
			{"GET", "/app.js", pageStatus, ""},
			{"GET", "/healthz", 200, "ok"},
			{"GET", "/readyz", 200, "ready"},
			{"GET", "/api/v1/stats", 200, `"connections"`},
			{"GET", "/ws", 400, ""}, // the WebSocket handler: no upgrade header
			{"GET", "/nope", 404, ""},
			{"GET", "/api/v1/nope", 404, ""},
			{"POST", "/healthz", 405, ""},
		}
		for _, tt := range tests {
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.bodyHas) {
				t.Errorf("page %v: %s %s: %d %.200q, want %d with %q", withPage, tt.method, tt.path, resp.StatusCode, body, tt.status, tt.bodyHas)
			}
			if withPage && tt.path == "/" && !strings.Contains(string(body), "rtsync chat") {
				t.Errorf("GET / did not serve the page: %.200q", body)
			}
		}
	}
}
