package loadtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rtsync/rtsync/internal/procstat"
)

// BenchmarkReadPath is the bench's receive cost per delivery on each read
// path, without a server: 200 loopback connections, and one goroutine that
// writes a 200-byte frame to each in turn (as a server fans a message out),
// b.N frames in all. The bench side hands each message to deliver, which
// counts its bytes (markers and histograms cost the same on both paths and
// are left out). cpu-ns/delivery is the process's CPU, both ends, per
// frame; the writing end is the same for both paths.
//
//	go test -run '^$' -bench ReadPath -count 3 ./loadtest/
func BenchmarkReadPath(b *testing.B) {
	for _, mode := range []string{ReadModeGoroutine, ReadModePoll} {
		b.Run(mode, func(b *testing.B) { benchReadPath(b, mode) })
	}
}

func benchReadPath(b *testing.B, mode string) {
	const conns = 200
	var mu sync.Mutex
	var servers []net.Conn
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		servers = append(servers, ws.NetConn())
		mu.Unlock()
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"

	s := &shard{cfg: &Config{Protocol: ProtocolRaw}, failures: map[string]int64{}, drops: map[string]int64{}, errorCodes: map[string]int64{}}
	s.windowFrom, s.windowTo = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	s.started.Store(true)
	if mode == ReadModePoll {
		s.startPollers()
	}
	d := newDialer(netip.Addr{})
	var cs []*benchConn
	for i := range conns {
		c := &benchConn{s: slot{g: i, stream: -1}}
		ctx := context.Background()
		if mode == ReadModePoll {
			ctx = wantHandoff(ctx)
		}
		ws, _, err := d.DialContext(ctx, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.ws = ws
		if h, ok := ws.NetConn().(*handoffConn); ok {
			if err := s.pollers[i%len(s.pollers)].add(c, h, h.tcp, h.held()); err != nil {
				b.Fatal(err)
			}
			h.take()
		} else {
			s.readers.Add(1)
			go s.read(c, ws)
		}
		cs = append(cs, c)
	}
	for {
		mu.Lock()
		n := len(servers)
		mu.Unlock()
		if n == conns {
			break
		}
		time.Sleep(time.Millisecond)
	}
	msg := frame(true, opText, []byte(strings.Repeat("m", 200)))
	total := func() (n int64) {
		for _, c := range cs {
			n += c.bytes.Load()
		}
		return n
	}
	b.ResetTimer()
	cpu0 := procstat.CPUTime()
	for i := 0; i < b.N; i++ {
		if _, err := servers[i%conns].Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	for want := int64(b.N * 200); total() < want; {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(procstat.CPUTime()-cpu0)/float64(b.N), "cpu-ns/delivery")
	var batches, events int64
	for _, p := range s.pollers {
		p.mu.Lock()
		batches, events = batches+p.batches, events+p.events
		p.mu.Unlock()
	}
	if batches > 0 {
		b.ReportMetric(float64(events)/float64(batches), "sockets/wait")
	}
	for _, c := range cs {
		s.closeConn(c)
	}
	stopPollers(s.pollers)
	s.readers.Wait()
	for _, sc := range servers {
		sc.Close()
	}
}
