package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds how long redis-server may take to answer after it
// starts.
const startTimeout = 10 * time.Second

// Options change how the server runs.
type Options struct {
	// AppendOnly turns on Redis's append-only file (appendfsync
	// everysec), so that what was written survives Restart and Kill.
	AppendOnly bool
	// Dir is the data directory; "" is a new temporary directory of the
	// test.
	Dir string
	// Args are more redis-server arguments, as "--name", "value" pairs.
	Args []string
}

// Server is a redis-server run by a test.
type Server struct {
	t    testing.TB
	bin  string
	opts Options
	// Addr is host:port; URL is redis://Addr/0.
	Addr string
	URL  string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	out    *logBuffer
	exited chan struct{}
}

// Start starts a redis-server on a free 127.0.0.1 port, without
// persistence, and stops it when the test ends.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on PATH (%v); run make deps, or apt-get install redis-server", err)
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{t: t, bin: bin, opts: opts, port: port,
		Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	s.URL = "redis://" + s.Addr + "/0"
	t.Cleanup(s.Kill)
	s.start()
	return s
}

func (s *Server) start() {
	s.t.Helper()
	args := []string{"--port", fmt.Sprint(s.port), "--bind", "127.0.0.1",
		"--save", "", "--dir", s.opts.Dir, "--daemonize", "no"}
	if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, s.opts.Args...)
	out := new(logBuffer)
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.out, s.exited = cmd, out, exited
	s.mu.Unlock()

	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-exited:
			s.t.Fatalf("redis-server on port %d exited at start: %s", s.port, s.output())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d did not answer within %v (%v): %s", s.port, startTimeout, err, s.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// signal sends sig to the server and waits for it to exit.
func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Stop shuts the server down cleanly (SIGTERM: with AppendOnly, what was
// written is flushed).
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill kills the server (SIGKILL). It does nothing when it is not
// running; the test's cleanup calls it.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Restart starts the server again on the same port and data directory,
// stopping it first (cleanly) if it runs.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Running reports whether the server process runs.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// logBuffer collects a child's output for error messages.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
