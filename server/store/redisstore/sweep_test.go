package redisstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/rtsync/rtsync/server/store"
)

// Sweep trims by age the rooms and inboxes nobody touches, a bounded
// number of rooms per call, and leaves alone the rooms within their age
// and those without one.
func TestSweep(t *testing.T) {
	s, err := Open(startRedis(t), Options{Options: store.Options{
		Retention: func(room string) store.Retention {
			if room == "forever" {
				return store.Retention{Count: 10}
			}
			return store.Retention{Count: 10, Age: time.Minute}
		},
		InboxTTL: time.Hour,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	const idle = sweepRooms + 50
	for i := range idle {
		if _, _, _, err := s.Append(fmt.Sprintf("idle%03d", i), now.UnixMilli(), []byte(`{}`), []byte(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	for _, room := range []string{"forever", "fresh"} {
		if _, _, _, err := s.Append(room, now.UnixMilli(), []byte(`{}`), []byte(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.InboxAppend("u1", now.UnixMilli(), []byte(`{}`), []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Rooms != idle+2 || st.Inboxes != 1 {
		t.Fatalf("before the sweep: %+v", st)
	}
	// Two minutes later, "fresh" got a new message: its old one goes on
	// the sweep, the room stays.
	later := now.Add(2 * time.Minute)
	if _, _, _, err := s.Append("fresh", later.UnixMilli(), []byte(`{}`), []byte(`2`)); err != nil {
		t.Fatal(err)
	}
	s.Sweep(later)
	st := s.Stats()
	// The first sweepRooms by oldest message (ties by name) are forever
	// (no age), fresh (kept: it has a new message) and idle rooms.
	if want := idle + 2 - (sweepRooms - 2); st.Rooms != want {
		t.Errorf("after one sweep: %d rooms with history; want %d (one sweep looks at %d rooms)", st.Rooms, want, sweepRooms)
	}
	s.Sweep(later)
	s.Sweep(later)
	st = s.Stats()
	if st.Rooms != 2 || st.Messages != 2 {
		t.Errorf("after three sweeps: %d rooms, %d messages; want forever's and fresh's newest", st.Rooms, st.Messages)
	}
	if h, err := s.Head("fresh"); err != nil || h.Count != 1 || h.Oldest != 2 {
		t.Errorf("fresh: %+v, %v; want its second message alone", h, err)
	}
	if st.Inboxes != 1 {
		t.Errorf("an inbox within its TTL was swept: %+v", st)
	}
	s.Sweep(now.Add(2 * time.Hour))
	if st := s.Stats(); st.Inboxes != 0 || st.InboxMessages != 0 || st.InboxExpired != 1 {
		t.Errorf("after the inbox TTL: %+v; want the inbox gone", st)
	}
	checkCounters(t, s)
}
