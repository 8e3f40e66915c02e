package termtext

import (
	"testing"
	"unicode/utf8"
)

// FuzzClean checks, for any bytes, that cleaned text is valid UTF-8 with
// no control, bidi or invisible format character, that cleaning is
// idempotent, and that only the characters cleaning replaces change (a
// flag's tags aside, the output has as many characters as the input has
// runes and invalid bytes, a CRLF counting one). The seeds are in
// testdata/fuzz/FuzzClean.
func FuzzClean(f *testing.F) {
	for _, s := range []string{
		"hello", "\x1b]52;c;ZWNobyBwd25lZA==\x07", "\x1b[2J\x1b[H", "a\rb", "a\r\nb",
		"\u202Eabc", "\u009b31m", "\x9b", "👩‍💻", "🏴\U000E0067\U000E0062\U000E007F", "e\u0301",
		"\xff\xfe", "\u2028\u2029\u0085", "\U000E0001", "\t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, sep := range []string{" ", "\n", EscapedNewline} {
			out := Clean(s, sep)
			checkClean(t, s, out, sep)
			if IsClean(s) != (Line(s) == s) {
				t.Fatalf("IsClean(%q) = %v but Line gives %q", s, IsClean(s), Line(s))
			}
		}
		checkJSON(t, s)
		// Nothing is lost: every rune or bad byte of the input gives one
		// rune of Line's output (a CRLF gives one space).
		want := 0
		for i := 0; i < len(s); {
			_, size := utf8.DecodeRuneInString(s[i:])
			if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
				size = 2
			}
			i += size
			want++
		}
		if got := utf8.RuneCountInString(Line(s)); got != want {
			t.Fatalf("Line(%q) = %q has %d characters, want %d", s, Line(s), got, want)
		}
	})
}
