package disk

import (
	"path/filepath"
	"testing"

	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/storetest"
)

// factory opens disk stores in fresh directories with the fsync mode.
func factory(mode string) storetest.Factory {
	open := func(t *testing.T, dir string, opts store.Options) store.Store {
		t.Helper()
		s, err := Open(dir, Options{Options: opts, Fsync: mode})
		if err != nil {
			t.Fatalf("Open(%s): %v", dir, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return storetest.Factory{
		Open: func(t *testing.T, opts store.Options) store.Store {
			return open(t, filepath.Join(t.TempDir(), "data"), opts)
		},
		Reopen: func(t *testing.T, s store.Store, opts store.Options) store.Store {
			t.Helper()
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, s.(*Store).Dir(), opts)
		},
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, factory(FsyncBatch))
}

func TestContractFsyncAlways(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the batch mode's run covers the store")
	}
	storetest.Run(t, factory(FsyncAlways))
}

func TestContractFsyncOff(t *testing.T) {
	storetest.Run(t, factory(FsyncOff))
}
