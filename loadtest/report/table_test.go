package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/loadtest"
)

func TestTableGolden(t *testing.T) {
	t.Parallel()
	noMsgs := broadcastResult()
	noMsgs.Messages, noMsgs.Server, noMsgs.Checks = nil, nil, nil
	for _, tc := range []struct {
		name string
		r    *loadtest.Result
	}{
		{"table_broadcast.golden", broadcastResult()},
		{"table_connect.golden", connectResult()},
		{"table_unmeasured.golden", noMsgs},
		{"table_cluster.golden", clusterResult()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := Table(&b, tc.r); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

// rowValue returns the value of the first "  label  value" row.
func rowValue(t *testing.T, out, label string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  "+label+" ") {
			return strings.TrimSpace(strings.TrimPrefix(l, "  "+label))
		}
	}
	t.Fatalf("no %q row in\n%s", label, out)
	return ""
}

func TestTableNeverHidesLoss(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		lost, expected int64
		reported       float64
		want           string
	}{
		{"none", 0, 1000, 0, "0 (0%)"},
		// LossPercent rounded to 0 by whoever filled it: the counts win.
		{"one in a billion", 1, 1_000_000_000, 0, "1 (0.0000001%)"},
		{"some", 1234, 100000, 1.234, "1,234 (1.23%)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := broadcastResult()
			r.Messages.Lost, r.Messages.Expected, r.Messages.LossPercent = tc.lost, tc.expected, tc.reported
			var b bytes.Buffer
			if err := Table(&b, r); err != nil {
				t.Fatal(err)
			}
			if got := rowValue(t, b.String(), "lost"); got != tc.want {
				t.Errorf("lost row = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTableEscapesServerText(t *testing.T) {
	t.Parallel()
	r := broadcastResult()
	r.Messages.Rooms[3].Room = "evil\x1b]0;pwned\x07\x1b[2J"
	r.Bench.Warnings = append(r.Bench.Warnings, "multi\nline\x1b[31m")
	r.Connect.Failures["close_\u202e4001"] = 1
	var b bytes.Buffer
	if err := Table(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"\x1b", "\x07", "\u202e"} {
		if strings.Contains(out, bad) {
			t.Errorf("output contains %q", bad)
		}
	}
	if !strings.Contains(out, `"evil\x1b]0;pwned\a…`) {
		t.Errorf("the hostile room name is not shown quoted:\n%s", out)
	}
	if !strings.Contains(out, "WARNING: \"multi\\nline\\x1b[31m\"\n") {
		t.Errorf("the multi-line warning is not on one line:\n%s", out)
	}
}

func TestTableRoomsAndWarnings(t *testing.T) {
	t.Parallel()
	r := connectResult()
	r.Messages = &loadtest.Messages{Expected: 100, Delivered: 100}
	for i := range 25 {
		r.Messages.Rooms = append(r.Messages.Rooms, loadtest.RoomStats{Room: fmt.Sprintf("r%02d", i), Expected: 4, Delivered: 4})
	}
	r.Messages.Rooms[20].Lost = 1
	var b bytes.Buffer
	if err := Table(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "Rooms: the 10 worst of 25") || !strings.Contains(out, "  … 15 more rooms, none with loss, duplicates or reordering\n") {
		t.Errorf("rooms section:\n%s", out)
	}
	// The room with the loss is listed first, whatever its name.
	i20, i00 := strings.Index(out, "  r20 "), strings.Index(out, "  r00 ")
	if i20 < 0 || i00 < 0 || i20 > i00 {
		t.Errorf("r20 (lossy) should come before r00:\n%s", out)
	}
	var warnings int
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "WARNING: ") {
			warnings++
		}
	}
	if warnings != len(r.Bench.Warnings) {
		t.Errorf("%d WARNING lines, want %d", warnings, len(r.Bench.Warnings))
	}
	if n := strings.Count(out, bottleneckLine); n != 2 {
		t.Errorf("bottleneck line printed %d times, want 2 (top and bench section)", n)
	}
}

func TestTableNil(t *testing.T) {
	t.Parallel()
	if err := Table(&bytes.Buffer{}, nil); err == nil {
		t.Error("Table(nil) succeeded")
	}
}

func TestFormatters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"count 0", human.Int(0), "0"},
		{"count 999", human.Int(999), "999"},
		{"count 1234567", human.Int(1234567), "1,234,567"},
		{"count -1234", human.Int(-1234), "-1,234"},
		{"ms small", ms(0.412), "0.412 ms"},
		{"ms tens", ms(12.34), "12.3 ms"},
		{"ms units", ms(4.1), "4.10 ms"},
		{"ms hundreds", ms(123.4), "123 ms"},
		{"ms thousands", ms(1204.4), "1,204 ms"},
		{"ms rounds up to thousands", ms(999.7), "1,000 ms"},
		{"ms zero", ms(0), "0 ms"},
		{"rate small", rate(812), "812"},
		{"rate thousands", rate(1234), "1,234"},
		{"rate tens of thousands", rate(12345), "12.3k"},
		{"rate millions", rate(1234567), "1.23M"},
		{"pct zero", pct(0), "0%"},
		{"pct half", pct(0.5), "0.5%"},
		{"pct tiny", pct(0.00083), "0.00083%"},
		{"pct tens", pct(12.345), "12.3%"},
		{"bytes", bytesRate(12900565), "12.9 MB/s"},
		{"kib", kib(30720), "30.0 MiB"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

// TestTableKeepsCleanText: what termtext leaves alone is printed as is,
// an emoji's joiner included; only text it would clean is quoted.
func TestTableKeepsCleanText(t *testing.T) {
	t.Parallel()
	r := broadcastResult()
	r.Messages.Rooms[3].Room = "dev👩\u200d💻"
	r.Messages.Rooms[2].Room = "blank\u3164"
	var b bytes.Buffer
	if err := Table(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), " dev👩\u200d💻 ") {
		t.Errorf("the emoji room is not shown as is:\n%s", b.String())
	}
	if strings.Contains(b.String(), "\u3164") || !strings.Contains(b.String(), "\"blank\uFFFD\"") {
		t.Errorf("the Hangul filler is not shown replaced, quoted:\n%s", b.String())
	}
}
