package server

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/rtsync/rtsync/internal/procstat"
)

// readSyscalls is this process's read syscalls so far, -1 where
// /proc/self/io cannot tell.
func readSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(line, []byte("syscr: ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// BenchmarkWSRead measures reading client frames over loopback on each
// read path: 100 connections, each sending rounds of frames in one write
// and waiting for the reply to the round's last frame. burst: 15 pongs
// (read and dropped) and a ping command per round, so one reply write is
// shared by 16 frames; lockstep: one ping command per round, a wake-up
// per frame. b.N counts frames. CPU is the whole process's, both ends
// (the clients read the replies), over frames; reads counts every read
// syscall of the process, the clients' too.
func BenchmarkWSRead(b *testing.B) {
	for _, mode := range []string{ReadModePoll, ReadModeGoroutine} {
		if mode == ReadModePoll && !pollerAvailable {
			continue
		}
		for _, burst := range []int{16, 1} {
			name := mode + "/burst"
			if burst == 1 {
				name = mode + "/lockstep"
			}
			b.Run(name, func(b *testing.B) { benchRead(b, mode, burst) })
		}
	}
}

func benchRead(b *testing.B, mode string, burst int) {
	const clients = 100
	_, url := benchServer(b, Config{ReadMode: mode, MaxConnsPerIP: -1, WriteCoalesce: -1})
	conns := make([]*rawWS, clients)
	for i := range conns {
		conns[i] = dialRaw(b, url)
	}
	// One round: burst-1 pongs and a ping command.
	var round []byte
	for range burst - 1 {
		round = append(round, final(opPong, "")...)
	}
	round = append(round, ctext(`{"op":"ping","id":1}`)...)
	rounds := max(b.N/(clients*burst), 1)
	frames := rounds * clients * burst
	cpu := procstat.CPUTime()
	reads0 := readSyscalls()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			for range rounds {
				if _, err := c.nc.Write(round); err != nil {
					b.Error(err)
					return
				}
				if _, _, err := c.frame(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	cpu = procstat.CPUTime() - cpu
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(frames), "cpu-ns/frame")
	if reads0 >= 0 {
		b.ReportMetric(float64(readSyscalls()-reads0)/float64(frames), "reads/frame")
	}
	b.ReportMetric(0, "ns/op")
}
