//go:build unix

package cmd

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeSIGHUPReloadsAPIKeys runs the real rtsync (see
// TestServeStopsOnSIGTERM), rotates the API key in its config file and
// sends it SIGHUP: the new key works without a restart, the old one stops.
func TestServeSIGHUPReloadsAPIKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the binary; runs without -short")
	}
	t.Parallel()
	addr := freeAddr(t)
	config := filepath.Join(t.TempDir(), "rtsync.yaml")
	writeFile(t, config, "api-key: [first-key]\n")
	cmd := exec.Command("rtsync", "serve", "--addr", addr, "--config", config, "--shutdown-timeout", "5s", "--store", "memory")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	if err := waitHTTP("http://"+addr+"/healthz", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if s := apiStatus(t, addr, "first-key"); s != 200 {
		t.Fatalf("first-key: %d", s)
	}

	writeFile(t, config, "api-key: [second-key]\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for apiStatus(t, addr, "second-key") != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("second-key not accepted 10s after SIGHUP\nstderr:\n%s", &stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := apiStatus(t, addr, "first-key"); s != 401 {
		t.Fatalf("first-key after the reload: %d, want 401", s)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("rtsync serve after SIGTERM: %v\nstderr:\n%s", err, &stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("rtsync serve still running 20s after SIGTERM\nstderr:\n%s", &stderr)
	}
	logs := stderr.String()
	if !strings.Contains(logs, `msg="SIGHUP: API keys reloaded" keys=1`) {
		t.Errorf("stderr lacks the reload line:\n%s", logs)
	}
	if strings.Contains(logs, "first-key") || strings.Contains(logs, "second-key") {
		t.Errorf("stderr shows a key:\n%s", logs)
	}
}
