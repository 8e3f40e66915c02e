package redisbroker

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/redistest"
	"github.com/rtsync/rtsync/server/broker"
)

// latRec is a handler that records the time from publish (At) to
// HandleRoom.
type latRec struct {
	rec
	got  atomic.Int64
	done chan struct{}
	want int64
	mu2  sync.Mutex
	lat  []time.Duration
}

func (r *latRec) HandleRoom(m *broker.RoomMessage) {
	d := time.Duration(time.Now().UnixNano() - m.At)
	r.mu2.Lock()
	r.lat = append(r.lat, d)
	r.mu2.Unlock()
	if r.got.Add(1) == r.want {
		close(r.done)
	}
}

var (
	benchFrom = []byte(`{"client":"c1","uid":"u1","name":"Ada"}`)
	benchData = []byte(`"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"`)
)

// BenchmarkAppendRoom: 50 publishers (writers) spread over 3 nodes on one local
// redis-server (no persistence) append ~100-byte messages in a closed
// loop, each to a room of its own (rooms=50) or all to one room
// (rooms=1); every node is subscribed to every room. It reports
// appends/s, the p50/p99 of one AppendRoom, and the p50/p99 from publish
// to HandleRoom over every node's deliveries:
//
//	go test -run '^$' -bench AppendRoom -benchtime 30000x ./server/broker/redisbroker/
//
// writers=1 is one publisher appending to one room, one message at a time:
// the latency of an idle cluster.
func BenchmarkAppendRoom(b *testing.B) {
	for _, c := range []struct{ writers, rooms int }{{50, 50}, {50, 1}, {1, 1}} {
		b.Run(fmt.Sprintf("writers=%d/rooms=%d", c.writers, c.rooms), func(b *testing.B) { benchAppend(b, c.writers, c.rooms) })
	}
}

func benchAppend(b *testing.B, writers, rooms int) {
	srv := redistest.Start(b)
	const nodes = 3
	var bs []*Broker
	var recs []*latRec
	for i := range nodes {
		br, err := Open(srv.URL, Options{Node: fmt.Sprintf("n%d", i), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		r := &latRec{want: int64(b.N), done: make(chan struct{})}
		r.rec = *newRec(br.node)
		if err := br.Start(r); err != nil {
			b.Fatal(err)
		}
		defer br.Close()
		for k := range rooms {
			_ = br.Subscribe(broker.Topic{Kind: broker.TopicRoom, Name: fmt.Sprintf("room%d", k)})
		}
		bs, recs = append(bs, br), append(recs, r)
	}
	for _, br := range bs { // every subscription in place
		for k := range rooms {
			ch := fmt.Sprintf("%sroom%d", br.chRoom, k)
			deadline := time.Now().Add(10 * time.Second)
			for {
				n, err := br.rdb.PubSubNumSub(br.ctx, ch).Result()
				if err == nil && n[ch] == nodes {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("channel %s: %v subscribers, %v", ch, n, err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	var next atomic.Int64
	waits := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			br := bs[w%nodes]
			room := fmt.Sprintf("room%d", w%rooms)
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				t0 := time.Now()
				m := &broker.RoomMessage{Room: room, TS: t0.UnixMilli(), At: t0.UnixNano(), From: benchFrom, Data: benchData}
				if err := br.AppendRoom(m); err != nil {
					b.Error(err)
					return
				}
				waits[w] = append(waits[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	for _, r := range recs {
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			b.Fatalf("node %s got %d of %d messages", r.node, r.got.Load(), b.N)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	all := slices.Concat(waits...)
	slices.Sort(all)
	var lat []time.Duration
	for _, r := range recs {
		lat = append(lat, r.lat...)
	}
	slices.Sort(lat)
	if len(all) > 0 && len(lat) > 0 {
		b.ReportMetric(float64(b.N)/el.Seconds(), "appends/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "append-p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "append-p99-µs")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "deliver-p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "deliver-p99-µs")
	}
}
