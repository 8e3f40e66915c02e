package disk

import (
	"fmt"
	"time"

	"github.com/rtsync/rtsync/server/store"
)

// inboxShare is the part of MaxBytes inboxes may take together; past it
// InboxAppend fails with store.ErrFull rather than take history's room.
const inboxShare = 4

// InboxAppend adds a direct message to uid's inbox; c reports when it is
// on disk.
func (s *Store) InboxAppend(uid string, ts int64, from, data []byte) (uint64, *store.Commit, error) {
	if s.closed.Load() {
		return 0, nil, store.ErrClosed
	}
	size := int64(len(from) + len(data) + store.MessageOverhead)
	if held := s.inboxBytes.Load() + s.inboxPending.Load(); s.maxBytes > 0 && held+size > s.maxBytes/inboxShare {
		return 0, nil, fmt.Errorf("inbox of %q: offline messages take %d bytes, their share of the store's bound: %w", uid, held, store.ErrFull)
	}
	s.q.waitSpace(s.maxPending)
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	s.lastID++
	id := s.lastID
	c, err := s.q.add(op{uid: uid, seq: id, ts: ts, from: from, data: data}, size, s.opts.Fsync == FsyncAlways)
	if err != nil {
		return 0, nil, err
	}
	s.inboxPending.Add(size)
	return id, c, nil
}

// applyDirect records a committed direct message, dropping the oldest of
// the inbox past its cap.
func (s *Store) applyDirect(o *op) {
	maxN, _ := s.opts.InboxLimits()
	size := int32(len(o.from) + len(o.data) + store.MessageOverhead)
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	s.inboxPending.Add(-int64(size))
	in := s.inboxes[o.uid]
	if in == nil {
		in = &inbox{prefix: prefixKey(kindDirect, o.uid)}
		s.inboxes[o.uid] = in
	}
	in.msgs.push(entry{seq: o.seq, ts: o.ts, size: size})
	s.inboxBytes.Add(int64(size))
	s.inboxMsgs.Add(1)
	if n := in.msgs.len() - maxN; n > 0 {
		s.dropInboxLocked(o.uid, in, n)
		s.expired.Add(uint64(n))
	}
}

// dropInboxLocked drops in's n oldest messages, and the inbox once it is
// empty, and queues their delete.
func (s *Store) dropInboxLocked(uid string, in *inbox, n int) {
	before := in.msgs.bytes
	first, last := in.msgs.drop(n)
	s.inboxBytes.Add(in.msgs.bytes - before)
	s.inboxMsgs.Add(-int64(n))
	s.q.addRec(rec{op: recDelRange, k: seqKey(in.prefix, first), end: seqKey(in.prefix, last+1)})
	if in.msgs.empty() {
		delete(s.inboxes, uid)
		s.q.addRec(rec{op: recDel, k: nameKey(kindInbox, uid)})
	}
}

// expireLocked drops in's messages sent before cutoff.
func (s *Store) expireLocked(uid string, in *inbox, cutoff int64) {
	n := 0
	for n < in.msgs.len() && in.msgs.at(n).ts < cutoff {
		n++
	}
	if n > 0 {
		s.dropInboxLocked(uid, in, n)
		s.expired.Add(uint64(n))
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

// InboxRead returns uid's messages with an id after after, oldest first.
func (s *Store) InboxRead(uid string, after uint64, limit, maxBytes int) ([]store.Direct, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("inbox of %q: limit must be at least 1", uid)
	}
	_, ttl := s.opts.InboxLimits()
	s.inboxMu.Lock()
	in := s.inboxes[uid]
	if in != nil {
		s.expireLocked(uid, in, time.Now().Add(-ttl).UnixMilli())
		if in.msgs.empty() {
			in = nil
		}
	}
	if in == nil {
		s.inboxMu.Unlock()
		return []store.Direct{}, nil
	}
	i, end, _, _ := in.msgs.pageAfter(after, limit, maxBytes)
	want := make([]uint64, 0, end-i)
	for j := i; j < end; j++ {
		want = append(want, in.msgs.at(j).seq)
	}
	delivered, prefix := in.delivered, in.prefix
	s.inboxMu.Unlock()
	out := make([]store.Direct, 0, len(want))
	if len(want) == 0 {
		return out, nil
	}
	err := s.readRange(prefix, want, func(id uint64, v []byte) error {
		ts, from, data, err := decodeMessage(v, true)
		if err != nil {
			return err
		}
		out = append(out, store.Direct{ID: id, TS: ts, From: from, Data: data, Delivered: id <= delivered})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inbox of %q: %w", uid, err)
	}
	return out, nil
}

// InboxDelivered records that uid's messages up to upTo were handed out.
// The mark is written with the next batch; nobody waits for it.
func (s *Store) InboxDelivered(uid string, upTo uint64) error {
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	if in := s.inboxes[uid]; in != nil && upTo > in.delivered {
		in.delivered = upTo
		s.q.addRec(rec{op: recSet, k: nameKey(kindInbox, uid), v: encodeUint(upTo)})
	}
	return nil
}

// InboxAck removes uid's messages up to upTo and returns how many went.
func (s *Store) InboxAck(uid string, upTo uint64) (int, error) {
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	in := s.inboxes[uid]
	if in == nil {
		return 0, nil
	}
	n := in.msgs.index(upTo)
	if n > 0 {
		s.dropInboxLocked(uid, in, n)
	}
	return n, nil
}
