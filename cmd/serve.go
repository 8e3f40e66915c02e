package cmd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtsync/rtsync/internal/buildinfo"
	"github.com/rtsync/rtsync/internal/cliconf"
	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/server"
	"github.com/rtsync/rtsync/web"
)

// serveOptions is what `rtsync serve` needs; its flags are bound to these
// fields, most of them straight into Server.
type serveOptions struct {
	IO *iostreams.IOStreams

	Addr       string
	TCPAddr    string
	TLSCert    string
	TLSKey     string
	HookFail   string
	ConfigFile string
	LogFormat  string
	LogLevel   string
	// APIKeyFile is where serve keeps its own API key when no --api-key is
	// given ("": localkey.DefaultPath).
	APIKeyFile string
	// Web serves the browser chat page at / (sets Server.Page).
	Web bool
	// Store is where history and offline messages live (serve_store.go).
	Store serveStoreFlags
	// Server is handed to server.New; runServe sets Logger and Version.
	Server server.Config

	// LookupEnv and ReadFile feed the flag > env > file > default layering;
	// nil means the process environment and the real filesystem.
	LookupEnv func(string) (string, bool)
	ReadFile  func(string) ([]byte, error)

	// onListen, when set, is told the bound address before serving starts,
	// so tests can listen on port 0 and find the server.
	onListen func(net.Addr)
	// cmdLine names the flags given on the command line, which a reload of
	// the API keys must not override (serve_reload.go); hup, when set,
	// replaces SIGHUP for tests.
	cmdLine []string
	hup     chan os.Signal
	// maxConnsSet is true when --max-conns came from the command line, the
	// environment or the config file; otherwise serve fits the default to
	// the open-file limit.
	maxConnsSet bool
	// localKey is the key read from (or made in) APIKeyFile, used while
	// no --api-key is configured, reloads included; localKeyFile is where
	// it is.
	localKey, localKeyFile string
}

const serveLong = `Run the rtsync server: WebSocket clients connect to ws://ADDR/ws,
orchestrators check http://ADDR/healthz and /readyz, Prometheus scrapes
http://ADDR/metrics ('rtsync top' watches the same figures), and people chat
on a browser chat page at http://ADDR/ (--web=false turns it off).

With --tcp-addr the server also takes plain TCP clients (apps, devices, game
clients without WebSocket): the same JSON objects, one per line, in the same
rooms. A TCP client whose first line is not JSON is in text mode: its lines
are messages to room lobby and it reads "[room] name: text" lines, so
'nc 127.0.0.1 7001' is a chat client (type /help there). docs/protocol.md,
"TCP transport", has the details.

History, each room's epoch and the direct messages waiting for offline
users are kept on disk under --data-dir (default ./rtsync-data; one server
per directory), so a restart loses nothing: clients that reconnect with since
get exactly what they missed. A publish is acknowledged once its message is
on disk (--fsync batch: publishes that arrive together share one sync).
--store memory keeps nothing past the process. 'rtsync store check' and
'rtsync store compact' look after the directory while no server uses it.

With --redis redis://HOST:PORT/DB every serve on that Redis is a node of
one server: rooms, users, history and offline messages live in Redis, any
node's HTTP API acts on every client, and a client that reconnects to
another node recovers what it missed. An unreachable Redis stops serve at
start; one lost while running leaves the nodes serving their own clients,
with /readyz at 503 and publishes refused until it returns. docs/deploy.md
has the set-up behind a load balancer.

Without --jwt-secret, --jwt-public-key or --jwks the server is open: anyone
who can reach ADDR can connect, pick a uid and publish (the first log lines
say so). With one of them, clients need a JWT whose sub becomes their uid and
whose rooms and read claims say which rooms they may publish to and join;
'rtsync token --help' makes one for development, docs/auth.md has the rest.
The default address, 127.0.0.1:7000, is reachable from this machine only;
listen on other addresses of an open server only on a network you trust.

Each setting comes from the first of these that has it:

  1. a flag on the command line        --max-conns 5000
  2. an environment variable           RTSYNC_MAX_CONNS=5000
     (RTSYNC_ + the flag name upper-cased, '-' written as '_';
     an empty variable counts as unset)
  3. the config file named by --config or RTSYNC_CONFIG, a YAML mapping
     whose keys are the flag names:
         addr: 0.0.0.0:7000
         max-conns: 5000
         max-message-size: 128KiB
         history-ttl: 1h
     (an unknown key is an error, so typos do not pass silently)
  4. the defaults shown below

Sizes are a byte count or take a unit: 512, 64KiB, 1MiB (KiB, MiB, GiB count
in 1024s; KB, MB, GB in 1000s). Durations take a unit too: 500ms, 10s, 2h.

On SIGINT (Ctrl-C) or SIGTERM the server stops accepting, tells every client
to reconnect (close code 4012), waits up to --shutdown-timeout for queued
messages to go out, and exits 0. A second signal exits at once.

The HTTP API at http://ADDR/api/v1 (docs/api.md) lets your application send,
publish, kick and look things up; /metrics and /debug/pprof/ sit behind it
too. It needs Authorization: Bearer KEY with one of the --api-key keys. With
none, serve uses a key of its own: the first start writes a random one to
--api-key-file (default ~/.config/rtsync/api-key, readable by you only), and
'rtsync top' and 'rtsync bench' read it from there by themselves:
    curl -H "Authorization: Bearer $(cat ~/.config/rtsync/api-key)" \
      http://127.0.0.1:7000/api/v1/stats
A web page in your browser cannot read that file, and a reverse proxy in
front of the server passes no key of its own, so neither can drive the API.

Browsers may open a WebSocket only from the server's own pages and from
--allowed-origins. On a loopback address the server answers only loopback
host names (localhost, 127.0.0.1, [::1]) and --allowed-hosts, against DNS
rebinding. docs/security.md has the whole threat model and every limit.
On SIGHUP the server reads the config file (and the environment) again for
--api-key, so keys kept in the file rotate without a restart; keys given on
the command line stay as they are.`

const serveExample = `  # a local server on 127.0.0.1:7000
  rtsync serve

  # reachable from other machines, JSON logs
  rtsync serve --addr 0.0.0.0:7000 --log-format json

  # the same through the environment, as in a container
  RTSYNC_ADDR=0.0.0.0:7000 RTSYNC_LOG_FORMAT=json rtsync serve

  # settings from a file; flags and RTSYNC_* variables still win over it
  rtsync serve --config rtsync.yaml --log-level debug

  # clients need a token signed with this secret (make one with rtsync token)
  RTSYNC_JWT_SECRET=$(cat secret.txt) rtsync serve

  # tokens from your identity provider, browsers from your site only, TLS
  rtsync serve --jwks jwks.json --allowed-origins https://app.example.com \
    --tls-cert cert.pem --tls-key key.pem --addr 0.0.0.0:443

  # also the line-based TCP transport; then chat from a shell: nc 127.0.0.1 7001
  rtsync serve --tcp-addr 127.0.0.1:7001

  # bigger frames, longer history, more of it for news rooms, none for tmp ones
  rtsync serve --max-message-size 1MiB --history-size 5000 --history-ttl 72h \
    --room-history 'news.*=20000/168h,tmp.*=0'

  # history somewhere that lasts, every publish synced on its own
  rtsync serve --data-dir /var/lib/rtsync --fsync always

  # nothing on disk (tests, demos): history and offline messages in memory
  rtsync serve --store memory

  # two nodes of one cluster on a Redis (any node serves any client)
  rtsync serve --addr 127.0.0.1:7001 --node a --redis redis://127.0.0.1:6379/0
  rtsync serve --addr 127.0.0.1:7002 --node b --redis redis://127.0.0.1:6379/0

  # without --api-key the API takes serve's own key, made on first start
  curl -H "Authorization: Bearer $(cat ~/.config/rtsync/api-key)" http://127.0.0.1:7000/api/v1/stats

  # behind a proxy that passes the public name, with a front end elsewhere
  rtsync serve --allowed-hosts chat.example.com \
    --allowed-origins https://app.example.com --max-conns-per-ip 0

  # an HTTP API key for your application, in a file: change the key there
  # and send SIGHUP (kill -HUP PID) to rotate it without a restart
  echo 'api-key: [s3cret]' > rtsync.yaml && rtsync serve --config rtsync.yaml
  curl -H 'Authorization: Bearer s3cret' http://127.0.0.1:7000/api/v1/stats`

// newServeCmd builds `rtsync serve`. runF replaces runServe in tests that
// only check how flags, environment and config file become options; nil
// means runServe.
func newServeCmd(ios *iostreams.IOStreams, runF func(context.Context, *serveOptions) error) *cobra.Command {
	if runF == nil {
		runF = runServe
	}
	// Start from the server's defaults so fields with no flag keep them.
	opts := &serveOptions{IO: ios, Server: server.DefaultConfig()}
	c := &cobra.Command{
		Use:     "serve",
		Short:   "Run the real-time server",
		Long:    serveLong,
		Example: serveExample,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts.recordCommandLine(c.Flags())
			err := cliconf.Apply(c.Flags(), cliconf.Options{
				EnvPrefix:  envPrefix,
				ConfigFlag: "config",
				LookupEnv:  opts.LookupEnv,
				ReadFile:   opts.ReadFile,
			})
			if err != nil {
				return &usageError{err: err}
			}
			opts.maxConnsSet = c.Flags().Changed("max-conns")
			opts.Store.kindSet = c.Flags().Changed("store")
			return runF(c.Context(), opts)
		},
	}

	// Defaults come from the server package so help never drifts from
	// what the server would do anyway.
	d := server.DefaultConfig()
	s := &opts.Server
	fs := c.Flags()
	fs.SortFlags = false // keep related flags together in help
	fs.StringVar(&opts.Addr, "addr", "127.0.0.1:7000", "`host:port` to listen on; 0.0.0.0:PORT for every interface")
	fs.StringVar(&s.Node, "node", "", "`name` of this node in welcome events and logs (default a random id)")
	fs.IntVar(&s.MaxConnections, "max-conns", d.MaxConnections, "most connections at once; more are refused with close code 4011 (unset, it is lowered to fit the open-file limit)")
	fs.IntVar(&s.MaxConnsPerIP, "max-conns-per-ip", d.MaxConnsPerIP, "most open connections (HTTP, WebSocket, TCP) from one remote address, loopback not counted; 0: no limit")
	cliconf.ByteSizeVar(fs, &s.MaxMessageSize, "max-message-size", d.MaxMessageSize, "largest frame a client may send")
	fs.IntVar(&s.MaxRoomsPerConn, "max-rooms", d.MaxRoomsPerConn, "most rooms one connection may be in")
	fs.Float64Var(&s.PublishRate, "publish-rate", d.PublishRate, "messages per second one connection may publish or send, sustained")
	fs.IntVar(&s.PublishBurst, "publish-burst", d.PublishBurst, "messages one connection may send at once above --publish-rate")
	cliconf.ByteSizeVar(fs, &s.SendQueueBytes, "send-queue", d.SendQueueBytes, "bytes queued for one client before it is closed as too slow (code 4008)")
	fs.DurationVar(&s.WriteTimeout, "write-timeout", d.WriteTimeout, "longest one write to a client may take")
	fs.DurationVar(&s.WriteCoalesce, "write-coalesce", d.WriteCoalesce, "a fixed shortest gap between two writes to one client, faster traffic batched into one write; 0 (default): no fixed window, batching follows the load and messages are written at once when the socket takes them")
	fs.IntVar(&s.HistorySize, "history-size", d.HistorySize, "messages each room keeps for recovery and the history op; 0 turns history off")
	fs.DurationVar(&s.HistoryTTL, "history-ttl", d.HistoryTTL, "how long a room keeps a message")
	cliconf.ByteSizeVar(fs, &s.MaxHistoryBytes, "max-history-bytes", d.MaxHistoryBytes, "history of all rooms together, in memory or on disk; past it the oldest messages go first, whichever room holds them; 0 for no bound")
	opts.Store.register(fs, s, d)
	fs.IntVar(&s.MaxRooms, "max-rooms-total", d.MaxRooms, "most rooms the server holds members of, and keeps history for; past it the store forgets the rooms idle longest, and joins that would make a room when all have members get server_limit; 0 for no bound")
	fs.IntVar(&s.MaxRoomsCreatedPerConn, "max-rooms-created", d.MaxRoomsCreatedPerConn, "most rooms one connection may make by joining rooms that did not exist; 0 for no bound")
	cliconf.ByteSizeVar(fs, &s.MaxMemory, "max-memory", d.MaxMemory, "Go heap size past which new connections are refused (close 4011) and the oldest half of the history goes; 0 for no bound")
	fs.IntVar(&s.PresenceMaxMembers, "presence-max", d.PresenceMaxMembers, "rooms with more members than this send no join/leave events")
	cliconf.ChoiceVar(fs, &s.ReadMode, "read-mode", server.ReadModeAuto, "how WebSocket frames are read: poll waits on epoll (Linux) or kqueue (macOS, BSD), so an idle connection holds no goroutine; goroutine reads each connection on its own goroutine; auto is poll where the system has it; TLS connections always use a goroutine", server.ReadModeAuto, server.ReadModePoll, server.ReadModeGoroutine)
	fs.DurationVar(&s.HeartbeatInterval, "heartbeat", d.HeartbeatInterval, "how often clients are pinged; one silent for two intervals is closed")
	fs.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", d.ShutdownTimeout, "how long a graceful stop waits for clients to drain")
	fs.BoolVar(&opts.Web, "web", true, "serve the browser chat page at /")
	fs.BoolVar(&s.Pprof, "pprof", false, "serve the Go profiler at /debug/pprof/, behind the API key (loopback only without one)")
	fs.StringVar(&opts.TCPAddr, "tcp-addr", "", "also serve the line-based TCP transport on `host:port` (JSON lines, or plain text: nc works)")
	fs.StringVar(&opts.TLSCert, "tls-cert", "", "serve HTTPS/WSS with this certificate `FILE` (PEM; with --tls-key)")
	fs.StringVar(&opts.TLSKey, "tls-key", "", "private key `FILE` (PEM) for --tls-cert")
	fs.StringVar(&s.JWTSecret, "jwt-secret", "", "verify client tokens signed with this HS256 `secret`; clients then need a token")
	fs.StringVar(&s.JWTPublicKeyFile, "jwt-public-key", "", "verify RS256/ES256 client tokens with this PEM public key `FILE`")
	fs.StringVar(&s.JWKSFile, "jwks", "", "verify client tokens with the keys of this JSON Web Key Set `FILE`")
	fs.StringVar(&s.JWTIssuer, "jwt-issuer", "", "accept only tokens whose iss claim is this `issuer`")
	fs.StringSliceVar(&s.JWTAudience, "jwt-audience", nil, "accept only tokens whose aud claim names one of these `audiences`, comma-separated")
	fs.BoolVar(&s.AllowAnonymous, "allow-anonymous", false, "with token authentication, also let clients without a token connect: no uid, no publishing, only --anonymous-rooms")
	fs.StringSliceVar(&s.AnonymousRooms, "anonymous-rooms", nil, "room `patterns` anonymous clients may join, read-only, comma-separated ('*' matches anything: news.*); default none")
	fs.StringSliceVar(&s.AllowedOrigins, "allowed-origins", nil, "browser `origins` allowed to open a WebSocket besides the server's own pages, comma-separated (e.g. https://app.example.com); * allows any")
	fs.StringSliceVar(&s.AllowedHosts, "allowed-hosts", nil, "host `names` the server answers to besides IPs and localhost, against DNS rebinding (e.g. chat.example.com,*.corp.example); * allows any; empty: a loopback address answers loopback names only")
	fs.StringSliceVar(&s.APIKeys, "api-key", nil, "bearer `key` for the HTTP API /api/v1 and /metrics (repeat or comma-separate for several; reloaded on SIGHUP); none: serve's own key from --api-key-file")
	fs.StringVar(&opts.APIKeyFile, "api-key-file", "", "`file` serve keeps its own API key in when no --api-key is given, created on first start (default ~/.config/rtsync/api-key); top and bench read it")
	fs.StringVar(&s.HookURL, "hook-url", "", "POST connect, message, rpc and close events to this `URL` (your application's Events handler)")
	fs.StringVar(&s.HookConnectURL, "hook-connect-url", "", "`URL` for connect events only (overrides --hook-url)")
	fs.StringVar(&s.HookMessageURL, "hook-message-url", "", "`URL` for message events only (overrides --hook-url)")
	fs.StringVar(&s.HookRPCURL, "hook-rpc-url", "", "`URL` for rpc events only (overrides --hook-url)")
	fs.StringVar(&s.HookCloseURL, "hook-close-url", "", "`URL` for close events only (overrides --hook-url)")
	fs.StringVar(&s.HookSecret, "hook-secret", "", "sign hook requests with HMAC-SHA256 using this `secret`")
	fs.DurationVar(&s.HookTimeout, "hook-timeout", d.HookTimeout, "longest a hook call may take")
	fs.IntVar(&s.HookConcurrency, "hook-concurrency", d.HookConcurrency, "most hook calls in flight at once")
	fs.IntVar(&s.HookBreakerFailures, "hook-breaker-failures", d.HookBreakerFailures, "failed hook calls in a row that open the circuit breaker: calls then fail at once for --hook-breaker-cooldown; 0 turns the breaker off")
	fs.DurationVar(&s.HookBreakerCooldown, "hook-breaker-cooldown", d.HookBreakerCooldown, "how long an open hook circuit breaker fails calls at once before one probe call goes through")
	hookFails := []string{"closed", "open"}
	cliconf.ChoiceVar(fs, &opts.HookFail, "hook-fail", "closed", "when a hook fails or times out: closed refuses the connection or message, open lets it through", hookFails...)
	logFormats := []string{"text", "json"}
	logLevels := []string{"debug", "info", "warn", "error"}
	cliconf.ChoiceVar(fs, &opts.LogFormat, "log-format", "text", "log format on stderr", logFormats...)
	cliconf.ChoiceVar(fs, &opts.LogLevel, "log-level", "info", "least severe log level shown", logLevels...)
	fs.StringVar(&opts.ConfigFile, "config", "", "read settings from YAML `FILE` (keys are flag names; see above)")

	_ = c.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions(logFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions(logLevels, cobra.ShellCompDirectiveNoFileComp))
	_ = c.MarkFlagFilename("config", "yaml", "yml")
	return c
}

// runServe checks the settings, listens on opts.Addr and serves until ctx
// ends, then drains and returns nil.
func runServe(ctx context.Context, opts *serveOptions) error {
	cfg := opts.Server
	if err := errors.Join(checkServeSettings(cfg), opts.Store.check(cfg)); err != nil {
		return &usageError{err: err}
	}
	// server.Config reads zero as "default"; on the command line 0 means
	// off, which the server spells as negative.
	if cfg.HistorySize == 0 {
		cfg.HistorySize = -1
	}
	if cfg.WriteCoalesce == 0 {
		cfg.WriteCoalesce = -1
	}
	for _, v := range []*int{&cfg.MaxHistoryBytes, &cfg.MaxRooms, &cfg.MaxRoomsCreatedPerConn, &cfg.MaxMemory} {
		if *v == 0 {
			*v = -1 // no bound
		}
	}
	if cfg.HookBreakerFailures == 0 {
		cfg.HookBreakerFailures = -1
	}
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = -1
	}
	cfg.HookFailOpen = opts.HookFail == "open"
	if opts.Web {
		cfg.Page = web.Handler()
	}
	if (opts.TLSCert == "") != (opts.TLSKey == "") {
		return &usageError{err: errors.New("--tls-cert and --tls-key go together; give both or neither")}
	}
	log := newLogger(opts.IO.ErrOut, opts.LogFormat, opts.LogLevel)
	cfg.Logger = log
	cfg.Version = buildinfo.Get().Version
	cfg.MaxConnections = fitOpenFiles(log, cfg.MaxConnections, opts.maxConnsSet)
	if err := opts.Store.apply(&cfg, log); err != nil {
		if opts.Store.Redis != "" {
			return err // Redis unreachable is not a usage error
		}
		return &usageError{err: err}
	}
	// The broker (--redis) is closed by the server once it runs; until
	// then, by the return that gives up.
	unstarted := cfg.Broker
	defer func() {
		if unstarted != nil {
			_ = unstarted.Close()
		}
	}()
	if countKeys(cfg.APIKeys) == 0 {
		if err := opts.loadLocalKey(); err != nil {
			return err
		}
		cfg.APIKeys = []string{opts.localKey}
	}

	// Listen first: a bad address should not leave a data directory
	// behind.
	ln, err := listen(ctx, opts.Addr, false)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return err
	}
	srv, err := server.New(cfg)
	if err == nil {
		unstarted = nil
	}
	if err != nil {
		_ = ln.Close()
		if errors.Is(err, server.ErrOpenStore) {
			// The store's error names the directory and what to do.
			return err
		}
		return fmt.Errorf("%w; check the serve flags", err)
	}
	if opts.onListen != nil {
		opts.onListen(ln.Addr())
	}
	scheme, wsScheme := "http", "ws"
	if opts.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(opts.TLSCert, opts.TLSKey)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("load TLS certificate %s and key %s: %w; check both are PEM files that belong together", opts.TLSCert, opts.TLSKey, err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme, wsScheme = "https", "wss"
	}
	if opts.TCPAddr != "" {
		tl, err := listen(ctx, opts.TCPAddr, true)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("--tcp-addr: %w", err)
		}
		srv.ServeTCP(tl)
		log.Info("rtsync TCP transport listening", "addr", tl.Addr().String())
	}

	addr := ln.Addr().String()
	eff := srv.Config()
	log.Info("rtsync listening", "url", wsScheme+"://"+addr+"/ws", "health", scheme+"://"+addr+"/healthz",
		"node", eff.Node, "version", eff.Version)
	if eff.Page != nil {
		log.Info("browser chat page", "url", scheme+"://"+addr+"/")
	}
	switch algs := strings.Join(srv.AuthAlgorithms(), ","); {
	case algs == "":
		log.Warn("no authentication configured: anyone who can reach this address can connect, publish, take any uid and read its direct messages", "addr", addr)
	case eff.AllowAnonymous:
		log.Info("client authentication: JWT, anonymous clients allowed read-only", "algorithms", algs, "anonymous_rooms", strings.Join(eff.AnonymousRooms, ","))
	default:
		log.Info("client authentication: JWT required", "algorithms", algs)
	}
	if len(eff.AllowedOrigins) > 0 {
		log.Info("browser origins limited", "allowed_origins", strings.Join(eff.AllowedOrigins, ","))
	}
	logAPIKeys(log, opts, eff.APIKeys, scheme+"://"+addr+"/api/v1")
	if opts.ConfigFile != "" {
		log.Info("settings read", "config", opts.ConfigFile)
	}
	log.Debug("settings", "max_conns", eff.MaxConnections, "max_message_size", eff.MaxMessageSize,
		"max_rooms", eff.MaxRoomsPerConn, "publish_rate", eff.PublishRate, "publish_burst", eff.PublishBurst,
		"send_queue", eff.SendQueueBytes, "write_timeout", eff.WriteTimeout, "write_coalesce", eff.WriteCoalesce, "history_size", eff.HistorySize,
		"history_ttl", eff.HistoryTTL, "presence_max", eff.PresenceMaxMembers, "heartbeat", eff.HeartbeatInterval,
		"shutdown_timeout", eff.ShutdownTimeout, "max_history_bytes", eff.MaxHistoryBytes, "max_rooms_total", eff.MaxRooms,
		"max_rooms_created", eff.MaxRoomsCreatedPerConn, "max_memory", eff.MaxMemory)

	stopReload := watchAPIKeys(ctx, srv, opts, log)
	defer stopReload()
	// Run closes ln.
	return srv.Run(ctx, ln)
}

// checkServeSettings rejects values server.Config would silently replace
// with its default (a zero) or refuse with its own field names, so the
// message names the flag the user set.
func checkServeSettings(c server.Config) error {
	var errs []error
	atLeast1 := func(flag string, v int) {
		if v < 1 {
			errs = append(errs, fmt.Errorf("--%s must be at least 1, got %d", flag, v))
		}
	}
	positive := func(flag string, v time.Duration) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be more than 0, got %s", flag, v))
		}
	}
	atLeast1("max-conns", c.MaxConnections)
	atLeast1("max-rooms", c.MaxRoomsPerConn)
	atLeast1("publish-burst", c.PublishBurst)
	atLeast1("presence-max", c.PresenceMaxMembers)
	atLeast1("hook-concurrency", c.HookConcurrency)
	if c.MaxConnsPerIP < 0 {
		errs = append(errs, fmt.Errorf("--max-conns-per-ip must be 0 (no limit) or more, got %d", c.MaxConnsPerIP))
	}
	if c.PublishRate <= 0 {
		errs = append(errs, fmt.Errorf("--publish-rate must be more than 0, got %g", c.PublishRate))
	}
	if c.WriteCoalesce < 0 {
		errs = append(errs, fmt.Errorf("--write-coalesce must be 0 (off) or more, got %s", c.WriteCoalesce))
	}
	if c.HistorySize < 0 {
		errs = append(errs, fmt.Errorf("--history-size must be 0 (history off) or more, got %d", c.HistorySize))
	}
	for _, b := range []struct {
		flag string
		v    int
	}{{"max-history-bytes", c.MaxHistoryBytes}, {"max-rooms-total", c.MaxRooms}, {"max-rooms-created", c.MaxRoomsCreatedPerConn}, {"max-memory", c.MaxMemory}} {
		if b.v < 0 {
			errs = append(errs, fmt.Errorf("--%s must be 0 (no bound) or more, got %d", b.flag, b.v))
		}
	}
	positive("write-timeout", c.WriteTimeout)
	positive("history-ttl", c.HistoryTTL)
	positive("heartbeat", c.HeartbeatInterval)
	positive("shutdown-timeout", c.ShutdownTimeout)
	positive("hook-breaker-cooldown", c.HookBreakerCooldown)
	positive("hook-timeout", c.HookTimeout)
	if c.HookBreakerFailures < 0 {
		errs = append(errs, fmt.Errorf("--hook-breaker-failures must be 0 (breaker off) or more, got %d", c.HookBreakerFailures))
	}
	const minMessage = 256
	if c.MaxMessageSize < minMessage {
		errs = append(errs, fmt.Errorf("--max-message-size must be at least %d bytes, got %s", minMessage, cliconf.FormatByteSize(int64(c.MaxMessageSize))))
	} else if c.SendQueueBytes < c.MaxMessageSize {
		errs = append(errs, fmt.Errorf("--send-queue (%s) must hold at least one message of --max-message-size (%s); raise --send-queue",
			cliconf.FormatByteSize(int64(c.SendQueueBytes)), cliconf.FormatByteSize(int64(c.MaxMessageSize))))
	}
	return errors.Join(errs...)
}

// newLogger returns the slog logger serve writes to w. format and level
// were checked by their flags.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// listen opens the TCP listener, turning the usual failures into errors
// that say what to do. keepAlive turns TCP keep-alive probes on for the
// accepted connections: the TCP transport wants them (a silent nc client
// has no other check); the HTTP listener does not, since its WebSocket
// clients are pinged (the heartbeat) and its HTTP requests have timeouts,
// and setting them costs four system calls per connection.
func listen(ctx context.Context, addr string, keepAlive bool) (net.Listener, error) {
	var lc net.ListenConfig
	if !keepAlive {
		lc.KeepAlive = -1
	}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, listenError(addr, err)
	}
	return ln, nil
}

func listenError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen on %s: %w; is another rtsync running? pick another port with --addr", addr, syscall.EADDRINUSE)
	case errors.Is(err, syscall.EACCES), errors.Is(err, os.ErrPermission):
		return fmt.Errorf("listen on %s: permission denied; ports below 1024 need privileges, pick a higher port with --addr", addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("listen on %s: %w; use an address of this machine with --addr, e.g. 127.0.0.1:7000 (this machine only) or 0.0.0.0:7000 (every interface)", addr, syscall.EADDRNOTAVAIL)
	}
	cause := err
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		cause = oe.Err
	}
	return fmt.Errorf("listen on %s: %w; give --addr as host:port, e.g. 127.0.0.1:7000", addr, cause)
}
