package server

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/internal/procstat"
)

// writeSyscalls is the process's count of write-family system calls
// (write, writev, ...), from /proc/self/io; -1 where there is none.
func writeSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(line, []byte("syscw: ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// BenchmarkFanOutSockets publishes to a room of 1,000 WebSocket clients
// over real loopback sockets, through the server's whole write path:
// queue, writer, frame, socket. The clients, in the same process, read
// with gorilla's client and count the objects. It reports the CPU time
// of the whole process (server and clients) per delivery, and the write
// system calls per frame the server wrote (the clients write nothing
// meanwhile). burst publishes as fast as it can, so the writers coalesce
// many messages per frame; lockstep waits for each message to reach every
// client before the next, one message per frame.
func BenchmarkFanOutSockets(b *testing.B) {
	for _, mode := range []string{"burst", "lockstep"} {
		b.Run(mode, func(b *testing.B) { benchFanOutSockets(b, mode == "lockstep") })
	}
}

func benchFanOutSockets(b *testing.B, lockstep bool) {
	const members = 1000
	cfg := Config{MaxConnsPerIP: 2 * members, SendQueueBytes: 64 << 20, PresenceMaxMembers: 1}
	if lockstep {
		cfg.WriteCoalesce = -1 // nothing to coalesce; do not wait for it
	}
	s, url := benchServer(b, cfg)
	var got, target atomic.Int64
	reached := make(chan struct{}, 1)
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, members)
	for i := range conns {
		c := benchDial(b, url)
		if err := c.send(`{"op":"join","room":"fan","id":1}`); err != nil {
			b.Fatal(err)
		}
		if _, err := c.next(); err != nil {
			b.Fatal(err)
		}
		conns[i] = c.ws
	}
	for _, ws := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			_ = ws.SetReadDeadline(time.Time{})
			for {
				_, r, err := ws.NextReader()
				if err != nil {
					return
				}
				n := int64(1)
				for {
					m, err := r.Read(buf)
					n += int64(bytes.Count(buf[:m], []byte{'\n'}))
					if err != nil {
						break
					}
				}
				if got.Add(n) == target.Load() {
					reached <- struct{}{}
				}
			}
		}()
	}
	b.Cleanup(func() {
		for _, ws := range conns {
			_ = ws.Close()
		}
		wg.Wait()
	})
	data := []byte(`{"text":"a message of about a hundred bytes, like a chat line or a small state update"}`)
	frames0 := s.metrics.frames.Load()
	sysw0 := writeSyscalls()
	cpu := procstat.CPUTime()
	b.ResetTimer()
	wait := func() {
		select {
		case <-reached:
		case <-time.After(time.Minute):
			b.Fatalf("%d of %d deliveries after a minute", got.Load(), target.Load())
		}
	}
	want := int64(b.N) * members
	if !lockstep {
		target.Store(want)
	}
	for i := range b.N {
		if lockstep {
			target.Store(int64(i+1) * members)
		}
		if _, _, err := s.Publish("fan", data, PublishOptions{}); err != nil {
			b.Fatal(err)
		}
		if lockstep {
			wait()
		}
	}
	if !lockstep {
		wait()
	}
	b.StopTimer()
	cpu = procstat.CPUTime() - cpu
	frames := s.metrics.frames.Load() - frames0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(want), "cpu-ns/delivery")
	b.ReportMetric(float64(want)/float64(frames), "objs/frame")
	if sysw0 >= 0 {
		b.ReportMetric(float64(writeSyscalls()-sysw0)/float64(frames), "writes/frame")
	}
}
