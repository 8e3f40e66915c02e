package memory

import "github.com/rtsync/rtsync/server/store"

// ring is a room's history: the newest messages, oldest first, with
// consecutive seqs. It is guarded by its room's lock.
type ring struct {
	buf   []store.Message
	start int // index of the oldest message
	n     int
	bytes int64 // what the messages count (Message.Size)
}

func (r *ring) at(i int) *store.Message { return &r.buf[(r.start+i)%len(r.buf)] }

// push appends m, dropping the oldest message once limit are held; it
// returns the size of the message dropped (0: none).
func (r *ring) push(m store.Message, limit int) (dropped int64) {
	r.bytes += int64(m.Size())
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = m
		r.n++
		return 0
	}
	if r.n < limit {
		// Full of live messages but below the limit: grow, in order.
		if r.start != 0 {
			lin := make([]store.Message, r.n, min(limit, 2*r.n+1))
			for i := range r.n {
				lin[i] = *r.at(i)
			}
			r.buf, r.start = lin, 0
		}
		r.buf = append(r.buf, m)
		r.n++
		return 0
	}
	dropped = int64(r.buf[r.start].Size())
	r.bytes -= dropped
	r.buf[r.start] = m
	r.start = (r.start + 1) % len(r.buf)
	return dropped
}

// dropOldest removes the oldest message, if any, and returns its size.
func (r *ring) dropOldest() int64 {
	if r.n == 0 {
		return 0
	}
	size := int64(r.at(0).Size())
	r.bytes -= size
	*r.at(0) = store.Message{}
	r.start = (r.start + 1) % len(r.buf)
	r.n--
	if r.n == 0 {
		r.start = 0
		r.buf = r.buf[:0]
	}
	return size
}

func (r *ring) oldestTS() int64 {
	if r.n == 0 {
		return 0
	}
	return r.at(0).TS
}

func (r *ring) newestTS() int64 {
	if r.n == 0 {
		return 0
	}
	return r.at(r.n - 1).TS
}

func (r *ring) oldestSeq() uint64 {
	if r.n == 0 {
		return 0
	}
	return r.at(0).Seq
}

// index returns the position of the first message with seq > after.
// Seqs are consecutive, so this is arithmetic, not a search.
func (r *ring) index(after uint64) int {
	if r.n == 0 {
		return 0
	}
	first := r.at(0).Seq
	if after < first {
		return 0
	}
	return int(min(after-first+1, uint64(r.n)))
}

// after fills p with up to limit messages with seq > since, oldest
// first, within maxBytes (0: no cap; at least one message).
func (r *ring) after(p *store.Page, since uint64, limit, maxBytes int) {
	i := r.index(since)
	end := min(r.n, i+limit)
	if maxBytes > 0 {
		size := 0
		for j := i; j < end; j++ {
			if size += r.at(j).Size(); size > maxBytes && j > i {
				end = j
				break
			}
		}
	}
	p.More = end < r.n
	p.Truncated = end < min(r.n, i+limit)
	p.Messages = make([]store.Message, 0, end-i)
	for j := i; j < end; j++ {
		p.Messages = append(p.Messages, *r.at(j))
	}
}

// before fills p with the newest limit messages with seq < before (all
// when before is 0), oldest first, within maxBytes as after does.
func (r *ring) before(p *store.Page, before uint64, limit, maxBytes int) {
	end := r.n
	if before > 0 {
		end = r.index(before - 1)
		if before-1 < r.oldestSeq() {
			end = 0
		}
	}
	start := max(0, end-limit)
	if maxBytes > 0 {
		size := 0
		for j := end - 1; j >= start; j-- {
			if size += r.at(j).Size(); size > maxBytes && j < end-1 {
				start = j + 1
				break
			}
		}
	}
	p.More = start > 0
	p.Truncated = start > max(0, end-limit)
	p.Messages = make([]store.Message, 0, end-start)
	for j := start; j < end; j++ {
		p.Messages = append(p.Messages, *r.at(j))
	}
}
