package disk

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/rtsync/rtsync/server/store"
)

// engineFatal is what the engine's logger panics with where the engine
// would end the process: a write it cannot undo failed (disk full, I/O
// error). The committer recovers it, fails the group, and reopens the
// engine once the directory takes writes again.
type engineFatal struct{ msg string }

func (e engineFatal) Error() string { return e.msg }

// engineLogger keeps the engine's chatter out of the server's log, and
// turns its fatal errors into panics the store recovers.
type engineLogger struct{ s *Store }

func (engineLogger) Infof(string, ...any) {}
func (l engineLogger) Errorf(format string, args ...any) {
	if l.s != nil && l.s.logf != nil {
		l.s.logf("store: "+format, args...)
	}
}
func (l engineLogger) Fatalf(format string, args ...any) {
	// The engine's reports carry stack traces after their first line.
	msg, _, _ := strings.Cut(fmt.Sprintf(format, args...), "\n")
	if l.s != nil {
		l.s.markBroken(msg)
	}
	if isGuarded() {
		panic(engineFatal{msg})
	}
	// The engine's own goroutine: it returns its error after this, and
	// the store, marked broken, reopens the engine before its next write.
	if l.s == nil || l.s.logf == nil {
		log.Printf("store: %s", msg)
	}
}

// safely runs f, turning an engine panic into an error.
func safely(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(engineFatal); ok {
				if strings.Contains(e.msg, "corrupt") {
					err = fmt.Errorf("%s: %s: %w", what, e.msg, store.ErrCorrupt)
				} else {
					err = fmt.Errorf("%s: %s", what, e.msg)
				}
				return
			}
			err = fmt.Errorf("%s: engine failure: %v: %w", what, r, store.ErrCorrupt)
		}
	}()
	return f()
}

// openEngine opens (or creates) the engine's files in dir. With noSync the
// engine's log files ignore syncs (FsyncOff).
func openEngine(dir string, readOnly bool, s *Store, noSync bool) (*pebble.DB, error) {
	opts := &pebble.Options{
		Logger:   engineLogger{s},
		ReadOnly: readOnly,
	}
	if noSync {
		opts.FS = noSyncLogFS{vfs.Default}
	}
	defer guard()()
	var db *pebble.DB
	err := safely("open "+dir, func() error {
		var err error
		db, err = pebble.Open(dir, opts)
		return err
	})
	if err != nil {
		return nil, explainOpen(dir, err)
	}
	return db, nil
}

// explainOpen turns an engine's open error into one that says what to do.
func explainOpen(dir string, err error) error {
	switch {
	case errors.Is(err, store.ErrCorrupt), pebble.IsCorruptionError(err):
		return corruptErr(dir, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("data directory %s: permission denied (%v); give the user running rtsync write access to it or use another --data-dir", dir, err)
	case strings.Contains(err.Error(), "format major version"):
		return fmt.Errorf("data directory %s was written by a newer rtsync (%v); run that version or use another --data-dir: %w", dir, err, store.ErrFormat)
	}
	return fmt.Errorf("open data directory %s: %w: %w", dir, err, store.ErrUnavailable)
}

func corruptErr(dir string, err error) error {
	return fmt.Errorf("data directory %s is damaged (%v); run 'rtsync store check --data-dir %s' for details, restore a backup or move the directory away: %w", dir, err, dir, store.ErrCorrupt)
}

// prepareDir makes dir if it is not there and checks that it is a
// directory rtsync can use.
func prepareDir(dir string, create bool) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("data directory %s is a file, not a directory; remove it or use another --data-dir", dir)
	case errors.Is(err, os.ErrNotExist) && create:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create data directory %s: %w; create it yourself or use another --data-dir", dir, unwrapPath(err))
		}
		return nil
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data directory %s does not exist; check --data-dir", dir)
	case err != nil:
		return fmt.Errorf("data directory %s: %w; check --data-dir and its permissions", dir, unwrapPath(err))
	}
	// A directory that cannot be written would fail on the first append;
	// say so now, with the reason.
	probe, err := os.CreateTemp(dir, ".rtsync-probe-")
	if err != nil {
		if !create {
			return nil // check only reads
		}
		return fmt.Errorf("data directory %s cannot be written: %w; give the user running rtsync write access to it or use another --data-dir", dir, unwrapPath(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// unwrapPath drops the *PathError wrapper whose path the message already
// names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// dirSize sums the sizes of dir's files.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// noSyncLogFS is the file system for FsyncOff: the engine's log files
// take writes at once and ignore syncs, so a synced commit returns when
// its batch is written to the system, not to stable storage.
type noSyncLogFS struct{ vfs.FS }

func isLog(name string) bool { return strings.HasSuffix(name, ".log") }

func (fs noSyncLogFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	if err == nil && isLog(name) {
		f = noSyncFile{f}
	}
	return f, err
}

func (fs noSyncLogFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	if err == nil && isLog(newname) {
		f = noSyncFile{f}
	}
	return f, err
}

type noSyncFile struct{ vfs.File }

func (noSyncFile) Sync() error                { return nil }
func (noSyncFile) SyncData() error            { return nil }
func (noSyncFile) SyncTo(int64) (bool, error) { return true, nil }
