package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/buildinfo"
	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/loadtest"
	"github.com/rtsync/rtsync/loadtest/report"
	tuibench "github.com/rtsync/rtsync/tui/bench"
	"github.com/rtsync/rtsync/tui/style"
)

// benchOptions is what `rtsync bench` needs.
type benchOptions struct {
	IO *iostreams.IOStreams

	URLs       []string
	Cluster    bool
	PublishOn  string
	Scenario   string
	Protocol   string
	Conns      int
	Rooms      int
	Publishers int
	Rate       float64
	Payload    int
	Ramp       time.Duration
	Warmup     time.Duration
	Duration   time.Duration
	Drain      time.Duration
	Timeout    time.Duration
	Dialers    int
	Churn      float64
	SourceIPs  []string
	Procs      int
	ReadMode   string
	Token      string
	APIKey     string
	Remote     bool

	Out        string
	CPUProfile string
	Format     string
	HTML       string
	Progress   string

	MaxP99  time.Duration
	MaxLoss string
	MinRate float64

	Worker bool
}

const benchLong = `Load a real-time server with thousands of WebSocket connections and
measure what it delivers: latency percentiles, loss, duplicates, ordering,
throughput, connect times.

Without --url the bench starts its own 'rtsync serve' on a free loopback
port (one per 18,000 connections), measures it and stops it: one command
gives a first figure. With --url it loads that server; several --url are
independent servers that share the load, each with its own rooms.

--cluster treats several --url as the nodes of one cluster (rtsync serve
--redis on one Redis): rooms are cluster-wide and each room's subscribers
are dealt round-robin over the nodes, so a message published on one node
must reach subscribers on all of them; direct-message partners sit on two
different nodes. --publish-on all (the default) puts --publishers
publishers of every room on each node, --publish-on first only on the first
--url. The report adds each node's connections, deliveries, loss and
latency, and how many deliveries crossed from one node to another.

Scenarios:
  broadcast  --conns subscribers spread over --rooms rooms; --publishers
             per room publish --rate messages/s in all (the default)
  direct     --conns peers in pairs send each other direct messages
  connect    a connection storm: how fast --conns connect (each says hello
             and joins one of --rooms), handshake latency, failures by
             cause; --churn reconnects a share/s
  idle       hold --conns connections; reports the server's memory per
             connection when the bench started it (or from its stats API)

Latency counts from each message's intended send time, so a stalled server
cannot hide behind a stalled publisher. The run goes: connecting (spread
over --ramp), warmup (not measured), measuring (--duration), draining
(waiting up to --drain for messages still in flight).

--protocol raw benches any WebSocket server that broadcasts the text frames
it receives to every connection (a Workerman or gorilla chat example, say):
the bench's marker travels inside the payload.

Only loopback addresses are loaded unless --allow-remote says otherwise.
One process here holds at most 20,000 open files: past 18,000 connections
the bench shards them over worker processes (--procs), and past about
28,000 connections to one address it needs more local source addresses
(--source-ips 127.0.0.1-127.0.0.16).

The exit status is 1 when a threshold (--max-p99, --max-loss, --min-rate)
fails, naming the figure; docs/bench.md explains the report.`

const benchExample = `  # a first figure: its own server, 1,000 subscribers, 100 msg/s for 10s
  rtsync bench

  # one room of 5,000 at 100,000 deliveries/s against a running server
  rtsync bench --url ws://127.0.0.1:7000/ws --conns 5000 --rate 20 --duration 30s

  # fail CI when p99 passes 50ms, anything is lost, or the rate falls short
  rtsync bench --conns 2000 --rate 50 --max-p99 50ms --max-loss 0 --min-rate 90000

  # a connection storm with 10% churn a second, saved for later
  rtsync bench --scenario connect --conns 10000 --churn 0.1 --out storm.json

  # any broadcasting WebSocket server, report as HTML
  rtsync bench --protocol raw --url ws://127.0.0.1:8080/ws --html report.html

  # 50,000 connections over three servers, three worker processes
  rtsync bench --url ws://127.0.0.1:7000/ws --url ws://127.0.0.1:7001/ws \
    --url ws://127.0.0.1:7002/ws --conns 50000 --source-ips 127.0.0.1-127.0.0.4

  # one room spread over a three-node cluster, published to from the first node
  rtsync bench --cluster --publish-on first --url ws://127.0.0.1:7000/ws \
    --url ws://127.0.0.1:7001/ws --url ws://127.0.0.1:7002/ws --conns 3000

  # two saved runs side by side
  rtsync bench compare before.json after.json`

func newBenchCmd(ios *iostreams.IOStreams) *cobra.Command {
	d := loadtest.Defaults()
	opts := &benchOptions{IO: ios}
	c := &cobra.Command{
		Use:     "bench",
		Short:   "Measure a real-time server: latency, loss, throughput, connects",
		Long:    benchLong,
		Example: benchExample,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if opts.Worker {
				return loadtest.RunWorker(c.Context(), ios.In, ios.Out)
			}
			return runBench(c.Context(), opts)
		},
	}
	f := c.Flags()
	f.SortFlags = false
	f.StringArrayVar(&opts.URLs, "url", nil, "server WebSocket `URL` (repeat for several servers); none: start a local rtsync serve")
	f.BoolVar(&opts.Cluster, "cluster", false, "the --url are nodes of one cluster: rooms span them, and the report has per-node figures")
	f.StringVar(&opts.PublishOn, "publish-on", "", "with --cluster: all (--publishers per room on every node) or first (on the first --url only) (default all)")
	f.StringVar(&opts.Scenario, "scenario", d.Scenario, "broadcast, direct, connect or idle")
	f.StringVar(&opts.Protocol, "protocol", d.Protocol, "rtsync, or raw for a server that broadcasts bare text frames")
	f.IntVar(&opts.Conns, "conns", d.Conns, "receiving connections (subscribers; peers; all connections for connect and idle)")
	f.IntVar(&opts.Rooms, "rooms", d.Rooms, "rooms per server, or in the whole --cluster (broadcast); subscribers, or the connect scenario's connections, are spread over them")
	f.IntVar(&opts.Publishers, "publishers", d.Publishers, "publishing connections per room and server, or per room and node with --cluster (broadcast)")
	f.Float64Var(&opts.Rate, "rate", d.Rate, "messages per second in total, over every publisher")
	f.IntVar(&opts.Payload, "payload", d.Payload, "message size in bytes (at least 64: the marker)")
	f.DurationVar(&opts.Ramp, "ramp", time.Duration(d.Ramp), "spread the connects over this long")
	f.DurationVar(&opts.Warmup, "warmup", time.Duration(d.Warmup), "publish this long before measuring")
	f.DurationVar(&opts.Duration, "duration", time.Duration(d.Duration), "how long to measure")
	f.DurationVar(&opts.Drain, "drain", time.Duration(d.Drain), "longest wait for messages in flight after the last publish")
	f.DurationVar(&opts.Timeout, "timeout", 0, "hard limit on the whole run (default: the phases plus a minute plus 1ms a connection)")
	f.IntVar(&opts.Dialers, "dialers", d.Dialers, "connects in flight at once")
	f.Float64Var(&opts.Churn, "churn", 0, "connect scenario: share of connections closed and reopened each second (0-1)")
	f.StringSliceVar(&opts.SourceIPs, "source-ips", nil, "local addresses to connect from, e.g. 127.0.0.1-127.0.0.16 (past ~28,000 connections per server)")
	f.IntVar(&opts.Procs, "procs", 0, "worker processes to shard the connections over (default: one per 18,000)")
	f.StringVar(&opts.ReadMode, "read-mode", loadtest.ReadModeAuto, "how the bench reads its connections: poll (epoll, Linux: a few poller goroutines read every socket that turned readable), goroutine (one reader goroutine per connection), or auto (poll where the system has it); wss:// connections are always read on a goroutine")
	f.StringVar(&opts.Token, "token", "", "JWT sent in hello and as Authorization on upgrade (rtsync protocol)")
	f.StringVar(&opts.APIKey, "api-key", "", "HTTP API key, to read the server's stats (idle scenario with --url; default: the key a server on this machine keeps for itself)")
	f.BoolVar(&opts.Remote, "allow-remote", false, "allow a non-loopback --url (only a server you own)")
	f.StringVarP(&opts.Out, "out", "o", "", "also write every figure, the parameters and the machine as JSON to `FILE`")
	f.StringVar(&opts.CPUProfile, "cpuprofile", "", "write the bench's own CPU profile for the whole run to `FILE` (go tool pprof reads it; this process only, not --procs workers)")
	f.StringVar(&opts.Format, "format", "table", "report format on stdout: table, json or csv")
	f.StringVar(&opts.HTML, "html", "", "also write a self-contained HTML report with charts to `FILE`")
	f.StringVar(&opts.Progress, "progress", "auto", "live progress: auto (a live view on a terminal, else lines), tui, plain or none")
	f.DurationVar(&opts.MaxP99, "max-p99", 0, "fail (exit 1) when the p99 latency is above this")
	f.StringVar(&opts.MaxLoss, "max-loss", "", "fail (exit 1) when more than this share is lost: 0, 0.1%")
	f.Float64Var(&opts.MinRate, "min-rate", 0, "fail (exit 1) when fewer deliveries/s (connects/s for connect) are made")
	f.BoolVar(&opts.Worker, "worker", false, "run as a worker process of another bench (internal)")
	_ = f.MarkHidden("worker")
	c.AddCommand(newBenchCompareCmd(ios))
	return c
}

func (o *benchOptions) config() loadtest.Config {
	return loadtest.Config{
		URLs: append([]string(nil), o.URLs...), Cluster: o.Cluster, PublishOn: o.PublishOn, Scenario: o.Scenario, Protocol: o.Protocol,
		Conns: o.Conns, Rooms: o.Rooms, Publishers: o.Publishers, Rate: o.Rate, Payload: o.Payload,
		Ramp: loadtest.Duration(o.Ramp), Warmup: loadtest.Duration(o.Warmup), Duration: loadtest.Duration(o.Duration),
		Drain: loadtest.Duration(o.Drain), Timeout: loadtest.Duration(o.Timeout),
		Dialers: o.Dialers, Churn: o.Churn, SourceIPs: o.SourceIPs, Procs: o.Procs,
		Token: o.Token, AllowRemote: o.Remote, ReadMode: o.ReadMode,
	}
}

// flagError is a bad flag value: exit status 2, with the usage hint.
func flagError(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...), hint: true}
}

func runBench(ctx context.Context, o *benchOptions) error {
	switch o.Format {
	case "table", "json", "csv":
	default:
		return flagError("--format %q: use table, json or csv", o.Format)
	}
	switch o.Progress {
	case "auto", "tui", "plain", "none":
	default:
		return flagError("--progress %q: use auto, tui, plain or none", o.Progress)
	}
	th := report.Thresholds{MaxP99: o.MaxP99, MaxLoss: -1, MinRate: o.MinRate}
	if o.MaxLoss != "" {
		v, err := report.ParseLoss(o.MaxLoss)
		if err != nil {
			return flagError("%v", err)
		}
		th.MaxLoss = v
	}
	if o.MaxP99 < 0 || o.MinRate < 0 {
		return flagError("--max-p99 and --min-rate cannot be negative")
	}
	// The flags default to the library's defaults, so a zero here was
	// typed; the library would read it as "default" and run something
	// else than asked.
	for _, z := range []struct {
		flag string
		zero bool
	}{
		{"conns", o.Conns == 0}, {"rooms", o.Rooms == 0}, {"publishers", o.Publishers == 0},
		{"rate", o.Rate == 0}, {"duration", o.Duration == 0}, {"drain", o.Drain == 0}, {"dialers", o.Dialers == 0},
	} {
		if z.zero {
			return flagError("--%s must be more than 0", z.flag)
		}
	}
	if o.Payload > 0 && o.Payload < loadtest.MinPayload {
		return flagError("--payload %d is below the %d-byte minimum: every message carries the bench's marker", o.Payload, loadtest.MinPayload)
	}
	if o.Cluster && len(o.URLs) == 0 {
		return flagError("--cluster needs the URL of every node of the cluster (--url, at least two): the servers the bench starts without --url are not a cluster")
	}
	cfg := o.config()
	// Check the parameters before starting anything; the servers' URLs
	// stand in until they exist.
	check := cfg
	check.URLs = append([]string(nil), cfg.URLs...)
	if len(check.URLs) == 0 {
		check.URLs = []string{"ws://127.0.0.1:1/ws"}
	}
	if err := check.Normalize(); err != nil {
		return flagError("%v", err)
	}

	if o.CPUProfile != "" {
		stop, err := startCPUProfile(o.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}

	opt := loadtest.Options{Tool: "rtsync bench " + buildinfo.Get().Version}
	exe, exeErr := selfExe()
	opt.Worker = func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, exe, "bench", "--worker")
		cmd.Stderr = o.IO.ErrOut
		cmd.Env = os.Environ()
		return cmd
	}
	if check.Procs > 1 && exeErr != nil {
		return fmt.Errorf("find this program to start bench workers: %w", exeErr)
	}

	if len(cfg.URLs) == 0 {
		n := childCount(cfg)
		fmt.Fprintf(o.IO.ErrOut, "bench: starting %d local rtsync serve (no --url given)\n", n)
		children, err := startChildren(ctx, n, loadtest.ConnsPerProc+1000)
		if err != nil {
			return err
		}
		defer stopChildren(children)
		for _, c := range children {
			cfg.URLs = append(cfg.URLs, c.url)
		}
		opt.Child = true
		opt.ServerRSS = childRSS(children)
	} else if cfg.Scenario == loadtest.ScenarioIdle {
		key := o.APIKey
		if key == "" && len(cfg.URLs) > 0 {
			key = localAPIKey(cfg.URLs[0], nil)
		}
		opt.ServerRSS = statsRSS(cfg.URLs, key)
	}

	progress := make(chan loadtest.Progress, 16)
	opt.Progress = func(p loadtest.Progress) {
		select {
		case progress <- p:
		default: // a snapshot the view is too busy for is skipped
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	viewDone := make(chan error, 1)
	mode := o.Progress
	if mode == "auto" {
		mode = "plain"
		if iostreams.IsTerminal(o.IO.ErrOut) && iostreams.IsTerminal(o.IO.In) {
			mode = "tui"
		}
	}
	title := benchTitle(cfg)
	go func() {
		switch mode {
		case "tui":
			err := tuibench.Run(runCtx, o.IO.In, o.IO.ErrOut, title, progress, style.Default())
			if errors.Is(err, tuibench.ErrAborted) {
				cancel() // stop the run; what it measured is still reported
			}
			for range progress {
			}
			viewDone <- err
		case "plain":
			fmt.Fprintln(o.IO.ErrOut, "bench:", title)
			tuibench.Plain(o.IO.ErrOut, 2*time.Second, progress)
			viewDone <- nil
		default:
			for range progress {
			}
			viewDone <- nil
		}
	}()
	res, err := loadtest.Run(runCtx, cfg, opt)
	close(progress)
	if verr := <-viewDone; verr != nil && !errors.Is(verr, tuibench.ErrAborted) {
		fmt.Fprintf(o.IO.ErrOut, "bench: live view: %v\n", verr)
	}
	if res == nil {
		if err != nil && strings.HasPrefix(err.Error(), "--") {
			return flagError("%v", err)
		}
		return err
	}
	res.Checks = report.Evaluate(res, th)
	if werr := writeBenchReports(o, res); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	if res.Failed() {
		return fmt.Errorf("threshold failed: %s", report.FailureSummary(res.Checks))
	}
	return nil
}

func writeBenchReports(o *benchOptions, res *loadtest.Result) error {
	var err error
	switch o.Format {
	case "json":
		err = report.JSON(o.IO.Out, res)
	case "csv":
		err = report.CSV(o.IO.Out, res)
	default:
		err = report.Table(o.IO.Out, res)
		if err == nil && res.Messages != nil && res.Messages.Latency.Count > 0 {
			fmt.Fprintln(o.IO.Out)
			err = report.Chart(o.IO.Out, res.Messages.Latency.Hist, 72)
		}
	}
	if err != nil {
		return err
	}
	if o.Out != "" {
		if err := writeFileWith(o.Out, func(w io.Writer) error { return report.JSON(w, res) }); err != nil {
			return err
		}
		fmt.Fprintf(o.IO.ErrOut, "bench: wrote %s\n", o.Out)
	}
	if o.HTML != "" {
		if err := writeFileWith(o.HTML, func(w io.Writer) error { return report.HTML(w, res) }); err != nil {
			return err
		}
		fmt.Fprintf(o.IO.ErrOut, "bench: wrote %s\n", o.HTML)
	}
	return nil
}

func writeFileWith(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func benchTitle(cfg loadtest.Config) string {
	parts := []string{cfg.Scenario, fmt.Sprintf("%d conns", cfg.Conns)}
	if cfg.Scenario == "" || cfg.Scenario == loadtest.ScenarioBroadcast {
		parts = append(parts, fmt.Sprintf("%d room(s) × %d publisher(s)", max(cfg.Rooms, 1), max(cfg.Publishers, 1)))
	}
	if cfg.Scenario == "" || cfg.Scenario == loadtest.ScenarioBroadcast || cfg.Scenario == loadtest.ScenarioDirect {
		parts = append(parts, fmt.Sprintf("%g msg/s", cfg.Rate))
	}
	target := strings.Join(cfg.URLs, ", ")
	if len(cfg.URLs) > 2 {
		target = fmt.Sprintf("%s and %d more", cfg.URLs[0], len(cfg.URLs)-1)
	}
	return strings.Join(parts, " · ") + " → " + target
}

// statsRSS reads the servers' memory from their HTTP stats API
// (GET /api/v1/stats, rss_bytes), for the idle scenario.
func statsRSS(urls []string, apiKey string) func(context.Context) (int64, string, bool) {
	return func(ctx context.Context) (int64, string, bool) {
		var total int64
		for _, u := range urls {
			api, err := client.NewAPI(u, apiKey, nil)
			if err != nil {
				return 0, "", false
			}
			st, err := api.Stats(ctx, 1)
			if err != nil || st.RSSBytes <= 0 {
				return 0, "", false
			}
			total += st.RSSBytes / 1024
		}
		return total, "stats-api", true
	}
}

func newBenchCompareCmd(ios *iostreams.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "compare A.json B.json",
		Short: "Print two saved runs side by side, with B/A ratios",
		Long: `Print two runs saved with 'rtsync bench --out' side by side: each figure of
A and of B, and B/A with which of the two is better. Parameters that differ
between the runs are listed first, since they make a comparison unfair.`,
		Example: "  rtsync bench --out before.json\n  # change something\n  rtsync bench --out after.json\n  rtsync bench compare before.json after.json",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 2 {
				return flagError("%q needs two saved runs (A.json B.json), got %d arguments", c.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			a, err := report.Load(args[0])
			if err != nil {
				return err
			}
			b, err := report.Load(args[1])
			if err != nil {
				return err
			}
			return report.Compare(ios.Out, a, b, args[0], args[1])
		},
	}
}

// startCPUProfile starts profiling this process's CPU into path; stop ends
// the profile and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w; give a path in a writable directory", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
