package server

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The two histograms the writers feed (rtsync_publish_to_write_seconds and
// rtsync_send_queue_bytes), and bytes_out, are observed once per batch
// written, which under fan-out is about once per delivery. A client_golang histogram
// costs several atomic adds per observation on cache lines that every
// writer shares: in BenchmarkFanOut at 1,000 members that measured about
// 5% more CPU per delivery and twice the writer goroutine starts (slower
// writers fall behind more often). So each writer goroutine counts into
// histograms of its own, on its stack, and adds them to the server's
// every flushEvery observations, every flushInterval, and when it exits;
// a scrape may miss the last second or so.

// Writer statistics tuning.
const (
	flushEvery    = 256 // at most 65535: localHist counts are uint16
	flushInterval = 100 * time.Millisecond
	// maxHistBuckets bounds the buckets of a histogram, so a writer's
	// counts fit in a fixed array.
	maxHistBuckets = 16
)

// histogram is a Prometheus histogram of integer observations (nanoseconds,
// bytes) added to in bulk. Bucket counts are not cumulative; the +Inf
// bucket is the last.
type histogram struct {
	desc   *prometheus.Desc
	le     []float64 // upper bounds, exposed
	bounds []uint64  // the same in the unit observed
	unit   float64   // what one unit is in the exposed unit (1e-9 for ns to seconds)
	counts [maxHistBuckets + 1]atomic.Uint64
	sum    atomic.Uint64 // float64 bits, in the exposed unit
}

// newHistogram makes a histogram whose bucket upper bounds are bounds in
// the exposed unit; an observation of n counts as n*unit.
func newHistogram(name, help string, bounds []float64, unit float64) *histogram {
	if len(bounds) > maxHistBuckets {
		panic("histogram " + name + " has more than maxHistBuckets buckets")
	}
	h := &histogram{desc: prometheus.NewDesc(name, help, nil, nil), le: bounds, unit: unit}
	for _, b := range bounds {
		h.bounds = append(h.bounds, uint64(math.Round(b/unit)))
	}
	return h
}

// metric is the histogram as a Prometheus metric. Its count is the sum of
// the buckets, so the two agree however a scrape and a flush interleave.
func (h *histogram) metric() prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.bounds))
	var cum uint64
	for i, le := range h.le {
		cum += h.counts[i].Load()
		buckets[le] = cum
	}
	cum += h.counts[len(h.bounds)].Load()
	return prometheus.MustNewConstHistogram(h.desc, cum, math.Float64frombits(h.sum.Load()), buckets)
}

// localHist is one writer's counts for a histogram, small because it
// lives on the writer's stack: a count never passes flushEvery.
type localHist struct {
	counts [maxHistBuckets + 1]uint16
	sum    uint64
}

func (l *localHist) observe(h *histogram, v uint64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	l.counts[i]++
	l.sum += v
}

// addTo adds l to h and clears l.
func (l *localHist) addTo(h *histogram) {
	any := false
	for i, n := range l.counts[:len(h.bounds)+1] {
		if n != 0 {
			h.counts[i].Add(uint64(n))
			any = true
		}
	}
	if !any {
		return
	}
	add := float64(l.sum) * h.unit
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+add)) {
			break
		}
	}
	*l = localHist{}
}

// writerStats are what one writer goroutine observed since it last added
// to the server's histograms. It belongs to that goroutine.
type writerStats struct {
	pubToWrite, queueBytes localHist
	// bytesOut is bytes written since the last flush, for
	// metrics.bytesOut: kept here too rather than as a third atomic per
	// write on the line that frames and objects share.
	bytesOut uint64
	n        int   // observations since the last flush
	last     int64 // unix ns of the last flush
}

// observed counts one batch, whose writing ended at unix ns now: the
// bytes it wrote (bytesOut) and took from the queue and, when it carried
// room messages, the time from the publish of the oldest (pubAt, 0: none)
// until the frame carrying it was written (written). It flushes when due.
func (w *writerStats) observed(s *Server, queued int, pubAt, written, now int64, bytesOut uint64) {
	p := s.prom
	w.bytesOut += bytesOut
	w.queueBytes.observe(p.queueBytes, uint64(queued))
	if pubAt != 0 {
		w.pubToWrite.observe(p.publishToWrite, uint64(max(written-pubAt, 0)))
	}
	if w.last == 0 {
		w.last = now // a new writer: its first write starts the interval
	}
	if w.n++; w.n >= flushEvery || now-w.last >= int64(flushInterval) {
		w.flush(s, now)
	}
}

// flush adds the counts to the server's; now starts the next interval.
func (w *writerStats) flush(s *Server, now int64) {
	if w.n > 0 {
		w.queueBytes.addTo(s.prom.queueBytes)
		w.pubToWrite.addTo(s.prom.publishToWrite)
		s.metrics.bytesOut.Add(w.bytesOut)
	}
	w.n, w.last, w.bytesOut = 0, now, 0
}
