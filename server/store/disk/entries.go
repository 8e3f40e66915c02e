package disk

import "sort"

// entry is what the store keeps in memory of a message on disk: enough
// to answer Head, plan a page, and trim by count, age and size without
// reading the message.
type entry struct {
	seq  uint64 // seq, or id for a direct message
	ts   int64
	size int32 // Message.Size
}

// entries are a room's (or inbox's) messages on disk, oldest first, with
// increasing seqs. Seqs are consecutive except where a write failed.
type entries struct {
	buf   []entry
	off   int // index of the oldest in buf
	bytes int64
}

func (e *entries) len() int        { return len(e.buf) - e.off }
func (e *entries) at(i int) *entry { return &e.buf[e.off+i] }
func (e *entries) live() []entry   { return e.buf[e.off:] }
func (e *entries) push(x entry)    { e.buf = append(e.buf, x); e.bytes += int64(x.size) }
func (e *entries) oldest() *entry  { return e.at(0) }
func (e *entries) newest() *entry  { return e.at(e.len() - 1) }
func (e *entries) empty() bool     { return e.len() == 0 }

// drop removes the n oldest and returns the seqs of the first and last
// removed.
func (e *entries) drop(n int) (first, last uint64) {
	first, last = e.at(0).seq, e.at(n-1).seq
	for i := range n {
		e.bytes -= int64(e.at(i).size)
	}
	e.off += n
	switch {
	case e.off == len(e.buf):
		e.buf, e.off = e.buf[:0], 0
	case e.off > 1024 && e.off > len(e.buf)/2:
		e.buf = append(e.buf[:0], e.buf[e.off:]...)
		e.off = 0
	}
	return first, last
}

// index returns the position of the first entry with a seq after after.
func (e *entries) index(after uint64) int {
	l := e.live()
	return sort.Search(len(l), func(i int) bool { return l[i].seq > after })
}

// pageAfter plans a page of up to limit entries with seqs after since,
// within maxBytes (0: no cap; at least one entry): the positions [i, end)
// and the page's More and Truncated, as the memory ring gives them.
func (e *entries) pageAfter(since uint64, limit, maxBytes int) (i, end int, more, truncated bool) {
	n := e.len()
	i = e.index(since)
	end = min(n, i+limit)
	if maxBytes > 0 {
		size := 0
		for j := i; j < end; j++ {
			if size += int(e.at(j).size); size > maxBytes && j > i {
				end = j
				break
			}
		}
	}
	return i, end, end < n, end < min(n, i+limit)
}

// pageBefore plans the newest limit entries with seqs before before (all
// when before is 0), within maxBytes as pageAfter does.
func (e *entries) pageBefore(before uint64, limit, maxBytes int) (start, end int, more, truncated bool) {
	end = e.len()
	if before > 0 {
		end = e.index(before - 1)
	}
	start = max(0, end-limit)
	if maxBytes > 0 {
		size := 0
		for j := end - 1; j >= start; j-- {
			if size += int(e.at(j).size); size > maxBytes && j < end-1 {
				start = j + 1
				break
			}
		}
	}
	return start, end, start > 0, start > max(0, end-limit)
}

func sortRooms(rs []RoomReport) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
}
