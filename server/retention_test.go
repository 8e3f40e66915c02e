package server

import (
	"encoding/json"
	"testing"
	"time"
)

// TestRoomHistoryOverrides: rooms matching a RoomHistory pattern keep
// what it says (first match wins, TTL 0 meaning the server's), others the
// server's HistorySize.
func TestRoomHistoryOverrides(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{HistorySize: 10, RoomHistory: []RoomHistory{
		{Rooms: "tiny.*", Size: 2},
		{Rooms: "*.none", Size: 0},
		{Rooms: "tiny.x", Size: 7}, // never reached: tiny.* matches first
	}})
	for _, room := range []string{"tiny.x", "chat.none", "other"} {
		for i := range 12 {
			if _, _, err := s.Publish(room, json.RawMessage(itoa(i)), PublishOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for room, want := range map[string]int{"tiny.x": 2, "chat.none": 0, "other": 10} {
		p, err := s.History(room, HistoryQuery{Limit: 100})
		if err != nil || len(p.Messages) != want || p.Seq != 12 {
			t.Errorf("%s: %d messages (seq %d, %v), want %d of 12", room, len(p.Messages), p.Seq, err, want)
		}
	}
	cfg := s.Config()
	if r := cfg.retention("tiny.y"); r.Count != 2 || r.Age != cfg.HistoryTTL {
		t.Errorf("retention of tiny.y = %+v, want 2 messages for the server's TTL", r)
	}
	cfg.RoomHistory = []RoomHistory{{Rooms: "x", Size: 1, TTL: time.Minute}}
	if r := cfg.retention("x"); r.Age != time.Minute {
		t.Errorf("retention with a TTL = %+v", r)
	}
}
