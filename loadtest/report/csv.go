package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rtsync/rtsync/loadtest"
)

// csvColumn is one CSV column: its name and how a result fills it. An
// empty cell means the run does not have the figure (a connect run has no
// deliveries), which a spreadsheet must not read as 0.
type csvColumn struct {
	name string
	cell func(r *loadtest.Result) string
}

// Cell formats, rounded so a cell carries no float noise.
func cInt(n int64) string { return strconv.FormatInt(n, 10) }

func cFloat(v float64, dec int) string { return plain(round(v, dec)) }

// cMsgs fills a column from Messages, or leaves it empty when the run
// measured none.
func cMsgs(f func(m *loadtest.Messages) string) func(*loadtest.Result) string {
	return func(r *loadtest.Result) string {
		if r.Messages == nil {
			return ""
		}
		return f(r.Messages)
	}
}

// cServer fills a column from Server, or leaves it empty.
func cServer(f func(s *loadtest.ServerStats) string) func(*loadtest.Result) string {
	return func(r *loadtest.Result) string {
		if r.Server == nil {
			return ""
		}
		return f(r.Server)
	}
}

// cLat fills a column from a latency, empty when it has no samples.
func cLat(l func(r *loadtest.Result) (loadtest.Latency, bool), v func(loadtest.Latency) float64) func(*loadtest.Result) string {
	return func(r *loadtest.Result) string {
		lat, ok := l(r)
		if !ok || lat.Count == 0 {
			return ""
		}
		return cFloat(v(lat), 3)
	}
}

func handshake(r *loadtest.Result) (loadtest.Latency, bool) { return r.Connect.Handshake, true }

func delivery(r *loadtest.Result) (loadtest.Latency, bool) {
	if r.Messages == nil {
		return loadtest.Latency{}, false
	}
	return r.Messages.Latency, true
}

func fanout(r *loadtest.Result) (loadtest.Latency, bool) {
	if r.Messages == nil {
		return loadtest.Latency{}, false
	}
	return r.Messages.FanOut, true
}

func p50(l loadtest.Latency) float64  { return l.P50 }
func p90(l loadtest.Latency) float64  { return l.P90 }
func p99(l loadtest.Latency) float64  { return l.P99 }
func p999(l loadtest.Latency) float64 { return l.P999 }
func pmax(l loadtest.Latency) float64 { return l.Max }
func mean(l loadtest.Latency) float64 { return l.Mean }

// csvColumns are the CSV's columns. Their names and order are an
// interface (scripts and spreadsheets index them): add new ones at the
// end and never rename one.
var csvColumns = []csvColumn{
	{"scenario", func(r *loadtest.Result) string { return r.Config.Scenario }},
	{"protocol", func(r *loadtest.Result) string { return r.Config.Protocol }},
	{"started", func(r *loadtest.Result) string {
		if r.Started.IsZero() {
			return ""
		}
		return r.Started.UTC().Format(time.RFC3339)
	}},
	{"urls", func(r *loadtest.Result) string { return strings.Join(r.Config.URLs, " ") }},
	{"child", func(r *loadtest.Result) string { return strconv.FormatBool(r.Target.Child) }},
	{"conns", func(r *loadtest.Result) string { return cInt(int64(r.Config.Conns)) }},
	{"rooms", func(r *loadtest.Result) string { return cInt(int64(r.Config.Rooms)) }},
	{"publishers", func(r *loadtest.Result) string { return cInt(int64(r.Config.Publishers)) }},
	{"rate", func(r *loadtest.Result) string { return cFloat(r.Config.Rate, 3) }},
	{"payload", func(r *loadtest.Result) string { return cInt(int64(r.Config.Payload)) }},
	{"duration_s", func(r *loadtest.Result) string { return cFloat(time.Duration(r.Config.Duration).Seconds(), 3) }},
	{"warmup_s", func(r *loadtest.Result) string { return cFloat(time.Duration(r.Config.Warmup).Seconds(), 3) }},
	{"procs", func(r *loadtest.Result) string { return cInt(int64(r.Config.Procs)) }},

	{"attempted", func(r *loadtest.Result) string { return cInt(r.Connect.Attempted) }},
	{"connected", func(r *loadtest.Result) string { return cInt(r.Connect.Connected) }},
	{"connect_failed", func(r *loadtest.Result) string { return cInt(r.Connect.Failed) }},
	{"dropped", func(r *loadtest.Result) string { return cInt(r.Connect.Dropped) }},
	{"reconnects", func(r *loadtest.Result) string { return cInt(r.Connect.Reconnects) }},
	{"connect_s", func(r *loadtest.Result) string { return cFloat(r.Connect.Seconds, 3) }},
	{"connects_per_s", func(r *loadtest.Result) string { return cFloat(r.Connect.PerSecond, 2) }},
	{"handshake_p50_ms", cLat(handshake, p50)},
	{"handshake_p90_ms", cLat(handshake, p90)},
	{"handshake_p99_ms", cLat(handshake, p99)},
	{"handshake_max_ms", cLat(handshake, pmax)},

	{"published", cMsgs(func(m *loadtest.Messages) string { return cInt(m.Published) })},
	{"publish_errors", cMsgs(func(m *loadtest.Messages) string { return cInt(m.PublishErrors) })},
	{"expected", cMsgs(func(m *loadtest.Messages) string { return cInt(m.Expected) })},
	{"delivered", cMsgs(func(m *loadtest.Messages) string { return cInt(m.Delivered) })},
	{"lost", cMsgs(func(m *loadtest.Messages) string { return cInt(m.Lost) })},
	// Significant digits, not a fixed number of decimals: one lost
	// delivery in a billion must not print as 0.
	{"loss_percent", cMsgs(func(m *loadtest.Messages) string { return sig(lossOf(m.Lost, m.Expected, m.LossPercent), 6) })},
	{"duplicated", cMsgs(func(m *loadtest.Messages) string { return cInt(m.Duplicated) })},
	{"out_of_order", cMsgs(func(m *loadtest.Messages) string { return cInt(m.OutOfOrder) })},
	{"deliveries_per_s", cMsgs(func(m *loadtest.Messages) string { return cFloat(m.DeliveriesPerSec, 2) })},
	{"messages_per_s", cMsgs(func(m *loadtest.Messages) string { return cFloat(m.MessagesPerSec, 2) })},
	{"mb_per_s", cMsgs(func(m *loadtest.Messages) string { return cFloat(m.BytesPerSec/1e6, 3) })},
	{"p50_ms", cLat(delivery, p50)},
	{"p90_ms", cLat(delivery, p90)},
	{"p99_ms", cLat(delivery, p99)},
	{"p999_ms", cLat(delivery, p999)},
	{"max_ms", cLat(delivery, pmax)},
	{"mean_ms", cLat(delivery, mean)},
	{"fanout_p50_ms", cLat(fanout, p50)},
	{"fanout_p99_ms", cLat(fanout, p99)},
	{"fanout_max_ms", cLat(fanout, pmax)},
	{"fanout_incomplete", cMsgs(func(m *loadtest.Messages) string { return cInt(m.FanOutIncomplete) })},

	{"rss_before_kb", cServer(func(s *loadtest.ServerStats) string { return cInt(s.RSSBeforeKB) })},
	{"rss_after_kb", cServer(func(s *loadtest.ServerStats) string { return cInt(s.RSSAfterKB) })},
	{"kb_per_conn", cServer(func(s *loadtest.ServerStats) string { return cFloat(s.KBPerConn, 3) })},

	{"bench_procs", func(r *loadtest.Result) string { return cInt(int64(r.Bench.Procs)) }},
	{"bench_cpu_percent", func(r *loadtest.Result) string { return cFloat(r.Bench.CPUPercent, 1) }},
	{"bench_sched_p99_ms", func(r *loadtest.Result) string { return cFloat(r.Bench.SchedP99, 3) }},
	{"publish_lag_max_ms", func(r *loadtest.Result) string { return cFloat(r.Bench.PublishLagMax, 3) }},
	{"bottleneck", func(r *loadtest.Result) string { return strconv.FormatBool(r.Bench.Bottleneck) }},
	{"warnings", func(r *loadtest.Result) string { return cInt(int64(len(r.Bench.Warnings))) }},
	// Empty when no threshold was set, so "no checks" is not "passed".
	{"checks_ok", func(r *loadtest.Result) string {
		if len(r.Checks) == 0 {
			return ""
		}
		return strconv.FormatBool(!r.Failed())
	}},
}

// CSVHeader returns the CSV column names, for a caller appending rows to
// an existing file with CSVRecord.
func CSVHeader() []string {
	out := make([]string, len(csvColumns))
	for i, c := range csvColumns {
		out[i] = c.name
	}
	return out
}

// CSVRecord returns one result as a CSV record in CSVHeader's order.
func CSVRecord(r *loadtest.Result) []string {
	out := make([]string, len(csvColumns))
	for i, c := range csvColumns {
		out[i] = csvSafe(c.cell(r))
	}
	return out
}

// csvSafe keeps a cell from being taken for a formula by a spreadsheet:
// URLs and scenario names come from the command line, but a cell that
// starts with = + - @ is executed by some, so it gets a leading quote.
// Negative numbers never occur in these columns.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// CSV writes a header row and one row for the run.
func CSV(w io.Writer, r *loadtest.Result) error {
	return CSVRows(w, []*loadtest.Result{r})
}

// CSVRows writes a header row and one row per run, to put several runs
// (a parameter sweep) in one sheet.
func CSVRows(w io.Writer, rs []*loadtest.Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader()); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for i, r := range rs {
		if r == nil {
			return fmt.Errorf("csv: result %d is missing", i)
		}
		if err := cw.Write(CSVRecord(r)); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
