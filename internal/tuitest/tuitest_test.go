package tuitest

import (
	"testing"
	"time"
)

func TestColours(t *testing.T) {
	for in, want := range map[string]int{
		"plain":                      0,
		"\x1b[1mbold\x1b[0m":         0,
		"\x1b[31mred\x1b[0m":         1,
		"\x1b[1;38;5;99mx\x1b[m":     1,
		"\x1b[48:2::1:2:3mx":         1,
		"\x1b[4m\x1b[97mx\x1b[100my": 2,
	} {
		if got := len(Colours([]byte(in))); got != want {
			t.Errorf("Colours(%q) found %d, want %d", in, got, want)
		}
	}
}

func TestScreen(t *testing.T) {
	t.Parallel()
	s := NewScreen()
	if s.Text() != "" {
		t.Fatal("a new screen is not empty")
	}
	go func() {
		for _, f := range []string{"connecting", "joined lobby"} {
			s.Show(f)
		}
	}()
	s.WaitText(t, "lobby", 5*time.Second)
	if s.Text() != "joined lobby" {
		t.Fatalf("screen %q", s.Text())
	}
}
