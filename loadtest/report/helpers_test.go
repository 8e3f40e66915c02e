package report

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/loadtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first lines where want and got part.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d\n  want %q\n  got  %q\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

var started = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// hist records the given microsecond values.
func hist(us ...int64) *loadtest.Hist {
	h := loadtest.NewHist()
	for _, v := range us {
		h.RecordMicros(v)
	}
	return h
}

// deliveryHist is a latency histogram with a body between 0.3 and 1 ms
// and a tail out to 125 ms, the same every time.
func deliveryHist() *loadtest.Hist {
	h := loadtest.NewHist()
	for i := range 10000 {
		h.RecordMicros(int64(300 + (i*7919)%700))
	}
	for i := range 90 {
		h.RecordMicros(int64(2000 + i*37))
	}
	for i := range 9 {
		h.RecordMicros(int64(20000 + i*1000))
	}
	h.RecordMicros(125000)
	return h
}

// fanoutHist is per-message: later than deliveries, fewer of them.
func fanoutHist() *loadtest.Hist {
	h := loadtest.NewHist()
	for i := range 1000 {
		h.RecordMicros(int64(900 + (i*131)%600))
	}
	for i := range 10 {
		h.RecordMicros(int64(30000 + i*500))
	}
	return h
}

// handshakeHist is connection set-up times.
func handshakeHist() *loadtest.Hist {
	h := loadtest.NewHist()
	for i := range 1000 {
		h.RecordMicros(int64(1200 + (i*613)%1800))
	}
	for i := range 5 {
		h.RecordMicros(int64(40000 + i*7000))
	}
	return h
}

// broadcastResult is a complete broadcast run with some trouble in it.
func broadcastResult() *loadtest.Result {
	rooms := make([]loadtest.RoomStats, 0, 14)
	for i := range 14 {
		r := loadtest.RoomStats{Room: fmt.Sprintf("room-%02d", i), Subscribers: 100, Published: 720, Expected: 72000, Delivered: 72000}
		rooms = append(rooms, r)
	}
	rooms[3].Lost, rooms[3].Delivered = 40, 71960
	rooms[7].Duplicated = 3
	rooms[11].OutOfOrder = 12
	rooms[12].Lost, rooms[12].Delivered = 2, 71998
	return &loadtest.Result{
		Schema:  loadtest.Schema,
		Tool:    "rtsync bench v0.9.0",
		Started: started,
		Config: loadtest.Config{
			URLs: []string{"ws://127.0.0.1:9000/ws"}, Scenario: loadtest.ScenarioBroadcast, Protocol: loadtest.ProtocolRtsync,
			Conns: 1400, Rooms: 14, Publishers: 1, Rate: 1000, Payload: 128,
			Ramp: loadtest.Duration(2 * time.Second), Warmup: loadtest.Duration(2 * time.Second),
			Duration: loadtest.Duration(10 * time.Second), Drain: loadtest.Duration(5 * time.Second),
			Timeout: loadtest.Duration(80 * time.Second), Dialers: 64, Procs: 1,
		},
		Machine: loadtest.Machine{Hostname: "bench-1", OS: "linux", Arch: "amd64", CPUs: 8, CPUModel: "Test CPU @ 3.0GHz", Kernel: "6.8.0", GoVersion: "go1.26.8", MemoryMB: 16384},
		Target:  loadtest.Target{URLs: []string{"ws://127.0.0.1:9000/ws"}, Protocol: loadtest.ProtocolRtsync, Child: true, Server: "rtsync 0.9.0"},
		Phases: []loadtest.Phase{
			{Name: loadtest.PhaseConnecting, Start: started, Seconds: 1.234},
			{Name: loadtest.PhaseWarmup, Start: started.Add(1234 * time.Millisecond), Seconds: 2},
			{Name: loadtest.PhaseMeasuring, Start: started.Add(3234 * time.Millisecond), Seconds: 10.001},
			{Name: loadtest.PhaseDraining, Start: started.Add(13235 * time.Millisecond), Seconds: 0.412},
		},
		Connect: loadtest.Connect{
			Attempted: 1415, Connected: 1414, Failed: 1, Failures: map[string]int64{"timeout": 1},
			Seconds: 1.234, PerSecond: 1145.87, Handshake: handshakeHist().Latency(),
			Dropped: 2, Drops: map[string]int64{"close_4008": 2},
		},
		Messages: &loadtest.Messages{
			Seconds: 10.001, Published: 10080, PublishErrors: 3, PublishErrorCodes: map[string]int64{"error_rate_limited": 3},
			Expected: 1008000, Delivered: 1007958, Lost: 42, LossPercent: 0.0041666,
			Duplicated: 3, OutOfOrder: 12,
			DeliveriesPerSec: 100785.72, MessagesPerSec: 1007.9, BytesPerSec: 12900565,
			Latency: deliveryHist().Latency(), FanOut: fanoutHist().Latency(), FanOutIncomplete: 2,
			Rooms: rooms, Timeline: timeline(),
		},
		Server: &loadtest.ServerStats{Source: "proc", RSSBeforeKB: 12800, RSSAfterKB: 30720, Conns: 1415, KBPerConn: 12.65},
		Bench: loadtest.Bench{Procs: 1, Cores: 8, CPUPercent: 87.5, SchedP99: 0.12, PublishLagMax: 1.5,
			Warnings: []string{"the bench used 88% of a core: close to its limit"}},
		Checks: []loadtest.Check{
			{Name: CheckP99, Flag: "--max-p99 50ms", Limit: 50, Actual: 2.1, Unit: "ms", OK: true},
			{Name: CheckLoss, Flag: "--max-loss 0%", Limit: 0, Actual: 0.0041666, Unit: "%", OK: false},
		},
	}
}

// connectResult is a connect run: connections only, no messages.
func connectResult() *loadtest.Result {
	return &loadtest.Result{
		Schema:  loadtest.Schema,
		Tool:    "rtsync bench v0.9.0",
		Started: started.Add(time.Hour),
		Config: loadtest.Config{
			URLs: []string{"ws://127.0.0.1:9000/ws", "ws://127.0.0.1:9001/ws"}, Scenario: loadtest.ScenarioConnect, Protocol: loadtest.ProtocolRtsync,
			Conns: 20000, Rooms: 1, Publishers: 1, Rate: 100, Payload: 128, Churn: 0.05,
			Ramp: loadtest.Duration(5 * time.Second), Duration: loadtest.Duration(30 * time.Second),
			Drain: loadtest.Duration(5 * time.Second), Timeout: loadtest.Duration(2 * time.Minute), Dialers: 64, Procs: 2,
			SourceIPs: []string{"127.0.0.1", "127.0.0.2"},
		},
		Machine: loadtest.Machine{Hostname: "bench-1", OS: "linux", Arch: "amd64", CPUs: 8, GoVersion: "go1.26.8"},
		Target:  loadtest.Target{URLs: []string{"ws://127.0.0.1:9000/ws", "ws://127.0.0.1:9001/ws"}, Protocol: loadtest.ProtocolRtsync},
		Connect: loadtest.Connect{
			Attempted: 20000, Connected: 19950, Failed: 50, Failures: map[string]int64{"refused": 30, "timeout": 20},
			Seconds: 4.8, PerSecond: 4156.25, Handshake: handshakeHist().Latency(), Reconnects: 30000,
		},
		Bench: loadtest.Bench{Procs: 2, Cores: 8, CPUPercent: 310, SchedP99: 4.2, Bottleneck: true,
			Warnings: []string{"scheduler p99 4.2 ms: the bench was short of CPU", "connects were paced by --dialers 64"}},
	}
}

// timeline is ten seconds of a broadcast run with a stall in the seventh.
func timeline() []loadtest.Second {
	out := make([]loadtest.Second, 10)
	for i := range out {
		out[i] = loadtest.Second{At: float64(i), Messages: 1008, Deliveries: 100800, FanOutP50: 1.5, FanOutP99: 3.25, FanOutMax: 4}
	}
	out[6].FanOutP50, out[6].FanOutP99, out[6].FanOutMax = 40, 212.5, 230
	out[6].Deliveries, out[6].Incomplete = 100758, 2
	return out
}

// clusterResult is broadcastResult run as a cluster of three nodes: one
// room spread over them, the third node slower and losing some.
func clusterResult() *loadtest.Result {
	r := broadcastResult()
	urls := []string{"ws://127.0.0.1:9000/ws", "ws://127.0.0.1:9001/ws", "ws://127.0.0.1:9002/ws"}
	r.Config.URLs, r.Target.URLs = urls, urls
	r.Config.Cluster, r.Config.PublishOn = true, loadtest.PublishAll
	r.Config.Rooms = 1
	r.Target.Nodes = []string{"n1", "n2", "n3"}
	r.Messages.Rooms = []loadtest.RoomStats{{Room: "bench-1-0", Subscribers: 1400, Published: 10080, Expected: 1008000, Delivered: 1007958, Lost: 42}}
	slow := loadtest.NewHist()
	for i := range 3000 {
		slow.RecordMicros(int64(900 + (i*7919)%2000))
	}
	r.Nodes = []loadtest.NodeStats{
		{URL: urls[0], Node: "n1", Subscribers: 467, Publishers: 1, Attempted: 468, Connected: 468,
			Expected: 336000, Delivered: 336000, CrossExpected: 224000, CrossDelivered: 224000, DeliveriesPerSec: 33596.64, Latency: ptr(deliveryHist().Latency())},
		{URL: urls[1], Node: "n2", Subscribers: 467, Publishers: 1, Attempted: 468, Connected: 468,
			Expected: 336000, Delivered: 336000, CrossExpected: 224000, CrossDelivered: 224000, DeliveriesPerSec: 33596.64, Duplicated: 3, Latency: ptr(deliveryHist().Latency())},
		{URL: urls[2], Node: "n3", Subscribers: 466, Publishers: 1, Attempted: 467, Connected: 466, Failed: 1, Dropped: 2,
			Expected: 336000, Delivered: 335958, Lost: 42, LossPercent: 0.0125, CrossExpected: 224000, CrossDelivered: 223958, DeliveriesPerSec: 33592.44, OutOfOrder: 12, Latency: ptr(slow.Latency())},
	}
	return r
}

func ptr[T any](v T) *T { return &v }
