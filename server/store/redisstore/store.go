package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtsync/rtsync/server/store"
)

// DefaultPrefix starts every key the store writes.
const DefaultPrefix = "rtsync:"

// DefaultMaxBytes bounds the history a Redis store keeps when
// Options.MaxBytes is 0.
const DefaultMaxBytes = 128 << 20

// DefaultTimeout bounds each call to Redis when Options.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// inboxShare is the part of MaxBytes inboxes may take together, as in the
// memory store.
const inboxShare = 4

// Options configure a Redis store.
type Options struct {
	store.Options
	// Prefix starts every key; "" is DefaultPrefix. Stores with different
	// prefixes share a Redis without meeting.
	Prefix string
	// Timeout bounds each call to Redis; 0 is DefaultTimeout.
	Timeout time.Duration
}

// Store keeps history and inboxes in Redis.
type Store struct {
	opts     Options
	addr     string
	rdb      *redis.Client
	maxBytes int64
	// shared: the client belongs to someone else (New), Close leaves it.
	shared bool
	closed atomic.Bool
	errs   atomic.Uint64

	// sweepMu guards where Sweep goes on from.
	sweepMu     sync.Mutex
	sweepOff    int64
	inboxCursor string
}

var _ store.Store = (*Store)(nil)

// Open connects to the Redis at url (redis://[user:password@]host:port/db,
// rediss:// for TLS, unix:///path) and checks that it answers.
func Open(url string, opts Options) (*Store, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		// The parse error may quote the URL, password and all: say
		// what is wrong without it.
		return nil, fmt.Errorf("redis store: the Redis URL is not valid (want redis://host:port/db, rediss:// or unix://): %s", redactParse(err))
	}
	// A retried script could append a message twice: never retry.
	ro.MaxRetries = -1
	s := newStore(redis.NewClient(ro), ro.Addr, opts)
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		_ = s.rdb.Close()
		return nil, fmt.Errorf("redis store: cannot reach Redis at %s: %v; check that it runs and that the Redis URL names it: %w", ro.Addr, err, store.ErrUnavailable)
	}
	return s, nil
}

// New returns a store on a client that stays its owner's: Close leaves
// it open. addr names the Redis in errors (no password). The Redis broker
// uses it to share its connections with the store.
func New(rdb *redis.Client, addr string, opts Options) *Store {
	s := newStore(rdb, addr, opts)
	s.shared = true
	return s
}

func newStore(rdb *redis.Client, addr string, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	s := &Store{opts: opts, addr: addr, rdb: rdb, maxBytes: opts.MaxBytes, inboxCursor: "0"}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxBytes
	}
	return s
}

// redactParse keeps a URL parse error's reason without the URL.
func redactParse(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap().Error()
	}
	return err.Error()
}

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.opts.Timeout)
}

// fail wraps a Redis error for op with the address and ErrUnavailable.
func (s *Store) fail(op string, err error) error {
	s.errs.Add(1)
	return fmt.Errorf("redis store at %s: %s: %w: %w", s.addr, op, err, store.ErrUnavailable)
}

// run runs script with the prefix as its first argument.
func (s *Store) run(script *redis.Script, args ...any) ([]any, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	ctx, cancel := s.ctx()
	defer cancel()
	v, err := script.Run(ctx, s.rdb, nil, append([]any{s.opts.Prefix}, args...)...).Slice()
	if errors.Is(err, redis.ErrClosed) {
		return nil, store.ErrClosed // Close ran during the call
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// cutoff returns the time before which a message older than age goes; 0
// for no age.
func cutoff(age time.Duration) int64 {
	if age <= 0 {
		return 0
	}
	return time.Now().Add(-age).UnixMilli()
}

// Append adds a message to room's history. It waits for Redis; the
// returned Commit is nil (the message is as durable as Redis makes it).
func (s *Store) Append(room string, ts int64, from, data []byte) (uint64, string, *store.Commit, error) {
	seq, epoch, err := s.AppendPublish(room, ts, from, data, Publish{})
	return seq, epoch, nil, err
}

// Publish asks AppendPublish to publish the message it appends, in the
// same script: on Channel, the payload
//
//	Head, field(seq), field(epoch), Meta, field(from), field(data)
//
// where field(x) is len(x) in decimal, ":", then x. A zero Publish
// publishes nothing.
type Publish struct {
	Channel string
	Head    []byte
	Meta    []byte
}

// AppendPublish is Append that also publishes the message as p says,
// atomically with the append: subscribers get a room's messages in seq
// order, whichever client appended them. It returns the seq and epoch.
func (s *Store) AppendPublish(room string, ts int64, from, data []byte, p Publish) (uint64, string, error) {
	ret := s.opts.RetentionOf(room)
	maxBytes := max(s.maxBytes, 0)
	v, err := s.run(appendScript, room, ts, from, data, store.NewEpoch(),
		max(ret.Count, 0), cutoff(ret.Age), maxBytes, max(s.opts.MaxRooms, 0), p.Channel, p.Head, p.Meta)
	if err != nil {
		if errors.Is(err, store.ErrClosed) {
			return 0, "", err
		}
		return 0, "", s.fail(fmt.Sprintf("append to room %q", room), err)
	}
	if len(v) != 4 {
		return 0, "", s.fail(fmt.Sprintf("append to room %q", room), fmt.Errorf("unexpected reply %v", v))
	}
	if n := toInt(v[2]); n > 0 && s.opts.OnTrim != nil {
		s.opts.OnTrim("size", int(n))
	}
	if n := toInt(v[3]); n > 0 && s.opts.OnTrim != nil {
		s.opts.OnTrim("rooms", int(n))
	}
	epoch, _ := v[1].(string)
	return uint64(toInt(v[0])), epoch, nil
}

// toInt reads an integer of a script's reply (a Redis integer or string).
func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// headOf reads the five head fields a script returns first.
func headOf(v []any) store.Head {
	epoch, _ := v[0].(string)
	return store.Head{Epoch: epoch, Seq: uint64(toInt(v[1])), Oldest: uint64(toInt(v[2])), Count: int(toInt(v[3])), Bytes: toInt(v[4])}
}

// Head sums up room's history.
func (s *Store) Head(room string) (store.Head, error) {
	v, err := s.run(headScript, room, cutoff(s.opts.RetentionOf(room).Age))
	if err != nil {
		if errors.Is(err, store.ErrClosed) {
			return store.Head{}, err
		}
		return store.Head{}, s.fail(fmt.Sprintf("head of room %q", room), err)
	}
	if len(v) < 5 {
		return store.Head{}, nil
	}
	return headOf(v), nil
}

// parseEntry decodes a stored entry: "seq:ts:len(from):" from data.
func parseEntry(e string) (n uint64, ts int64, from, data []byte, err error) {
	var parts [3]int64
	rest := e
	for i := range parts {
		j := 0
		for j < len(rest) && rest[j] != ':' {
			j++
		}
		if j == len(rest) {
			return 0, 0, nil, nil, fmt.Errorf("entry %.40q: %w", e, store.ErrCorrupt)
		}
		p, perr := strconv.ParseInt(rest[:j], 10, 64)
		if perr != nil {
			return 0, 0, nil, nil, fmt.Errorf("entry %.40q: %w", e, store.ErrCorrupt)
		}
		parts[i] = p
		rest = rest[j+1:]
	}
	if parts[2] < 0 || parts[2] > int64(len(rest)) {
		return 0, 0, nil, nil, fmt.Errorf("entry %.40q: %w", e, store.ErrCorrupt)
	}
	return uint64(parts[0]), parts[1], []byte(rest[:parts[2]]), []byte(rest[parts[2]:]), nil
}

// Read returns a page of room's history.
func (s *Store) Read(room string, q store.Query) (store.Page, error) {
	if q.Limit <= 0 {
		return store.Page{}, fmt.Errorf("read %q: limit must be at least 1", room)
	}
	dir, bound := "before", q.Before
	if q.After != nil {
		dir, bound = "after", *q.After
	}
	// One more than the page can hold tells whether more exist. A
	// message counts at least MessageOverhead bytes, so no more than
	// MaxBytes/MessageOverhead fit; fetching two more than that is enough
	// to see where the byte bound ends the page.
	fetch := q.Limit + 1
	if q.MaxBytes > 0 {
		fetch = min(fetch, q.MaxBytes/store.MessageOverhead+2)
	}
	v, err := s.run(readScript, room, cutoff(s.opts.RetentionOf(room).Age), dir, bound, fetch)
	if err != nil {
		if errors.Is(err, store.ErrClosed) {
			return store.Page{}, err
		}
		return store.Page{}, s.fail(fmt.Sprintf("read room %q", room), err)
	}
	p := store.Page{Messages: []store.Message{}}
	if len(v) < 5 {
		return p, nil
	}
	p.Head = headOf(v)
	size := 0
	for _, e := range v[5:] {
		if len(p.Messages) == q.Limit {
			p.More = true
			break
		}
		str, _ := e.(string)
		seq, ts, from, data, err := parseEntry(str)
		if err != nil {
			return store.Page{}, fmt.Errorf("redis store at %s: read room %q: %w", s.addr, room, err)
		}
		m := store.Message{Seq: seq, TS: ts, From: from, Data: data}
		if size += m.Size(); q.MaxBytes > 0 && size > q.MaxBytes && len(p.Messages) > 0 {
			p.More, p.Truncated = true, true
			break
		}
		p.Messages = append(p.Messages, m)
	}
	if dir == "before" {
		slices.Reverse(p.Messages)
	}
	return p, nil
}

// Rooms lists the rooms with history, sorted.
func (s *Store) Rooms(after string, limit int) ([]string, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	ctx, cancel := s.ctx()
	defer cancel()
	lo := "-"
	if after != "" {
		lo = "(" + after
	}
	names, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.opts.Prefix + "rooms", Start: lo, Stop: "+", ByLex: true, Count: int64(limit)}).Result()
	if err != nil {
		return nil, s.fail("list rooms", err)
	}
	if names == nil {
		names = []string{}
	}
	return names, nil
}

// InboxAppend adds a direct message to uid's inbox.
func (s *Store) InboxAppend(uid string, ts int64, from, data []byte) (uint64, *store.Commit, error) {
	maxN, ttl := s.opts.InboxLimits()
	share := int64(0)
	if s.maxBytes > 0 {
		share = s.maxBytes / inboxShare
	}
	v, err := s.run(inboxAppendScript, uid, ts, from, data, maxN, cutoff(ttl), share)
	if err != nil {
		if errors.Is(err, store.ErrClosed) {
			return 0, nil, err
		}
		return 0, nil, s.fail(fmt.Sprintf("append to the inbox of %q", uid), err)
	}
	if len(v) == 0 {
		return 0, nil, s.fail(fmt.Sprintf("append to the inbox of %q", uid), fmt.Errorf("empty reply"))
	}
	if id := toInt(v[0]); id > 0 {
		return uint64(id), nil, nil
	}
	used := int64(0)
	if len(v) > 1 {
		used = toInt(v[1])
	}
	return 0, nil, fmt.Errorf("inbox of %q: offline messages take %d bytes, their share of the store's bound: %w", uid, used, store.ErrFull)
}

// InboxRead returns uid's messages after after.
func (s *Store) InboxRead(uid string, after uint64, limit, maxBytes int) ([]store.Direct, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("inbox of %q: limit must be at least 1", uid)
	}
	_, ttl := s.opts.InboxLimits()
	v, err := s.run(inboxReadScript, uid, cutoff(ttl), after, limit)
	if err != nil {
		if errors.Is(err, store.ErrClosed) {
			return nil, err
		}
		return nil, s.fail(fmt.Sprintf("read the inbox of %q", uid), err)
	}
	out := []store.Direct{}
	if len(v) == 0 {
		return out, nil
	}
	delivered := uint64(toInt(v[0]))
	size := 0
	for _, e := range v[1:] {
		str, _ := e.(string)
		id, ts, from, data, err := parseEntry(str)
		if err != nil {
			return nil, fmt.Errorf("redis store at %s: read the inbox of %q: %w", s.addr, uid, err)
		}
		d := store.Direct{ID: id, TS: ts, From: from, Data: data, Delivered: id <= delivered}
		if size += d.Size(); maxBytes > 0 && size > maxBytes && len(out) > 0 {
			break
		}
		out = append(out, d)
	}
	return out, nil
}

// InboxDelivered records that uid's messages up to upTo were handed out.
func (s *Store) InboxDelivered(uid string, upTo uint64) error {
	if _, err := s.run(inboxDeliveredScript, uid, upTo); err != nil {
		if errors.Is(err, store.ErrClosed) {
			return err
		}
		return s.fail(fmt.Sprintf("mark the inbox of %q delivered", uid), err)
	}
	return nil
}

// InboxAck removes uid's messages up to upTo.
func (s *Store) InboxAck(uid string, upTo uint64) (int, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	ctx, cancel := s.ctx()
	defer cancel()
	n, err := inboxAckScript.Run(ctx, s.rdb, nil, s.opts.Prefix, uid, upTo).Int()
	if err != nil {
		return 0, s.fail(fmt.Sprintf("acknowledge the inbox of %q", uid), err)
	}
	return n, nil
}

// Stats returns the store's figures: what the store's own counters in
// Redis say (shared by every node on the prefix), and Errors for this
// process. When Redis does not answer, only Kind and Errors are set.
func (s *Store) Stats() store.Stats {
	st := store.Stats{Kind: "redis"}
	if s.closed.Load() {
		st.Errors = s.errs.Load()
		return st
	}
	ctx, cancel := s.ctx()
	defer cancel()
	pipe := s.rdb.Pipeline()
	h := pipe.HGetAll(ctx, s.opts.Prefix+"stats")
	rooms := pipe.ZCard(ctx, s.opts.Prefix+"rooms")
	inboxes := pipe.SCard(ctx, s.opts.Prefix+"inboxes")
	if _, err := pipe.Exec(ctx); err != nil {
		s.errs.Add(1)
		st.Errors = s.errs.Load()
		return st
	}
	n := func(k string) int64 { return toInt(h.Val()[k]) }
	st.Rooms, st.Inboxes = int(rooms.Val()), int(inboxes.Val())
	st.Messages, st.Bytes, st.InboxMessages = n("messages"), n("bytes"), n("inbox_messages")
	st.Trimmed, st.Evicted, st.InboxExpired = uint64(n("trimmed")), uint64(n("evicted")), uint64(n("inbox_expired"))
	st.Errors = s.errs.Load()
	return st
}

// Close releases the connections to Redis; what was written stays there.
func (s *Store) Close() error {
	if s.closed.Swap(true) || s.shared {
		return nil
	}
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("redis store at %s: close: %w", s.addr, err)
	}
	return nil
}
