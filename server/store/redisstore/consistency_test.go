package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/rtsync/rtsync/server/store"
)

// The append script keeps the counters it writes once per call (room
// count and bytes, the oldest message's time, the store's totals and
// indexes) equal to what the history holds, through count and age
// retention, eviction by size and rooms forgotten.
func TestCountersMatchHistory(t *testing.T) {
	url := startRedis(t)
	now := time.Now().UnixMilli()
	s, err := Open(url, Options{Options: store.Options{
		Retention: func(room string) store.Retention {
			switch room {
			case "r0":
				return store.Retention{Count: 0}
			case "r1":
				return store.Retention{Count: 5, Age: time.Minute}
			}
			return store.Retention{Count: 20}
		},
		MaxBytes: 40 * (store.MessageOverhead + 20),
		MaxRooms: 6,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		room := fmt.Sprintf("r%d", rng.IntN(8))
		// Some messages already past r1's age of a minute.
		ts := now - int64(rng.IntN(120_000))
		if _, _, _, err := s.Append(room, ts, []byte(`{}`), []byte(strconv.Quote(fmt.Sprint(i)))); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			checkCounters(t, s)
		}
	}
	// The run went through every bound.
	if st := s.Stats(); st.Trimmed == 0 || st.Evicted == 0 {
		t.Errorf("Stats %+v: nothing trimmed or evicted; the test misses its point", st)
	}
	if n, _ := s.rdb.ZCard(context.Background(), s.opts.Prefix+"known").Result(); n > 6 {
		t.Errorf("%d rooms known past MaxRooms 6", n)
	}
}

func checkCounters(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	P := s.opts.Prefix
	known, err := s.rdb.ZRange(ctx, P+"known", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var msgs, bytes int64
	withHistory := 0
	for _, room := range known {
		meta, _ := s.rdb.HGetAll(ctx, P+"m:{"+room+"}").Result()
		hist, _ := s.rdb.ZRange(ctx, P+"h:{"+room+"}", 0, -1).Result()
		var b int64
		for _, e := range hist {
			_, _, from, data, err := parseEntry(e)
			if err != nil {
				t.Fatal(err)
			}
			b += int64(store.Message{From: from, Data: data}.Size())
		}
		if meta["count"] != fmt.Sprint(len(hist)) || meta["bytes"] != fmt.Sprint(b) {
			t.Fatalf("room %s: meta count %s bytes %s; history holds %d messages, %d bytes", room, meta["count"], meta["bytes"], len(hist), b)
		}
		oldest, oerr := s.rdb.ZScore(ctx, P+"oldest", room).Result()
		_, rerr := s.rdb.ZScore(ctx, P+"rooms", room).Result()
		if (rerr == nil) != (len(hist) > 0) {
			t.Fatalf("room %s with %d messages: in the rooms index: %v", room, len(hist), rerr == nil)
		}
		if len(hist) == 0 {
			if oerr == nil || meta["ots"] != "" {
				t.Fatalf("room %s without history: oldest %v, ots %q", room, oldest, meta["ots"])
			}
			continue
		}
		withHistory++
		_, ts, _, _, _ := parseEntry(hist[0])
		if oerr != nil || int64(oldest) != ts || meta["ots"] != fmt.Sprint(ts) {
			t.Fatalf("room %s: oldest message at %d; index says %v (%v), ots %q", room, ts, oldest, oerr, meta["ots"])
		}
		msgs += int64(len(hist))
		bytes += b
	}
	st := s.Stats()
	if st.Messages != msgs || st.Bytes != bytes || st.Rooms != withHistory {
		t.Fatalf("Stats say %d messages, %d bytes, %d rooms; the histories hold %d, %d, %d", st.Messages, st.Bytes, st.Rooms, msgs, bytes, withHistory)
	}
}
