package report

import (
	"bytes"
	"encoding/csv"
	"regexp"
	"slices"
	"testing"

	"github.com/rtsync/rtsync/loadtest"
)

func TestCSVGolden(t *testing.T) {
	t.Parallel()
	var one bytes.Buffer
	if err := CSV(&one, broadcastResult()); err != nil {
		t.Fatal(err)
	}
	golden(t, "csv_broadcast.golden", one.Bytes())
	var two bytes.Buffer
	if err := CSVRows(&two, []*loadtest.Result{broadcastResult(), connectResult()}); err != nil {
		t.Fatal(err)
	}
	golden(t, "csv_rows.golden", two.Bytes())
}

// readCSV parses a CSV report into maps from column name to cell.
func readCSV(t *testing.T, b []byte) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, name := range recs[0] {
			m[name] = rec[i]
		}
		out = append(out, m)
	}
	return out
}

func TestCSVColumns(t *testing.T) {
	t.Parallel()
	head := CSVHeader()
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	seen := map[string]bool{}
	for _, h := range head {
		if !snake.MatchString(h) {
			t.Errorf("column %q is not snake_case", h)
		}
		if seen[h] {
			t.Errorf("column %q twice", h)
		}
		seen[h] = true
	}
	// Scripts index these: they must stay.
	for _, want := range []string{"scenario", "protocol", "conns", "rooms", "publishers", "rate", "payload", "duration_s",
		"connected", "connect_failed", "connect_s", "connects_per_s", "handshake_p50_ms", "handshake_p99_ms",
		"published", "expected", "delivered", "lost", "loss_percent", "duplicated", "out_of_order", "deliveries_per_s",
		"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "fanout_p99_ms", "bench_cpu_percent", "bottleneck", "kb_per_conn"} {
		if !slices.Contains(head, want) {
			t.Errorf("no column %q", want)
		}
	}
	if n := len(CSVRecord(connectResult())); n != len(head) {
		t.Errorf("record has %d cells, header %d", n, len(head))
	}
}

func TestCSVCells(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := CSVRows(&b, []*loadtest.Result{broadcastResult(), connectResult()}); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, b.Bytes())
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	bc, cn := rows[0], rows[1]
	for col, want := range map[string]string{
		"scenario": "broadcast", "conns": "1400", "lost": "42", "p99_ms": "0.999", "max_ms": "125.055", "loss_percent": "0.00416667",
		"deliveries_per_s": "100785.72", "duration_s": "10", "bottleneck": "false", "checks_ok": "false",
		"kb_per_conn": "12.65", "started": "2026-03-01T12:00:00Z",
	} {
		if bc[col] != want {
			t.Errorf("broadcast %s = %q, want %q", col, bc[col], want)
		}
	}
	// A connect run has no deliveries: empty cells, not zeros.
	for _, col := range []string{"published", "lost", "loss_percent", "p99_ms", "fanout_p99_ms", "kb_per_conn"} {
		if cn[col] != "" {
			t.Errorf("connect %s = %q, want empty", col, cn[col])
		}
	}
	for col, want := range map[string]string{"connected": "19950", "connect_failed": "50", "bottleneck": "true", "checks_ok": ""} {
		if cn[col] != want {
			t.Errorf("connect %s = %q, want %q", col, cn[col], want)
		}
	}
}

func TestCSVLossNotRoundedAway(t *testing.T) {
	t.Parallel()
	r := broadcastResult()
	r.Messages.Lost, r.Messages.Expected, r.Messages.LossPercent = 1, 1_000_000_000, 0
	var b bytes.Buffer
	if err := CSV(&b, r); err != nil {
		t.Fatal(err)
	}
	if got := readCSV(t, b.Bytes())[0]["loss_percent"]; got != "0.0000001" {
		t.Errorf("loss_percent = %q, want 0.0000001", got)
	}
}

func TestCSVFormulaGuard(t *testing.T) {
	t.Parallel()
	r := connectResult()
	r.Config.Scenario = "=HYPERLINK(\"x\")"
	rec := CSVRecord(r)
	if rec[0] != "'=HYPERLINK(\"x\")" {
		t.Errorf("scenario cell %q can run as a formula", rec[0])
	}
}
