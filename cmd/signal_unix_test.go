//go:build unix

package cmd

import (
	"bytes"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeStopsOnSIGTERM runs the real rtsync (this test binary under
// testscript.Main's name, on PATH) and checks that SIGTERM, which testscript's
// kill cannot send, drains and exits 0 just as SIGINT does.
func TestServeStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the binary; runs without -short")
	}
	t.Parallel()
	addr := freeAddr(t)
	cmd := exec.Command("rtsync", "serve", "--addr", addr, "--shutdown-timeout", "5s", "--store", "memory")
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
	if !strings.Contains(stderr.String(), "rtsync listening") {
		t.Errorf("stderr lacks the listen line:\n%s", &stderr)
	}
}
