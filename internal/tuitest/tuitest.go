package tuitest

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// sgr matches a Select Graphic Rendition sequence and its parameters.
var sgr = regexp.MustCompile(`\x1b\[([0-9;:]*)m`)

// Colours lists the colour sequences in out: foreground and background,
// basic and bright, 256-colour and true colour. Attributes such as bold
// are not colours.
func Colours(out []byte) []string {
	var found []string
	for _, m := range sgr.FindAllSubmatch(out, -1) {
		for _, param := range strings.FieldsFunc(string(m[1]), func(r rune) bool { return r == ';' || r == ':' }) {
			n, err := strconv.Atoi(param)
			if err != nil {
				continue
			}
			if (n >= 30 && n <= 38) || (n >= 40 && n <= 48) || (n >= 90 && n <= 97) || (n >= 100 && n <= 107) {
				found = append(found, string(m[0]))
				break
			}
		}
	}
	return found
}

// AssertNoColour fails the test if out holds a colour sequence: the
// program was run under the ASCII profile, which must strip them.
func AssertNoColour(t testing.TB, out []byte) {
	t.Helper()
	if c := Colours(out); len(c) > 0 {
		t.Fatalf("output has colour sequence %q under the ASCII profile", c[0])
	}
}
