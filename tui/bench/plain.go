package bench

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/internal/termtext"
	"github.com/rtsync/rtsync/loadtest"
)

// DefaultPlainEvery is how often Plain prints when given no interval:
// often enough to show a run is alive, rarely enough that a CI log of a
// long run stays readable.
const DefaultPlainEvery = 2 * time.Second

// Plain reports progress as text lines, for when the output is not a
// terminal (CI logs, pipes). It prints a line for the first snapshot, for
// each phase change, and otherwise at most one every `every` of run time
// (DefaultPlainEvery when every <= 0); if the last snapshot before the
// channel closes was not printed, it prints it then, so the log ends with
// the final figures. Each distinct warning is printed once, on its own
// line prefixed "warning:", when it first appears.
//
// Time is the snapshots' Elapsed, not the wall clock: the interval
// follows the run, and the output is the same for the same snapshots.
//
// Plain returns when progress is closed. After a write error it stops
// writing but keeps reading, so the sender never blocks, and returns the
// error at the end.
func Plain(w io.Writer, every time.Duration, progress <-chan loadtest.Progress) error {
	if every <= 0 {
		every = DefaultPlainEvery
	}
	var (
		werr      error
		printed   bool // at least one line was printed
		pending   bool // the latest snapshot has not been printed
		lastAt    time.Duration
		lastPhase string
		last      loadtest.Progress
		warned    = map[string]bool{}
	)
	write := func(s string) {
		if werr == nil {
			_, werr = io.WriteString(w, s)
		}
	}
	for p := range progress {
		last = p
		if !printed || p.Phase != lastPhase || p.Elapsed-lastAt >= every {
			write(plainLine(p) + "\n")
			printed, pending = true, false
			lastAt, lastPhase = p.Elapsed, p.Phase
		} else {
			pending = true
		}
		for _, text := range p.Warnings {
			if !warned[text] {
				warned[text] = true
				// Warnings quote what the server said (error codes).
				write(warnPrefix + termtext.Line(text) + "\n")
			}
		}
	}
	if pending {
		write(plainLine(last) + "\n")
	}
	if werr != nil {
		return fmt.Errorf("write progress: %w", werr)
	}
	return nil
}

// plainLine is one progress line, e.g.
//
//	[  12.0s] measuring  63% | conns 5,000/5,000 (0 failed) | 498,211 deliveries/s | p50 3.1 ms p99 12.4 ms | errors 0 | cpu 142%
//
// The fixed-width head keeps the columns of successive lines aligned.
func plainLine(p loadtest.Progress) string {
	done := clamp01(p.PhaseDone)
	if p.Phase == loadtest.PhaseDone {
		done = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%6.1fs] %-*s %3.0f%%", p.Elapsed.Seconds(), phaseNameWidth, p.Phase, done*100)
	fmt.Fprintf(&b, " | conns %s", human.Int(p.Connected))
	if p.Conns > 0 {
		fmt.Fprintf(&b, "/%s", human.Int(int64(p.Conns)))
	}
	fmt.Fprintf(&b, " (%s failed)", human.Int(p.Failed))
	fmt.Fprintf(&b, " | %s deliveries/s", formatRate(p.DeliveriesPerSec))
	fmt.Fprintf(&b, " | p50 %s p99 %s", formatMs(p.P50), formatMs(p.P99))
	fmt.Fprintf(&b, " | errors %s", human.Int(p.Errors))
	fmt.Fprintf(&b, " | cpu %s", formatPercent(p.CPU))
	return b.String()
}
