package disk

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtsync/rtsync/server/store"
)

// BenchmarkAppend50 is the target: 50 publishers, each appending
// ~100-byte messages to its own room in a closed loop (append, wait for
// the commit, again). It reports acknowledged appends/s and the p50/p99
// wait for a commit, per fsync mode:
//
//	go test -run '^$' -bench Append50 -benchtime 50000x ./server/store/disk/
func BenchmarkAppend50(b *testing.B) {
	for _, mode := range []string{FsyncBatch, FsyncAlways, FsyncOff} {
		b.Run(mode, func(b *testing.B) { benchAppend(b, mode, 50) })
	}
}

func benchAppend(b *testing.B, mode string, writers int) {
	s, err := Open(filepath.Join(b.TempDir(), "data"), Options{Fsync: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	from := []byte(`{"client":"c1","uid":"u1","name":"Ada"}`)
	data := []byte(`"` + strings.Repeat("x", 98) + `"`)
	closedLoop(b, writers, func(w int, _ int64) error {
		_, _, c, err := s.Append(fmt.Sprintf("room%d", w), time.Now().UnixMilli(), from, data)
		if err == nil {
			err = c.Wait()
		}
		return err
	})
	st := s.Stats()
	b.ReportMetric(float64(st.Synced)/float64(max(1, st.Commits)), "group")
}

// closedLoop runs b.N operations over writers goroutines, each in a
// closed loop (op returns once its commit reported), and reports the
// operations a second and the p50/p99 of one operation's time. op gets
// the writer's number and the operation's (from 1 to b.N).
func closedLoop(b *testing.B, writers int, op func(w int, n int64) error) {
	var next atomic.Int64
	waits := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				t0 := time.Now()
				if err := op(w, n); err != nil {
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
// in pages of at most 512 KiB: what a client recovering a long gap costs.
func BenchmarkRecoveryRead(b *testing.B) {
	const n = 10000
	dir := filepath.Join(b.TempDir(), "data")
	opts := Options{Options: store.Options{Retention: func(string) store.Retention { return store.Retention{Count: n} }}}
	s, err := Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	from := []byte(`{"client":"c1","uid":"u1","name":"Ada"}`)
	data := []byte(`"` + strings.Repeat("x", 98) + `"`)
	var c *store.Commit
	for range n {
		if _, _, c, err = s.Append("r", time.Now().UnixMilli(), from, data); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Wait(); err != nil {
		b.Fatal(err)
	}
	// Read from the files, as after a restart.
	s.Close()
	if s, err = Open(dir, opts); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for range b.N {
		got, pages := 0, 0
		after := uint64(0)
		for {
			p, err := s.Read("r", store.Query{After: &after, Limit: n, MaxBytes: 512 << 10})
			if err != nil {
				b.Fatal(err)
			}
			got += len(p.Messages)
			pages++
			if !p.More {
				break
			}
			after = p.Messages[len(p.Messages)-1].Seq
		}
		if got != n {
			b.Fatalf("read %d messages, want %d", got, n)
		}
		b.ReportMetric(float64(pages), "pages")
	}
}

// BenchmarkOpen opens a store holding 100,000 messages in 100 rooms: the
// start-up scan.
func BenchmarkOpen(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "data")
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	from := []byte(`{"client":"c1","uid":"u1","name":"Ada"}`)
	data := []byte(`"` + strings.Repeat("x", 98) + `"`)
	var c *store.Commit
	for i := range 100000 {
		if _, _, c, err = s.Append(fmt.Sprintf("room%d", i%100), time.Now().UnixMilli(), from, data); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Wait(); err != nil {
		b.Fatal(err)
	}
	s.Close()
	b.ResetTimer()
	for range b.N {
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
