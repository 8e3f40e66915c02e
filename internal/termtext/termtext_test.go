package termtext

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	t.Parallel()
	const R = Replacement
	tests := []struct {
		name, in string
		// line is Line(in), text is Text(in) when it differs (else line
		// with "\n" for every break).
		line, text string
	}{
		{name: "plain", in: "hello, world", line: "hello, world"},
		{name: "empty", in: "", line: ""},
		{name: "OSC 52 clipboard write", in: "\x1b]52;c;cm0gLXJmIH4K\x07ok", line: R + "]52;c;cm0gLXJmIH4K" + R + "ok"},
		{name: "OSC 0 title, ST ended", in: "\x1b]0;pwned\x1b\\hi", line: R + "]0;pwned" + R + "\\hi"},
		{name: "OSC 2 title", in: "\x1b]2;x\x07", line: R + "]2;x" + R},
		{name: "CSI cursor up and erase line", in: "a\x1b[1A\x1b[2Kforged", line: "a" + R + "[1A" + R + "[2Kforged"},
		{name: "8-bit CSI as a code point", in: "a\u009b2Jb", line: "a" + R + "2Jb"},
		{name: "8-bit CSI as a raw byte", in: "a\x9b2Jb", line: "a" + R + "2Jb"},
		{name: "other C1: NEL is a break, OSC is not", in: "a\u0085b\u009dc", line: "a b" + R + "c", text: "a\nb" + R + "c"},
		{name: "DCS, APC, PM", in: "\x1bPq\x1b_x\x1b^y", line: R + "Pq" + R + "_x" + R + "^y"},
		{name: "bell, backspace, DEL", in: "a\x07b\x08c\x7fd", line: "a" + R + "b" + R + "c" + R + "d"},
		{name: "CR overwrite", in: "safe\rEVIL", line: "safe EVIL", text: "safe\nEVIL"},
		{name: "CRLF is one break", in: "a\r\nb", line: "a b", text: "a\nb"},
		{name: "LF", in: "a\nb\n", line: "a b ", text: "a\nb\n"},
		{name: "line and paragraph separators", in: "a\u2028b\u2029c", line: "a b c", text: "a\nb\nc"},
		{name: "vertical tab and form feed", in: "a\vb\fc", line: "a" + R + "b" + R + "c"},
		{name: "tab", in: "a\tb", line: "a b"},
		{name: "bidi override", in: "invoice\u202Efdp.exe", line: "invoice" + R + "fdp.exe"},
		{name: "every bidi control", in: "\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\u200E\u200F\u061C", line: strings.Repeat(R, 12)},
		{name: "zero-width space and friends", in: "ad\u200Bmin\u2060\uFEFF\u00AD", line: "ad" + R + "min" + R + R + R},
		{name: "hangul filler name", in: "\u3164\uFFA0", line: R + R},
		{name: "lone tags are hidden text", in: "hi\U000E0069\U000E0067\U000E007F", line: "hi" + R + R + R},
		{name: "a tag first", in: "\U000E0041x", line: R + "x"},
		{name: "language tag", in: "\U000E0001en", line: R + "en"},
		{name: "invalid UTF-8", in: "a\xff\xfeb\xe2\x82", line: "a" + R + R + "b" + R + R},
		{name: "an encoded surrogate", in: "\xed\xa0\x80", line: R + R + R},
		{name: "real U+FFFD kept", in: "a\uFFFDb", line: "a\uFFFDb"},
		// What must survive.
		{name: "ZWJ emoji", in: "👩‍💻 👨‍👩‍👧 🏳️‍🌈", line: "👩‍💻 👨‍👩‍👧 🏳️‍🌈"},
		{name: "subdivision flag", in: "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F!", line: "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F!"},
		{name: "too many tags after a flag", in: "🏴" + strings.Repeat("\U000E0061", 9), line: "🏴" + strings.Repeat("\U000E0061", maxFlagTags) + R + R},
		{name: "cancel tag right after the flag", in: "🏴\U000E007F", line: "🏴" + R},
		{name: "combining marks", in: "e\u0301 n\u0303 \u0915\u094D\u0937", line: "e\u0301 n\u0303 \u0915\u094D\u0937"},
		{name: "variation selectors", in: "\u2764\uFE0F \u845B\U000E0100", line: "\u2764\uFE0F \u845B\U000E0100"},
		{name: "ZWNJ in Persian", in: "می\u200Cخواهم", line: "می\u200Cخواهم"},
		{name: "right-to-left text itself", in: "שלום مرحبا", line: "שלום مرحبا"},
		{name: "CJK and no-break space", in: "你好\u00A0世界\u3000!", line: "你好\u00A0世界\u3000!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Line(tt.in); got != tt.line {
				t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.line)
			}
			text := tt.text
			if text == "" {
				text = tt.line
			}
			if got := Text(tt.in); got != text {
				t.Errorf("Text(%q) = %q, want %q", tt.in, got, text)
			}
			if got, want := IsClean(tt.in), tt.line == tt.in; got != want {
				t.Errorf("IsClean(%q) = %v, want %v", tt.in, got, want)
			}
			checkClean(t, tt.in, Line(tt.in), " ")
		})
	}
}

func TestCleanSeparator(t *testing.T) {
	t.Parallel()
	got := Clean("one\ntwo\r\nthree\rfour", EscapedNewline)
	if want := `one\ntwo\nthree\nfour`; got != want {
		t.Errorf("Clean = %q, want %q", got, want)
	}
}

// TestCleanTextUnchangedNoAlloc: the common case, text that needs no
// cleaning, costs a scan and nothing else (the TCP text mode cleans
// every line it sends).
func TestCleanTextUnchangedNoAlloc(t *testing.T) {
	s := strings.Repeat("héllo wörld 👩‍💻 ", 8)
	if n := testing.AllocsPerRun(100, func() { _ = Line(s) }); n != 0 {
		t.Errorf("Line of clean text allocates %.0f times", n)
	}
}

// checkClean asserts the properties every cleaned string has: valid
// UTF-8, no control, bidi or other invisible format character, and
// cleaning it again changes nothing.
func checkClean(t *testing.T, in, out, sep string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("clean(%q) = %q is not valid UTF-8", in, out)
	}
	rest := out
	if sep == "\n" {
		rest = strings.ReplaceAll(out, "\n", "")
	}
	for i, r := range rest {
		switch {
		case unicode.IsControl(r), r == '\u2028', r == '\u2029':
			t.Fatalf("clean(%q) = %q holds control %U at %d", in, out, r, i)
		case unicode.Is(unicode.Cf, r) && r != '\u200c' && r != '\u200d' && !isTag(r):
			t.Fatalf("clean(%q) = %q holds format character %U at %d", in, out, r, i)
		case isBidi(r):
			t.Fatalf("clean(%q) = %q holds bidi control %U at %d", in, out, r, i)
		}
	}
	prev := rune(-1)
	for _, r := range out {
		if isTag(r) && prev != blackFlag && !(isTag(prev) && prev != cancelTag) {
			t.Fatalf("clean(%q) = %q keeps tag %U outside a flag", in, out, r)
		}
		prev = r
	}
	if again := Clean(out, sep); again != out {
		t.Fatalf("cleaning is not idempotent: %q -> %q -> %q", in, out, again)
	}
	if !IsClean(Line(out)) {
		t.Fatalf("IsClean(Line(%q)) is false", out)
	}
}

func isBidi(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069') ||
		r == '\u200E' || r == '\u200F' || r == '\u061C'
}

func TestJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"plain", "\x1b]52;c;eA==\x07", "a\u009bb\x7f", "\u202Eabc\u2066", "👩\u200d💻",
		"🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", "\u2028\u2029", "a\uFFFDb", "\U000E0001",
	} {
		checkJSON(t, s)
	}
	b := []byte(`{"text":"clean"}`)
	if got := JSON(b); &got[0] != &b[0] {
		t.Errorf("JSON copied clean input")
	}
}

// checkJSON asserts that JSON keeps the value of an encoded s exactly
// while its output holds no character cleaning would replace.
func checkJSON(t *testing.T, s string) {
	t.Helper()
	enc, err := json.Marshal(map[string]string{"text": s})
	if err != nil {
		t.Fatal(err)
	}
	got := JSON(enc)
	var back map[string]string
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("JSON(%s) = %s: %v", enc, got, err)
	}
	// The encoder turns invalid UTF-8 into U+FFFD; compare with that.
	if want := strings.ToValidUTF8(s, "\uFFFD"); back["text"] != want && utf8.ValidString(s) {
		t.Fatalf("JSON(%s) = %s decodes to %q, want %q", enc, got, back["text"], want)
	}
	for _, r := range string(got) {
		if r >= 0x7f && (isTag(r) || classify(r, utf8.RuneLen(r)) != keep) {
			t.Fatalf("JSON(%s) = %s holds %U", enc, got, r)
		}
	}
}

// TestFastPathsMatchTables: the ranges classify keeps without looking up
// Unicode's tables hold no format character, in the tables Go ships.
func TestFastPathsMatchTables(t *testing.T) {
	t.Parallel()
	for _, rg := range [][2]rune{{0xa0, 0x600}, {0x2070, 0xfeff}, {0x1f000, 0xe0000}} {
		for r := rg[0]; r < rg[1]; r++ {
			if unicode.Is(unicode.Cf, r) && r != '\u00ad' {
				t.Errorf("%U is a format character inside a fast path", r)
			}
		}
	}
}
