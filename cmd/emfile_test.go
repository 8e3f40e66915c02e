//go:build linux

package cmd

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/syncbuf"
)

// A server out of open files used to stop answering silently (net/http
// retries a failed accept without a word). Now it says so, once per
// interval however many accepts fail, and counts them.
func TestServeLogsOutOfFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "rtsync") // TestMain runs as the CLI under this name
	if err := os.Symlink(exe, bin); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	var stderr syncbuf.Buffer
	cmd := exec.Command("sh", "-c", `ulimit -n 100 && exec "$0" serve --addr "$1" --max-conns 1000 --api-key k --web=false --store memory`, bin, addr)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+dir)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := waitHTTP("http://"+addr+"/healthz", 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	// 150 connections that never send a request: each holds one of the
	// server's 100 files until the header timeout.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 150 {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break // the backlog is full: enough
		}
		held = append(held, c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "out of open files") {
		if time.Now().After(deadline) {
			t.Fatalf("no out-of-files log line after %d connections:\n%s", len(held), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // more failed accepts, which must stay quiet
	if n := strings.Count(stderr.String(), "out of open files"); n != 1 {
		t.Fatalf("%d out-of-files lines, want 1 (rate-limited):\n%s", n, stderr.String())
	}
	if !strings.Contains(stderr.String(), "ulimit -n") {
		t.Errorf("the line does not say what to do:\n%s", stderr.String())
	}
}
