package memory_test

import (
	"testing"

	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/memory"
	"github.com/rtsync/rtsync/server/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Factory{
		Open: func(t *testing.T, opts store.Options) store.Store {
			s := memory.New(opts)
			t.Cleanup(func() { s.Close() })
			return s
		},
	})
}
