package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestPprof: with Pprof set the profiler answers under the API key, and
// refuses without it; without Pprof there is nothing there.
func TestPprof(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: profiles for a second; runs without -short")
	}
	t.Parallel()
	_, api, _ := startAPI(t, Config{Pprof: true, APIKeys: []string{"k"}}, "k")
	for path, want := range map[string]string{
		"/debug/pprof/":                  "Types of profiles available",
		"/debug/pprof/heap?debug=1":      "heap profile:",
		"/debug/pprof/goroutine?debug=1": "goroutine profile:",
		"/debug/pprof/cmdline":           "server.test",
	} {
		status, _, body := api.raw("GET", path, "")
		if status != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d, body lacks %q:\n%.300s", path, status, want, body)
		}
	}
	// A one-second CPU profile is a gzipped protobuf.
	status, h, body := api.raw("GET", "/debug/pprof/profile?seconds=1", "")
	if status != http.StatusOK || h.Get("Content-Type") != "application/octet-stream" || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Errorf("CPU profile: %d %q, %d bytes", status, h.Get("Content-Type"), len(body))
	}

	noKey := *api
	noKey.key = ""
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1"} {
		if status, _, body := noKey.raw("GET", path, ""); status != http.StatusUnauthorized || !strings.Contains(string(body), "missing API key") {
			t.Errorf("GET %s without the key = %d %s, want 401", path, status, body)
		}
	}

	_, off, _ := startAPI(t, Config{}, "")
	if status, _, _ := off.raw("GET", "/debug/pprof/", ""); status != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ with Pprof off = %d, want 404", status)
	}
}
