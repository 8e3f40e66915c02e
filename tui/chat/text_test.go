package chat

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/tui/style"
)

func TestMessageText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data, want string
	}{
		{"text field", `{"text":"hi there"}`, "hi there"},
		{"text and more", `{"mood":"ok","text":"hi"}`, "hi"},
		{"text not a string", `{"text": 42}`, `{"text":42}`},
		{"no text field", `{"cpu": 0.42, "host": "web-1"}`, `{"cpu":0.42,"host":"web-1"}`},
		{"json string", `"psst"`, `"psst"`},
		{"number", `12`, `12`},
		{"null", `null`, `null`},
		{"empty", ``, `null`},
		{"array", `[1, 2]`, `[1,2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := messageText(json.RawMessage(tt.data)); got != tt.want {
				t.Errorf("messageText(%s) = %q, want %q", tt.data, got, tt.want)
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		keepNL   bool
		want     string
	}{
		{"plain", "hello", false, "hello"},
		{"escape sequence", "\x1b[2J\x1b]0;pwned\x07hi", false, "\uFFFD[2J\uFFFD]0;pwned\uFFFDhi"},
		{"newline kept", "a\nb", true, "a\nb"},
		{"newline flattened", "a\nb", false, "a b"},
		{"carriage return", "a\rb", true, "a\nb"},
		{"carriage return flattened", "a\rb", false, "a b"},
		{"line separator", "a\u2028b", true, "a\nb"},
		{"tab", "a\tb", false, "a    b"},
		{"bidi override", "abc\u202Edef", false, "abc\uFFFDdef"},
		{"emoji with joiners", "👩\u200d💻", false, "👩\u200d💻"},
		{"invalid utf-8", "a\xffb", false, "a\uFFFDb"},
		{"c1 control", "a\u009bb", false, "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := sanitize(tt.in, tt.keepNL); got != tt.want {
				t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMentions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text, name string
		want       bool
	}{
		{"ann: look", "ann", true},
		{"hey @Ann!", "ann", true},
		{"ANN", "ann", true},
		{"annette is here", "ann", false},
		{"joanne", "ann", false},
		{"ann-marie", "ann", false},
		{"ping Ann Lee", "Ann Lee", true},
		{"anything", "", false},
		{"x ann", "ann", true},
	}
	for _, tt := range tests {
		if got := mentions(tt.text, tt.name); got != tt.want {
			t.Errorf("mentions(%q, %q) = %v, want %v", tt.text, tt.name, got, tt.want)
		}
	}
}

func TestDisplayName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from protocol.From
		want string
	}{
		{protocol.From{Client: "k3v7q2mxatbd4hte", UID: "ann", Name: "Ann"}, "Ann"},
		{protocol.From{Client: "k3v7q2mxatbd4hte", UID: "ann"}, "ann"},
		{protocol.From{Client: "k3v7q2mxatbd4hte"}, "k3v7q2"},
		{protocol.From{Client: "$server"}, "server"},
		{protocol.From{Client: "$server", Name: "deploy bot"}, "deploy bot"},
		{protocol.From{Client: "x", Name: "evil\x1b[31m"}, "evil\uFFFD[31m"},
	}
	for _, tt := range tests {
		if got := displayName(tt.from); got != tt.want {
			t.Errorf("displayName(%+v) = %q, want %q", tt.from, got, tt.want)
		}
	}
}

func TestUIDFromName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"ann": "ann", "Ann Lee": "Ann_Lee", "  bob ": "bob", "": "", "tab\there": "tab_here"} {
		if got := uidFromName(in); got != want {
			t.Errorf("uidFromName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBufferOrder: a history page that overlaps live messages, and lines
// the chat makes, end up in seq order with no duplicate, whichever order
// they arrive in.
func TestBufferOrder(t *testing.T) {
	t.Parallel()
	r := newRoom(kindRoom, "lobby")
	msg := func(seq uint64) line {
		return line{seq: seq, kind: lineMessage, text: string(rune('a' + seq - 1))}
	}
	// Live messages 4 and 5 arrive before the join's reply (seq 3).
	r.insert(msg(4))
	r.insert(msg(5))
	r.lastSeq = 5
	r.sub++
	r.insert(line{seq: 3, sub: r.sub, kind: lineInfo, text: "joined"})
	// The history page up to the join's seq, overlapping nothing; then a
	// page overlapping everything.
	for _, s := range []uint64{1, 2, 3} {
		r.insert(msg(s))
	}
	for _, s := range []uint64{2, 3, 4, 5} {
		if r.insert(msg(s)) {
			t.Errorf("seq %d inserted twice", s)
		}
	}
	r.system(lineInfo, time.Time{}, "later")
	if got, want := roomLines(r), []string{"a", "b", "c", "joined", "d", "e", "later"}; !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	// A new epoch sorts after everything of the old one.
	r.newEpoch("e2")
	r.insert(line{gen: r.gen, seq: 1, kind: lineMessage, text: "new"})
	if got := lastLine(r); got != "new" {
		t.Errorf("last line %q", got)
	}
}

func TestLineEdit(t *testing.T) {
	t.Parallel()
	key := func(ks string) tea.KeyPressMsg {
		switch ks {
		case "left":
			return tea.KeyPressMsg{Code: tea.KeyLeft}
		case "home":
			return tea.KeyPressMsg{Code: tea.KeyHome}
		case "backspace":
			return tea.KeyPressMsg{Code: tea.KeyBackspace}
		case "alt+b":
			return tea.KeyPressMsg{Code: 'b', Mod: tea.ModAlt}
		}
		// ctrl+x
		return tea.KeyPressMsg{Code: rune(ks[len(ks)-1]), Mod: tea.ModCtrl}
	}
	tests := []struct {
		name  string
		start string
		keys  []string
		want  string
		pos   int
	}{
		{"backspace", "hello", []string{"backspace"}, "hell", 4},
		{"ctrl+w", "hello big world", []string{"ctrl+w"}, "hello big ", 10},
		{"ctrl+u", "hello world", []string{"left", "left", "ctrl+u"}, "ld", 0},
		{"ctrl+k", "hello world", []string{"alt+b", "ctrl+k"}, "hello ", 6},
		{"home then ctrl+d", "xhello", []string{"home", "ctrl+d"}, "hello", 0},
		{"ctrl+a ctrl+e", "abc", []string{"ctrl+a", "ctrl+e"}, "abc", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := lineEdit{width: 20}
			e.SetValue(tt.start)
			for _, k := range tt.keys {
				if !e.HandleKey(key(k)) {
					t.Fatalf("%s not handled", k)
				}
			}
			if e.Value() != tt.want || e.pos != tt.pos {
				t.Errorf("value %q pos %d, want %q %d", e.Value(), e.pos, tt.want, tt.pos)
			}
		})
	}

	// A long line scrolls so the cursor stays in view; pasted newlines
	// become spaces.
	e := lineEdit{width: 10}
	e.Insert("one\ntwo three four")
	text, x := e.View(newStyles(testOptions("", "").withDefaults().Styles).Muted)
	if e.Value() != "one two three four" || text != "hree four" || x != 9 {
		t.Errorf("value %q view %q cursor %d", e.Value(), text, x)
	}
	e.HandleKey(key("home"))
	if text, x := e.View(newStyles(testOptions("", "").withDefaults().Styles).Muted); text != "one two th" || x != 0 {
		t.Errorf("after home: view %q cursor %d", text, x)
	}
}

// TestDayChangeRow: a line whose day differs from the line above it gets
// a day row first; the first line, and lines on the same day, do not. A
// history page inserted above redraws the line it now sits over.
func TestDayChangeRow(t *testing.T) {
	t.Parallel()
	opts := Options{
		Styles:     style.Plain(),
		TimeFormat: func(time.Time) string { return "12:34" },
		DayFormat:  func(t time.Time) string { return t.Format("Mon 2 Jan") },
	}.withDefaults()
	m := &model{opts: opts, st: newStyles(opts.Styles)}
	r := newRoom(kindRoom, "r")
	late := time.Date(2026, 11, 29, 23, 59, 0, 0, time.UTC)
	msg := func(seq uint64, ts time.Time, text string) line {
		return line{seq: seq, kind: lineMessage, ts: ts, from: protocol.From{Name: "ann"}, text: text}
	}
	r.insert(msg(2, late, "late"))
	r.insert(msg(3, late.Add(30*time.Second), "later"))
	r.insert(msg(4, late.Add(2*time.Minute), "early"))
	rows := func() []string {
		var out []string
		for _, row := range m.messageRows(r, 60, 10) {
			if s := strings.Join(strings.Fields(row), " "); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	want := []string{"12:34 ann │ late", "12:34 ann │ later", "── Mon 30 Nov ──", "12:34 ann │ early"}
	if got := rows(); !slices.Equal(got, want) {
		t.Fatalf("rows\n got %q\nwant %q", got, want)
	}
	// An older message from the day before arrives above them.
	r.insert(msg(1, late.Add(-24*time.Hour), "yesterday"))
	want = []string{"12:34 ann │ yesterday", "── Sun 29 Nov ──", "12:34 ann │ late", "12:34 ann │ later", "── Mon 30 Nov ──", "12:34 ann │ early"}
	if got := rows(); !slices.Equal(got, want) {
		t.Fatalf("rows after the older message\n got %q\nwant %q", got, want)
	}
}
