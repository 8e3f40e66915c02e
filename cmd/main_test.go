package cmd

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/rtsync/rtsync/internal/iostreams"
)

// TestMain lets this test binary act as the rtsync command: testscript puts
// a copy named "rtsync" on PATH, and when run under that name it does what
// main.go does. Scripts therefore run the real CLI in a real subprocess,
// signals and exit codes included.
func TestMain(tm *testing.M) {
	var m testscript.TestingM = tm
	if name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe"); name != "rtsync" {
		// Running as the test binary: keep a developer's own RTSYNC_*
		// settings out of tests that expect defaults. (As rtsync, the
		// environment is the script's and must be left alone.)
		for _, kv := range os.Environ() {
			if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, envPrefix) {
				os.Unsetenv(k)
			}
		}
		// In-process serves keep their own API key under a config folder
		// of the test's, not the developer's.
		dir, err := os.MkdirTemp("", "rtsync-cmd-test-config-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Setenv("XDG_CONFIG_HOME", dir)
		// testscript.Main exits the process: the folder goes when the
		// tests are done, not in a defer.
		m = cleanupM{m, dir}
	}
	testscript.Main(m, map[string]func(){
		"rtsync": func() { os.Exit(ExitCode(Execute(iostreams.System(), os.Args[1:]))) },
	})
}

// cleanupM removes a folder after the tests ran.
type cleanupM struct {
	testscript.TestingM
	dir string
}

func (m cleanupM) Run() int {
	defer os.RemoveAll(m.dir)
	return m.TestingM.Run()
}

// TestScripts runs the whole-CLI scripts in testdata/script.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		// Each script's serve keeps its own API key (and top reads it)
		// in the script's work folder.
		Setup: func(env *testscript.Env) error {
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport":  cmdFreeport,
			"holdport":  cmdHoldport,
			"waithttp":  cmdWaitHTTP,
			"exitcode":  cmdExitCode,
			"expandenv": cmdExpandEnv,
			"tcp":       cmdTCP,
			"wswelcome": cmdWSWelcome,
		},
	})
}

// freeAddr returns host:port of a TCP port free on 127.0.0.1.
func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// cmdFreeport sets each named variable to a TCP port free on 127.0.0.1.
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: freeport VAR...")
	}
	for _, name := range args {
		port, err := freePort()
		ts.Check(err)
		ts.Setenv(name, strconv.Itoa(port))
	}
}

// cmdHoldport listens on a port of 127.0.0.1 until the script ends and
// stores the port in the named variable, for "address in use" tests.
func cmdHoldport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Defer(func() { ln.Close() })
	ts.Setenv(args[0], strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}

// cmdWaitHTTP polls URL until it answers 200 OK, failing after a timeout
// (default 20s): the way a script waits for a background server.
func cmdWaitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waithttp URL [timeout]")
	}
	timeout := 20 * time.Second
	if len(args) == 2 {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		timeout = d
	}
	if err := waitHTTP(args[0], timeout); err != nil {
		ts.Fatalf("%v", err)
	}
}

// cmdExitCode runs a command like exec and checks its exact exit status,
// which exec's "!" cannot: rtsync promises 2 for usage errors.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		ee, ok := err.(interface{ ExitCode() int })
		if !ok {
			ts.Fatalf("run %s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdExpandEnv replaces $VAR and ${VAR} in each named file with the
// script's environment, since txtar files are not expanded: a config file
// can then carry a port chosen by freeport.
func cmdExpandEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: expandenv FILE...")
	}
	for _, name := range args {
		data, err := os.ReadFile(ts.MkAbs(name))
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(name), []byte(os.Expand(string(data), ts.Getenv)), 0o644))
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitHTTP(url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 within %s: %v", url, timeout, last)
}
