package soak

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Phases of a run, as samples are labelled.
const (
	PhaseBaseline = "baseline"
	PhaseRamp     = "ramp"
	PhaseSteady   = "steady"
	PhaseDrain    = "drain"
	PhaseClose    = "close"
	PhaseSettle   = "settle"
)

// Sample is one reading of the server process.
type Sample struct {
	// At is the time since the run started.
	At    time.Duration
	Phase string
	// RSS is resident memory in bytes (/proc/PID/statm), FDs the open
	// files (/proc/PID/fd), Goroutines and Conns the server's own figures
	// (GET /api/v1/stats).
	RSS        uint64
	FDs        int
	Goroutines int
	Conns      int
	// HistoryBytes is what the rooms' history holds, which grows with
	// every message by design (up to the server's bounds).
	HistoryBytes int64
}

// RSSCheck is the verdict on memory during the steady phase.
//
// The plateau is the median RSS over the second quarter of the steady
// phase: the ramp and the first quarter are the warm-up (heap growth to
// the working set, the first GC cycles). The check is that no sample of
// the second half rises more than the tolerance above the plateau. A
// leak that grows steadily through the run shows as the second half
// climbing away from the plateau; a dip (memory handed back to the
// system) is reported but not a failure.
type RSSCheck struct {
	Plateau uint64
	// Max and Min are over the second half; Deviation is (Max-Plateau) /
	// Plateau.
	Max, Min  uint64
	Deviation float64
	// Peak is the highest RSS of the whole run, ramp included.
	Peak uint64
	// SlopePerMin is the least-squares trend of the second half, in bytes
	// per minute: near zero on a plateau.
	SlopePerMin float64
	// PlateauSamples and CheckedSamples count the samples in the two
	// windows.
	PlateauSamples, CheckedSamples int
}

// minPlateauSamples is the fewest samples a window may hold for the check
// to mean anything.
const minPlateauSamples = 3

// CheckRSS finds the plateau of the steady samples and checks the second
// half against it; tol is the allowed rise as a fraction (0.10 for 10%).
// The error says what failed; the figures are filled in either way.
func CheckRSS(samples []Sample, tol float64) (RSSCheck, error) {
	var c RSSCheck
	var steady []Sample
	for _, s := range samples {
		c.Peak = max(c.Peak, s.RSS)
		if s.Phase == PhaseSteady {
			steady = append(steady, s)
		}
	}
	n := len(steady)
	plateau := steady[n/4 : n/2]
	second := steady[n/2:]
	c.PlateauSamples, c.CheckedSamples = len(plateau), len(second)
	if len(plateau) < minPlateauSamples || len(second) < minPlateauSamples {
		return c, fmt.Errorf("%d steady samples are too few to find a plateau: sample more often or run longer", n)
	}
	rss := make([]uint64, len(plateau))
	for i, s := range plateau {
		rss[i] = s.RSS
	}
	slices.Sort(rss)
	c.Plateau = rss[len(rss)/2]
	c.Min = second[0].RSS
	for _, s := range second {
		c.Max = max(c.Max, s.RSS)
		c.Min = min(c.Min, s.RSS)
	}
	c.Deviation = float64(int64(c.Max)-int64(c.Plateau)) / float64(c.Plateau)
	c.SlopePerMin = slope(second)
	if c.Deviation > tol {
		return c, fmt.Errorf("RSS rose to %s in the second half of the steady phase, %.1f%% above its plateau of %s (allowed %.0f%%)",
			mib(c.Max), 100*c.Deviation, mib(c.Plateau), 100*tol)
	}
	return c, nil
}

// slope is the least-squares slope of RSS over time, in bytes per minute.
func slope(ss []Sample) float64 {
	if len(ss) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, s := range ss {
		x, y := s.At.Minutes(), float64(s.RSS)
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	n := float64(len(ss))
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// Settled is the verdict on the server after every client closed:
// goroutines and open files back to their baseline within slack.
type Settled struct {
	BaseGoroutines, EndGoroutines, PeakGoroutines int
	BaseFDs, EndFDs, PeakFDs                      int
	EndConns                                      int
	// After is how long after the last client closed the figures were
	// back; zero when they never were.
	After time.Duration
}

// Check compares the end with the baseline, allowing a little slack.
func (s Settled) Check(goroutineSlack, fdSlack int) error {
	var errs []error
	if s.EndConns != 0 {
		errs = append(errs, fmt.Errorf("the server still counts %d connections after every client closed", s.EndConns))
	}
	if s.EndGoroutines > s.BaseGoroutines+goroutineSlack {
		errs = append(errs, fmt.Errorf("goroutines: %d at the end, %d at the baseline (allowed %d more)", s.EndGoroutines, s.BaseGoroutines, goroutineSlack))
	}
	if s.EndFDs > s.BaseFDs+fdSlack {
		errs = append(errs, fmt.Errorf("open files: %d at the end, %d at the baseline (allowed %d more)", s.EndFDs, s.BaseFDs, fdSlack))
	}
	return errors.Join(errs...)
}

// Figures are a run's results, as the summary table prints them.
type Figures struct {
	Conns, Rooms, Publishers int
	Ramp, Steady             time.Duration
	Rate, Churn              float64
	LoadBefore, LoadAfter    string

	RSS     RSSCheck
	Settled Settled

	Tally Tally
	// Published counts publishes attempted; PublishErrors the ones that
	// got no seq, by cause.
	Published     int64
	PublishErrors map[string]int64
	// Churned counts subscribers closed by the run, Recoveries their
	// re-joins with since, Fresh their re-joins without;
	// RecoveryIncomplete the recoveries the server said were not
	// complete; Unexpected the connections the server ended, by code.
	Churned, Recoveries, Fresh, Replayed int64
	RecoveryIncomplete                   int64
	ConnectFailures                      int64
	Unexpected                           map[string]int64
	// HistoryChecked counts the acknowledged seqs looked up in the rooms'
	// history at the end; HistoryMissing those it did not hold.
	HistoryChecked, HistoryMissing int64
	Drained                        bool
	// ServerCPU is the server's CPU time over the whole run;
	// SlowConsumers and Dropped its own counters.
	ServerCPU     time.Duration
	SlowConsumers int64
	Dropped       int64
}

// WriteTable writes the figures as a table that pastes into a note.
func (f Figures) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	r, st, t := f.RSS, f.Settled, f.Tally
	row("load", "%d subscribers in %d rooms, %d publishers at %g msg/s, churn %.2f%%/s; ramp %s, steady %s",
		f.Conns, f.Rooms, f.Publishers, f.Rate, 100*f.Churn, f.Ramp, f.Steady)
	row("machine load avg", "%s before, %s after", f.LoadBefore, f.LoadAfter)
	row("RSS plateau", "%s (median of %d samples, 2nd quarter of steady)", mib(r.Plateau), r.PlateauSamples)
	row("RSS 2nd half", "max %s, min %s over %d samples; deviation %+.1f%%; trend %+.2f MiB/min",
		mib(r.Max), mib(r.Min), r.CheckedSamples, 100*r.Deviation, r.SlopePerMin/(1<<20))
	row("RSS peak", "%s", mib(r.Peak))
	row("goroutines", "baseline %d, peak %d, end %d", st.BaseGoroutines, st.PeakGoroutines, st.EndGoroutines)
	row("open files", "baseline %d, peak %d, end %d", st.BaseFDs, st.PeakFDs, st.EndFDs)
	settled := "never"
	if st.After > 0 {
		settled = st.After.Round(100 * time.Millisecond).String()
	}
	row("back to baseline", "after %s (server connections at the end: %d)", settled, st.EndConns)
	row("publishes", "%d sent, %d acked, errors %s", f.Published, t.Acked, counts(f.PublishErrors))
	row("owed deliveries", "%d (to subscribers that stayed or recovered)", t.Owed)
	row("delivered / lost", "%d / %d", t.Delivered, t.Lost)
	row("received (all)", "%d; duplicates %d, out of order %d, other epoch %d, unacked %d",
		t.Received, t.Duplicates, t.OutOfOrder, t.Foreign, t.Unacked)
	row("history check", "%d acked seqs looked up, %d missing", f.HistoryChecked, f.HistoryMissing)
	row("churn", "%d closed and reopened: %d recovered with since (%d replayed, %d incomplete), %d fresh",
		f.Churned, f.Recoveries, f.Replayed, f.RecoveryIncomplete, f.Fresh)
	row("connect failures", "%d", f.ConnectFailures)
	row("server-ended conns", "%s; slow consumers %d, dropped %d", counts(f.Unexpected), f.SlowConsumers, f.Dropped)
	row("drained", "%t", f.Drained)
	row("server CPU", "%s", f.ServerCPU.Round(time.Second))
	return tw.Flush()
}

// WriteCSV writes the samples, one row each.
func WriteCSV(w io.Writer, samples []Sample) error {
	if _, err := fmt.Fprintln(w, "seconds,phase,rss_bytes,open_fds,goroutines,connections,history_bytes"); err != nil {
		return err
	}
	for _, s := range samples {
		if _, err := fmt.Fprintf(w, "%.1f,%s,%d,%d,%d,%d,%d\n", s.At.Seconds(), s.Phase, s.RSS, s.FDs, s.Goroutines, s.Conns, s.HistoryBytes); err != nil {
			return err
		}
	}
	return nil
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// counts formats a map of counts as "a=1 b=2", or "none".
func counts(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
