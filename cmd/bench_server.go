package cmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rtsync/rtsync/internal/childproc"
	"github.com/rtsync/rtsync/internal/procstat"
	"github.com/rtsync/rtsync/internal/syncbuf"
	"github.com/rtsync/rtsync/loadtest"
	"github.com/rtsync/rtsync/server/store/disk"
)

// Child servers: `rtsync bench` without --url runs `rtsync serve` itself,
// one process per ConnsPerProc connections (a process holds at most 20,000
// open files), on free loopback ports, and stops them after the run.
const (
	childReadyTimeout = 15 * time.Second
	childStopTimeout  = 10 * time.Second
)

// selfExe is the path to run this binary again (for child servers and
// bench workers). Under a test harness that installs this program as
// "rtsync" on PATH, that name is what must be run, so it wins when
// argv[0] says so.
func selfExe() (string, error) {
	if base := strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe"); base == "rtsync" {
		if p, err := exec.LookPath(os.Args[0]); err == nil {
			return p, nil
		}
	}
	return os.Executable()
}

// childEnv is the environment without RTSYNC_* settings, so a child
// server is the plain local server the bench expects (no token auth or
// hooks picked up from the user's shell).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	return env
}

type childServer struct {
	cmd *exec.Cmd
	// dataDir is the child's own store, removed when it stops.
	dataDir string
	url     string
	health  string
	stderr  *syncbuf.Buffer
	done    <-chan error
}

// startChildren starts n servers and waits until each answers /healthz.
func startChildren(ctx context.Context, n, connsEach int) ([]*childServer, error) {
	exe, err := selfExe()
	if err != nil {
		return nil, fmt.Errorf("find this program to start a server: %w", err)
	}
	var out []*childServer
	for range n {
		c, err := startChild(ctx, exe, connsEach)
		if err != nil {
			stopChildren(out)
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func startChild(ctx context.Context, exe string, conns int) (*childServer, error) {
	addr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	// The child keeps history on disk, as serve does by default, in a
	// folder of its own that goes with it.
	clearStaleData()
	dataDir, err := os.MkdirTemp("", benchDataPrefix)
	if err != nil {
		return nil, fmt.Errorf("make the bench server's data directory: %w", err)
	}
	c := &childServer{url: "ws://" + addr + "/ws", health: "http://" + addr + "/healthz", stderr: &syncbuf.Buffer{Limit: 64 << 10}, dataDir: dataDir}
	c.cmd = exec.Command(exe, "serve",
		"--data-dir", dataDir,
		"--addr", addr,
		"--max-conns", strconv.Itoa(conns+100),
		// The bench sets the pace; the server's per-connection limits
		// would only measure themselves.
		"--publish-rate", "1000000000",
		"--publish-burst", "1000000000",
		"--log-level", "warn",
		// A key of its own, so the child neither reads nor writes the
		// user's API key file; the bench reads its memory from /proc.
		"--api-key", randomKey(),
	)
	c.cmd.Env = childEnv()
	c.cmd.SysProcAttr = childProcAttr()
	c.cmd.Stdout = c.stderr
	c.cmd.Stderr = c.stderr
	// childproc starts it so that the parent-death signal comes only when
	// the bench dies.
	if c.done, err = childproc.Start(c.cmd); err != nil {
		_ = os.RemoveAll(dataDir)
		return nil, fmt.Errorf("start rtsync serve: %w", err)
	}
	deadline := time.Now().Add(childReadyTimeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(c.health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		select {
		case err := <-c.done:
			_ = os.RemoveAll(dataDir)
			return nil, fmt.Errorf("the bench's own rtsync serve on %s exited (%v): %s", addr, err, strings.TrimSpace(c.stderr.String()))
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("the bench's own rtsync serve on %s did not answer %s within %s", addr, c.health, childReadyTimeout)
		}
	}
}

// benchDataPrefix names the data directories of the bench's servers.
const benchDataPrefix = "rtsync-bench-data-"

// clearStaleData removes the data directories of bench servers that were
// killed with their bench (a SIGKILL leaves no time to clean up): those
// whose store no process holds.
func clearStaleData() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), benchDataPrefix+"*"))
	for _, d := range dirs {
		if disk.Unused(d) {
			_ = os.RemoveAll(d)
		}
	}
}

// freeLoopback picks a free port on 127.0.0.1. Another process could
// take it before the server binds; the server then fails to start and
// says so.
func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// stop ends the server gracefully, then forcibly.
func (c *childServer) stop() {
	defer os.RemoveAll(c.dataDir)
	if c.cmd.Process == nil {
		return
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		_ = c.cmd.Process.Kill()
	}
	select {
	case <-c.done:
	case <-time.After(childStopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func stopChildren(cs []*childServer) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(c.stop)
	}
	wg.Wait()
}

// childRSS sums the children's resident memory, for the idle scenario.
func childRSS(cs []*childServer) func(context.Context) (int64, string, bool) {
	return func(context.Context) (int64, string, bool) {
		var total int64
		for _, c := range cs {
			n, err := procstat.RSSOf(c.cmd.Process.Pid)
			if err != nil {
				return 0, "", false
			}
			total += int64(n / 1024)
		}
		return total, "proc", true
	}
}

// childCount is how many servers a run of this config needs.
func childCount(cfg loadtest.Config) int {
	total := cfg.Conns
	if cfg.Scenario == "" || cfg.Scenario == loadtest.ScenarioBroadcast {
		total += max(cfg.Rooms, 1) * max(cfg.Publishers, 1)
	}
	return max((total+loadtest.ConnsPerProc-1)/loadtest.ConnsPerProc, 1)
}

// randomKey returns a random API key for a child server.
func randomKey() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
