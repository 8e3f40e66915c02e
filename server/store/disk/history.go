package disk

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/rtsync/rtsync/server/store"
)

func (r *room) isGone() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gone
}

// room returns the named room, made when create is set.
func (s *Store) room(name string, create bool) *room {
	s.mu.RLock()
	r := s.rooms[name]
	s.mu.RUnlock()
	if r != nil || !create {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r = s.rooms[name]; r == nil {
		if s.opts.MaxRooms > 0 && len(s.rooms) >= s.opts.MaxRooms {
			s.forgetOldestLocked()
		}
		r = &room{name: name, prefix: prefixKey(kindMessage, name), epoch: store.NewEpoch(), ret: s.opts.RetentionOf(name)}
		s.rooms[name] = r
	}
	return r
}

// forgetOldestLocked forgets a hundredth of the rooms (at least one), those
// whose newest message is the oldest, to make way for a new room. s.mu is
// held.
func (s *Store) forgetOldestLocked() {
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	idle := store.IdlestRooms(rooms, func(r *room) int64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.hist.empty() {
			return 0
		}
		return r.hist.newest().ts
	}, max(1, len(rooms)/100))
	n := 0
	for _, r := range idle {
		r.mu.Lock()
		n += r.hist.len()
		s.bytes.Add(-r.hist.bytes)
		s.messages.Add(-int64(r.hist.len()))
		r.hist = entries{}
		r.gone = true
		// Queued under the room's lock, so that it follows every
		// append of the room already queued and precedes the writes
		// of a new room of the same name.
		s.q.addRec(
			rec{op: recDelRange, k: seqKey(r.prefix, 0), end: prefixEnd(r.prefix)},
			rec{op: recDel, k: nameKey(kindRoom, r.name)},
		)
		r.mu.Unlock()
		delete(s.rooms, r.name)
	}
	s.evicted.Add(uint64(n))
	if s.opts.OnTrim != nil {
		s.opts.OnTrim("rooms", len(idle))
	}
}

// Append adds a message to room's history and returns its seq and the
// room's epoch at once; c reports when the message is on disk (synced,
// unless the fsync mode is off).
func (s *Store) Append(name string, ts int64, from, data []byte) (uint64, string, *store.Commit, error) {
	if s.closed.Load() {
		return 0, "", nil, store.ErrClosed
	}
	size := int64(len(from) + len(data) + store.MessageOverhead)
	s.q.waitSpace(s.maxPending)
	for {
		r := s.room(name, true)
		r.mu.Lock()
		if r.gone {
			r.mu.Unlock()
			continue
		}
		r.seq++
		seq, epoch := r.seq, r.epoch
		c, err := s.q.add(op{r: r, seq: seq, ts: ts, from: from, data: data, keep: r.ret.Count > 0}, size, s.opts.Fsync == FsyncAlways)
		r.mu.Unlock()
		if err != nil {
			return 0, "", nil, err
		}
		return seq, epoch, c, nil
	}
}

// trimRoomLocked drops r's messages past its retention, count and age,
// and queues their delete. r.mu is held.
func (s *Store) trimRoomLocked(r *room, now int64) {
	if r.gone || r.hist.empty() {
		return
	}
	n := max(0, r.hist.len()-r.ret.Count)
	if r.ret.Age > 0 {
		cutoff := now - r.ret.Age.Milliseconds()
		for n < r.hist.len() && r.hist.at(n).ts < cutoff {
			n++
		}
	}
	if n > 0 {
		s.dropLocked(r, n)
		s.trimmed.Add(uint64(n))
	}
}

// dropLocked drops r's n oldest messages and queues their delete.
func (s *Store) dropLocked(r *room, n int) {
	before := r.hist.bytes
	first, last := r.hist.drop(n)
	s.bytes.Add(r.hist.bytes - before)
	s.messages.Add(-int64(n))
	s.q.addRec(rec{op: recDelRange, k: seqKey(r.prefix, first), end: seqKey(r.prefix, last+1)})
}

func headLocked(r *room) store.Head {
	h := store.Head{Epoch: r.epoch, Seq: r.seq, Count: r.hist.len(), Bytes: r.hist.bytes}
	if !r.hist.empty() {
		h.Oldest = r.hist.oldest().seq
	}
	return h
}

// Head sums up room's history.
func (s *Store) Head(name string) (store.Head, error) {
	r := s.room(name, false)
	if r == nil {
		return store.Head{}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s.trimRoomLocked(r, time.Now().UnixMilli())
	return headLocked(r), nil
}

// Read returns a page of room's history. The page is planned from the
// in-memory summary under the room's lock, then read from disk without it.
func (s *Store) Read(name string, q store.Query) (store.Page, error) {
	if q.Limit <= 0 {
		return store.Page{}, fmt.Errorf("read %q: limit must be at least 1", name)
	}
	r := s.room(name, false)
	if r == nil {
		return store.Page{Messages: []store.Message{}}, nil
	}
	r.mu.Lock()
	s.trimRoomLocked(r, time.Now().UnixMilli())
	p := store.Page{Head: headLocked(r)}
	var i, end int
	if q.After != nil {
		i, end, p.More, p.Truncated = r.hist.pageAfter(*q.After, q.Limit, q.MaxBytes)
	} else {
		i, end, p.More, p.Truncated = r.hist.pageBefore(q.Before, q.Limit, q.MaxBytes)
	}
	want := make([]uint64, 0, end-i)
	for j := i; j < end; j++ {
		want = append(want, r.hist.at(j).seq)
	}
	r.mu.Unlock()
	p.Messages = make([]store.Message, 0, len(want))
	if len(want) == 0 {
		return p, nil
	}
	err := s.readRange(r.prefix, want, func(seq uint64, v []byte) error {
		ts, from, data, err := decodeMessage(v, true)
		if err != nil {
			return err
		}
		p.Messages = append(p.Messages, store.Message{Seq: seq, TS: ts, From: from, Data: data})
		return nil
	})
	if err != nil {
		return store.Page{}, fmt.Errorf("read room %q: %w", name, err)
	}
	return p, nil
}

// readRange calls f for each of the keys prefix+want (increasing) found on
// disk. A message trimmed meanwhile is left out; one on disk but not in
// want (a write that failed after reaching the log) is skipped.
func (s *Store) readRange(prefix []byte, want []uint64, f func(n uint64, v []byte) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		if s.closed.Load() {
			return store.ErrClosed
		}
		return fmt.Errorf("data directory %s is being reopened: %w", s.dir, store.ErrUnavailable)
	}
	return safely("read "+s.dir, func() error {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: seqKey(prefix, want[0]), UpperBound: seqKey(prefix, want[len(want)-1]+1)})
		if err != nil {
			return err
		}
		w := 0
		for ok := it.First(); ok && w < len(want); ok = it.Next() {
			_, n, ok := parseSeqKey(it.Key())
			if !ok {
				continue
			}
			for w < len(want) && want[w] < n {
				w++
			}
			if w == len(want) || want[w] != n {
				continue
			}
			v, err := it.ValueAndErr()
			if err == nil {
				err = f(n, v)
			}
			if err != nil {
				it.Close()
				return s.readErr(err)
			}
			w++
		}
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return s.readErr(err)
		}
		return nil
	})
}

func (s *Store) readErr(err error) error {
	if errors.Is(err, errBadValue) || pebble.IsCorruptionError(err) {
		return corruptErr(s.dir, err)
	}
	return fmt.Errorf("%w: %w", err, store.ErrUnavailable)
}

// Rooms lists the rooms with history, sorted.
func (s *Store) Rooms(after string, limit int) ([]string, error) {
	var names []string
	for _, r := range s.roomList() {
		r.mu.Lock()
		if !r.hist.empty() {
			names = append(names, r.name)
		}
		r.mu.Unlock()
	}
	return store.NamesPage(names, after, limit), nil
}

// Sweep trims the messages past their room's or inbox's age. The store
// runs it every few seconds; tests call it to move time on.
func (s *Store) Sweep(now time.Time) {
	ms := now.UnixMilli()
	for _, r := range s.roomList() {
		r.mu.Lock()
		s.trimRoomLocked(r, ms)
		r.mu.Unlock()
	}
	s.sweepInboxes(ms)
}

// evictOver brings the history down to nine tenths of the bound once it
// is past it, so that eviction runs once per tenth of the bound.
func (s *Store) evictOver() {
	if s.maxBytes <= 0 || s.bytes.Load() <= s.maxBytes {
		return
	}
	if n := s.evict(s.maxBytes - s.maxBytes/10); n > 0 && s.opts.OnTrim != nil {
		s.opts.OnTrim("size", n)
	}
}

// evict drops the oldest messages across all rooms until at most target
// bytes remain, one range delete per room, and returns how many went.
func (s *Store) evict(target int64) int {
	n := store.EvictOldest(s.roomList(), func(r *room) (int64, bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.hist.empty() {
			return 0, false
		}
		return r.hist.oldest().ts, true
	}, func(r *room, next int64) (int, bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		k, freed := 0, int64(0)
		for k < r.hist.len() && r.hist.at(k).ts <= next && s.bytes.Load()-freed > target {
			freed += int64(r.hist.at(k).size)
			k++
		}
		if k == 0 || r.gone {
			return 0, s.bytes.Load() <= target
		}
		s.dropLocked(r, k)
		return k, s.bytes.Load() <= target
	})
	s.evicted.Add(uint64(n))
	return n
}

// roomList returns the rooms, for work that takes their locks one by one.
func (s *Store) roomList() []*room {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}
