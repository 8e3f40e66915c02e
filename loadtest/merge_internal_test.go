package loadtest

import (
	"slices"
	"testing"
	"time"
)

// TestUnconfirmed: of the messages a dropped sender wrote after the last
// one the server answered, those no receiver got are unconfirmed; those
// outside the window, before the last answer, or received are not.
func TestUnconfirmed(t *testing.T) {
	cfg := Defaults()
	cfg.URLs = []string{"ws://127.0.0.1:1/ws"}
	cfg.Rooms, cfg.Publishers, cfg.Rate = 1, 2, 200 // 2 streams at 100/s
	cfg.Warmup, cfg.Duration = Duration(time.Second), Duration(time.Second)
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	c := &coord{cfg: &cfg, l: newLayout(&cfg, "r")}
	lo, hi := c.l.window(0)
	if hi-lo != 100 {
		t.Fatalf("window [%d,%d)", lo, hi)
	}
	fan := [][]uint32{make([]uint32, hi-lo), nil}
	fan[0][10] = 3 // message lo+10 reached three receivers
	for _, tt := range []struct {
		name    string
		dropped []streamTally
		want    []int64
	}{
		{"none dropped", nil, []int64{0, 0}},
		// lo+5..lo+20 written after the answer to lo+4; lo+10 was received.
		{"after the last reply", []streamTally{{Stream: 0, Dropped: true, Replied: int64(lo + 4), Written: int64(lo + 20)}}, []int64{15, 0}},
		// Written before the window: nothing in it.
		{"before the window", []streamTally{{Stream: 0, Dropped: true, Replied: 1, Written: int64(lo - 1)}}, []int64{0, 0}},
		// Answered before the window, written past its end: the whole
		// window but the received one. Stream 1 has no fan-out data.
		{"across the window", []streamTally{{Stream: 0, Dropped: true, Replied: -1, Written: int64(hi + 50)}, {Stream: 1, Dropped: true, Replied: int64(lo + 97), Written: int64(hi + 3)}}, []int64{99, 2}},
		{"all answered", []streamTally{{Stream: 0, Dropped: true, Replied: int64(lo + 50), Written: int64(lo + 50)}}, []int64{0, 0}},
	} {
		if got := c.unconfirmed(tt.dropped, fan); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestReplyID(t *testing.T) {
	for line, want := range map[string]int{
		`{"type":"reply","id":1234,"ok":true,"room":"r","seq":9}`: 1234,
		`{"type":"reply","id":0,"ok":true}`:                       0,
		`{"type":"reply","ok":true}`:                              -1,
		`{"type":"reply","id":"x","ok":true}`:                     -1,
		`{"type":"reply","id":12345678901,"ok":true}`:             12345678901,
	} {
		if got := replyID([]byte(line)); got != want {
			t.Errorf("replyID(%s) = %d, want %d", line, got, want)
		}
	}
}

func TestTimeline(t *testing.T) {
	tl := newTimeline(2500 * time.Millisecond) // three seconds, the last one partial
	if len(tl.secs) != 3 {
		t.Fatalf("%d seconds", len(tl.secs))
	}
	for i := range 100 {
		tl.add(time.Duration(i)*10*time.Millisecond, 5, true, uint32(1000*(i+1))) // 1..100 ms in second 0
	}
	tl.add(1500*time.Millisecond, 3, false, 0)   // incomplete, second 1
	tl.add(-time.Millisecond, 5, true, 7000)     // before the window: second 0
	tl.add(9*time.Second, 5, true, 2000)         // past it: the last second
	tl.add(1200*time.Millisecond, 0, false, 900) // nobody got it: not counted
	got := tl.seconds()
	want := []Second{
		{At: 0, Messages: 101, Deliveries: 505, FanOutP50: 50, FanOutP99: 99, FanOutMax: 100},
		{At: 1, Messages: 1, Deliveries: 3, Incomplete: 1},
		{At: 2, Messages: 1, Deliveries: 5, FanOutP50: 2, FanOutP99: 2, FanOutMax: 2},
	}
	if !slices.Equal(got, want) {
		t.Errorf("seconds\n got %+v\nwant %+v", got, want)
	}
	if newTimeline(time.Second).seconds() != nil {
		t.Error("an empty timeline is not nil")
	}
}
