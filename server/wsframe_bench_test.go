package server

import (
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/rtsync/rtsync/internal/procstat"
)

// BenchmarkWSWriteBatch writes batch frames with a frameWriter to a
// loopback socket whose other end a goroutine drains, copying the batch
// into one buffer (write) or pointing at the objects (writev), or as
// useCopy chooses (auto), for batches of n objects of size bytes. It sets
// writeMode.
func BenchmarkWSWriteBatch(b *testing.B) {
	for _, sh := range []struct{ n, size int }{{1, 128}, {8, 128}, {32, 128}, {128, 128}, {256, 128}, {500, 128}, {4, 4 << 10}, {1, 16 << 10}, {1, 64 << 10}, {1, 1 << 20}} {
		for mode, name := range []string{"auto", "copy", "writev"} {
			b.Run(fmt.Sprintf("objs=%dx%d/%s", sh.n, sh.size, name), func(b *testing.B) {
				writeMode = mode
				defer func() { writeMode = 0 }()
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				defer ln.Close()
				cc, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				defer cc.Close()
				sc, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				defer sc.Close()
				drained := make(chan struct{})
				go func() { _, _ = io.Copy(io.Discard, cc); close(drained) }()
				w := newFrameWriter(sc)
				objs := make([][]byte, sh.n)
				for i := range objs {
					objs[i] = payloadOf(sh.size, byte(i))
				}
				b.SetBytes(int64(sh.n * (sh.size + 1)))
				b.ReportAllocs()
				cpu := procstat.CPUTime()
				b.ResetTimer()
				for range b.N {
					if err := w.writeBatch(objs); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				_ = sc.Close()
				<-drained
				b.ReportMetric(float64((procstat.CPUTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
