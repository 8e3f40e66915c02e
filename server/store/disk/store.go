package disk

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/rtsync/rtsync/server/store"
)

// DefaultMaxBytes bounds a disk store's history when Options.MaxBytes is 0.
const DefaultMaxBytes = 1 << 30

// DefaultMaxPending bounds the bytes of appends waiting for their commit;
// past it Append waits (backpressure) rather than grow memory.
const DefaultMaxPending = 64 << 20

// sweepEvery is how often messages past their age are trimmed in rooms
// and inboxes nobody touches.
const sweepEvery = 5 * time.Second

// DefaultMinFree is the free space a store leaves on its disk when
// Options.MinFree is 0: past it writes fail (store.ErrUnavailable) rather
// than fill the disk, and resume once space is freed.
const DefaultMinFree = 128 << 20

// freeCheckEvery spaces the looks at the disk's free space.
const freeCheckEvery = 100 * time.Millisecond

// Fsync modes.
const (
	// FsyncAlways writes and syncs every append on its own: the slowest,
	// for comparison.
	FsyncAlways = "always"
	// FsyncBatch syncs once per group of appends: a commit reports once
	// its group is on stable storage. The default.
	FsyncBatch = "batch"
	// FsyncOff hands each group to the operating system before its
	// commit reports and never syncs it: it survives the process being
	// killed, not a power cut.
	FsyncOff = "off"
)

// Options configure a disk store.
type Options struct {
	store.Options
	// Fsync is FsyncAlways, FsyncBatch or FsyncOff; "" is FsyncBatch.
	Fsync string
	// MaxPending bounds the bytes of appends waiting to be committed;
	// 0: DefaultMaxPending.
	MaxPending int64
	// MinFree is the free space, in bytes, writes leave on the disk;
	// 0: DefaultMinFree; negative: none.
	MinFree int64
	// Logf, when set, is told of write failures.
	Logf func(format string, args ...any)
}

// Store keeps history and inboxes in an embedded database under a
// directory. See the package documentation for its concurrency contract.
type Store struct {
	dir        string
	opts       Options
	maxBytes   int64
	maxPending int64
	logf       func(string, ...any)
	lock       *os.File

	// dbMu guards db: readers hold it shared, the committer takes it
	// alone only to swap a broken engine for a reopened one.
	dbMu sync.RWMutex
	db   *pebble.DB
	// broken holds why the engine cannot write, until it is reopened.
	broken atomic.Pointer[string]
	// minFree is the free-space floor; free, looked at freeAt, what the
	// disk had. The committer owns free and freeAt.
	minFree atomic.Int64
	free    int64
	freeAt  time.Time

	mu    sync.RWMutex
	rooms map[string]*room

	inboxMu sync.Mutex
	inboxes map[string]*inbox
	lastID  uint64

	bytes, messages         atomic.Int64
	inboxBytes, inboxMsgs   atomic.Int64
	inboxPending            atomic.Int64
	trimmed, evicted        atomic.Uint64
	expired                 atomic.Uint64
	commits, synced, errors atomic.Uint64
	commitNanos             atomic.Uint64

	q         queue
	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
	closeErr  error
}

// room is a room's state. seq and epoch belong to Append; hist, the
// messages on disk, to the committer (and readers, under mu).
type room struct {
	mu     sync.Mutex
	name   string
	prefix []byte // key prefix of its messages
	epoch  string
	seq    uint64 // last seq given
	ret    store.Retention
	hist   entries
	// gone is set when the store forgot the room; an Append holding a
	// stale pointer looks it up again.
	gone bool
}

type inbox struct {
	prefix    []byte
	delivered uint64
	msgs      entries
}

// Open opens the store in dir, making the directory if it is not there.
// One process at a time uses a directory.
func Open(dir string, opts Options) (*Store, error) {
	switch opts.Fsync {
	case "":
		opts.Fsync = FsyncBatch
	case FsyncAlways, FsyncBatch, FsyncOff:
	default:
		return nil, fmt.Errorf("fsync mode %q: want always, batch or off", opts.Fsync)
	}
	if err := prepareDir(dir, true); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{
		dir: dir, opts: opts, maxBytes: opts.MaxBytes, maxPending: opts.MaxPending, logf: opts.Logf, lock: lock,
		rooms: make(map[string]*room), inboxes: make(map[string]*inbox),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.maxPending <= 0 {
		s.maxPending = DefaultMaxPending
	}
	switch {
	case opts.MinFree == 0:
		s.minFree.Store(DefaultMinFree)
	case opts.MinFree > 0:
		s.minFree.Store(opts.MinFree)
	}
	s.q.init()
	db, err := openEngine(dir, false, s, opts.Fsync == FsyncOff)
	if err != nil {
		unlockDir(lock)
		return nil, err
	}
	s.db = db
	if err := s.load(); err != nil {
		_ = safely("close", db.Close)
		unlockDir(lock)
		return nil, err
	}
	go s.committer()
	return s, nil
}

// load checks the format and reads the rooms' and inboxes' summaries.
func (s *Store) load() error {
	return safely("read "+s.dir, func() error {
		v, closer, err := s.db.Get(formatKey)
		switch {
		case errors.Is(err, pebble.ErrNotFound):
			it, err := s.db.NewIter(nil)
			if err != nil {
				return err
			}
			any := it.First()
			if err := errors.Join(it.Error(), it.Close()); err != nil {
				return corruptErr(s.dir, err)
			}
			if any {
				return corruptErr(s.dir, errors.New("it holds data but no format marker"))
			}
			return s.db.Set(formatKey, encodeUint(formatVersion), pebble.Sync)
		case err != nil:
			return corruptErr(s.dir, err)
		}
		ver, err := decodeUint(v)
		closer.Close()
		if err != nil {
			return corruptErr(s.dir, fmt.Errorf("format marker: %w", err))
		}
		if ver > formatVersion {
			return fmt.Errorf("data directory %s holds store format %d, written by a newer rtsync (this one reads up to %d); run that version or use another --data-dir: %w", s.dir, ver, formatVersion, store.ErrFormat)
		}
		return s.scan()
	})
}

// scan reads every room, message and inbox into the in-memory summaries.
func (s *Store) scan() error {
	bad := func(what string, k []byte, err error) error {
		return corruptErr(s.dir, fmt.Errorf("%s %q: %w", what, k, err))
	}
	if err := s.each([]byte{kindRoom}, func(k, v []byte) error {
		epoch, seq, err := decodeRoom(v)
		if err != nil {
			return bad("room", k, err)
		}
		name := string(k[1:])
		s.rooms[name] = &room{name: name, prefix: prefixKey(kindMessage, name), epoch: epoch, seq: seq, ret: s.opts.RetentionOf(name)}
		return nil
	}); err != nil {
		return err
	}
	var r *room
	if err := s.each([]byte{kindMessage}, func(k, v []byte) error {
		name, seq, ok := parseSeqKey(k)
		if !ok {
			return bad("message key", k, errBadValue)
		}
		if r == nil || r.name != name {
			if r = s.rooms[name]; r == nil {
				return bad("message of unknown room", k, errBadValue)
			}
		}
		ts, from, data, err := decodeMessage(v, false)
		if err != nil {
			return bad("message", k, err)
		}
		r.hist.push(entry{seq: seq, ts: ts, size: int32(len(from) + len(data) + store.MessageOverhead)})
		r.seq = max(r.seq, seq)
		return nil
	}); err != nil {
		return err
	}
	for _, r := range s.rooms {
		s.bytes.Add(r.hist.bytes)
		s.messages.Add(int64(r.hist.len()))
	}
	if v, closer, err := s.db.Get(lastIDKey); err == nil {
		s.lastID, err = decodeUint(v)
		closer.Close()
		if err != nil {
			return bad("last inbox id", lastIDKey, err)
		}
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	if err := s.each([]byte{kindInbox}, func(k, v []byte) error {
		d, err := decodeUint(v)
		if err != nil {
			return bad("inbox", k, err)
		}
		uid := string(k[1:])
		s.inboxes[uid] = &inbox{prefix: prefixKey(kindDirect, uid), delivered: d}
		return nil
	}); err != nil {
		return err
	}
	var in *inbox
	var inUID string
	if err := s.each([]byte{kindDirect}, func(k, v []byte) error {
		uid, id, ok := parseSeqKey(k)
		if !ok {
			return bad("direct message key", k, errBadValue)
		}
		if in == nil || inUID != uid {
			inUID = uid
			if in = s.inboxes[uid]; in == nil {
				in = &inbox{prefix: prefixKey(kindDirect, uid)}
				s.inboxes[uid] = in
			}
		}
		ts, from, data, err := decodeMessage(v, false)
		if err != nil {
			return bad("direct message", k, err)
		}
		in.msgs.push(entry{seq: id, ts: ts, size: int32(len(from) + len(data) + store.MessageOverhead)})
		s.lastID = max(s.lastID, id)
		return nil
	}); err != nil {
		return err
	}
	for uid, in := range s.inboxes {
		if in.msgs.empty() {
			delete(s.inboxes, uid)
			s.q.addRec(rec{op: recDel, k: nameKey(kindInbox, uid)})
			continue
		}
		s.inboxBytes.Add(in.msgs.bytes)
		s.inboxMsgs.Add(int64(in.msgs.len()))
	}
	// Bounds may have changed since the data was written.
	now := time.Now()
	for _, r := range s.rooms {
		s.trimRoomLocked(r, now.UnixMilli())
	}
	s.sweepInboxes(now.UnixMilli())
	s.evictOver()
	return nil
}

// each calls f with every key and value starting with prefix.
func (s *Store) each(prefix []byte, f func(k, v []byte) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = f(it.Key(), v)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		if pebble.IsCorruptionError(err) {
			return corruptErr(s.dir, err)
		}
		return err
	}
	return nil
}

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i]++; end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// Close writes what is pending, flushes the engine and releases the
// directory. Writes after it fail with store.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.q.close()
		<-s.done
		s.dbMu.Lock()
		defer s.dbMu.Unlock()
		switch {
		case s.db == nil:
		case s.broken.Load() != nil:
			// An engine stopped by a failed write is left as a crash
			// would leave it: its next Open recovers from the log, while
			// closing it could write from a state it no longer trusts.
			s.closeErr = fmt.Errorf("close %s: the store had stopped writing: %w", s.dir, store.ErrUnavailable)
		default:
			// Flushing now makes the next Open read tables rather than
			// replay the log.
			_ = safely("flush", s.db.Flush)
			s.closeErr = safely("close "+s.dir, s.db.Close)
		}
		s.db = nil
		unlockDir(s.lock)
	})
	return s.closeErr
}

// Stats returns the store's figures.
func (s *Store) Stats() store.Stats {
	s.mu.RLock()
	rooms := 0
	for _, r := range s.rooms {
		r.mu.Lock()
		if !r.hist.empty() {
			rooms++
		}
		r.mu.Unlock()
	}
	s.mu.RUnlock()
	s.inboxMu.Lock()
	inboxes := len(s.inboxes)
	s.inboxMu.Unlock()
	return store.Stats{
		Kind: "disk", Rooms: rooms, Messages: s.messages.Load(), Bytes: s.bytes.Load(),
		Inboxes: inboxes, InboxMessages: s.inboxMsgs.Load(),
		Trimmed: s.trimmed.Load(), Evicted: s.evicted.Load(), InboxExpired: s.expired.Load(),
		Commits: s.commits.Load(), Synced: s.synced.Load(), Errors: s.errors.Load(), CommitNanos: s.commitNanos.Load(),
		DiskBytes: s.diskBytes(),
	}
}

func (s *Store) diskBytes() int64 {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	if s.db == nil {
		return 0
	}
	var n int64
	_ = safely("metrics", func() error { n = int64(s.db.Metrics().DiskSpaceUsage()); return nil })
	return n
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }
