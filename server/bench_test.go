package server

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/rtsync/rtsync/internal/procstat"
)

// discardTransport is a Transport with no socket, so benchmarks measure the
// hub rather than the kernel.
type discardTransport struct{ objs atomic.Int64 }

func (d *discardTransport) WriteBatch(objs [][]byte) error {
	d.objs.Add(int64(len(objs)))
	return nil
}
func (d *discardTransport) Ping() error        { return nil }
func (d *discardTransport) Close(int, string)  {}
func (d *discardTransport) Kind() string       { return "discard" }
func (d *discardTransport) RemoteAddr() string { return "bench" }

// BenchmarkFanOut publishes to a room of n members over the discarding
// transport: the cost of seq assignment, history, encoding once and
// queueing for every member, plus the writers draining the queues.
// allocs/op divided by members shows the per-receiver allocation.
func BenchmarkFanOut(b *testing.B) {
	for _, members := range []int{10, 1000, 5000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			s, err := New(Config{WriteCoalesce: -1, PresenceMaxMembers: 1, SendQueueBytes: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			r := s.hub.room("bench", true)
			t := &discardTransport{}
			for range members {
				c := newConn(s, t)
				r.members[c] = struct{}{}
			}
			r.snap = nil
			from := []byte(`{"client":"bench"}`)
			data := []byte(`{"text":"a message of about a hundred bytes, like a chat line or a small state update"}`)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := procstat.CPUTime().Seconds()
			for range b.N {
				r.publish(s, pendingPub{}, nil, false, nil, from, data)
			}
			b.StopTimer()
			want := int64(b.N) * int64(members)
			for t.objs.Load() < want {
				runtime.Gosched()
			}
			// CPU time as well as wall time: on a shared machine it is
			// what changes least with the neighbours' load. It counts all
			// the writers' work, some of which runs past the loop.
			cpu = procstat.CPUTime().Seconds() - cpu
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
			b.ReportMetric(cpu*1e9/float64(want), "cpu-ns/delivery")
		})
	}
}
