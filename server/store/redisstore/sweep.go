package redisstore

import (
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtsync/rtsync/server/store"
)

// Bounds of one Sweep: how many rooms with history it looks at, and how
// many inboxes it asks Redis to scan (a hint to SSCAN).
const (
	sweepRooms   = 200
	sweepInboxes = 200
)

var _ store.Sweeper = (*Store)(nil)

// Sweep trims by age what nobody appends to or reads, a bounded part per
// call: the rooms of the next sweepRooms places in the index of rooms by
// their oldest message (round robin over calls), for those whose oldest
// message is past the room's retention age, and the next batch of
// inboxes. The server calls it every few seconds; appends, heads and reads
// trim their own room anyway.
func (s *Store) Sweep(now time.Time) {
	if s.closed.Load() {
		return
	}
	s.sweepRooms(now)
	s.sweepInboxes(now)
}

func (s *Store) sweepRooms(now time.Time) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	ctx, cancel := s.ctx()
	defer cancel()
	off := s.sweepOff
	zs, err := s.rdb.ZRangeWithScores(ctx, s.opts.Prefix+"oldest", off, off+sweepRooms-1).Result()
	if err != nil {
		s.errs.Add(1)
		return
	}
	pipe := s.rdb.Pipeline()
	var cmds []*redis.Cmd
	for _, z := range zs {
		room, _ := z.Member.(string)
		age := s.opts.RetentionOf(room).Age
		if age <= 0 || int64(z.Score) >= now.Add(-age).UnixMilli() {
			continue
		}
		cmds = append(cmds, headScript.EvalSha(ctx, pipe, nil, s.opts.Prefix, room, now.Add(-age).UnixMilli()))
	}
	// Scripts a pipeline runs by hash fail with NOSCRIPT on a Redis that
	// has not seen them: load it first.
	if len(cmds) > 0 {
		if err := headScript.Load(ctx, s.rdb).Err(); err != nil {
			s.errs.Add(1)
			return
		}
		if _, err := pipe.Exec(ctx); err != nil {
			s.errs.Add(1)
			return
		}
	}
	emptied := 0
	for _, c := range cmds {
		if v, err := c.Slice(); err == nil && len(v) >= 5 && toInt(v[3]) == 0 {
			emptied++
		}
	}
	if len(zs) < sweepRooms {
		s.sweepOff = 0
	} else {
		s.sweepOff = off + int64(len(zs)-emptied)
	}
}

func (s *Store) sweepInboxes(now time.Time) {
	_, ttl := s.opts.InboxLimits()
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	ctx, cancel := s.ctx()
	defer cancel()
	next, err := sweepInboxScript.Run(ctx, s.rdb, nil, s.opts.Prefix, s.inboxCursor, sweepInboxes, now.Add(-ttl).UnixMilli()).Text()
	if err != nil {
		s.errs.Add(1)
		return
	}
	s.inboxCursor = next
}
