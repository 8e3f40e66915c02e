package server

import (
	"sync/atomic"
	"time"
)

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
	// total, when set, is the server's count of history bytes over
	// every room (encoded messages plus entryOverhead each), kept in
	// step with this ring for the global bound (Config.MaxHistoryBytes).
	total *atomic.Int64
}

// account adds an entry of size bytes (negative: removes one) to the
// ring's and the server's byte counts.
func (r *ring) account(size int, sign int) {
	r.bytes += sign * size
	if r.total != nil {
		r.total.Add(int64(sign * (size + entryOverhead)))
	}
}

// dropOldest removes the oldest entry, if any, and returns its size.
func (r *ring) dropOldest() int {
	if r.n == 0 {
		return 0
	}
	size := len(r.at(0).data)
	r.account(size, -1)
	*r.at(0) = entry{}
	r.start = (r.start + 1) % len(r.buf)
	r.n--
	if r.n == 0 {
		r.start = 0
		r.buf = r.buf[:0]
	}
	return size
}

// oldestTS returns when the oldest entry was published (unix ms), 0 when
// empty.
func (r *ring) oldestTS() int64 {
	if r.n == 0 {
		return 0
	}
	return r.at(0).ts
}

// newestTS returns when the newest entry was published (unix ms), 0 when
// empty.
func (r *ring) newestTS() int64 {
	if r.n == 0 {
		return 0
	}
	return r.at(r.n - 1).ts
}

// push appends e, evicting the oldest entry once limit entries are held.
func (r *ring) push(e entry, limit int) {
	if limit <= 0 {
		return
	}
	r.account(len(e.data), 1)
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
	r.account(len(r.buf[r.start].data), -1)
	r.buf[r.start] = e
	r.start = (r.start + 1) % len(r.buf)
}

func (r *ring) at(i int) *entry { return &r.buf[(r.start+i)%len(r.buf)] }

// trim drops entries published before cutoff (unix ms).
func (r *ring) trim(cutoff int64) {
	for r.n > 0 && r.at(0).ts < cutoff {
		r.dropOldest()
	}
}

// clearAll drops every entry.
func (r *ring) clearAll() {
	for r.n > 0 {
		r.dropOldest()
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

// A page of history: the entries, whether more remain in the direction
// asked, and whether the byte budget (not the limit) cut it short.
type histPage struct {
	entries   []entry
	more      bool
	truncated bool
}

// after returns up to limit entries with seq > since, oldest first, whose
// encoded messages (one separator each) add up to at most maxBytes; at
// least one entry when any is there, so paging always moves on.
func (r *ring) after(since uint64, limit, maxBytes int) histPage {
	i := r.index(since)
	end := min(r.n, i+limit)
	size := 0
	for j := i; j < end; j++ {
		if size += len(r.at(j).data) + 1; size > maxBytes && j > i {
			end = j
			break
		}
	}
	p := histPage{entries: make([]entry, 0, end-i), more: end < r.n}
	p.truncated = end < min(r.n, i+limit)
	for j := i; j < end; j++ {
		p.entries = append(p.entries, *r.at(j))
	}
	return p
}

// before returns the newest limit entries with seq < before (all when
// before is 0), oldest first, within maxBytes as after does, and whether
// older ones remain.
func (r *ring) before(before uint64, limit, maxBytes int) histPage {
	end := r.n
	if before > 0 {
		end = r.index(before - 1)
		if before-1 < r.oldestSeq() {
			end = 0
		}
	}
	start := max(0, end-limit)
	size := 0
	for j := end - 1; j >= start; j-- {
		if size += len(r.at(j).data) + 1; size > maxBytes && j < end-1 {
			start = j + 1
			break
		}
	}
	p := histPage{entries: make([]entry, 0, end-start), more: start > 0}
	p.truncated = start > max(0, end-limit)
	for j := start; j < end; j++ {
		p.entries = append(p.entries, *r.at(j))
	}
	return p
}

func nowMS() int64 { return time.Now().UnixMilli() }
