package loadtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: latencies are recorded in microseconds from 1 µs to
// histMax, with three significant digits (0.1% resolution). A value above
// the range is clamped to it and counted in the histogram's max.
const (
	histMin    = 1
	histMax    = int64(10 * time.Minute / time.Microsecond)
	histDigits = 3
)

// Hist is an HDR latency histogram in microseconds. It marshals to JSON as
// the standard compressed HdrHistogram encoding (base64), so histograms
// from worker processes and from saved runs merge exactly.
//
// A Hist is not safe for concurrent use; see shardedHist.
type Hist struct {
	h *hdrhistogram.Histogram
}

// NewHist returns an empty histogram.
func NewHist() *Hist { return &Hist{h: hdrhistogram.New(histMin, histMax, histDigits)} }

// Record adds one latency.
func (h *Hist) Record(d time.Duration) { h.RecordMicros(int64(d / time.Microsecond)) }

// RecordMicros adds one latency given in microseconds.
func (h *Hist) RecordMicros(us int64) {
	_ = h.h.RecordValue(min(max(us, histMin), histMax))
}

// Merge adds every value of o to h.
func (h *Hist) Merge(o *Hist) {
	if o != nil && o.h != nil {
		h.h.Merge(o.h)
	}
}

// Count is the number of recorded values.
func (h *Hist) Count() int64 { return h.h.TotalCount() }

// Quantile returns the value at percentile p (0-100) in microseconds.
func (h *Hist) Quantile(p float64) int64 { return h.h.ValueAtPercentile(p) }

// Point is one step of a percentile curve: Percentile percent of values
// were at most Micros.
type Point struct {
	Percentile float64 `json:"percentile"`
	Micros     int64   `json:"us"`
}

// Curve returns the percentile curve HdrHistogram plots: points spaced
// log-wise toward 100% so the tail is visible.
func (h *Hist) Curve() []Point {
	var pts []Point
	for _, b := range h.h.CumulativeDistributionWithTicks(5) {
		pts = append(pts, Point{Percentile: b.Quantile, Micros: b.ValueAt})
	}
	return pts
}

// Bucket is one bar of a histogram: Count values in [From, To) µs.
type Bucket struct {
	From  int64 `json:"from_us"`
	To    int64 `json:"to_us"`
	Count int64 `json:"count"`
}

// Buckets returns the recorded values as at most n bars of equal width
// between the minimum and the 99.9th percentile (the rest go in the
// last bar), which is what a terminal or an SVG bar chart draws.
func (h *Hist) Buckets(n int) []Bucket {
	if h.Count() == 0 || n < 1 {
		return nil
	}
	lo, hi := h.h.Min(), h.h.ValueAtPercentile(99.9)
	if hi <= lo {
		hi = lo + 1
	}
	width := max((hi-lo+int64(n)-1)/int64(n), 1)
	out := make([]Bucket, n)
	for i := range out {
		out[i] = Bucket{From: lo + int64(i)*width, To: lo + int64(i+1)*width}
	}
	for _, bar := range h.h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		i := int((bar.From - lo) / width)
		i = min(max(i, 0), n-1)
		out[i].Count += bar.Count
	}
	return out
}

// Latency summarises the histogram in milliseconds.
func (h *Hist) Latency() Latency {
	if h.Count() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Count: h.Count(),
		Min:   ms(h.h.Min()),
		Mean:  h.h.Mean() / 1000,
		P50:   ms(h.Quantile(50)),
		P90:   ms(h.Quantile(90)),
		P99:   ms(h.Quantile(99)),
		P999:  ms(h.Quantile(99.9)),
		Max:   ms(h.h.Max()),
		Hist:  h,
	}
}

// MarshalJSON encodes h in HdrHistogram's compressed V2 format, base64.
func (h *Hist) MarshalJSON() ([]byte, error) {
	b, err := h.h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("encode histogram: %w", err)
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(b))
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (h *Hist) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	d, err := hdrhistogram.Decode(raw)
	if err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	h.h = hdrhistogram.New(histMin, histMax, histDigits)
	h.h.Merge(d)
	return nil
}

// shardedHist is a histogram many goroutines record into: each records
// into the shard its id picks, so locks are rarely contended. Snapshot
// merges the shards.
type shardedHist struct {
	shards []histShard
}

type histShard struct {
	sync.Mutex
	h *Hist
	_ [40]byte // keep shards on separate cache lines
}

// histShards is how many locks a shardedHist spreads its recorders over
// by default. Each shard is a whole histogram (about 170 KB).
const histShards = 64

func newShardedHist(n int) *shardedHist {
	s := &shardedHist{shards: make([]histShard, n)}
	for i := range s.shards {
		s.shards[i].h = NewHist()
	}
	return s
}

func (s *shardedHist) record(id int, us int64) {
	sh := &s.shards[uint(id)%uint(len(s.shards))]
	sh.Lock()
	sh.h.RecordMicros(us)
	sh.Unlock()
}

// snapshot returns the merged histogram; recording may go on meanwhile.
func (s *shardedHist) snapshot() *Hist {
	out := NewHist()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.Lock()
		out.Merge(sh.h)
		sh.Unlock()
	}
	return out
}
