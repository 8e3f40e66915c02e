//go:build unix

package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rtsync/rtsync/server/store"
)

// lockName is the file whose lock says a process uses the directory.
const lockName = "rtsync.lock"

// lockDir takes dir's lock, or says who to stop. flock locks belong to
// the open file, so a second Open in the same process is refused too.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			// A read-only directory (or file) can still be checked if the
			// lock file is there to read.
			if f, err = os.Open(path); err != nil {
				return nil, fmt.Errorf("data directory %s: cannot open its lock file: %w; give the user running rtsync access to it or use another --data-dir", dir, unwrapPath(err))
			}
		} else {
			return nil, fmt.Errorf("data directory %s: cannot open its lock file: %w; check --data-dir", dir, unwrapPath(err))
		}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another rtsync serve is using %s; stop it or use another --data-dir: %w", dir, store.ErrLocked)
		}
		return nil, fmt.Errorf("data directory %s: lock: %w", dir, err)
	}
	return f, nil
}

func unlockDir(f *os.File) {
	if f != nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}

// Unused reports whether dir holds a store no process has open: its lock
// can be taken (and is given back at once). Callers that make throwaway
// stores use it to clear those a killed process left behind.
func Unused(dir string) bool {
	f, err := os.Open(filepath.Join(dir, lockName))
	if err != nil {
		return false
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}
