package soak

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/childproc"
	"github.com/rtsync/rtsync/internal/procstat"
	"github.com/rtsync/rtsync/internal/syncbuf"
)

// Timing of the server process.
const (
	buildTimeout = 5 * time.Minute
	readyTimeout = 15 * time.Second
	stopTimeout  = 20 * time.Second
	statsTimeout = 10 * time.Second
)

// buildBinary builds rtsync as `make build` does, into a temporary
// directory: the soak loads the real program, not the server package
// inside the test process.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the soak builds rtsync with the go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "rtsync")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-o", bin, "github.com/rtsync/rtsync")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build rtsync: %v\n%s", err, out)
	}
	return bin
}

// serverProc is `rtsync serve` running as a child process.
type serverProc struct {
	cmd  *exec.Cmd
	pid  int
	addr string
	key  string
	api  *client.API
	log  *syncbuf.Buffer
	done <-chan error

	stopOnce sync.Once
	stopErr  error
}

// startServer runs bin as a server on a free loopback port, with an API
// key of its own so the stats can be read, and waits until it answers.
func startServer(t *testing.T, bin string, c config) *serverProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	dir := t.TempDir()
	args := []string{"serve",
		"--addr", addr,
		"--api-key", hex.EncodeToString(key),
		"--api-key-file", filepath.Join(dir, "api-key"),
		"--data-dir", filepath.Join(dir, "data"),
		"--max-conns", strconv.Itoa(c.Conns + c.publishers() + 1000),
		"--history-size", strconv.Itoa(c.History),
		"--web=false",
		"--pprof",
		"--log-level", "warn",
	}
	args = append(args, c.ServerArgs...)
	s := &serverProc{addr: addr, key: hex.EncodeToString(key), log: &syncbuf.Buffer{Limit: 256 << 10}}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = serverEnv(dir)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// The kernel stops the server if this test process dies (a test
	// timeout panics past every cleanup). It sends the signal when the
	// thread that started the child exits, so start and wait on one
	// locked thread that lives as long as the child.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if s.done, err = childproc.Start(s.cmd); err != nil {
		t.Fatalf("start rtsync serve: %v", err)
	}
	s.pid = s.cmd.Process.Pid
	t.Cleanup(func() { _ = s.stop() })
	s.api, err = client.NewAPI("http://"+addr, s.key, &http.Client{Timeout: statsTimeout})
	if err != nil {
		t.Fatal(err)
	}
	// The server is another process: there is no signal to wait on but
	// its answer, so ask /healthz until it comes, within a bound.
	deadline := time.Now().Add(readyTimeout)
	hc := &http.Client{Timeout: time.Second}
	for {
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("rtsync serve exited (%v):\n%s", err, s.log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("rtsync serve on %s did not answer /healthz within %s:\n%s", addr, readyTimeout, s.log.String())
		}
	}
}

// serverEnv is this environment without RTSYNC_* settings (the soak's
// own among them), with HOME in a temporary directory, so the server
// runs on its defaults and the flags above.
func serverEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RTSYNC_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home)
}

func (s *serverProc) wsURL() string { return "ws://" + s.addr + "/ws" }

// sample reads the server's resident memory and open files from /proc
// and its goroutines and connections from its stats.
func (s *serverProc) sample(ctx context.Context) (Sample, client.ServerStats, error) {
	var smp Sample
	rss, err := procstat.RSSOf(s.pid)
	if err != nil {
		return smp, client.ServerStats{}, err
	}
	fds, err := countFDs(s.pid)
	if err != nil {
		return smp, client.ServerStats{}, err
	}
	st, err := s.api.Stats(ctx, 0)
	if err != nil {
		return smp, st, fmt.Errorf("server stats: %w", err)
	}
	smp.RSS, smp.FDs = rss, fds
	smp.Goroutines, smp.Conns, smp.HistoryBytes = int(st.Goroutines), int(st.Connections), st.HistoryBytes
	return smp, st, nil
}

// countFDs counts a process's open files.
func countFDs(pid int) (int, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return len(names), err
}

// goroutineDump fetches the server's goroutine profile, for a report on
// goroutines that did not go away.
func (s *serverProc) goroutineDump(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// stop ends the server as an operator would (SIGTERM) and reports how it
// exited; past the bound it is killed. Later calls return the same.
func (s *serverProc) stop() error {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case s.stopErr = <-s.done:
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			s.stopErr = fmt.Errorf("did not stop within %s of SIGTERM (killed): %v", stopTimeout, <-s.done)
		}
	})
	return s.stopErr
}
