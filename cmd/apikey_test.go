package cmd

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/internal/localkey"
	tuitop "github.com/rtsync/rtsync/tui/top"
)

// get sends GET url with header and returns the status.
func get(t *testing.T, url string, header map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Without --api-key, serve keeps a key of its own in a private file: the
// API and /metrics refuse anyone without it (a page, a request through a
// proxy that adds no header), and top reads it by itself.
func TestServeOwnAPIKey(t *testing.T) {
	t.Parallel()
	ios, _, _, errOut := iostreams.Test()
	opts := testServeOptions(ios)
	opts.APIKeyFile = filepath.Join(t.TempDir(), "cfg", "api-key")
	opts.Server.ShutdownTimeout = 2 * time.Second
	addr, _ := startServe(t, opts)
	base := "http://" + addr

	key, err := localkey.Load(opts.APIKeyFile)
	if err != nil {
		t.Fatalf("serve made no key file: %v", err)
	}
	if fi, _ := os.Stat(opts.APIKeyFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	// A reverse proxy that adds no forwarding header looks like a local
	// client: without the key it gets nothing.
	for _, path := range []string{"/api/v1/stats", "/metrics"} {
		if got := get(t, base+path, nil); got != http.StatusUnauthorized {
			t.Errorf("GET %s without the key = %d, want 401", path, got)
		}
		if got := get(t, base+path, map[string]string{"Authorization": "Bearer " + key}); got != 200 {
			t.Errorf("GET %s with the key = %d, want 200", path, got)
		}
	}
	if !strings.Contains(errOut.String(), "file="+opts.APIKeyFile) {
		t.Errorf("the start log does not say where the key is:\n%s", errOut.String())
	}

	// top finds it through the same setting serve used.
	tios, _, out, _ := iostreams.Test()
	env := func(k string) (string, bool) {
		if k == localkey.EnvFile {
			return opts.APIKeyFile, true
		}
		return "", false
	}
	if err := runTop(context.Background(), &topOptions{IO: tios, URLs: []string{base}, Interval: tuitop.DefaultInterval, Once: true, LookupEnv: env}); err != nil {
		t.Fatalf("top with the key file: %v", err)
	}
	if !strings.Contains(out.String(), "connections") {
		t.Fatalf("top printed:\n%s", out.String())
	}

	// A second serve reads the same key rather than making another.
	opts2 := testServeOptions(ios)
	opts2.APIKeyFile = opts.APIKeyFile
	opts2.Server.ShutdownTimeout = 2 * time.Second
	addr2, _ := startServe(t, opts2)
	if got := get(t, "http://"+addr2+"/api/v1/stats", map[string]string{"Authorization": "Bearer " + key}); got != 200 {
		t.Fatalf("second serve refused the first one's key: %d", got)
	}
}

// A key file others can read is refused, saying how to fix it.
func TestServeRefusesReadableKeyFile(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := iostreams.Test()
	opts := testServeOptions(ios)
	opts.APIKeyFile = filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(opts.APIKeyFile, []byte("k\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runServe(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("runServe = %v, want a refusal naming chmod 600", err)
	}
}

// The key is offered only to servers on this machine.
func TestLocalAPIKeyStaysLocal(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "api-key")
	if _, _, err := localkey.LoadOrCreate(path); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		if k == localkey.EnvFile {
			return path, true
		}
		return "", false
	}
	for u, want := range map[string]bool{
		"http://127.0.0.1:7000":           true,
		"ws://localhost:7000/ws":          true,
		"[::1]:7000":                      true,
		"127.0.0.2:7000":                  true,
		"http://chat.example.com:7000":    false,
		"http://127.0.0.1.evil.example/":  false,
		"http://localhost.evil.example/":  false,
		"https://192.168.1.5:7000/api/v1": false,
	} {
		if got := localAPIKey(u, env) != ""; got != want {
			t.Errorf("localAPIKey(%s) offered = %v, want %v", u, got, want)
		}
	}
}
