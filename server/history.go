package server

import "time"

// entry is one stored message: its seq, when it was published, and the
// encoded msg event, which is replayed as is.
type entry struct {
	seq  uint64
	ts   int64 // unix ms
	data []byte
}

// ring is a room's in-memory history: the newest cap messages, oldest first.
// It is guarded by the owning room's lock.
type ring struct {
	buf   []entry
	start int // index of the oldest entry
	n     int
	bytes int // the entries' encoded messages, for stats
}

// push appends e, evicting the oldest entry once limit entries are held.
func (r *ring) push(e entry, limit int) {
	if limit <= 0 {
		return
	}
	r.bytes += len(e.data)
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = e
		r.n++
		return
	}
	if r.n < limit {
		// Full of live entries but below the limit: grow, in order.
		if r.start != 0 {
			lin := make([]entry, r.n, min(limit, 2*r.n+1))
			for i := range r.n {
				lin[i] = *r.at(i)
			}
			r.buf, r.start = lin, 0
		}
		r.buf = append(r.buf, e)
		r.n++
		return
	}
	r.bytes -= len(r.buf[r.start].data)
	r.buf[r.start] = e
	r.start = (r.start + 1) % len(r.buf)
}

func (r *ring) at(i int) *entry { return &r.buf[(r.start+i)%len(r.buf)] }

// trim drops entries published before cutoff (unix ms).
func (r *ring) trim(cutoff int64) {
	for r.n > 0 && r.at(0).ts < cutoff {
		r.bytes -= len(r.at(0).data)
		*r.at(0) = entry{}
		r.start = (r.start + 1) % len(r.buf)
		r.n--
	}
	if r.n == 0 {
		r.start, r.bytes = 0, 0
		r.buf = r.buf[:0]
	}
}

// oldestSeq returns the seq of the oldest retained entry, or 0 when empty.
func (r *ring) oldestSeq() uint64 {
	if r.n == 0 {
		return 0
	}
	return r.at(0).seq
}

// index returns the position of the first entry with seq > after.
// Entries hold consecutive seqs, so this is arithmetic, not a search.
func (r *ring) index(after uint64) int {
	if r.n == 0 {
		return 0
	}
	first := r.at(0).seq
	if after < first {
		return 0
	}
	return min(int(after-first)+1, r.n)
}

// after returns up to limit entries with seq > since, oldest first, and
// whether more remain.
func (r *ring) after(since uint64, limit int) ([]entry, bool) {
	i := r.index(since)
	end := min(r.n, i+limit)
	out := make([]entry, 0, end-i)
	for j := i; j < end; j++ {
		out = append(out, *r.at(j))
	}
	return out, end < r.n
}

// before returns the newest limit entries with seq < before (all when
// before is 0), oldest first, and whether older ones remain.
func (r *ring) before(before uint64, limit int) ([]entry, bool) {
	end := r.n
	if before > 0 {
		end = r.index(before - 1)
		if before-1 < r.oldestSeq() {
			end = 0
		}
	}
	start := max(0, end-limit)
	out := make([]entry, 0, end-start)
	for j := start; j < end; j++ {
		out = append(out, *r.at(j))
	}
	return out, start > 0
}

func nowMS() int64 { return time.Now().UnixMilli() }
