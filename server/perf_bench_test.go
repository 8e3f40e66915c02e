package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/disk"
)

// Benchmarks of the store seam over real sockets: acknowledged publishes
// from many publishers, and recovery of a large gap. Each runs once per
// store (benchStores); docs/architecture.md quotes them.

// benchStores are the stores the benchmarks compare: nil OpenStore is
// the memory store.
var benchStores = []struct {
	name string
	open func(b *testing.B) func(store.Options) (store.Store, error)
}{
	{"memory", func(*testing.B) func(store.Options) (store.Store, error) { return nil }},
	{"disk", func(b *testing.B) func(store.Options) (store.Store, error) {
		dir := b.TempDir()
		return func(opts store.Options) (store.Store, error) {
			return disk.Open(dir, disk.Options{Options: opts})
		}
	}},
}

// benchServer runs a server on a free loopback port until the benchmark
// ends and returns its WebSocket URL.
func benchServer(b *testing.B, cfg Config) (*Server, string) {
	b.Helper()
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("server Run: %v", err)
		}
	})
	return s, "ws://" + ln.Addr().String() + "/ws"
}

// benchConn is a raw client reading events one by one.
type benchConn struct {
	ws  *websocket.Conn
	buf [][]byte
}

func benchDial(b *testing.B, url string) *benchConn {
	b.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ws.Close() })
	c := &benchConn{ws: ws}
	if _, err := c.next(); err != nil { // welcome
		b.Fatal(err)
	}
	return c
}

func (c *benchConn) next() ([]byte, error) {
	for len(c.buf) == 0 {
		_ = c.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, frame, err := c.ws.ReadMessage()
		if err != nil {
			return nil, err
		}
		c.buf = bytes.Split(frame, []byte{'\n'})
	}
	obj := c.buf[0]
	c.buf = c.buf[1:]
	return obj, nil
}

func (c *benchConn) send(s string) error { return c.ws.WriteMessage(websocket.TextMessage, []byte(s)) }

// pct returns the p-th percentile of sorted durations.
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p/100))]
}

// BenchmarkPublishAck50: 50 publishers over real sockets into 50 rooms:
// how many acknowledged publishes a second the server sustains, and the
// latency from sending a pub to reading its reply. With window=1 each
// publisher is a closed loop (pub, wait for the reply, pub again); with
// window=8 it keeps up to 8 pubs unanswered, as a client that does not
// wait for each acknowledgement before the next does. With the disk
// store an acknowledgement means the message is durable.
func BenchmarkPublishAck50(b *testing.B) {
	for _, st := range benchStores {
		for _, window := range []int{1, 8} {
			b.Run(fmt.Sprintf("store=%s/window=%d", st.name, window), func(b *testing.B) {
				benchPublishAck(b, st.open(b), 50, window)
			})
		}
	}
}

func benchPublishAck(b *testing.B, open func(store.Options) (store.Store, error), publishers, window int) {
	s, url := benchServer(b, Config{OpenStore: open, PublishRate: 1e9, PublishBurst: 1 << 30, HistorySize: 1000})
	conns := make([]*benchConn, publishers)
	for i := range conns {
		conns[i] = benchDial(b, url)
		_ = conns[i].send(`{"op":"join","room":"ack` + strconv.Itoa(i) + `","id":0}`)
		if _, err := conns[i].next(); err != nil {
			b.Fatal(err)
		}
	}
	per := max(1, b.N/publishers)
	lat := make([][]time.Duration, publishers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, c := range conns {
		wg.Go(func() {
			room := "ack" + strconv.Itoa(i)
			sent := make([]time.Time, per+1)
			slots := make(chan struct{}, window)
			go func() {
				for n := 1; n <= per; n++ {
					slots <- struct{}{}
					sent[n] = time.Now()
					if err := c.send(`{"op":"pub","room":"` + room + `","noecho":true,"id":` + strconv.Itoa(n) + `,"data":{"text":"a message of about a hundred bytes, like a chat line or a small state update"}}`); err != nil {
						return
					}
				}
			}()
			l := make([]time.Duration, 0, per)
			for len(l) < per {
				obj, err := c.next()
				if err != nil {
					b.Error(err)
					return
				}
				var e protocol.Event
				if json.Unmarshal(obj, &e) != nil || e.Type != protocol.TypeReply {
					continue
				}
				if !e.OK {
					b.Errorf("pub: %v", e.Error)
					return
				}
				n, _ := strconv.Atoi(string(e.ID))
				l = append(l, time.Since(sent[n]))
				<-slots
			}
			lat[i] = l
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "acks/s")
	b.ReportMetric(float64(pct(all, 50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(pct(all, 99).Microseconds()), "p99-µs")
	if st := s.store.Stats(); st.Commits > 0 {
		b.ReportMetric(float64(st.Synced)/float64(st.Commits), "msgs/commit")
		b.ReportMetric(float64(st.CommitNanos)/float64(st.Commits)/1e3, "µs/commit")
	}
}

// BenchmarkRecoveryGap: a client joins with since 0 a room whose history
// holds 10,000 messages of about 100 bytes (1.5 MB, past the 1 MiB send
// queue) and reads to the last: the time that takes. Meanwhile 20 members
// of the same room get a message every 5 ms; their delivery latency
// while recoveries come and go (one every 50 ms) is reported beside the
// same figure measured before, with no recovery under way.
func BenchmarkRecoveryGap(b *testing.B) {
	for _, st := range benchStores {
		b.Run("store="+st.name, func(b *testing.B) {
			const gap = 10_000
			s, url := benchServer(b, Config{OpenStore: st.open(b), HistorySize: 2 * gap, PublishRate: 1e9, PublishBurst: 1 << 30})
			for i := range gap {
				if _, _, err := s.Publish("gap", json.RawMessage(`{"text":"a message of about a hundred bytes, like a chat line or a small state update `+strconv.Itoa(i)+`"}`), PublishOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			// The live side: members, and a publisher stamping each
			// message with its send time.
			var mu sync.Mutex
			var phase int // 0: baseline, 1: during recoveries, 2: done
			lat := [2][]time.Duration{}
			var wg sync.WaitGroup
			for range 20 {
				m := benchDial(b, url)
				_ = m.send(`{"op":"join","room":"gap","id":0}`)
				wg.Go(func() {
					for {
						obj, err := m.next()
						if err != nil {
							return
						}
						var e struct {
							Type string `json:"type"`
							Data struct {
								Sent int64 `json:"sent"`
							} `json:"data"`
						}
						if json.Unmarshal(obj, &e) != nil || e.Type != protocol.TypeMsg || e.Data.Sent == 0 {
							continue
						}
						d := time.Since(time.Unix(0, e.Data.Sent))
						mu.Lock()
						p := phase
						if p < 2 {
							lat[p] = append(lat[p], d)
						}
						mu.Unlock()
						if p == 2 {
							return
						}
					}
				})
			}
			stop := make(chan struct{})
			pubDone := make(chan struct{})
			go func() {
				defer close(pubDone)
				t := time.NewTicker(5 * time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case now := <-t.C:
						_, _, _ = s.Publish("gap", json.RawMessage(`{"sent":`+strconv.FormatInt(now.UnixNano(), 10)+`}`), PublishOptions{})
					}
				}
			}()
			time.Sleep(time.Second) // baseline
			mu.Lock()
			phase = 1
			mu.Unlock()
			b.ResetTimer()
			var took []time.Duration
			for range b.N {
				c := benchDial(b, url)
				t0 := time.Now()
				_ = c.send(`{"op":"join","room":"gap","since":0,"id":1}`)
				for got := 0; got < gap; {
					obj, err := c.next()
					if err != nil {
						b.Fatal(err)
					}
					if bytes.Contains(obj, []byte(`"type":"msg"`)) {
						got++
					}
				}
				took = append(took, time.Since(t0))
				_ = c.ws.Close()
				// A pause, so that the live figures are of a room where
				// recoveries come and go, not of a machine busy with
				// nothing else.
				b.StopTimer()
				time.Sleep(50 * time.Millisecond)
				b.StartTimer()
			}
			b.StopTimer()
			mu.Lock()
			phase = 2
			mu.Unlock()
			close(stop)
			<-pubDone
			// A last message lets every member see phase 2 and stop.
			_, _, _ = s.Publish("gap", json.RawMessage(`{"sent":1}`), PublishOptions{})
			wg.Wait()
			slices.Sort(took)
			for i := range lat {
				slices.Sort(lat[i])
			}
			b.ReportMetric(float64(pct(took, 50).Milliseconds()), "ms/recovery")
			b.ReportMetric(float64(pct(lat[0], 50).Microseconds()), "live-p50-before-µs")
			b.ReportMetric(float64(pct(lat[1], 50).Microseconds()), "live-p50-during-µs")
			b.ReportMetric(float64(pct(lat[0], 99).Microseconds()), "live-p99-before-µs")
			b.ReportMetric(float64(pct(lat[1], 99).Microseconds()), "live-p99-during-µs")
			if testing.Verbose() {
				fmt.Printf("live latency: before p50 %v p99 %v (%d), during p50 %v p99 %v (%d)\n",
					pct(lat[0], 50), pct(lat[0], 99), len(lat[0]), pct(lat[1], 50), pct(lat[1], 99), len(lat[1]))
			}
		})
	}
}
