// Command loadcheck measures an rtsync server until `rtsync bench` exists:
// the RSS each idle WebSocket connection costs, and one room's broadcast
// throughput and latency. It only ever targets the URL it is given, which
// must be a loopback address, and every run is bounded in count and time.
//
//	go run ./internal/loadcheck -mode idle -conns 10000 -pid $(pgrep -f 'rtsync serve')
//	go run ./internal/loadcheck -mode broadcast -conns 5000 -rate 100 -duration 20s
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gorilla/websocket"
)

type options struct {
	url      string
	mode     string
	conns    int
	rate     float64
	duration time.Duration
	warmup   time.Duration
	payload  int
	pid      int
	dialers  int
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "ws://127.0.0.1:7000/ws", "server WebSocket URL (loopback only)")
	flag.StringVar(&o.mode, "mode", "broadcast", "idle or broadcast")
	flag.IntVar(&o.conns, "conns", 1000, "connections (subscribers)")
	flag.Float64Var(&o.rate, "rate", 100, "messages per second published to the room")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measuring time")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "time before measuring starts")
	flag.IntVar(&o.payload, "payload", 100, "approximate payload bytes")
	flag.IntVar(&o.pid, "pid", 0, "server process id, to read its RSS (idle mode)")
	flag.IntVar(&o.dialers, "dialers", 64, "concurrent dials")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loadcheck:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	u, err := url.Parse(o.url)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address; loadcheck only loads this machine", u.Host)
	}
	switch o.mode {
	case "idle":
		return idle(o)
	case "broadcast":
		return broadcast(o)
	}
	return fmt.Errorf("unknown mode %q", o.mode)
}

var dialer = &websocket.Dialer{ReadBufferSize: 4096, WriteBufferSize: 1024, HandshakeTimeout: 10 * time.Second}

// dialAll opens n connections, each after reading its welcome, and sends
// each the given frame (if any).
func dialAll(o options, n int, first string) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, o.dialers)
	for range o.dialers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, _, err := dialer.Dial(o.url, nil)
				if err != nil {
					errc <- fmt.Errorf("conn %d: %w", i, err)
					return
				}
				if _, _, err := c.ReadMessage(); err != nil { // welcome
					errc <- fmt.Errorf("conn %d welcome: %w", i, err)
					return
				}
				if first != "" {
					if err := c.WriteMessage(websocket.TextMessage, []byte(first)); err != nil {
						errc <- err
						return
					}
					if _, _, err := c.ReadMessage(); err != nil { // reply
						errc <- fmt.Errorf("conn %d reply: %w", i, err)
						return
					}
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		return conns, err
	default:
	}
	return conns, nil
}

func rssKB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strconv.Atoi(strings.Fields(line)[1])
		}
	}
	return 0, errors.New("no VmRSS")
}

func idle(o options) error {
	if o.pid == 0 {
		return errors.New("idle mode needs -pid of the server")
	}
	before, err := rssKB(o.pid)
	if err != nil {
		return err
	}
	start := time.Now()
	conns, err := dialAll(o, o.conns, `{"op":"hello","name":"idle"}`)
	if err != nil {
		return err
	}
	took := time.Since(start)
	// Let the server settle and its GC run a few cycles.
	time.Sleep(o.warmup)
	after, err := rssKB(o.pid)
	if err != nil {
		return err
	}
	fmt.Printf("connections: %d (connected in %s, %.0f/s)\n", len(conns), took.Round(time.Millisecond), float64(len(conns))/took.Seconds())
	fmt.Printf("server RSS: %d KB before, %d KB after: %.2f KB per connection\n", before, after, float64(after-before)/float64(len(conns)))
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// shardedHist spreads recording over several histograms to keep lock
// contention low; they are merged for the report.
type shardedHist struct {
	shards [32]struct {
		sync.Mutex
		h *hdrhistogram.Histogram
	}
}

func newSharded() *shardedHist {
	s := &shardedHist{}
	for i := range s.shards {
		s.shards[i].h = hdrhistogram.New(1, int64(60*time.Second/time.Microsecond), 3)
	}
	return s
}

func (s *shardedHist) record(shard int, us int64) {
	sh := &s.shards[shard%len(s.shards)]
	sh.Lock()
	_ = sh.h.RecordValue(max(us, 1))
	sh.Unlock()
}

func (s *shardedHist) merged() *hdrhistogram.Histogram {
	h := hdrhistogram.New(1, int64(60*time.Second/time.Microsecond), 3)
	for i := range s.shards {
		h.Merge(s.shards[i].h)
	}
	return h
}

var (
	seqKey  = []byte(`"seq":`)
	tKey    = []byte(`"data":{"t":`)
	msgType = []byte(`{"type":"msg"`)
)

func parseUint(b []byte) (uint64, bool) {
	var n uint64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + uint64(b[i]-'0')
	}
	return n, i > 0
}

func broadcast(o options) error {
	// A fresh room per run, so seqs start at 1.
	room := fmt.Sprintf("loadcheck-%d", time.Now().UnixNano())
	join := `{"op":"join","room":"` + room + `"}`
	fmt.Printf("connecting %d subscribers...\n", o.conns)
	start := time.Now()
	subs, err := dialAll(o, o.conns, join)
	if err != nil {
		return err
	}
	fmt.Printf("connected in %s\n", time.Since(start).Round(time.Millisecond))
	pubs, err := dialAll(options{url: o.url, dialers: 1}, 1, join)
	if err != nil {
		return err
	}
	pub := pubs[0]

	hist := newSharded()
	var delivered, late atomic.Int64
	var measureFrom atomic.Int64 // first seq measured
	measureFrom.Store(1 << 62)
	var lastSeq atomic.Int64 // last seq measured
	lastSeq.Store(1 << 62)
	var seen = make([]uint64, len(subs)) // highest seq per subscriber
	var gaps atomic.Int64
	var wg sync.WaitGroup
	for i, c := range subs {
		wg.Go(func() {
			buf := make([]byte, 0, 4096)
			for {
				_, r, err := c.NextReader()
				if err != nil {
					return
				}
				buf = buf[:0]
				for {
					if len(buf) == cap(buf) {
						buf = append(buf, 0)[:len(buf)]
					}
					n, err := r.Read(buf[len(buf):cap(buf)])
					buf = buf[:len(buf)+n]
					if err == io.EOF {
						break
					}
					if err != nil {
						return
					}
				}
				now := time.Now().UnixNano()
				for len(buf) > 0 {
					line := buf
					if j := bytes.IndexByte(buf, '\n'); j >= 0 {
						line, buf = buf[:j], buf[j+1:]
					} else {
						buf = buf[:0]
					}
					if !bytes.HasPrefix(line, msgType) {
						continue
					}
					k := bytes.Index(line, seqKey)
					seq, _ := parseUint(line[k+len(seqKey):])
					if seen[i] != 0 && seq != seen[i]+1 {
						gaps.Add(1)
					}
					seen[i] = seq
					k = bytes.Index(line, tKey)
					if k < 0 {
						continue
					}
					t, _ := parseUint(line[k+len(tKey):])
					if int64(seq) >= measureFrom.Load() && int64(seq) <= lastSeq.Load() {
						delivered.Add(1)
						hist.record(i, (now-int64(t))/1000)
					}
				}
			}
		})
	}
	// Drain the publisher's replies and echoes.
	go func() {
		for {
			if _, _, err := pub.ReadMessage(); err != nil {
				return
			}
		}
	}()

	pad := strings.Repeat("x", max(0, o.payload-40))
	interval := time.Duration(float64(time.Second) / o.rate)
	total := int(o.rate * (o.warmup + o.duration).Seconds())
	warm := int(o.rate * o.warmup.Seconds())
	var cpuStart time.Duration
	fmt.Printf("publishing %d messages at %g/s to %d subscribers (%.0f deliveries/s offered)\n", total, o.rate, len(subs), o.rate*float64(len(subs)))
	t0 := time.Now()
	var wallStart time.Time
	for i := 0; i < total; i++ {
		intended := t0.Add(time.Duration(i) * interval)
		if d := time.Until(intended); d > 0 {
			time.Sleep(d)
		} else if -d > time.Second {
			late.Add(1)
		}
		if i == warm {
			measureFrom.Store(int64(i + 1)) // seqs start at 1 in a fresh room
			cpuStart = cpuTime()
			wallStart = time.Now()
		}
		msg := fmt.Sprintf(`{"op":"pub","room":"%s","noecho":true,"data":{"t":%d,"p":"%s"}}`, room, intended.UnixNano(), pad)
		if err := pub.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	lastSeq.Store(int64(total))
	wall := time.Since(wallStart)
	cpu := cpuTime() - cpuStart
	// Wait for stragglers, bounded.
	expected := int64(total-warm) * int64(len(subs))
	deadline := time.Now().Add(10 * time.Second)
	for delivered.Load() < expected && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	drainWait := time.Since(wallStart) - wall
	h := hist.merged()
	got := delivered.Load()
	fmt.Printf("measured: %d messages, %d deliveries expected, %d delivered (%.3f%% lost), %d gaps\n",
		total-warm, expected, got, 100*float64(expected-got)/float64(expected), gaps.Load())
	fmt.Printf("throughput: %.0f deliveries/s over %s (+%s to drain)\n", float64(got)/wall.Seconds(), wall.Round(time.Millisecond), drainWait.Round(time.Millisecond))
	fmt.Printf("latency from intended send: p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  p99.9 %.1f ms  max %.1f ms\n",
		ms(h.ValueAtQuantile(50)), ms(h.ValueAtQuantile(90)), ms(h.ValueAtQuantile(99)), ms(h.ValueAtQuantile(99.9)), ms(h.Max()))
	fmt.Printf("loadcheck CPU: %.0f%% of one core; publisher late >1s: %d\n", 100*cpu.Seconds()/wall.Seconds(), late.Load())
	out, _ := json.Marshal(map[string]any{"deliveries_per_s": float64(got) / wall.Seconds(), "p50_ms": ms(h.ValueAtQuantile(50)), "p99_ms": ms(h.ValueAtQuantile(99)), "lost": expected - got})
	fmt.Println(string(out))
	for _, c := range subs {
		c.Close()
	}
	pub.Close()
	wg.Wait()
	_ = runtime.NumGoroutine()
	return nil
}

func ms(us int64) float64 { return float64(us) / 1000 }
