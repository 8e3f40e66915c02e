package redisbroker

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/storetest"
)

// The broker's store keeps the store contract on the broker's
// connections, and closing it leaves the broker working.
func TestStoreContract(t *testing.T) {
	url := startNodeless(t)
	var n atomic.Int64
	brokers := map[store.Store]*Broker{}
	storetest.Run(t, storetest.Factory{
		Open: func(t *testing.T, opts store.Options) store.Store {
			t.Helper()
			b, err := Open(url, Options{Prefix: fmt.Sprintf("t%d:", n.Add(1))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			s, err := b.Store(opts)
			if err != nil {
				t.Fatal(err)
			}
			brokers[s] = b
			return s
		},
		Reopen: func(t *testing.T, s store.Store, opts store.Options) store.Store {
			t.Helper()
			b := brokers[s]
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			s2, err := b.Store(opts)
			if err != nil {
				t.Fatal(err)
			}
			brokers[s2] = b
			return s2
		},
	})
}
