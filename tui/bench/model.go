package bench

import (
	"slices"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/progress"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/rtsync/rtsync/internal/human"
	"github.com/rtsync/rtsync/internal/spark"
	"github.com/rtsync/rtsync/internal/termtext"
	"github.com/rtsync/rtsync/loadtest"
	"github.com/rtsync/rtsync/tui/style"
)

// Layout. The view is drawn for 80 columns first; wider terminals only
// get longer bars, narrower ones get truncated lines.
const (
	// defaultWidth is used until the first WindowSizeMsg, and is what a
	// bench run inside CI logs or a recorded demo is most likely to have.
	defaultWidth = 80

	// historyLen is how many deliveries/s samples the sparkline keeps. At
	// the engine's few snapshots a second that is the last 15 to 30
	// seconds: long enough to show a trend, short enough to fit a line.
	historyLen = 60

	// barMin and barMax bound a phase bar, percentage included. Below
	// barMin a bar says nothing; beyond barMax it only stretches the eye
	// away from the phase name on very wide terminals.
	barMin = 10
	barMax = 90

	// phaseNameWidth fits the longest standard phase name ("connecting"),
	// so bars start in one column whatever phase is running.
	phaseNameWidth = 10

	// labelWidth and valueWidth size the figure grid's first label and
	// value columns ("deliveries/s" and "5,000,000/5,000,000" fit), and
	// label2Width its second label column.
	labelWidth  = 13
	valueWidth  = 16
	label2Width = 10

	// warnPrefix starts each warning, as in the plain reporter; a wrapped
	// warning's further lines are indented by its width so they line up
	// under the text.
	warnPrefix = "warning: "
)

// defaultPhases is shown until the first snapshot says which phases the
// run has, so the layout does not jump when it arrives.
var defaultPhases = []string{
	loadtest.PhaseConnecting,
	loadtest.PhaseWarmup,
	loadtest.PhaseMeasuring,
	loadtest.PhaseDraining,
}

// keyMap is the view's key bindings. It also drives the help line, so a
// binding shown there is always one that works.
type keyMap struct {
	// Abort stops watching and asks the caller to cancel the run.
	Abort key.Binding
}

// defaultKeyMap returns the bindings `rtsync bench` uses.
func defaultKeyMap() keyMap {
	return keyMap{
		Abort: key.NewBinding(
			key.WithKeys("q", "ctrl+c"),
			key.WithHelp("q/ctrl+c", "abort"),
		),
	}
}

// ShortHelp implements help.KeyMap.
func (k keyMap) ShortHelp() []key.Binding { return []key.Binding{k.Abort} }

// FullHelp implements help.KeyMap.
func (k keyMap) FullHelp() [][]key.Binding { return [][]key.Binding{k.ShortHelp()} }

// progressMsg carries one snapshot from the channel into Update.
type progressMsg struct{ p loadtest.Progress }

// closedMsg says the channel was closed: the run is over.
type closedMsg struct{}

// Model is the bubbletea model of the live bench view. Build it with New;
// the zero value has no channel and never quits on its own.
type Model struct {
	title    string
	progress <-chan loadtest.Progress
	// stop ends a pending receive when Run returns, so the waiting
	// command does not outlive the program. Nil (never) outside Run.
	stop <-chan struct{}

	st   style.Styles
	keys keyMap
	help help.Model
	bar  progress.Model

	width, height int

	last     loadtest.Progress
	seen     bool      // at least one snapshot arrived
	history  []float64 // deliveries/s, oldest first, at most historyLen
	warnings []string  // distinct warnings in the order first seen

	finished bool // the channel was closed
	aborted  bool // the user pressed an abort key
}

// New returns a view of the snapshots read from progress. title says what
// runs, e.g. "broadcast · 5,000 conns · 1 room · 100 msg/s → ws://…".
func New(title string, progress <-chan loadtest.Progress, st style.Styles) Model {
	h := help.New()
	h.Styles = st.Help
	return Model{
		title:    termtext.Line(title),
		progress: progress,
		st:       st,
		keys:     defaultKeyMap(),
		help:     h,
		bar:      newBar(st),
	}
}

// newBar builds the phase bar. It is drawn with ViewAs from each
// snapshot rather than animated: the snapshots already arrive several
// times a second, and a spring lagging behind them would show a figure
// the engine never sent.
func newBar(st style.Styles) progress.Model {
	b := progress.New(
		progress.WithColors(st.ProgressFull),
		progress.WithFillCharacters('█', '░'),
	)
	b.EmptyColor = st.ProgressEmpty
	b.PercentageStyle = st.Value
	return b
}

// Aborted reports whether the user asked to abort.
func (m Model) Aborted() bool { return m.aborted }

// Finished reports whether the progress channel was closed.
func (m Model) Finished() bool { return m.finished }

// Init starts waiting for the first snapshot.
func (m Model) Init() tea.Cmd { return m.wait() }

// wait returns the command that receives the next snapshot. It is issued
// again after each one (bubbletea's realtime pattern), so exactly one
// receive is pending at a time and snapshots reach Update in order.
func (m Model) wait() tea.Cmd {
	if m.progress == nil {
		return nil
	}
	ch, stop := m.progress, m.stop
	return func() tea.Msg {
		select {
		case p, ok := <-ch:
			if !ok {
				return closedMsg{}
			}
			return progressMsg{p}
		case <-stop:
			return nil
		}
	}
}

// Update handles snapshots, the channel closing, keys and resizes.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case progressMsg:
		m.observe(msg.p)
		return m, m.wait()
	case closedMsg:
		m.finished = true
		return m, tea.Quit
	case tea.KeyPressMsg:
		if key.Matches(msg, m.keys.Abort) {
			m.aborted = true
			return m, tea.Quit
		}
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.SetWidth(msg.Width)
	}
	return m, nil
}

// observe records a snapshot. The history and warnings are rebuilt into
// fresh slices rather than appended in place, because an older copy of
// the Model (a test's, or bubbletea's previous one) may share them.
func (m *Model) observe(p loadtest.Progress) {
	m.last = p
	m.seen = true
	h := m.history
	if len(h) >= historyLen {
		h = h[len(h)-historyLen+1:]
	}
	m.history = append(slices.Clip(h), p.DeliveriesPerSec)
	for _, w := range p.Warnings {
		// Warnings quote what the server said (error codes).
		w = termtext.Line(w)
		if !slices.Contains(m.warnings, w) {
			m.warnings = append(slices.Clip(m.warnings), w)
		}
	}
}

// View draws the current frame. Bubbletea leaves the last frame in the
// terminal when the program ends, so the frame drawn after the channel
// closes (or after an abort) is what stays above the bench's report.
func (m Model) View() tea.View {
	return tea.NewView(m.render())
}

func (m Model) render() string {
	w := m.width
	if w <= 0 {
		w = defaultWidth
	}
	var lines []string
	lines = append(lines, m.titleLines(w)...)
	lines = append(lines, m.statusLine(), "")
	lines = append(lines, m.phaseLines(w)...)
	lines = append(lines, "")
	lines = append(lines, m.figureLines(w)...)

	var foot []string
	if !m.finished && !m.aborted {
		foot = []string{"", m.help.View(m.keys)}
	}
	if len(m.warnings) > 0 {
		budget := -1 // no height known: show every warning
		if m.height > 0 {
			budget = m.height - len(lines) - len(foot) - 1
		}
		lines = append(lines, "")
		lines = append(lines, m.warningLines(w, budget)...)
	}
	lines = append(lines, foot...)

	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "…")
	}
	return strings.Join(lines, "\n")
}

// titleLines wraps the title rather than truncating it: its end is the
// target URL, the part most worth reading.
func (m Model) titleLines(w int) []string {
	if m.title == "" {
		return nil
	}
	out := strings.Split(ansi.Wrap(m.title, w, ""), "\n")
	for i, l := range out {
		out[i] = m.st.Title.Render(strings.TrimRight(l, " "))
	}
	return out
}

func (m Model) statusLine() string {
	s := m.st.Label.Render("elapsed ") + m.st.Value.Render(formatElapsed(m.last.Elapsed))
	sep := m.st.Muted.Render(" · ")
	switch {
	case m.aborted:
		s += sep + m.st.Warn.Render("aborted, stopping the run")
	case m.finished && m.last.Phase == loadtest.PhaseDone:
		s += sep + m.st.Good.Render("finished")
	case m.finished:
		// The engine closed the channel before its done phase: it failed
		// or was cancelled, and the caller will say which.
		s += sep + m.st.Warn.Render("stopped")
	case !m.seen:
		s += sep + m.st.Muted.Render("starting")
	}
	return s
}

// phases is the run's phases without "done", which is a state, not a
// stage with a duration to draw.
func (m Model) phases() []string {
	if len(m.last.Phases) == 0 {
		return defaultPhases
	}
	out := make([]string, 0, len(m.last.Phases))
	for _, p := range m.last.Phases {
		if p != loadtest.PhaseDone {
			out = append(out, p)
		}
	}
	return out
}

func (m Model) phaseLines(w int) []string {
	phases := m.phases()
	nameW := phaseNameWidth
	for _, p := range phases {
		nameW = max(nameW, ansi.StringWidth(p))
	}
	bar := m.bar
	bar.SetWidth(max(barMin, min(barMax, w-(2+nameW+2))))
	muted := bar
	muted.PercentageStyle = m.st.Muted

	all := m.last.Phase == loadtest.PhaseDone
	cur := slices.Index(phases, m.last.Phase)

	lines := make([]string, 0, len(phases))
	for i, name := range phases {
		pad := strings.Repeat(" ", nameW-ansi.StringWidth(name))
		var l string
		switch {
		case all || (cur >= 0 && i < cur):
			l = m.st.Good.Render("✓") + " " + m.st.Value.Render(name) + pad + "  " + bar.ViewAs(1)
		case i == cur:
			l = m.st.Active.Render("▸") + " " + m.st.Active.Render(name) + pad + "  " + bar.ViewAs(clamp01(m.last.PhaseDone))
		default:
			l = "  " + m.st.Muted.Render(name) + pad + "  " + muted.ViewAs(0)
		}
		lines = append(lines, l)
	}
	return lines
}

// cell left-aligns a styled string in a column of width w, measuring it
// without its escape sequences.
func cell(s string, w int) string {
	return s + strings.Repeat(" ", max(0, w-ansi.StringWidth(s)))
}

// count styles a count that should stay at zero (failures, errors): any
// other value is drawn as bad so it catches the eye during a long run.
func (m Model) count(n int64) string {
	if n > 0 {
		return m.st.Bad.Render(human.Int(n))
	}
	return m.st.Value.Render(human.Int(n))
}

func (m Model) figureLines(w int) []string {
	p := m.last
	// Below twoColumns the second column would be cut off, so each
	// figure gets its own line instead.
	const twoColumns = labelWidth + 1 + valueWidth + 1 + label2Width + 1 + valueWidth
	var lines []string
	row := func(l1, v1, l2, v2 string) {
		first := cell(m.st.Label.Render(l1), labelWidth) + " " + v1
		switch {
		case l2 == "":
			lines = append(lines, first)
		case w < twoColumns:
			if l2 == "p99" {
				l2 = "latency p99" // alone on its line it needs the noun back
			}
			lines = append(lines, first, cell(m.st.Label.Render(l2), labelWidth)+" "+v2)
		default:
			lines = append(lines, cell(first, labelWidth+1+valueWidth)+" "+cell(m.st.Label.Render(l2), label2Width)+" "+v2)
		}
	}

	conns := m.st.Value.Render(human.Int(p.Connected))
	if p.Conns > 0 {
		conns += m.st.Muted.Render("/" + human.Int(int64(p.Conns)))
	}

	trend := m.st.Muted.Render("-")
	if n := min(len(m.history), w-(labelWidth+1)); n > 0 {
		trend = m.st.Sparkline.Render(spark.Line(m.history[len(m.history)-n:]))
	}

	row("conns", conns, "failed", m.count(p.Failed))
	row("deliveries/s", m.st.Value.Render(formatRate(p.DeliveriesPerSec)),
		"delivered", m.st.Value.Render(human.Int(p.Delivered)))
	row("published", m.st.Value.Render(human.Int(p.Published)), "errors", m.count(p.Errors))
	row("latency p50", m.st.Value.Render(formatMs(p.P50)), "p99", m.st.Value.Render(formatMs(p.P99)))
	row("bench cpu", m.st.Value.Render(formatPercent(p.CPU)), "", "")
	row("trend", trend, "", "")
	return lines
}

// warningLines wraps each warning under its prefix. budget caps the lines
// used (negative: no cap); when they do not fit, the newest warnings are
// kept, since the older ones have been on screen already and the final
// report lists them all.
func (m Model) warningLines(w, budget int) []string {
	indent := strings.Repeat(" ", len(warnPrefix))
	textW := max(1, w-len(warnPrefix))
	blocks := make([][]string, len(m.warnings))
	for i, text := range m.warnings {
		wrapped := strings.Split(ansi.Wrap(text, textW, ""), "\n")
		for j, l := range wrapped {
			prefix := indent
			if j == 0 {
				prefix = warnPrefix
			}
			wrapped[j] = m.st.Warn.Render(prefix + strings.TrimRight(l, " "))
		}
		blocks[i] = wrapped
	}

	total := 0
	for _, b := range blocks {
		total += len(b)
	}
	if budget < 0 || total <= budget {
		return slices.Concat(blocks...)
	}

	// Keep one line for the note about the hidden ones.
	room := max(0, budget-1)
	first := len(blocks)
	for used := 0; first > 0 && used+len(blocks[first-1]) <= room; first-- {
		used += len(blocks[first-1])
	}
	note := "+" + human.Int(int64(first)) + " more warning"
	if first != 1 {
		note += "s"
	}
	out := []string{m.st.Muted.Render(note)}
	return append(out, slices.Concat(blocks[first:]...)...)
}
