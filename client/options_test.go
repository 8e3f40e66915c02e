package client

import (
	"fmt"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second, Jitter: -1}
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{100, time.Second},
	}
	for _, tc := range tests {
		if got := b.Delay(tc.attempt); got != tc.want {
			t.Errorf("Delay(%d) = %v; want %v", tc.attempt, got, tc.want)
		}
	}
	j := Backoff{Min: 100 * time.Millisecond, Max: time.Second, Jitter: 0.5}
	for range 100 {
		if d := j.Delay(3); d < 200*time.Millisecond || d > 400*time.Millisecond {
			t.Fatalf("Delay(3) with jitter 0.5 = %v; want within [200ms, 400ms]", d)
		}
	}
	if d := (Backoff{}).Delay(1); d <= 0 || d > 250*time.Millisecond {
		t.Errorf("default Delay(1) = %v; want within (0, 250ms]", d)
	}
}

func TestNormalizeURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		err      bool
	}{
		{"ws://127.0.0.1:7000/ws", "ws://127.0.0.1:7000/ws", false},
		{"127.0.0.1:7000", "ws://127.0.0.1:7000/ws", false},
		{"http://example.com", "ws://example.com/ws", false},
		{"https://example.com/", "wss://example.com/ws", false},
		{"wss://example.com/custom?token=x", "wss://example.com/custom?token=x", false},
		{" localhost:7000/ws ", "ws://localhost:7000/ws", false},
		{"", "", true},
		{"ftp://x", "", true},
		{"ws://", "", true},
	}
	for _, tc := range tests {
		got, err := normalizeURL(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q, error %t", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestRoomStateOwn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		last     uint64
		own      []uint64 // seen in this order
		wantLast uint64
		wantOwn  string
	}{
		{"right after last folds in", 5, []uint64{6, 7}, 7, "[]"},
		{"after a gap waits", 5, []uint64{8, 7}, 5, "[7 8]"},
		{"gap filled by own folds all", 5, []uint64{8, 7, 6}, 8, "[]"},
		{"old and repeated are ignored", 5, []uint64{3, 5, 9, 9}, 5, "[9]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &roomState{last: tc.last}
			for _, s := range tc.own {
				st.seen(s)
			}
			if st.last != tc.wantLast || fmt.Sprint(st.own) != tc.wantOwn {
				t.Errorf("last %d own %v; want %d %s", st.last, st.own, tc.wantLast, tc.wantOwn)
			}
		})
	}
	st := &roomState{}
	for i := range maxOwn + 10 {
		st.seen(uint64(i + 2)) // never folds: seq 1 is missing
	}
	if len(st.own) != maxOwn || st.own[0] != 12 {
		t.Errorf("own holds %d from %d; want the newest %d", len(st.own), st.own[0], maxOwn)
	}
}
