package disk

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/rtsync/rtsync/server/store"
)

// Report is what Check found in a data directory.
type Report struct {
	Dir string
	// Format is the store's format version.
	Format int
	// Rooms, sorted by name, with what each holds.
	Rooms []RoomReport
	// Messages and Bytes total the rooms' history (Message.Size).
	Messages int64
	Bytes    int64
	// Inboxes and InboxMessages count the offline direct messages.
	Inboxes       int
	InboxMessages int64
	// DiskBytes is what the directory's files take.
	DiskBytes int64
	// Problems lists what is wrong; empty when the store is sound.
	Problems []string
}

// RoomReport is one room of a Report.
type RoomReport struct {
	Name  string
	Epoch string
	// Seq is the last seq given; First and Last bound the messages kept.
	Seq         uint64
	First, Last uint64
	Messages    int
	Bytes       int64
	// Gaps counts the runs of seqs missing between First and Last: the
	// seqs of writes that failed (a full disk, say). They are not errors.
	Gaps int
}

// maxProblems bounds the problems a Report lists.
const maxProblems = 100

// Check reads everything in the store in dir: the format, every value's
// checksum, each room's seqs (increasing, within its last seq), and the
// engine's own block checksums. It fails with store.ErrLocked while a
// server uses dir, and with an error wrapping store.ErrCorrupt when it
// finds problems (the report lists them).
func Check(dir string) (Report, error) {
	rep := Report{Dir: dir}
	if err := prepareDir(dir, false); err != nil {
		return rep, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return rep, err
	}
	defer unlockDir(lock)
	db, err := openEngine(dir, true, nil, false)
	if err != nil {
		return rep, err
	}
	defer guard()()
	err = safely("check "+dir, func() error { return check(db, &rep) })
	_ = safely("close", db.Close)
	rep.DiskBytes = dirSize(dir)
	switch {
	case errors.Is(err, store.ErrFormat):
		return rep, fmt.Errorf("data directory %s: %w; run that version or use another --data-dir", dir, err)
	case err != nil:
		rep.Problems = append(rep.Problems, err.Error())
	}
	if len(rep.Problems) > 0 {
		return rep, fmt.Errorf("data directory %s has %d problems, the first: %s; restore a backup or move the directory away: %w", dir, len(rep.Problems), rep.Problems[0], store.ErrCorrupt)
	}
	return rep, nil
}

func check(db *pebble.DB, rep *Report) error {
	problem := func(format string, args ...any) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		}
	}
	it, err := db.NewIter(nil)
	if err != nil {
		return err
	}
	rooms := map[string]*RoomReport{}
	var cur *RoomReport
	inboxes := map[string]bool{}
	seenFormat := false
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		v, err := it.ValueAndErr()
		if err != nil {
			problem("key %q: %v", k, err)
			continue
		}
		switch k[0] {
		case kindFormat:
			ver, err := decodeUint(v)
			if err != nil {
				problem("format marker: %v", err)
				continue
			}
			seenFormat, rep.Format = true, int(ver)
			if ver > formatVersion {
				it.Close()
				return fmt.Errorf("data directory holds store format %d, written by a newer rtsync (this one reads up to %d): %w", ver, formatVersion, store.ErrFormat)
			}
		case kindRoom:
			epoch, seq, err := decodeRoom(v)
			if err != nil {
				problem("room %q: %v", k[1:], err)
				continue
			}
			name := string(k[1:])
			if r := rooms[name]; r != nil {
				r.Epoch, r.Seq = epoch, seq
			} else {
				rooms[name] = &RoomReport{Name: name, Epoch: epoch, Seq: seq}
			}
		case kindMessage:
			name, seq, ok := parseSeqKey(k)
			if !ok {
				problem("message key %q is malformed", k)
				continue
			}
			_, from, data, err := decodeMessage(v, false)
			if err != nil {
				problem("room %q message %d: %v", name, seq, err)
				continue
			}
			if cur == nil || cur.Name != name {
				if cur = rooms[name]; cur == nil {
					// Rooms sort after messages ('R' > 'M'): the meta
					// comes later and fills in the epoch.
					cur = &RoomReport{Name: name}
					rooms[name] = cur
				}
			}
			if cur.Messages > 0 && seq != cur.Last+1 {
				cur.Gaps++
			}
			if cur.Messages == 0 {
				cur.First = seq
			}
			cur.Last = seq
			cur.Messages++
			cur.Bytes += int64(len(from) + len(data) + store.MessageOverhead)
		case kindLastID:
			if _, err := decodeUint(v); err != nil {
				problem("last inbox id: %v", err)
			}
		case kindInbox:
			if _, err := decodeUint(v); err != nil {
				problem("inbox %q: %v", k[1:], err)
			}
		case kindDirect:
			uid, id, ok := parseSeqKey(k)
			if !ok {
				problem("direct message key %q is malformed", k)
				continue
			}
			if _, _, _, err := decodeMessage(v, false); err != nil {
				problem("inbox %q message %d: %v", uid, id, err)
				continue
			}
			inboxes[uid] = true
			rep.InboxMessages++
		default:
			problem("key %q belongs to no part of the store", k)
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		problem("%v", err)
	}
	if !seenFormat && (len(rooms) > 0 || len(inboxes) > 0) {
		problem("no format marker")
	}
	rep.Inboxes = len(inboxes)
	for _, r := range rooms {
		if r.Epoch == "" {
			problem("room %q has messages but no record (epoch, last seq)", r.Name)
		}
		if r.Last > r.Seq {
			problem("room %q holds seq %d past its last seq %d", r.Name, r.Last, r.Seq)
		}
		rep.Rooms = append(rep.Rooms, *r)
		rep.Messages += int64(r.Messages)
		rep.Bytes += r.Bytes
	}
	sortRooms(rep.Rooms)
	return nil
}

// Compact rewrites the store in dir so that deleted and trimmed messages
// give their space back, and returns the directory's size before and
// after. It fails with store.ErrLocked while a server uses dir.
func Compact(dir string) (before, after int64, err error) {
	if err := prepareDir(dir, false); err != nil {
		return 0, 0, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return 0, 0, err
	}
	defer unlockDir(lock)
	before = dirSize(dir)
	db, err := openEngine(dir, false, nil, false)
	if err != nil {
		return before, 0, err
	}
	defer guard()()
	err = safely("compact "+dir, func() error {
		if err := db.Flush(); err != nil {
			return err
		}
		return db.Compact(context.Background(), []byte{0}, []byte{0xff}, true)
	})
	if cerr := safely("close "+dir, db.Close); err == nil {
		err = cerr
	}
	if err != nil {
		return before, dirSize(dir), fmt.Errorf("compact %s: %w", dir, err)
	}
	return before, dirSize(dir), nil
}
