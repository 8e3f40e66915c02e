package redisstore

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtsync/rtsync/server/store"
)

var (
	benchFrom = []byte(`{"client":"c1","uid":"u1","name":"Ada"}`)
	benchData = []byte(`"` + strings.Repeat("x", 98) + `"`)
)

// BenchmarkAppend50 is the disk store's benchmark of the same name against
// a local redis-server (no persistence): 50 publishers, each appending
// ~100-byte messages to its own room in a closed loop. It reports
// appends/s and the p50/p99 of one Append (the round trip included):
//
//	go test -run '^$' -bench Append50 -benchtime 50000x ./server/store/redisstore/
func BenchmarkAppend50(b *testing.B) { benchAppend50(b, Options{}) }

// BenchmarkAppend50Trim is BenchmarkAppend50 with rooms that keep 100
// messages: past the first 5,000 appends each one trims one message, the
// steady state of a busy room.
//
//	go test -run '^$' -bench Append50Trim -benchtime 50000x ./server/store/redisstore/
func BenchmarkAppend50Trim(b *testing.B) {
	benchAppend50(b, Options{Options: store.Options{Retention: func(string) store.Retention {
		return store.Retention{Count: 100, Age: time.Hour}
	}}})
}

func benchAppend50(b *testing.B, opts Options) {
	s, err := Open(startRedis(b), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var next atomic.Int64
	const writers = 50
	waits := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			room := fmt.Sprintf("room%d", w)
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				t0 := time.Now()
				if _, _, _, err := s.Append(room, time.Now().UnixMilli(), benchFrom, benchData); err != nil {
					b.Error(err)
					return
				}
				waits[w] = append(waits[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	all := slices.Concat(waits...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(b.N)/el.Seconds(), "appends/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkRecoveryRead reads 10,000 messages of one room, oldest first,
// in pages of at most 512 KiB, as the disk store's
// benchmark of the same name does.
func BenchmarkRecoveryRead(b *testing.B) {
	const n = 10000
	opts := Options{Options: store.Options{Retention: func(string) store.Retention { return store.Retention{Count: n} }}}
	s, err := Open(startRedis(b), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for range n {
		if _, _, _, err := s.Append("r", time.Now().UnixMilli(), benchFrom, benchData); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		got := 0
		after := uint64(0)
		for {
			p, err := s.Read("r", store.Query{After: &after, Limit: n, MaxBytes: 512 << 10})
			if err != nil {
				b.Fatal(err)
			}
			got += len(p.Messages)
			if !p.More {
				break
			}
			after = p.Messages[len(p.Messages)-1].Seq
		}
		if got != n {
			b.Fatalf("read %d messages, want %d", got, n)
		}
	}
}
