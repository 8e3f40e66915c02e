package loadtest

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"time"
)

// Thresholds past which the bench says it may have been the limit.
const (
	// schedWarn: goroutines that wait this long for a core stamp their
	// receive times late.
	schedWarn = 10 * time.Millisecond
	// cpuWarn: share of the machine's cores the bench may use before it
	// competes with the server for them.
	cpuWarn = 0.85
	// schedShare: the share of the measured p99 that scheduling delay
	// must pass before it is worth a warning.
	schedShare = 0.1
	// lagWarn: a publisher this far behind its schedule.
	lagWarn = 100 * time.Millisecond
)

// merge adds up the shards' results into the Result.
func (c *coord) merge() *Result {
	r := c.res
	cfg := c.cfg
	hs := NewHist()
	lat := NewHist()
	conn := &r.Connect
	conn.Failures, conn.Drops = map[string]int64{}, map[string]int64{}
	keys := c.l.roomKeys()
	if c.roomSubs == nil {
		c.roomSubs = make([]int, keys)
	}
	delivered := make([]int64, keys)
	dup := make([]int64, keys)
	ooo := make([]int64, keys)
	sent := make([]int64, c.l.streams)
	rejected := make([]int64, c.l.streams)
	var dropped []streamTally // senders the server dropped
	var notSent, bytes int64
	codes := map[string]int64{}
	var first, last time.Time
	var cpu, sched, lag float64
	fanCount := make([][]uint32, c.l.streams)
	fanMax := make([][]uint32, c.l.streams)
	for _, st := range c.states {
		sr := st.result
		if sr == nil {
			continue
		}
		conn.Attempted += sr.Attempted
		conn.Connected += sr.Connected
		conn.Failed += sr.Failed
		conn.Dropped += sr.Dropped
		conn.Reconnects += sr.Reconnects
		addCounts(conn.Failures, sr.Failures)
		addCounts(conn.Drops, sr.Drops)
		addCounts(codes, sr.ErrorCodes)
		if !sr.FirstDial.IsZero() && (first.IsZero() || sr.FirstDial.Before(first)) {
			first = sr.FirstDial
		}
		if sr.LastReady.After(last) {
			last = sr.LastReady
		}
		hs.Merge(sr.Handshake)
		lat.Merge(sr.Latency)
		for k := range min(keys, len(sr.RoomDelivered)) {
			delivered[k] += sr.RoomDelivered[k]
			dup[k] += sr.RoomDup[k]
			ooo[k] += sr.RoomOOO[k]
		}
		for _, t := range sr.Streams {
			if t.Stream >= 0 && t.Stream < len(sent) {
				sent[t.Stream] += t.Sent
				rejected[t.Stream] += t.Rejected
				notSent += t.NotSent
				if t.Dropped {
					dropped = append(dropped, t)
				}
			}
		}
		for _, f := range sr.Fan {
			if f.Stream < 0 || f.Stream >= c.l.streams {
				continue
			}
			n := len(f.Packed) / 8
			if fanCount[f.Stream] == nil {
				fanCount[f.Stream], fanMax[f.Stream] = make([]uint32, n), make([]uint32, n)
			}
			for i := range min(n, len(fanCount[f.Stream])) {
				fanCount[f.Stream][i] += binary.LittleEndian.Uint32(f.Packed[8*i:])
				fanMax[f.Stream][i] = max(fanMax[f.Stream][i], binary.LittleEndian.Uint32(f.Packed[8*i+4:]))
			}
		}
		bytes += sr.Bytes
		cpu += sr.CPUSeconds
		sched = max(sched, sr.SchedP99)
		lag = max(lag, sr.PublishLagMax)
	}
	if len(conn.Failures) == 0 {
		conn.Failures = nil
	}
	if len(conn.Drops) == 0 {
		conn.Drops = nil
	}
	if !first.IsZero() && last.After(first) {
		conn.Seconds = last.Sub(first).Seconds()
		conn.PerSecond = float64(conn.Attempted-conn.Failed) / conn.Seconds
	}
	conn.Handshake = hs.Latency()
	// Connected is what was up at the end; a churned connection counts
	// once.
	secs := time.Duration(cfg.Duration).Seconds()

	var accepted []int64 // per stream, the messages the server took
	if cfg.Scenario == ScenarioBroadcast || cfg.Scenario == ScenarioDirect {
		m := &Messages{Seconds: secs, PublishErrorCodes: codes}
		rooms := make([]RoomStats, keys)
		for k := range rooms {
			rooms[k] = RoomStats{Room: c.l.roomName(k), Subscribers: c.roomSubs[k],
				Delivered: delivered[k], Duplicated: dup[k], OutOfOrder: ooo[k]}
			switch {
			case cfg.Scenario == ScenarioDirect:
				rooms[k].Room = "direct"
				rooms[k].Target = cfg.URLs[k]
			case !cfg.Cluster: // a cluster's rooms span every node
				rooms[k].Target = cfg.URLs[k/max(keys/len(cfg.URLs), 1)]
			}
		}
		accepted = make([]int64, c.l.streams)
		unconfirmed := c.unconfirmed(dropped, fanCount)
		tl := newTimeline(time.Duration(cfg.Duration))
		fan := NewHist()
		for s := range c.l.streams {
			k := c.l.streamRoom(s)
			accepted[s] = max(sent[s]-rejected[s]-unconfirmed[s], 0)
			accepted := accepted[s]
			m.PublishErrors += unconfirmed[s]
			if unconfirmed[s] > 0 {
				codes["unconfirmed"] += unconfirmed[s]
			}
			rooms[k].Published += sent[s]
			m.Published += sent[s]
			m.PublishErrors += rejected[s]
			var owe int64 = 1
			if cfg.Scenario == ScenarioBroadcast {
				owe = int64(c.roomSubs[k])
			}
			rooms[k].Expected += accepted * owe
			complete := int64(0)
			lo, _ := c.l.window(s)
			for i, n := range fanCount[s] {
				full := int64(n) >= owe && owe > 0
				if full {
					fan.RecordMicros(int64(fanMax[s][i]))
					complete++
				}
				tl.add(c.l.intended(s, lo+i)-time.Duration(cfg.Warmup), int64(n), full, fanMax[s][i])
			}
			if owe > 0 {
				m.FanOutIncomplete += max(accepted-complete, 0)
			}
		}
		m.PublishErrors += notSent
		if notSent > 0 {
			codes["not_sent"] += notSent
		}
		if len(codes) == 0 {
			m.PublishErrorCodes = nil
		}
		for k := range rooms {
			rooms[k].Lost = max(rooms[k].Expected-rooms[k].Delivered, 0)
			m.Expected += rooms[k].Expected
			m.Delivered += rooms[k].Delivered
			m.Lost += rooms[k].Lost
			m.Duplicated += rooms[k].Duplicated
			m.OutOfOrder += rooms[k].OutOfOrder
		}
		if m.Delivered > m.Expected {
			c.warn("%d more deliveries arrived than the published messages owed: a receiver got messages it should not have", m.Delivered-m.Expected)
		}
		if m.Expected > 0 {
			m.LossPercent = 100 * float64(m.Lost) / float64(m.Expected)
		}
		if secs > 0 {
			m.DeliveriesPerSec = float64(m.Delivered) / secs
			m.MessagesPerSec = float64(m.Published) / secs
			m.BytesPerSec = float64(bytes) / secs
		}
		m.Latency = lat.Latency()
		m.FanOut = fan.Latency()
		sort.SliceStable(rooms, func(i, j int) bool {
			bi := rooms[i].Lost + rooms[i].Duplicated + rooms[i].OutOfOrder
			bj := rooms[j].Lost + rooms[j].Duplicated + rooms[j].OutOfOrder
			return bi > bj
		})
		m.Rooms = rooms
		m.Timeline = tl.seconds()
		r.Messages = m
		if m.Published == 0 && m.PublishErrors == 0 {
			c.warn("no message was published in the measuring window")
		}
	}

	if cfg.Cluster {
		r.Nodes = c.mergeNodes(accepted, secs)
	}

	b := &r.Bench
	b.Procs = cfg.Procs
	b.Cores = runtime.NumCPU()
	if secs > 0 {
		b.CPUPercent = 100 * cpu / secs
	}
	b.SchedP99 = sched
	b.PublishLagMax = lag
	// Scheduling delay matters when it is a visible share of what was
	// measured: 10 ms of it under a 250 ms p99 changes little.
	ref := r.Connect.Handshake.P99
	if r.Messages != nil {
		ref = r.Messages.Latency.P99
	}
	if b.SchedP99 > float64(schedWarn)/1e6 && b.SchedP99 > schedShare*ref {
		b.Bottleneck = true
		c.warn("the bench's goroutines waited up to %.1f ms (p99) for a core: the CPUs were saturated (by the bench, the server or both), so receive times are late and latencies overstated by up to about that much; give the bench its own cores, or fewer connections", b.SchedP99)
	}
	if b.CPUPercent > cpuWarn*100*float64(b.Cores) {
		b.Bottleneck = true
		c.warn("the bench used %.0f%% CPU of %d cores: it, not the server, may be the limit", b.CPUPercent, b.Cores)
	}
	if lag > float64(lagWarn)/1e6 {
		c.warn("publishers fell up to %.0f ms behind schedule (the server or the bench could not take the rate); latency counts from the intended send time, so the delay is in the figures", lag)
	}
	if conn.Failed > 0 {
		c.warn("%d of %d connections failed (%s)%s", conn.Failed, conn.Attempted, failureSummary(conn.Failures), hintSuffix(conn.Failures))
	}
	if conn.Dropped > 0 {
		c.warn("%d connections were closed by the server or lost during the run (%s)%s", conn.Dropped, failureSummary(conn.Drops), hintSuffix(conn.Drops))
	}
	if r.Target.Child {
		c.warn("the server ran on this machine beside the bench: they shared its %d cores", b.Cores)
	}
	b.Warnings = c.warnings
	return r
}

func addCounts(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

// String is a one-line summary, for logs and test failures.
func (m *Messages) String() string {
	return fmt.Sprintf("published %d, expected %d, delivered %d, lost %d, dup %d, ooo %d, p50 %.2fms p99 %.2fms",
		m.Published, m.Expected, m.Delivered, m.Lost, m.Duplicated, m.OutOfOrder, m.Latency.P50, m.Latency.P99)
}

// unconfirmed counts, per stream, the messages in the measuring window
// that a sender the server dropped had written after the last one the
// server answered, and that no receiver got. The server handles a
// connection's commands in order and may close it before reading the
// rest (a flooding publisher is closed with 4009), so these may never have
// been taken: they are not owed, and reported as publish errors rather
// than as loss. One a receiver got was taken, and stays owed to all.
func (c *coord) unconfirmed(dropped []streamTally, fanCount [][]uint32) []int64 {
	out := make([]int64, c.l.streams)
	for _, t := range dropped {
		if t.Stream < 0 || t.Stream >= c.l.streams {
			continue
		}
		lo, hi := c.l.window(t.Stream)
		for n := max(t.Replied+1, int64(lo)); n <= t.Written && n < int64(hi); n++ {
			i := n - int64(lo)
			if fc := fanCount[t.Stream]; i >= int64(len(fc)) || fc[i] == 0 {
				out[t.Stream]++
			}
		}
	}
	return out
}

// timeline gathers the window's messages by the second of their intended
// send time (see Second).
type timeline struct {
	secs []timelineSecond
}

type timelineSecond struct {
	messages, deliveries, incomplete int64
	fan                              []uint32 // fan-out µs of the complete messages
}

func newTimeline(window time.Duration) *timeline {
	n := max(int((window+time.Second-1)/time.Second), 1)
	return &timeline{secs: make([]timelineSecond, n)}
}

// add counts one message intended at (into the window) that receivers
// receivers got, full when that was all of them, whose last arrival came
// fanMicros after its intended time.
func (t *timeline) add(at time.Duration, receivers int64, full bool, fanMicros uint32) {
	if receivers == 0 {
		return
	}
	ts := &t.secs[min(max(int(at/time.Second), 0), len(t.secs)-1)]
	ts.messages++
	ts.deliveries += receivers
	if full {
		ts.fan = append(ts.fan, fanMicros)
	} else {
		ts.incomplete++
	}
}

// seconds is the timeline for the Result; nil when nothing was received.
func (t *timeline) seconds() []Second {
	out := make([]Second, len(t.secs))
	any := false
	for i := range t.secs {
		ts := &t.secs[i]
		out[i] = Second{At: float64(i), Messages: ts.messages, Deliveries: ts.deliveries, Incomplete: ts.incomplete}
		any = any || ts.messages > 0
		if len(ts.fan) == 0 {
			continue
		}
		slices.Sort(ts.fan)
		ms := func(q float64) float64 {
			// The nearest-rank percentile, as the histograms give.
			k := max(int(math.Ceil(q*float64(len(ts.fan))))-1, 0)
			return float64(ts.fan[k]) / 1000
		}
		out[i].FanOutP50, out[i].FanOutP99, out[i].FanOutMax = ms(0.50), ms(0.99), ms(1)
	}
	if !any {
		return nil
	}
	return out
}

// mergeNodes adds up the shards' per-target figures of a cluster run.
// accepted is, per stream, the messages the server took in the window
// (nil when the scenario sends none); what each owes the receivers on a
// node follows from the room's subscribers there.
func (c *coord) mergeNodes(accepted []int64, secs float64) []NodeStats {
	cfg, l := c.cfg, c.l
	keys, targets := l.roomKeys(), l.targets
	nodes := make([]NodeStats, targets)
	lat := make([]*Hist, targets)
	delivered := make([]int64, targets*keys) // at target*keys + key
	for t := range nodes {
		nodes[t].URL = cfg.URLs[t]
		if t < len(c.nodeNames) {
			nodes[t].Node = c.nodeNames[t]
		}
		lat[t] = NewHist()
	}
	for g := range l.total {
		sl := l.slot(g)
		if sl.role == rolePub {
			nodes[sl.target].Publishers++
		} else {
			nodes[sl.target].Subscribers++
		}
	}
	for _, st := range c.states {
		if st.result == nil {
			continue
		}
		for t, sn := range st.result.Nodes {
			if t >= targets {
				break
			}
			n := &nodes[t]
			n.Attempted += sn.Attempted
			n.Connected += sn.Connected
			n.Failed += sn.Failed
			n.Dropped += sn.Dropped
			n.Duplicated += sn.Dup
			n.OutOfOrder += sn.OOO
			n.CrossDelivered += sn.Cross
			for k := range min(keys, len(sn.RoomDelivered)) {
				delivered[t*keys+k] += sn.RoomDelivered[k]
			}
			lat[t].Merge(sn.Latency)
		}
	}
	if accepted != nil {
		expected := make([]int64, targets*keys)
		subs := func(t, k int) int64 {
			if i := t*keys + k; i < len(c.nodeRoomSubs) {
				return int64(c.nodeRoomSubs[i])
			}
			return 0
		}
		for s, n := range accepted {
			k, from := l.streamRoom(s), l.streamTarget(s)
			for t := range targets {
				var owe int64
				switch {
				case cfg.Scenario == ScenarioDirect && t == k:
					owe = n // one receiver, on target k
				case cfg.Scenario == ScenarioBroadcast:
					owe = n * subs(t, k)
				}
				expected[t*keys+k] += owe
				if t != from {
					nodes[t].CrossExpected += owe
				}
			}
		}
		var crossOwed, crossGot int64
		for t := range nodes {
			n := &nodes[t]
			for k := range keys {
				i := t*keys + k
				n.Expected += expected[i]
				n.Delivered += delivered[i]
				n.Lost += max(expected[i]-delivered[i], 0)
			}
			if n.Expected > 0 {
				n.LossPercent = 100 * float64(n.Lost) / float64(n.Expected)
			}
			if secs > 0 {
				n.DeliveriesPerSec = float64(n.Delivered) / secs
			}
			if lat[t].Count() > 0 {
				lt := lat[t].Latency()
				n.Latency = &lt
			}
			crossOwed += n.CrossExpected
			crossGot += n.CrossDelivered
		}
		if crossOwed > 0 && crossGot == 0 {
			c.warn("no message crossed from one node to another (%d deliveries were owed across nodes): the --url are not one cluster, or it does not pass messages between its nodes (rtsync serve --redis makes one); without --cluster the bench loads each URL as a server of its own", crossOwed)
		}
	}
	return nodes
}
