package termtext

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Replacement is what a character that must not reach the terminal is
// shown as.
const Replacement = "\uFFFD"

// EscapedNewline is the line-break separator for one-line records that a
// person reads (chat line mode): a visible backslash and n.
const EscapedNewline = `\n`

// maxFlagTags bounds the tag characters kept after a black flag: the
// subdivision flags (🏴󠁧󠁢󠁥󠁮󠁧󠁿 England) use five and a cancel tag, so a longer
// run is hidden text, not a flag.
const maxFlagTags = 7

// blackFlag starts an emoji tag sequence (a subdivision flag).
const blackFlag = '\U0001F3F4'

// Line cleans s for one line: line breaks become spaces. For names, room
// names, reasons and table cells.
func Line(s string) string { return Clean(s, " ") }

// Text cleans s but keeps its line structure: every kind of line break
// becomes "\n", for a caller that draws each line itself.
func Text(s string) string { return Clean(s, "\n") }

// Clean returns s with every line break replaced by sep and every
// character that could drive the terminal, reorder the line or hide
// itself replaced as the package doc says. sep is written as is: pass
// text that is itself clean (or "\n").
func Clean(s, sep string) string {
	i, st := scan(s)
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/8 + len(sep))
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch k := st.next(r, size); k {
		case keep:
			b.WriteString(s[i : i+size])
		case lineBreak:
			if r == '\r' && i+1 < len(s) && s[i+1] == '\n' {
				size = 2
			}
			b.WriteString(sep)
		case blank:
			b.WriteByte(' ')
		default:
			b.WriteString(Replacement)
		}
		i += size
	}
	return b.String()
}

// IsClean reports whether Line would return s unchanged: it holds no
// line break, tab, control, invisible format character or invalid UTF-8.
func IsClean(s string) bool {
	i, _ := scan(s)
	return i == len(s)
}

// scan returns the index of the first byte of s that cleaning changes
// (len(s) if none) and the state after the bytes before it.
func scan(s string) (int, state) {
	st := state{flagTags: -1}
	for i := 0; i < len(s); {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			st.flagTags = -1
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if st.next(r, size) != keep {
			return i, st
		}
		i += size
	}
	return len(s), st
}

// kind is what cleaning does with one character.
type kind uint8

const (
	keep kind = iota
	lineBreak
	blank
	replace
)

// state is what a character's fate depends on besides itself: whether
// it continues a flag's tag sequence. It follows the characters kept, so
// that cleaning twice keeps what cleaning once kept.
type state struct {
	// flagTags counts the tags kept since a black flag; -1 outside one.
	flagTags int
}

func (st *state) next(r rune, size int) kind {
	k := classify(r, size)
	tags := st.flagTags
	st.flagTags = -1
	if k != keep {
		return k
	}
	switch {
	case r == blackFlag:
		st.flagTags = 0
	case r == cancelTag:
		// Ends a flag's tags; alone it is hidden text.
		if tags <= 0 {
			return replace
		}
	case isTag(r):
		if tags < 0 || tags >= maxFlagTags {
			return replace
		}
		st.flagTags = tags + 1
	}
	return keep
}

// The emoji tag characters: U+E0020–U+E007E spell a subdivision code
// after a black flag, U+E007F ends it.
const (
	firstTag  = '\U000E0020'
	cancelTag = '\U000E007F'
)

func isTag(r rune) bool { return r >= firstTag && r <= cancelTag }

// classify says what to do with r, apart from the flag sequences that
// next handles: every tag character is kept here.
func classify(r rune, size int) kind {
	switch {
	case r >= 0x20 && r < 0x7f:
		return keep
	case r == '\n', r == '\r', r == 0x85, r == '\u2028', r == '\u2029':
		return lineBreak
	case r == '\t':
		return blank
	case r == utf8.RuneError && size == 1:
		return replace
	case r < 0xa0:
		// C0, DEL and C1.
		return replace
	case r < 0x600:
		// Latin, Greek, Cyrillic, Hebrew…: the soft hyphen is the only
		// format character here (fast path, checked by a test against
		// the Unicode tables).
		if r == '\u00ad' {
			return replace
		}
		return keep
	case r >= 0x2070 && r < 0xfeff && r != '\u3164':
		// Symbols, CJK, Hangul syllables: no format character (fast path).
		return keep
	case r >= 0x1f000 && r < 0xe0000:
		// Emoji and the supplementary ideographs (fast path).
		return keep
	case r == '\u200c', r == '\u200d':
		// Zero-width non-joiner and joiner: they shape Persian and Indic
		// text and glue emoji sequences (👩‍💻); they draw nothing alone
		// and reorder nothing.
		return keep
	case isTag(r):
		return keep
	case r >= '\U000E0000' && r <= '\U000E0FFF' && !(r >= '\U000E0100' && r <= '\U000E01EF'):
		// Plane 14 outside the variation selectors: the language tag and
		// unassigned default-ignorable code points, drawn as nothing.
		return replace
	case r == '\u115f', r == '\u1160', r == '\u3164', r == '\uffa0':
		// Hangul fillers: letters that draw as blank space, used for
		// names that look empty or like someone else's.
		return replace
	case unicode.Is(unicode.Cf, r):
		// Format characters: bidi controls, zero-width space, word
		// joiner, BOM, soft hyphen, invisible operators…
		return replace
	}
	return keep
}

// JSON returns the JSON text b with every character that cleaning would
// replace written as a \u escape (a pair for one beyond the BMP), and
// with every tag character escaped too, flags included: the value it
// encodes is exactly the same, but the line can go to a terminal. b must
// be valid JSON from an encoder (valid UTF-8; outside strings JSON holds
// only ASCII, so every character escaped is inside a string). JSON
// returns b itself when it holds nothing to escape.
func JSON(b []byte) []byte {
	i := jsonScan(b)
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for i < len(b) {
		r, size := utf8.DecodeRune(b[i:])
		if jsonEscapes(r, size) {
			out = appendEscape(out, r)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

func jsonScan(b []byte) int {
	for i := 0; i < len(b); {
		if c := b[i]; c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if jsonEscapes(r, size) {
			return i
		}
		i += size
	}
	return len(b)
}

// jsonEscapes reports whether JSON writes r as an escape. Controls below
// 0x20 are left to the encoder, which always escapes them, so only what
// it lets through raw is escaped here (DEL, C1, U+2028/2029 when the
// encoder did not, format characters, invalid bytes as U+FFFD).
func jsonEscapes(r rune, size int) bool {
	if r < 0x7f {
		return false
	}
	return isTag(r) || classify(r, size) != keep
}

const hexDigits = "0123456789abcdef"

func appendEscape(out []byte, r rune) []byte {
	if r == utf8.RuneError {
		// A byte that is not UTF-8 in what should be an encoder's output:
		// the encoder would have written U+FFFD.
		r = 0xfffd
	}
	if r > 0xffff {
		r1, r2 := utf16.EncodeRune(r)
		return appendEscape(appendEscape(out, r1), r2)
	}
	return append(out, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
