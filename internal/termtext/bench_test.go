package termtext

import (
	"strings"
	"testing"
)

// BenchmarkLine: the cost of cleaning a typical chat line that needs no
// cleaning (the common case, paid per line a TCP text client receives)
// and one that does.
func BenchmarkLine(b *testing.B) {
	for _, bc := range []struct{ name, s string }{
		{"ascii-clean", strings.Repeat("hello world, ", 8)},
		{"utf8-clean", strings.Repeat("héllo wörld 👩\u200d💻 ", 6)},
		{"hostile", strings.Repeat("x\x1b]0;t\x07\u202E", 8)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.s)))
			b.ReportAllocs()
			for b.Loop() {
				_ = Line(bc.s)
			}
		})
	}
}
