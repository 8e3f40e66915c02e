package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/loadtest"
)

// fasterRun is broadcastResult after a change that made the server
// faster, at twice the connections.
func fasterRun() *loadtest.Result {
	r := broadcastResult()
	r.Started = started.Add(24 * time.Hour)
	r.Config.Conns = 2800
	h := loadtest.NewHist()
	for i := range 10000 {
		h.RecordMicros(int64(200 + (i*7919)%400))
	}
	r.Messages.Latency = h.Latency()
	r.Messages.DeliveriesPerSec = 201571.44
	r.Messages.Lost, r.Messages.LossPercent = 0, 0
	r.Server.KBPerConn = 9.5
	return r
}

// mendedCluster is clusterResult after its third node was fixed: it
// loses nothing and is as fast as the others.
func mendedCluster() *loadtest.Result {
	r := clusterResult()
	r.Started = started.Add(24 * time.Hour)
	n := &r.Nodes[2]
	n.Delivered, n.Lost, n.LossPercent, n.CrossDelivered, n.OutOfOrder = n.Expected, 0, 0, n.CrossExpected, 0
	n.Latency = ptr(deliveryHist().Latency())
	return r
}

func TestCompareGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		a, b *loadtest.Result
	}{
		{"compare.golden", broadcastResult(), fasterRun()},
		{"compare_kinds.golden", broadcastResult(), connectResult()},
		{"compare_cluster.golden", broadcastResult(), clusterResult()},
		{"compare_clusters.golden", clusterResult(), mendedCluster()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := Compare(&b, tc.a, tc.b, "base.json", "new.json"); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

// compareRow finds the row of a figure in a comparison.
func compareRow(t *testing.T, out, figure string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  "+figure+"  ") {
			return strings.Fields(strings.TrimPrefix(l, "  "+figure))
		}
	}
	t.Fatalf("no %q row in\n%s", figure, out)
	return nil
}

func TestCompareMarks(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := Compare(&b, broadcastResult(), fasterRun(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, tc := range []struct {
		figure string
		last   []string // the row's trailing fields: ratio, better
	}{
		{"deliveries/s", []string{"2.00x", "B"}}, // higher is better
		{"latency p99", []string{"0.60x", "B"}},  // lower is better
		{"lost", []string{"0.00x", "B"}},
		{"connected", []string{"1.00x", "same"}},
		{"per connection", []string{"0.75x", "B"}},
		{"CPU, % of one core", []string{"1.00x"}}, // a cost: nobody wins
	} {
		row := compareRow(t, out, tc.figure)
		got := row[len(row)-len(tc.last):]
		if strings.Join(got, " ") != strings.Join(tc.last, " ") {
			t.Errorf("%s row %q, want it to end %q", tc.figure, row, tc.last)
		}
	}
	if !strings.Contains(out, "WARNING: the runs differ in conns: ") || !strings.Contains(out, "may be unfair") {
		t.Errorf("no unfairness warning:\n%s", out)
	}
	// Swapped, the verdicts swap.
	b.Reset()
	if err := Compare(&b, fasterRun(), broadcastResult(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	if row := compareRow(t, b.String(), "latency p99"); row[len(row)-1] != "A" {
		t.Errorf("swapped latency p99 row %q, want A better", row)
	}
}

func TestCompareFair(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := Compare(&b, broadcastResult(), broadcastResult(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "WARNING") {
		t.Errorf("warning for two runs with the same parameters:\n%s", out)
	}
	if !strings.Contains(out, "Parameters: the same in both runs") {
		t.Errorf("does not say the parameters are the same:\n%s", out)
	}
	b.Reset()
	other := broadcastResult()
	other.Machine.Hostname = "bench-2"
	other.Bench.Bottleneck = true
	if err := Compare(&b, broadcastResult(), other, "a", "b"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"different machines", "B's figures may be limited by the bench"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
	if err := Compare(&b, nil, other, "a", "b"); err == nil {
		t.Error("Compare with a nil result succeeded")
	}
}

func TestForFormat(t *testing.T) {
	t.Parallel()
	for _, name := range append([]string{"table", "TEXT"}, Formats...) {
		f, err := ForFormat(name)
		if err != nil {
			t.Errorf("ForFormat(%q): %v", name, err)
			continue
		}
		var b bytes.Buffer
		if err := f(&b, broadcastResult()); err != nil || b.Len() == 0 {
			t.Errorf("%s reporter: %v, %d bytes", name, err, b.Len())
		}
	}
	if _, err := ForFormat("pdf"); err == nil || !strings.Contains(err.Error(), "text, json, csv, html") {
		t.Errorf("ForFormat(pdf): %v", err)
	}
	for path, want := range map[string]string{"run.json": "json", "a/b.CSV": "csv", "r.html": "html", "r.htm": "html", "r.txt": "text", "run": "", "run.yaml": ""} {
		if got := FormatOf(path); got != want {
			t.Errorf("FormatOf(%q) = %q, want %q", path, got, want)
		}
	}
}
