package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/rtsync/rtsync/internal/tuitest"
	"github.com/rtsync/rtsync/loadtest"
	"github.com/rtsync/rtsync/tui/style"
)

// Golden files: testdata/<TestName>.golden. Rewrite them with
//
//	go test ./tui/bench/ -update
//
// (the -update flag is registered by charmbracelet/x/exp/golden, which
// teatest.RequireEqualOutput uses).

const testTitle = "broadcast · 5,000 conns · 1 room · 100 msg/s → ws://127.0.0.1:7000/ws"

// waitTimeout bounds every wait on the program, so a hang fails the test
// instead of stalling the suite. It is not a timing assumption: the waits
// end as soon as the program has done its part.
const waitTimeout = 5 * time.Second

var allPhases = []string{
	loadtest.PhaseConnecting, loadtest.PhaseWarmup,
	loadtest.PhaseMeasuring, loadtest.PhaseDraining, loadtest.PhaseDone,
}

// probe wraps Model to tell the test each time a snapshot has been
// through Update. The renderer only writes what changed since the last
// frame, so the output stream cannot say when a figure has arrived;
// the probe can, which keeps these tests free of sleeps.
type probe struct {
	Model
	updated chan<- struct{}
}

func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	next, cmd := p.Model.Update(msg)
	p.Model = next.(Model)
	if _, ok := msg.(progressMsg); ok {
		p.updated <- struct{}{}
	}
	return p, cmd
}

// session is a bench view running under teatest with the ASCII colour
// profile forced, fed through ch.
type session struct {
	tm      *teatest.TestModel
	ch      chan loadtest.Progress
	updated chan struct{}
}

func startSession(t *testing.T, w, h int) *session {
	t.Helper()
	s := &session{
		ch:      make(chan loadtest.Progress),
		updated: make(chan struct{}, 64),
	}
	// The real styles, not style.Plain: the forced profile is what must
	// strip their colours.
	m := probe{Model: New(testTitle, s.ch, style.Default()), updated: s.updated}
	s.tm = tuitest.Start(t, m, w, h)
	// The first frame has the title; waiting for it proves the program
	// is up and drawing before anything is sent.
	teatest.WaitFor(t, s.tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte("ws://127.0.0.1:7000/ws"))
	}, teatest.WithDuration(waitTimeout), teatest.WithCheckInterval(10*time.Millisecond))
	return s
}

// feed sends each snapshot and waits until Update has taken it.
func (s *session) feed(t *testing.T, snaps ...loadtest.Progress) {
	t.Helper()
	for _, p := range snaps {
		select {
		case s.ch <- p:
		case <-time.After(waitTimeout):
			t.Fatalf("the view did not receive snapshot %+v", p)
		}
		select {
		case <-s.updated:
		case <-time.After(waitTimeout):
			t.Fatalf("the view did not update for snapshot %+v", p)
		}
	}
}

// stop quits the program from outside, which ends it without one more
// Update: the final model is the live state as last drawn.
func (s *session) stop(t *testing.T) Model {
	t.Helper()
	return probeModel(t, tuitest.Quit(t, s.tm, waitTimeout))
}

// final waits for the program to end by itself.
func (s *session) final(t *testing.T) Model {
	t.Helper()
	return probeModel(t, tuitest.Final(t, s.tm, waitTimeout))
}

func probeModel(t *testing.T, fm tea.Model) Model {
	t.Helper()
	p, ok := fm.(probe)
	if !ok {
		t.Fatalf("final model is %T, want probe", fm)
	}
	return p.Model
}

// frame is the view as text. The goldens pin layout and figures; they
// leave out the escape sequences, whose placement is lipgloss's business
// and would churn the goldens on a library update without a visible
// change. The colour side is checked on the real output instead, by
// assertNoColour.
func frame(m Model) []byte {
	return []byte(ansi.Strip(m.View().Content) + "\n")
}

func connecting40() loadtest.Progress {
	return loadtest.Progress{
		Phase: loadtest.PhaseConnecting, Phases: allPhases, PhaseDone: 0.4,
		Elapsed: 1200 * time.Millisecond, Conns: 5000, Connected: 2000, Failed: 3,
	}
}

// measuringRun is a run from connecting to the middle of measuring, with
// a rate that ramps up so the sparkline has a shape, and a warning.
func measuringRun() []loadtest.Progress {
	var out []loadtest.Progress
	for i := range 5 {
		out = append(out, loadtest.Progress{
			Phase: loadtest.PhaseConnecting, Phases: allPhases, PhaseDone: float64(i+1) / 5,
			Elapsed: time.Duration(i+1) * 250 * time.Millisecond, Conns: 5000, Connected: int64(i+1) * 1000,
		})
	}
	out = append(out, loadtest.Progress{
		Phase: loadtest.PhaseWarmup, Phases: allPhases, PhaseDone: 0.5,
		Elapsed: 2 * time.Second, Conns: 5000, Connected: 5000, DeliveriesPerSec: 250_000,
	})
	warn := "bench CPU at 95% of 2 cores: the figures may be limited by the bench, not the server"
	for i := range 10 {
		out = append(out, loadtest.Progress{
			Phase: loadtest.PhaseMeasuring, Phases: allPhases, PhaseDone: float64(i+1) * 0.063,
			Elapsed: 3*time.Second + time.Duration(i)*time.Second, Conns: 5000, Connected: 5000,
			Delivered: int64(i+1) * 498_211, DeliveriesPerSec: 300_000 + float64(i)*22_023.4,
			Published: int64(i+1) * 100, P50: 3.1, P99: 12.4, Errors: 0, CPU: 142,
			Warnings: []string{warn},
		})
	}
	return out
}

func TestViewConnecting(t *testing.T) {
	s := startSession(t, 80, 24)
	s.feed(t, connecting40())
	m := s.stop(t)
	if m.Aborted() || m.Finished() {
		t.Fatalf("aborted=%v finished=%v, want a running view", m.Aborted(), m.Finished())
	}
	teatest.RequireEqualOutput(t, frame(m))
}

func TestViewMeasuring(t *testing.T) {
	s := startSession(t, 80, 24)
	s.feed(t, measuringRun()...)
	m := s.stop(t)
	got := string(frame(m))
	for _, want := range []string{"498,211", "5,000/5,000", "12.4 ms", "142%", "warning: bench CPU"} {
		if !strings.Contains(got, want) {
			t.Errorf("frame lacks %q:\n%s", want, got)
		}
	}
	teatest.RequireEqualOutput(t, frame(m))
}

func TestViewFinal(t *testing.T) {
	s := startSession(t, 80, 24)
	run := measuringRun()
	last := run[len(run)-1]
	draining := last
	draining.Phase, draining.PhaseDone, draining.Elapsed = loadtest.PhaseDraining, 1, 14*time.Second
	done := draining
	done.Phase, done.PhaseDone, done.Elapsed = loadtest.PhaseDone, 1, 14500*time.Millisecond
	s.feed(t, append(run, draining, done)...)

	close(s.ch)
	m := s.final(t)
	if !m.Finished() || m.Aborted() {
		t.Fatalf("finished=%v aborted=%v, want finished", m.Finished(), m.Aborted())
	}
	got := string(frame(m))
	if strings.Contains(got, "abort") {
		t.Errorf("final frame still shows the help line:\n%s", got)
	}
	teatest.RequireEqualOutput(t, frame(m))
}

func TestViewAbortKey(t *testing.T) {
	s := startSession(t, 80, 24)
	s.feed(t, connecting40())
	// Typed into the program's input, so the key goes through the real
	// terminal decoding before reaching Update.
	s.tm.Type("q")
	m := s.final(t)
	if !m.Aborted() {
		t.Fatal("q did not abort")
	}
	if got := string(frame(m)); !strings.Contains(got, "aborted") {
		t.Errorf("aborted frame does not say so:\n%s", got)
	}
}
