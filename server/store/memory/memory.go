package memory

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtsync/rtsync/server/store"
)

// DefaultMaxBytes bounds a memory store's history when Options.MaxBytes
// is 0.
const DefaultMaxBytes = 128 << 20

// Store keeps history and inboxes in the process: nothing survives it.
type Store struct {
	opts     store.Options
	maxBytes int64

	// rooms is guarded by mu; fast mirrors it for lookups without a
	// lock (the publish path), written under mu too.
	mu    sync.RWMutex
	rooms map[string]*room
	fast  sync.Map
	// inboxes are guarded by inboxMu.
	inboxMu sync.Mutex
	inboxes map[string]*inbox
	// lastID is the last inbox id given, over all uids, so that an id
	// is never reused even when an inbox empties and goes.
	lastID uint64

	bytes      atomic.Int64 // history, as Message.Size counts it
	inboxBytes atomic.Int64
	messages   atomic.Int64
	inboxMsgs  atomic.Int64
	evictMu    sync.Mutex

	trimmed, evicted, expired atomic.Uint64

	closed atomic.Bool
}

type room struct {
	mu    sync.Mutex
	name  string
	epoch string
	seq   uint64
	ret   store.Retention
	hist  ring
	// gone is set when the store forgot the room; an Append holding a
	// stale pointer looks it up again.
	gone bool
}

type inbox struct {
	delivered uint64
	msgs      []store.Direct
	bytes     int64
}

// New returns an empty memory store. It runs no goroutine: expired
// messages go when they are read and when its owner calls Sweep.
func New(opts store.Options) *Store {
	s := &Store{opts: opts, maxBytes: opts.MaxBytes, rooms: make(map[string]*room), inboxes: make(map[string]*inbox)}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxBytes
	}
	return s
}

// Close makes writes fail with store.ErrClosed; the data stays readable.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

// room returns the named room, made when create is set.
func (s *Store) room(name string, create bool) *room {
	if v, ok := s.fast.Load(name); ok {
		return v.(*room)
	}
	if !create {
		return nil
	}
	var r *room
	s.mu.Lock()
	defer s.mu.Unlock()
	if r = s.rooms[name]; r == nil {
		if s.opts.MaxRooms > 0 && len(s.rooms) >= s.opts.MaxRooms {
			s.forgetOldestLocked()
		}
		r = &room{name: name, epoch: store.NewEpoch(), ret: s.opts.RetentionOf(name)}
		s.rooms[name] = r
		s.fast.Store(name, r)
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
		return r.hist.newestTS()
	}, max(1, len(rooms)/100))
	n := 0
	for _, r := range idle {
		r.mu.Lock()
		n += r.hist.n
		s.dropAllLocked(r)
		r.gone = true
		r.mu.Unlock()
		delete(s.rooms, r.name)
		s.fast.Delete(r.name)
	}
	s.evicted.Add(uint64(n))
	if s.opts.OnTrim != nil {
		s.opts.OnTrim("rooms", len(idle))
	}
}

// dropAllLocked empties r's history; r.mu is held.
func (s *Store) dropAllLocked(r *room) {
	s.bytes.Add(-r.hist.bytes)
	s.messages.Add(-int64(r.hist.n))
	r.hist = ring{}
}

// Append adds a message to room's history; it is durable at once (in
// this process).
func (s *Store) Append(name string, ts int64, from, data []byte) (uint64, string, *store.Commit, error) {
	if s.closed.Load() {
		return 0, "", nil, store.ErrClosed
	}
	for {
		r := s.room(name, true)
		r.mu.Lock()
		if r.gone {
			r.mu.Unlock()
			continue
		}
		r.seq++
		seq, epoch := r.seq, r.epoch
		if r.ret.Count > 0 {
			m := store.Message{Seq: seq, TS: ts, From: from, Data: data}
			dropped := r.hist.push(m, r.ret.Count)
			s.bytes.Add(int64(m.Size()) - dropped)
			if dropped > 0 {
				s.trimmed.Add(1)
			} else {
				s.messages.Add(1)
			}
		}
		r.mu.Unlock()
		if s.maxBytes > 0 && s.bytes.Load() > s.maxBytes {
			s.evictOver()
		}
		return seq, epoch, nil, nil
	}
}

// evictOver brings the history down to nine tenths of the bound, so
// that eviction runs once per tenth of it rather than on every append.
func (s *Store) evictOver() {
	if n := s.Evict(s.maxBytes - s.maxBytes/10); n > 0 && s.opts.OnTrim != nil {
		s.opts.OnTrim("size", n)
	}
}

// trimLocked drops r's messages older than its retention's age.
func (s *Store) trimLocked(r *room, now int64) {
	if r.ret.Age <= 0 {
		return
	}
	cutoff := now - r.ret.Age.Milliseconds()
	for r.hist.n > 0 && r.hist.oldestTS() < cutoff {
		s.bytes.Add(-r.hist.dropOldest())
		s.messages.Add(-1)
		s.trimmed.Add(1)
	}
}

func headLocked(r *room) store.Head {
	return store.Head{Epoch: r.epoch, Seq: r.seq, Oldest: r.hist.oldestSeq(), Count: r.hist.n, Bytes: r.hist.bytes}
}

// Head sums up room's history.
func (s *Store) Head(name string) (store.Head, error) {
	r := s.room(name, false)
	if r == nil {
		return store.Head{}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s.trimLocked(r, time.Now().UnixMilli())
	return headLocked(r), nil
}

// Read returns a page of room's history.
func (s *Store) Read(name string, q store.Query) (store.Page, error) {
	if q.Limit <= 0 {
		return store.Page{}, fmt.Errorf("read %q: limit must be at least 1", name)
	}
	r := s.room(name, false)
	if r == nil {
		return store.Page{Messages: []store.Message{}}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s.trimLocked(r, time.Now().UnixMilli())
	p := store.Page{Head: headLocked(r)}
	if q.After != nil {
		r.hist.after(&p, *q.After, q.Limit, q.MaxBytes)
	} else {
		r.hist.before(&p, q.Before, q.Limit, q.MaxBytes)
	}
	return p, nil
}

// Rooms lists the rooms with history, sorted.
func (s *Store) Rooms(after string, limit int) ([]string, error) {
	var names []string
	for _, r := range s.roomList() {
		r.mu.Lock()
		if r.hist.n > 0 {
			names = append(names, r.name)
		}
		r.mu.Unlock()
	}
	return store.NamesPage(names, after, limit), nil
}

// Sweep trims the messages past their room's age and forgets rooms left
// with neither messages nor a use: an empty room's seq and epoch are kept
// until the room bound needs its place, so members of an idle room keep
// recovering across the trim.
func (s *Store) Sweep(now time.Time) {
	ms := now.UnixMilli()
	for _, r := range s.roomList() {
		r.mu.Lock()
		s.trimLocked(r, ms)
		r.mu.Unlock()
	}
	s.sweepInboxes(ms)
}

// Evict drops the oldest messages across all rooms, whichever room holds
// them, until at most target bytes remain, and returns how many went: a
// room published to a moment ago keeps its messages, one idle for hours
// loses them first. One caller at a time evicts; others return 0 at once.
func (s *Store) Evict(target int64) int {
	if !s.evictMu.TryLock() {
		return 0
	}
	defer s.evictMu.Unlock()
	n := store.EvictOldest(s.roomList(), func(r *room) (int64, bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.hist.oldestTS(), r.hist.n > 0
	}, func(r *room, next int64) (int, bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		k := 0
		for r.hist.n > 0 && r.hist.oldestTS() <= next && s.bytes.Load() > target {
			s.bytes.Add(-r.hist.dropOldest())
			s.messages.Add(-1)
			k++
		}
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

// Stats returns the store's figures.
func (s *Store) Stats() store.Stats {
	s.mu.RLock()
	rooms := 0
	for _, r := range s.rooms {
		r.mu.Lock()
		if r.hist.n > 0 {
			rooms++
		}
		r.mu.Unlock()
	}
	s.mu.RUnlock()
	s.inboxMu.Lock()
	inboxes := len(s.inboxes)
	s.inboxMu.Unlock()
	return store.Stats{
		Kind: "memory", Rooms: rooms, Messages: s.messages.Load(), Bytes: s.bytes.Load(),
		Inboxes: inboxes, InboxMessages: s.inboxMsgs.Load(),
		Trimmed: s.trimmed.Load(), Evicted: s.evicted.Load(), InboxExpired: s.expired.Load(),
	}
}

// inboxShare is the part of MaxBytes inboxes may take together; past it
// InboxAppend fails with store.ErrFull rather than take history's room.
const inboxShare = 4

// InboxAppend adds a direct message to uid's inbox.
func (s *Store) InboxAppend(uid string, ts int64, from, data []byte) (uint64, *store.Commit, error) {
	if s.closed.Load() {
		return 0, nil, store.ErrClosed
	}
	d := store.Direct{TS: ts, From: from, Data: data}
	if s.maxBytes > 0 && s.inboxBytes.Load()+int64(d.Size()) > s.maxBytes/inboxShare {
		return 0, nil, fmt.Errorf("inbox of %q: offline messages take %d bytes, their share of the store's bound: %w", uid, s.inboxBytes.Load(), store.ErrFull)
	}
	maxN, _ := s.opts.InboxLimits()
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	in := s.inboxes[uid]
	if in == nil {
		in = &inbox{}
		s.inboxes[uid] = in
	}
	s.lastID++
	d.ID = s.lastID
	in.msgs = append(in.msgs, d)
	in.bytes += int64(d.Size())
	s.inboxBytes.Add(int64(d.Size()))
	s.inboxMsgs.Add(1)
	for len(in.msgs) > maxN {
		s.dropInboxLocked(in, 1)
		s.expired.Add(1)
	}
	return d.ID, nil, nil
}

// dropInboxLocked drops in's n oldest messages.
func (s *Store) dropInboxLocked(in *inbox, n int) {
	for _, d := range in.msgs[:n] {
		in.bytes -= int64(d.Size())
		s.inboxBytes.Add(-int64(d.Size()))
	}
	s.inboxMsgs.Add(-int64(n))
	in.msgs = slices.Delete(in.msgs, 0, n)
}

// InboxRead returns uid's messages after after.
func (s *Store) InboxRead(uid string, after uint64, limit, maxBytes int) ([]store.Direct, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("inbox of %q: limit must be at least 1", uid)
	}
	_, ttl := s.opts.InboxLimits()
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	in := s.inboxes[uid]
	if in == nil {
		return []store.Direct{}, nil
	}
	s.expireLocked(uid, in, time.Now().Add(-ttl).UnixMilli())
	out := []store.Direct{}
	size := 0
	for _, d := range in.msgs {
		if d.ID <= after {
			continue
		}
		if len(out) == limit {
			break
		}
		if size += d.Size(); maxBytes > 0 && size > maxBytes && len(out) > 0 {
			break
		}
		d.Delivered = d.ID <= in.delivered
		out = append(out, d)
	}
	return out, nil
}

// expireLocked drops in's messages sent before cutoff, and the inbox
// itself once it is empty.
func (s *Store) expireLocked(uid string, in *inbox, cutoff int64) {
	n := 0
	for n < len(in.msgs) && in.msgs[n].TS < cutoff {
		n++
	}
	if n > 0 {
		s.dropInboxLocked(in, n)
		s.expired.Add(uint64(n))
	}
	if len(in.msgs) == 0 {
		delete(s.inboxes, uid)
	}
}

func (s *Store) sweepInboxes(now int64) {
	_, ttl := s.opts.InboxLimits()
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	for uid, in := range s.inboxes {
		s.expireLocked(uid, in, now-ttl.Milliseconds())
	}
}

// InboxDelivered records that uid's messages up to upTo were handed out.
func (s *Store) InboxDelivered(uid string, upTo uint64) error {
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	if in := s.inboxes[uid]; in != nil && upTo > in.delivered {
		in.delivered = upTo
	}
	return nil
}

// InboxAck removes uid's messages up to upTo.
func (s *Store) InboxAck(uid string, upTo uint64) (int, error) {
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	in := s.inboxes[uid]
	if in == nil {
		return 0, nil
	}
	n := 0
	for n < len(in.msgs) && in.msgs[n].ID <= upTo {
		n++
	}
	if n > 0 {
		s.dropInboxLocked(in, n)
	}
	if len(in.msgs) == 0 {
		delete(s.inboxes, uid)
	}
	return n, nil
}
