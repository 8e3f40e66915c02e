package cmd

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/server"
)

// TestServeSettingsLayering checks, through the real serve command, that a
// flag beats its environment variable, which beats the config file, which
// beats the default. It sets process environment variables, so it does
// not run in parallel.
func TestServeSettingsLayering(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "rtsync.yaml")
	writeFile(t, cfgFile, "addr: 127.0.0.1:7100\nmax-conns: 10\nhistory-size: 500\nmax-message-size: 128KiB\nlog-format: json\n")

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(o *serveOptions) // edits the expected options
	}{
		{
			name: "defaults",
			want: func(*serveOptions) {},
		},
		{
			name: "file beats default",
			args: []string{"--config", cfgFile},
			want: func(o *serveOptions) {
				o.Addr, o.Server.MaxConnections, o.Server.HistorySize, o.Server.MaxMessageSize, o.LogFormat = "127.0.0.1:7100", 10, 500, 128<<10, "json"
			},
		},
		{
			name: "env beats file",
			args: []string{"--config", cfgFile},
			env:  map[string]string{"RTSYNC_ADDR": "127.0.0.1:7200", "RTSYNC_MAX_CONNS": "20", "RTSYNC_LOG_FORMAT": "text"},
			want: func(o *serveOptions) {
				o.Addr, o.Server.MaxConnections, o.Server.HistorySize, o.Server.MaxMessageSize = "127.0.0.1:7200", 20, 500, 128<<10
			},
		},
		{
			name: "flag beats env and file",
			args: []string{"--config", cfgFile, "--addr", "127.0.0.1:7300", "--max-conns", "30"},
			env:  map[string]string{"RTSYNC_ADDR": "127.0.0.1:7200", "RTSYNC_MAX_CONNS": "20"},
			want: func(o *serveOptions) {
				o.Addr, o.Server.MaxConnections, o.Server.HistorySize, o.Server.MaxMessageSize, o.LogFormat = "127.0.0.1:7300", 30, 500, 128<<10, "json"
			},
		},
		{
			name: "config file from RTSYNC_CONFIG",
			env:  map[string]string{"RTSYNC_CONFIG": cfgFile, "RTSYNC_WRITE_TIMEOUT": "3s", "RTSYNC_SEND_QUEUE": "2MiB"},
			want: func(o *serveOptions) {
				o.Addr, o.Server.MaxConnections, o.Server.HistorySize, o.Server.MaxMessageSize, o.LogFormat = "127.0.0.1:7100", 10, 500, 128<<10, "json"
				o.Server.WriteTimeout, o.Server.SendQueueBytes = 3*time.Second, 2<<20
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var got *serveOptions
			ios, _, _, _ := iostreams.Test()
			c := newServeCmd(ios, func(_ context.Context, o *serveOptions) error {
				got = o
				return nil
			})
			c.SetArgs(tt.args)
			if err := c.Execute(); err != nil {
				t.Fatalf("serve %v: %v", tt.args, err)
			}
			want := serveOptions{Addr: "127.0.0.1:7000", LogFormat: "text", LogLevel: "info", Server: server.DefaultConfig()}
			tt.want(&want)
			if got.Addr != want.Addr || got.LogFormat != want.LogFormat || got.LogLevel != want.LogLevel {
				t.Errorf("addr/log: got %q %q %q, want %q %q %q", got.Addr, got.LogFormat, got.LogLevel, want.Addr, want.LogFormat, want.LogLevel)
			}
			if !reflect.DeepEqual(got.Server, want.Server) {
				t.Errorf("server config:\n got %+v\nwant %+v", got.Server, want.Server)
			}
			// Every case but the defaults sets max-conns somewhere, which
			// keeps serve from fitting it to the open-file limit.
			if wantSet := tt.name != "defaults"; got.maxConnsSet != wantSet {
				t.Errorf("maxConnsSet = %v, want %v", got.maxConnsSet, wantSet)
			}
		})
	}
}

// TestServeEnvErrors checks that bad values from the environment or the
// config file are usage errors that name where the value came from.
func TestServeEnvErrors(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "rtsync.yaml")
	writeFile(t, cfgFile, "max-conns: 10\nhistroy-size: 5\n")
	badValue := filepath.Join(dir, "bad.yaml")
	writeFile(t, badValue, "heartbeat: often\n")

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"bad env value", nil, map[string]string{"RTSYNC_MAX_CONNS": "many"}, []string{"environment variable RTSYNC_MAX_CONNS", `invalid value "many" for --max-conns`}},
		{"unknown file key", []string{"--config", cfgFile}, nil, []string{"config file " + cfgFile, `unknown key "histroy-size" on line 2`, `did you mean "history-size"?`}},
		{"bad file value", []string{"--config", badValue}, nil, []string{"config file " + badValue + `, key "heartbeat" (line 1)`, "want a duration"}},
		{"missing file from env", nil, map[string]string{"RTSYNC_CONFIG": filepath.Join(dir, "nope.yaml")}, []string{"(given by RTSYNC_CONFIG) does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ios, _, _, errOut := iostreams.Test()
			err := execute(context.Background(), ios, append([]string{"serve"}, tt.args...))
			if ExitCode(err) != 2 {
				t.Errorf("exit code %d, want 2 (err %v)", ExitCode(err), err)
			}
			for _, s := range tt.want {
				if !strings.Contains(errOut.String(), s) {
					t.Errorf("stderr %q does not contain %q", errOut, s)
				}
			}
		})
	}
}

// writeFile replaces name's content at once (a temporary file renamed into
// place), so a server reloading it meanwhile reads the old or the new
// file, never an empty or half-written one.
func writeFile(t *testing.T, name, content string) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

func testServeOptions(ios *iostreams.IOStreams) *serveOptions {
	return &serveOptions{IO: ios, Addr: "127.0.0.1:0", LogFormat: "text", LogLevel: "info", Server: server.DefaultConfig(), Store: serveStoreFlags{Kind: "memory"}}
}

// startServe runs runServe in the background until it listens, and returns
// its address and a stop that cancels it and returns what runServe did.
func startServe(t *testing.T, opts *serveOptions) (addr string, stop func() error) {
	t.Helper()
	addrc := make(chan net.Addr, 1)
	opts.onListen = func(a net.Addr) { addrc <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, opts) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("runServe did not return within 10s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case a := <-addrc:
		return a.String(), stop
	case err := <-done:
		once.Do(cancel)
		t.Fatalf("runServe returned before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("runServe did not listen within 10s")
	}
	return "", nil
}

// TestRunServe serves on a free port until the context ends, and checks the
// server answered, logged where it listens, warned about missing auth, and
// stopped cleanly.
func TestRunServe(t *testing.T) {
	t.Parallel()
	ios, _, _, errOut := iostreams.Test()
	opts := testServeOptions(ios)
	opts.Server.ShutdownTimeout = 2 * time.Second
	addr, stop := startServe(t, opts)
	if err := waitHTTP("http://"+addr+"/healthz", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("runServe after cancel: %v", err)
	}
	logs := errOut.String()
	for _, want := range []string{
		`level=INFO msg="rtsync listening" url=ws://` + addr + "/ws",
		`level=WARN msg="no authentication configured: anyone who can reach this address can connect, publish, take any uid and read its direct messages" addr=` + addr,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log %q does not contain %q", logs, want)
		}
	}
}

func TestRunServeAddrInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ios, _, _, _ := iostreams.Test()
	opts := testServeOptions(ios)
	opts.Addr = ln.Addr().String()
	err = runServe(context.Background(), opts)
	want := "listen on " + opts.Addr + ": address already in use; is another rtsync running? pick another port with --addr"
	if err == nil || err.Error() != want {
		t.Fatalf("runServe on a used port: %v\nwant %s", err, want)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error does not wrap EADDRINUSE")
	}
	if ExitCode(err) != 1 {
		t.Errorf("exit code %d, want 1", ExitCode(err))
	}
}

func TestCheckServeSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*server.Config)
		want string // "" means valid
	}{
		{"defaults", func(*server.Config) {}, ""},
		{"history off", func(c *server.Config) { c.HistorySize = 0 }, ""},
		{"negative history", func(c *server.Config) { c.HistorySize = -1 }, "--history-size must be 0 (history off) or more"},
		{"zero conns", func(c *server.Config) { c.MaxConnections = 0 }, "--max-conns must be at least 1, got 0"},
		{"negative rooms", func(c *server.Config) { c.MaxRoomsPerConn = -3 }, "--max-rooms must be at least 1, got -3"},
		{"zero rate", func(c *server.Config) { c.PublishRate = 0 }, "--publish-rate must be more than 0"},
		{"zero burst", func(c *server.Config) { c.PublishBurst = 0 }, "--publish-burst must be at least 1"},
		{"zero presence", func(c *server.Config) { c.PresenceMaxMembers = 0 }, "--presence-max must be at least 1"},
		{"coalescing off", func(c *server.Config) { c.WriteCoalesce = 0 }, ""},
		{"negative coalesce", func(c *server.Config) { c.WriteCoalesce = -time.Millisecond }, "--write-coalesce must be 0 (off) or more"},
		{"zero ttl", func(c *server.Config) { c.HistoryTTL = 0 }, "--history-ttl must be more than 0"},
		{"negative timeout", func(c *server.Config) { c.WriteTimeout = -time.Second }, "--write-timeout must be more than 0, got -1s"},
		{"zero shutdown", func(c *server.Config) { c.ShutdownTimeout = 0 }, "--shutdown-timeout must be more than 0"},
		{"zero hook timeout", func(c *server.Config) { c.HookTimeout = 0 }, "--hook-timeout must be more than 0, got 0s"},
		{"zero hook concurrency", func(c *server.Config) { c.HookConcurrency = 0 }, "--hook-concurrency must be at least 1, got 0"},
		{"tiny message", func(c *server.Config) { c.MaxMessageSize = 100 }, "--max-message-size must be at least 256 bytes, got 100"},
		{"queue below message", func(c *server.Config) { c.SendQueueBytes = 1 << 10 }, "--send-queue (1KiB) must hold at least one message of --max-message-size (64KiB)"},
	}
	for _, tt := range tests {
		c := server.DefaultConfig()
		tt.edit(&c)
		err := checkServeSettings(c)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
		if err == nil {
			// What passes here must pass the server too.
			tt.edit(&c)
			if c.HistorySize == 0 {
				c.HistorySize = -1
			}
			if _, err := server.New(c); err != nil {
				t.Errorf("%s: passed checkServeSettings but server.New said %v", tt.name, err)
			}
		}
	}
}

func TestListenError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want string
	}{
		{"nowhere", "listen on nowhere: address nowhere: missing port in address; give --addr as host:port, e.g. 127.0.0.1:7000"},
		{"127.0.0.1:99999", "listen on 127.0.0.1:99999: address 99999: invalid port; give --addr as host:port"},
	}
	for _, tt := range tests {
		_, err := listen(context.Background(), tt.addr, false)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("listen(%q) = %v, want %q", tt.addr, err, tt.want)
		}
	}
	err := listenError("127.0.0.1:80", &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EACCES)})
	if !strings.Contains(err.Error(), "listen on 127.0.0.1:80: permission denied; ports below 1024 need privileges") {
		t.Errorf("permission error: %v", err)
	}
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	ios, _, _, errOut := iostreams.Test()
	log := newLogger(ios.ErrOut, "json", "warn")
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	got := errOut.String()
	if strings.Contains(got, "hidden") || !strings.Contains(got, `"level":"WARN","msg":"shown","k":1`) {
		t.Errorf("json warn logger wrote %q", got)
	}
}

// TestServeFlagsCoverConfig fails when server.Config gains a field that
// `rtsync serve` has no flag for, so the command line keeps up with the
// server. Add the flag in newServeCmd, or list the field here as set by
// runServe.
func TestServeFlagsCoverConfig(t *testing.T) {
	t.Parallel()
	fieldFlag := map[string]string{
		"Node":                   "node",
		"Version":                "", // set by runServe from the build
		"Logger":                 "", // set by runServe from --log-format and --log-level
		"MaxConnections":         "max-conns",
		"MaxMessageSize":         "max-message-size",
		"MaxRoomsPerConn":        "max-rooms",
		"PublishRate":            "publish-rate",
		"PublishBurst":           "publish-burst",
		"SendQueueBytes":         "send-queue",
		"WriteTimeout":           "write-timeout",
		"WriteCoalesce":          "write-coalesce",
		"HistorySize":            "history-size",
		"HistoryTTL":             "history-ttl",
		"PresenceMaxMembers":     "presence-max",
		"MaxHistoryBytes":        "max-history-bytes",
		"MaxRooms":               "max-rooms-total",
		"MaxRoomsCreatedPerConn": "max-rooms-created",
		"MaxMemory":              "max-memory",
		"HeartbeatInterval":      "heartbeat",
		"ReadMode":               "read-mode",
		"ShutdownTimeout":        "shutdown-timeout",
		"JWTSecret":              "jwt-secret",
		"JWTPublicKeyFile":       "jwt-public-key",
		"JWKSFile":               "jwks",
		"JWTIssuer":              "jwt-issuer",
		"JWTAudience":            "jwt-audience",
		"AllowAnonymous":         "allow-anonymous",
		"AnonymousRooms":         "anonymous-rooms",
		"AllowedOrigins":         "allowed-origins",
		"AllowedHosts":           "allowed-hosts",
		"MaxConnsPerIP":          "max-conns-per-ip",
		"APIKeys":                "api-key",
		"HookURL":                "hook-url",
		"HookConnectURL":         "hook-connect-url",
		"HookMessageURL":         "hook-message-url",
		"HookRPCURL":             "hook-rpc-url",
		"HookCloseURL":           "hook-close-url",
		"HookSecret":             "hook-secret",
		"HookTimeout":            "hook-timeout",
		"HookConcurrency":        "hook-concurrency",
		"HookBreakerFailures":    "hook-breaker-failures",
		"HookBreakerCooldown":    "hook-breaker-cooldown",
		"HookFailOpen":           "hook-fail",
		"Events":                 "", // in-process handler, for programs embedding the server
		"Pprof":                  "pprof",
		"Page":                   "web",
		"RoomHistory":            "room-history",
		"OpenStore":              "store", // with --data-dir and --fsync
		"Broker":                 "",      // in-process; clustering brings its flags
		"InboxMax":               "inbox-max",
		"InboxTTL":               "inbox-ttl",
	}
	ios, _, _, _ := iostreams.Test()
	flags := newServeCmd(ios, nil).Flags()
	typ := reflect.TypeFor[server.Config]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		flag, ok := fieldFlag[name]
		if !ok {
			t.Errorf("server.Config.%s has no rtsync serve flag; add one in serve.go and list it in this test", name)
			continue
		}
		if flag != "" && flags.Lookup(flag) == nil {
			t.Errorf("server.Config.%s: flag --%s is not defined", name, flag)
		}
	}
}
