package loadtest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/rtsync/rtsync/client"
)

// Scenarios.
const (
	ScenarioBroadcast = "broadcast"
	ScenarioDirect    = "direct"
	ScenarioConnect   = "connect"
	ScenarioIdle      = "idle"
)

// Protocols.
const (
	// ProtocolRtsync speaks rtsync's wire protocol: hello, join, pub, send.
	ProtocolRtsync = "rtsync"
	// ProtocolRaw sends bare text frames to any WebSocket server that
	// broadcasts what it receives; the payload carries the bench's marker.
	ProtocolRaw = "raw"
)

// Config is one run's parameters. The zero value of each field means its
// default (see Defaults).
type Config struct {
	// URLs are the servers' WebSocket URLs. Connections are spread over
	// them evenly; each URL is treated as an independent server with its
	// own rooms and publishers, unless Cluster is set.
	URLs []string `json:"urls"`
	// Cluster treats the URLs as the nodes of one cluster (rtsync serve
	// --redis): rooms are cluster-wide, each room's subscribers are dealt
	// round-robin over every node, direct-message pairs sit on different
	// nodes, and the result has per-node figures (Result.Nodes).
	Cluster bool `json:"cluster,omitempty"`
	// PublishOn (Cluster, broadcast) says where the publishers are:
	// PublishAll puts Publishers publishers of every room on each node,
	// PublishFirst puts Publishers per room on the first URL only. Empty
	// means PublishAll with Cluster.
	PublishOn string `json:"publish_on,omitempty"`
	Scenario  string `json:"scenario"`
	Protocol  string `json:"protocol"`
	// Conns is the number of receiving connections (subscribers in
	// broadcast, peers in direct, all connections in connect and idle).
	Conns int `json:"conns"`
	// Rooms are per URL (in all, with Cluster), Publishers per room and
	// per URL (see PublishOn for Cluster) in broadcast. Publishers are
	// extra connections that join the room they publish to and do not
	// count as subscribers.
	Rooms      int `json:"rooms"`
	Publishers int `json:"publishers"`
	// Rate is messages per second in total over every publisher (or
	// sender, in direct).
	Rate    float64 `json:"rate"`
	Payload int     `json:"payload"`
	// Ramp spreads the connects over this long; Warmup runs the load
	// without measuring; Duration measures; Drain waits for messages in
	// flight after the last publish; Timeout bounds the whole run.
	Ramp     Duration `json:"ramp"`
	Warmup   Duration `json:"warmup"`
	Duration Duration `json:"duration"`
	Drain    Duration `json:"drain"`
	Timeout  Duration `json:"timeout"`
	// Dialers is how many connects run at once.
	Dialers int `json:"dialers"`
	// Churn (connect scenario) is the share of connections closed and
	// reopened each second during the measuring phase, from 0 to 1.
	Churn float64 `json:"churn,omitempty"`
	// SourceIPs are local addresses connections are spread over, past
	// the ~28,000 ephemeral ports one source address has per target.
	SourceIPs []string `json:"source_ips,omitempty"`
	// Procs is the number of worker processes the connections are
	// sharded over (0: as many as the connection count needs).
	Procs int `json:"procs"`
	// Token is sent in hello (rtsync protocol); never written to reports.
	Token string `json:"-"`
	// AllowRemote lets the bench load a non-loopback address.
	AllowRemote bool `json:"allow_remote,omitempty"`
	// ReadMode is how connections are read (ReadModePoll or
	// ReadModeGoroutine); empty or ReadModeAuto is poll where the system
	// has it (Linux). Normalize sets the mode it resolves to.
	ReadMode string `json:"read_mode,omitempty"`
}

// Where a cluster's publishers are (Config.PublishOn).
const (
	PublishAll   = "all"
	PublishFirst = "first"
)

// Limits the bench keeps to.
const (
	// ConnsPerProc is how many connections one process holds at most:
	// one process may hold 20,000 open files here, and each connection
	// is one, with room left for the process's own.
	ConnsPerProc = 18000
	// portsPerSource is about how many connections one source address
	// can open to one destination (the ephemeral port range).
	portsPerSource = 28000
	// markerMin is the smallest payload that holds the bench's marker.
	markerMin  = MinPayload
	maxPayload = 1 << 20
)

// MinPayload is the smallest message the bench sends: the marker every
// message carries fits in it. Normalize raises a smaller Payload to it.
const MinPayload = 64

// Defaults returns the default parameters: one room of 1,000 subscribers
// on a local server, one publisher at 100 messages/s for 10 s.
func Defaults() Config {
	return Config{
		Scenario:   ScenarioBroadcast,
		Protocol:   ProtocolRtsync,
		Conns:      1000,
		Rooms:      1,
		Publishers: 1,
		Rate:       100,
		Payload:    128,
		Ramp:       Duration(2 * time.Second),
		Warmup:     Duration(2 * time.Second),
		Duration:   Duration(10 * time.Second),
		Drain:      Duration(5 * time.Second),
		Dialers:    64,
	}
}

// Normalize fills defaults and checks the parameters, returning an error
// that names the bad one and what would do.
func (c *Config) Normalize() error {
	d := Defaults()
	if c.Scenario == "" {
		c.Scenario = d.Scenario
	}
	if c.Protocol == "" {
		c.Protocol = d.Protocol
	}
	switch c.Scenario {
	case ScenarioBroadcast, ScenarioDirect, ScenarioConnect, ScenarioIdle:
	default:
		return fmt.Errorf("unknown scenario %q: use broadcast, direct, connect or idle", c.Scenario)
	}
	switch c.Protocol {
	case ProtocolRtsync:
	case ProtocolRaw:
		if c.Scenario == ScenarioDirect {
			return errors.New("--protocol raw cannot run the direct scenario: a raw server has no addressing; use broadcast")
		}
		if c.Rooms > 1 {
			return errors.New("--protocol raw has no rooms: a raw server broadcasts to every connection; use --rooms 1")
		}
	default:
		return fmt.Errorf("unknown protocol %q: use rtsync or raw", c.Protocol)
	}
	if err := c.normalizeReadMode(); err != nil {
		return err
	}
	if c.Conns < 0 || c.Rooms < 0 || c.Publishers < 0 || c.Rate < 0 || c.Payload < 0 || c.Dialers < 0 || c.Procs < 0 {
		return errors.New("--conns, --rooms, --publishers, --rate, --payload, --dialers and --procs cannot be negative")
	}
	if c.Conns == 0 {
		c.Conns = d.Conns
	}
	if c.Rooms == 0 {
		c.Rooms = d.Rooms
	}
	if c.Publishers == 0 {
		c.Publishers = d.Publishers
	}
	if c.Rate == 0 {
		c.Rate = d.Rate
	}
	if c.Payload == 0 {
		c.Payload = d.Payload
	}
	if c.Payload < markerMin {
		c.Payload = markerMin
	}
	if c.Payload > maxPayload {
		return fmt.Errorf("--payload %d is over the bench's limit of %d bytes", c.Payload, maxPayload)
	}
	if c.Dialers == 0 {
		c.Dialers = d.Dialers
	}
	if c.Duration == 0 {
		c.Duration = d.Duration
	}
	for _, p := range []struct {
		name string
		v    Duration
	}{{"--ramp", c.Ramp}, {"--warmup", c.Warmup}, {"--duration", c.Duration}, {"--drain", c.Drain}, {"--timeout", c.Timeout}} {
		if p.v < 0 {
			return fmt.Errorf("%s cannot be negative", p.name)
		}
	}
	if c.Drain == 0 {
		c.Drain = d.Drain
	}
	if c.Scenario == ScenarioDirect && c.Conns%2 != 0 {
		return fmt.Errorf("--conns %d: the direct scenario pairs connections; use an even number", c.Conns)
	}
	if c.Scenario == ScenarioBroadcast && c.Rooms > c.Conns {
		return fmt.Errorf("--rooms %d is more than --conns %d: every room needs a subscriber", c.Rooms, c.Conns)
	}
	if c.Churn < 0 || c.Churn > 1 {
		return fmt.Errorf("--churn %g: use a share between 0 and 1", c.Churn)
	}
	if len(c.URLs) == 0 {
		return errors.New("no server URL")
	}
	if c.Cluster {
		if len(c.URLs) < 2 {
			return fmt.Errorf("--cluster needs the URL of every node of the cluster (at least two --url), got %d: one URL is one server, which the bench loads without --cluster", len(c.URLs))
		}
		switch c.PublishOn {
		case "":
			c.PublishOn = PublishAll
		case PublishAll, PublishFirst:
		default:
			return fmt.Errorf("unknown --publish-on %q: use all (publishers on every node) or first (on the first --url only)", c.PublishOn)
		}
	} else if c.PublishOn != "" {
		return fmt.Errorf("--publish-on %s applies to a cluster only: add --cluster (the --url are then nodes of one cluster), or drop --publish-on", c.PublishOn)
	}
	for i, raw := range c.URLs {
		u, err := checkURL(raw, c.AllowRemote)
		if err != nil {
			return err
		}
		c.URLs[i] = u
	}
	ips, err := ParseSourceIPs(c.SourceIPs)
	if err != nil {
		return err
	}
	c.SourceIPs = nil
	for _, ip := range ips {
		c.SourceIPs = append(c.SourceIPs, ip.String())
	}
	perTarget := c.maxPerTarget()
	if sources := max(len(ips), 1); perTarget > sources*portsPerSource {
		return fmt.Errorf("%d connections to one address need more than %d source addresses' worth of ephemeral ports; add --source-ips 127.0.0.1-127.0.0.%d", perTarget, sources, perTarget/portsPerSource+1)
	}
	need := (c.totalConns() + ConnsPerProc - 1) / ConnsPerProc
	if c.Procs == 0 {
		c.Procs = need
	} else if c.Procs < need {
		return fmt.Errorf("--procs %d is too few for %d connections: one process holds at most %d (its open-file limit); use --procs %d or more", c.Procs, c.totalConns(), ConnsPerProc, need)
	}
	if c.Procs > c.totalConns() {
		c.Procs = max(c.totalConns(), 1)
	}
	if c.Timeout == 0 {
		// Room for connecting at a few hundred a second, plus the phases.
		c.Timeout = Duration(time.Duration(c.Ramp+c.Warmup+c.Duration+c.Drain) + time.Minute + time.Duration(c.totalConns())*time.Millisecond)
	}
	if min := time.Duration(c.Ramp + c.Warmup + c.Duration); time.Duration(c.Timeout) < min {
		return fmt.Errorf("--timeout %s is shorter than --ramp + --warmup + --duration (%s)", time.Duration(c.Timeout), min)
	}
	return nil
}

// totalConns counts every connection the run opens, publishers included.
func (c *Config) totalConns() int {
	if c.Scenario == ScenarioBroadcast {
		return c.Conns + c.Rooms*c.Publishers*c.pubTargets()
	}
	return c.Conns
}

// pubTargets is how many URLs have publishers (broadcast): every one,
// or only the first for a cluster with PublishFirst.
func (c *Config) pubTargets() int {
	if c.Cluster && c.PublishOn == PublishFirst {
		return 1
	}
	return max(len(c.URLs), 1)
}

// maxPerTarget is the most connections the run opens to one URL.
func (c *Config) maxPerTarget() int {
	t := max(len(c.URLs), 1)
	if c.Scenario != ScenarioBroadcast {
		return (c.Conns + t - 1) / t
	}
	return (c.Conns+t-1)/t + c.Rooms*c.Publishers
}

// checkURL accepts ws:// and wss:// URLs (http and https are rewritten,
// a bare host:port gets ws:// and /ws) and, unless remote is set, only
// loopback hosts: the bench opens thousands of connections and must not
// be pointed at someone else's server by a typo.
func checkURL(raw string, remote bool) (string, error) {
	s, err := client.NormalizeURL(raw)
	if err != nil {
		return "", fmt.Errorf("bad --url: %w", err)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("bad --url %q: %w", raw, err)
	}
	if !remote && !isLoopback(u.Hostname()) {
		return "", fmt.Errorf("--url %s is not a loopback address: the bench only loads this machine unless you pass --allow-remote (and own that server)", u.Host)
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseSourceIPs expands addresses and ranges ("127.0.0.1-127.0.0.16",
// "127.0.0.1,127.0.0.2") into a list.
func ParseSourceIPs(specs []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, spec := range specs {
		for _, part := range strings.Split(spec, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			lo, hi, isRange := strings.Cut(part, "-")
			a, err := netip.ParseAddr(lo)
			if err != nil {
				return nil, fmt.Errorf("bad --source-ips %q: %w", part, err)
			}
			if !isRange {
				out = append(out, a)
				continue
			}
			b, err := netip.ParseAddr(hi)
			if err != nil {
				return nil, fmt.Errorf("bad --source-ips %q: %w", part, err)
			}
			if a.Is4() != b.Is4() || b.Less(a) {
				return nil, fmt.Errorf("bad --source-ips %q: the range must go up within one address family", part)
			}
			for ip := a; ; ip = ip.Next() {
				out = append(out, ip)
				if len(out) > 65536 {
					return nil, fmt.Errorf("--source-ips %q: more than 65536 addresses", part)
				}
				if ip == b {
					break
				}
			}
		}
	}
	return out, nil
}
