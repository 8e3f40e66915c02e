//go:build linux

package cmd

import (
	"bufio"
	"net/http"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// TestBenchChildDiesWithBench runs the real rtsync bench with its own
// server, kills the bench outright (no cleanup can run), and checks that
// its server goes too rather than staying behind.
func TestBenchChildDiesWithBench(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the binary; runs without -short")
	}
	t.Parallel()
	cmd := exec.Command("rtsync", "bench", "--conns", "10", "--rate", "10", "--ramp", "0s", "--warmup", "0s", "--duration", "60s", "--progress", "plain")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})

	target := regexp.MustCompile(`→ ws://(127\.0\.0\.1:\d+)/ws`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := target.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var addr string
	select {
	case addr = <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("the bench did not name its server within 30s")
	}
	health := "http://" + addr + "/healthz"
	if err := waitHTTP(health, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(health)
		if err != nil {
			return // gone
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the bench's server on %s still answers 15s after the bench was killed", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
