package loadtest

import (
	"encoding/json"
	"time"
)

// Schema is the version of the Result JSON layout. A reader refuses a file
// with a newer schema rather than misreading it.
const Schema = 1

// Result is everything a run measured, with the parameters and the machine
// it ran on: what `rtsync bench --out run.json` writes and `bench compare`
// reads. Latencies are in milliseconds, durations in seconds.
type Result struct {
	Schema  int       `json:"schema"`
	Tool    string    `json:"tool"`
	Started time.Time `json:"started"`
	Config  Config    `json:"config"`
	Machine Machine   `json:"machine"`
	Target  Target    `json:"target"`
	Phases  []Phase   `json:"phases"`
	Connect Connect   `json:"connect"`
	// Messages is set for the broadcast and direct scenarios.
	Messages *Messages `json:"messages,omitempty"`
	// Nodes breaks the figures down per node, in --url order, for a run
	// with Config.Cluster; nil otherwise.
	Nodes []NodeStats `json:"nodes,omitempty"`
	// Server holds what the bench learnt about the server's memory; nil
	// when it could learn nothing.
	Server *ServerStats `json:"server,omitempty"`
	Bench  Bench        `json:"bench"`
	// Checks are the thresholds (--max-p99 and co.) and how the run fared.
	Checks []Check `json:"checks,omitempty"`
}

// Machine describes where the bench ran.
type Machine struct {
	Hostname  string `json:"hostname"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	Kernel    string `json:"kernel,omitempty"`
	GoVersion string `json:"go_version"`
	MemoryMB  int64  `json:"memory_mb,omitempty"`
}

// Target describes the server under test.
type Target struct {
	URLs     []string `json:"urls"`
	Protocol string   `json:"protocol"`
	// Child is set when the bench started the server(s) itself.
	Child bool `json:"child,omitempty"`
	// Server is the server's software and version as its welcome said
	// (rtsync protocol only).
	Server string   `json:"server,omitempty"`
	Nodes  []string `json:"nodes,omitempty"`
}

// Phase is one stage of the run: connecting, warmup, measuring, draining.
type Phase struct {
	Name    string    `json:"name"`
	Start   time.Time `json:"start"`
	Seconds float64   `json:"seconds"`
}

// Connect is how establishing connections went.
type Connect struct {
	Attempted int64 `json:"attempted"`
	Connected int64 `json:"connected"`
	Failed    int64 `json:"failed"`
	// Failures counts failed attempts by cause: refused, timeout, reset,
	// eof, dns, http_<status>, close_<code>, addr_in_use, too_many_files,
	// error_<code> (an error reply to hello or join), other.
	Failures map[string]int64 `json:"failures,omitempty"`
	// Seconds is the time from the first dial to the last connection
	// ready; PerSecond the connections made per second over it.
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	// Handshake is the time from dial to the server's welcome (or, for
	// the raw protocol, to the completed WebSocket upgrade).
	Handshake Latency `json:"handshake"`
	// Dropped counts connections the server closed or lost after they
	// were established, by cause in Drops.
	Dropped int64            `json:"dropped"`
	Drops   map[string]int64 `json:"drops,omitempty"`
	// Reconnects counts reconnections made by the connect scenario's
	// churn.
	Reconnects int64 `json:"reconnects,omitempty"`
}

// Latency summarises a histogram in milliseconds. Hist carries the whole
// histogram (exactly mergeable); it is what charts are drawn from.
type Latency struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
	Hist  *Hist   `json:"hdr,omitempty"`
}

// Messages is what the broadcast and direct scenarios measured during the
// measuring phase (warm-up excluded).
type Messages struct {
	Seconds float64 `json:"seconds"`
	// Published counts messages sent in the measuring window;
	// PublishErrors those the server refused (error replies, by code in
	// PublishErrorCodes) or that could not be written.
	Published         int64            `json:"published"`
	PublishErrors     int64            `json:"publish_errors"`
	PublishErrorCodes map[string]int64 `json:"publish_error_codes,omitempty"`
	// Expected is the deliveries the published messages owed their
	// receivers; Delivered the distinct ones that arrived; Lost the
	// difference. Duplicated counts repeat deliveries, OutOfOrder those
	// that arrived after a later message of the same publisher.
	Expected    int64   `json:"expected"`
	Delivered   int64   `json:"delivered"`
	Lost        int64   `json:"lost"`
	LossPercent float64 `json:"loss_percent"`
	Duplicated  int64   `json:"duplicated"`
	OutOfOrder  int64   `json:"out_of_order"`
	// Throughput over the measuring window.
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	MessagesPerSec   float64 `json:"messages_per_sec"`
	BytesPerSec      float64 `json:"bytes_per_sec"`
	// Latency is per delivery, from the message's intended send time.
	Latency Latency `json:"latency"`
	// FanOut is per message: from its intended send time until the last
	// of its receivers had it. Only messages every receiver got count;
	// FanOutIncomplete counts the others.
	FanOut           Latency `json:"fanout"`
	FanOutIncomplete int64   `json:"fanout_incomplete"`
	// Timeline is the window second by second, by the messages' intended
	// send times: how fan-out latency and deliveries moved during the
	// run, which the percentiles over the whole window hide.
	Timeline []Second `json:"timeline,omitempty"`
	// Rooms breaks the counts down per room (per receiver pair for the
	// direct scenario they are summed into one entry).
	Rooms []RoomStats `json:"rooms,omitempty"`
}

// Second is one second of the measuring window: the messages whose
// intended send time falls in it.
type Second struct {
	// At is where the second starts, in seconds into the window.
	At float64 `json:"at_s"`
	// Messages counts those of its messages any receiver got, Deliveries
	// their deliveries (distinct, whenever they arrived).
	Messages   int64 `json:"messages"`
	Deliveries int64 `json:"deliveries"`
	// FanOut is the fan-out latency of its messages every receiver got;
	// Incomplete counts those some receivers got and others did not.
	FanOutP50  float64 `json:"fanout_p50_ms"`
	FanOutP99  float64 `json:"fanout_p99_ms"`
	FanOutMax  float64 `json:"fanout_max_ms"`
	Incomplete int64   `json:"fanout_incomplete"`
}

// RoomStats are one room's delivery counts.
type RoomStats struct {
	Room        string `json:"room"`
	Target      string `json:"target,omitempty"`
	Subscribers int    `json:"subscribers"`
	Published   int64  `json:"published"`
	Expected    int64  `json:"expected"`
	Delivered   int64  `json:"delivered"`
	Lost        int64  `json:"lost"`
	Duplicated  int64  `json:"duplicated"`
	OutOfOrder  int64  `json:"out_of_order"`
}

// NodeStats are one node's figures in a cluster run: the connections the
// bench made to it, and what the subscribers (or direct peers) connected
// to it received, wherever the messages were published.
type NodeStats struct {
	URL string `json:"url"`
	// Node is the node's name from its welcome (rtsync protocol).
	Node string `json:"node,omitempty"`
	// Subscribers and Publishers are the connections the run put on the
	// node: receivers (subscribers, direct peers, every connection of the
	// connect and idle scenarios) and broadcast publishers.
	Subscribers int   `json:"subscribers"`
	Publishers  int   `json:"publishers"`
	Attempted   int64 `json:"attempted"`
	Connected   int64 `json:"connected"`
	Failed      int64 `json:"failed"`
	Dropped     int64 `json:"dropped"`
	// Expected, Delivered, Lost, Duplicated and OutOfOrder count the
	// deliveries owed to and made to the node's receivers in the
	// measuring window, as Messages does for the whole run (all 0 in the
	// connect and idle scenarios).
	Expected    int64   `json:"expected"`
	Delivered   int64   `json:"delivered"`
	Lost        int64   `json:"lost"`
	LossPercent float64 `json:"loss_percent"`
	Duplicated  int64   `json:"duplicated"`
	OutOfOrder  int64   `json:"out_of_order"`
	// CrossExpected and CrossDelivered are the part of Expected and
	// Delivered whose sender was on another node: what the cluster
	// carried between nodes.
	CrossExpected    int64   `json:"cross_expected"`
	CrossDelivered   int64   `json:"cross_delivered"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	// Latency is per delivery to the node's receivers.
	Latency *Latency `json:"latency,omitempty"`
}

// ServerStats is the server's memory as the bench saw it.
type ServerStats struct {
	// Source says where the figures came from: "proc" (the bench started
	// the server and read /proc) or "stats-api".
	Source      string  `json:"source"`
	RSSBeforeKB int64   `json:"rss_before_kb"`
	RSSAfterKB  int64   `json:"rss_after_kb"`
	Conns       int64   `json:"conns"`
	KBPerConn   float64 `json:"kb_per_conn"`
}

// Bench is what the load generator itself cost, and whether it, rather
// than the server, may have limited the figures.
type Bench struct {
	Procs int `json:"procs"`
	Cores int `json:"cores"`
	// CPUPercent is the bench's CPU time over the measuring window, in
	// percent of one core, summed over its processes.
	CPUPercent float64 `json:"cpu_percent"`
	// SchedP99 is the 99th percentile of the Go scheduler's latency in
	// the bench (how long a runnable goroutine waited for a core): when
	// it grows, receive timestamps are late and latencies overstated.
	SchedP99 float64 `json:"sched_p99_ms"`
	// PublishLagMax is how far behind its schedule a publisher fell at
	// worst. Latency still counts from the intended time, so a late
	// publisher shows as latency, not as a hidden pause.
	PublishLagMax float64 `json:"publish_lag_max_ms"`
	// Bottleneck is set when the bench was likely the limit; Warnings
	// say why, and any other doubt about the figures.
	Bottleneck bool     `json:"bottleneck"`
	Warnings   []string `json:"warnings,omitempty"`
}

// Check is one threshold and whether the run met it.
type Check struct {
	Name   string  `json:"name"` // p99, loss, rate, ...
	Flag   string  `json:"flag"` // --max-p99 50ms
	Limit  float64 `json:"limit"`
	Actual float64 `json:"actual"`
	Unit   string  `json:"unit"` // ms, %, deliveries/s
	OK     bool    `json:"ok"`
}

// Failed reports whether any check failed.
func (r *Result) Failed() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return true
		}
	}
	return false
}

// Duration is a time.Duration that reads and writes JSON as "30s".
type Duration time.Duration

// MarshalJSON writes the duration as Go's duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON accepts a duration string ("30s") or nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Progress is a live view of a run, sent a few times a second to whoever
// displays it (the bubbletea view, or the plain progress line).
type Progress struct {
	// Phase is the current phase's name; Phases all of them in order
	// (connecting, warmup, measuring, draining, done).
	Phase  string   `json:"phase"`
	Phases []string `json:"phases"`
	// PhaseDone is how far the current phase is, from 0 to 1.
	PhaseDone float64       `json:"phase_done"`
	Elapsed   time.Duration `json:"elapsed"`
	// Connections: wanted, established now, failed so far.
	Conns     int   `json:"conns"`
	Connected int64 `json:"connected"`
	Failed    int64 `json:"failed"`
	// Deliveries so far in the measuring window, the current rate, and
	// the latency percentiles so far (milliseconds; zero before any).
	Delivered        int64   `json:"delivered"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	Published        int64   `json:"published"`
	P50              float64 `json:"p50_ms"`
	P99              float64 `json:"p99_ms"`
	// Errors counts publish errors and dropped connections so far.
	Errors   int64    `json:"errors"`
	CPU      float64  `json:"cpu_percent"`
	Warnings []string `json:"warnings,omitempty"`
}

// Phase names, in run order.
const (
	PhaseConnecting = "connecting"
	PhaseWarmup     = "warmup"
	PhaseMeasuring  = "measuring"
	PhaseDraining   = "draining"
	PhaseDone       = "done"
)
