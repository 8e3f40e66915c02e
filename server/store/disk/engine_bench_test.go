package disk

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
)

// The engine benchmarks compare the two embedded engines considered for
// the disk store under one group committer, the same shape as the store's:
// 50 goroutines each append a ~100-byte record, wait for its group's
// commit, and repeat. Run them with
//
//	go test -run '^$' -bench 'Engine' -benchtime 3s ./server/store/disk/
//
// They report appends/s and the p50/p99 wait for the commit.

type engine interface {
	write(keys, vals [][]byte) error
	close() error
}

type pebbleEngine struct{ db *pebble.DB }

func (e pebbleEngine) write(keys, vals [][]byte) error {
	b := e.db.NewBatch()
	for i := range keys {
		_ = b.Set(keys[i], vals[i], nil)
	}
	return b.Commit(pebble.Sync)
}
func (e pebbleEngine) close() error { return e.db.Close() }

type boltEngine struct{ db *bolt.DB }

func (e boltEngine) write(keys, vals [][]byte) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("m"))
		for i := range keys {
			if err := b.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
}
func (e boltEngine) close() error { return e.db.Close() }

// groupCommitter is the bench's copy of the store's committer: writers
// join the open group; one goroutine writes a group while the next fills.
type groupCommitter struct {
	mu      sync.Mutex
	cond    *sync.Cond
	keys    [][]byte
	vals    [][]byte
	done    chan error
	closed  bool
	e       engine
	groups  atomic.Int64
	stopped chan struct{}
}

func newGroupCommitter(e engine) *groupCommitter {
	g := &groupCommitter{e: e, done: make(chan error, 1), stopped: make(chan struct{})}
	g.cond = sync.NewCond(&g.mu)
	go g.run()
	return g
}

func (g *groupCommitter) add(k, v []byte) chan error {
	g.mu.Lock()
	g.keys = append(g.keys, k)
	g.vals = append(g.vals, v)
	ch := g.done
	g.mu.Unlock()
	g.cond.Signal()
	return ch
}

func (g *groupCommitter) run() {
	defer close(g.stopped)
	for {
		g.mu.Lock()
		for len(g.keys) == 0 && !g.closed {
			g.cond.Wait()
		}
		if len(g.keys) == 0 {
			g.mu.Unlock()
			return
		}
		keys, vals, done := g.keys, g.vals, g.done
		g.keys, g.vals, g.done = nil, nil, make(chan error, 1)
		g.mu.Unlock()
		err := g.e.write(keys, vals)
		g.groups.Add(1)
		// One channel per group: closing wakes every waiter.
		if err != nil {
			done <- err
		}
		close(done)
	}
}

func (g *groupCommitter) stop() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cond.Broadcast()
	<-g.stopped
}

func benchEngine(b *testing.B, open func(dir string) (engine, error)) {
	dir := b.TempDir()
	if d := os.Getenv("RTSYNC_BENCH_DIR"); d != "" {
		var err error
		if dir, err = os.MkdirTemp(d, "engine-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	e, err := open(filepath.Join(dir, "db"))
	if err != nil {
		b.Fatal(err)
	}
	g := newGroupCommitter(e)
	val := make([]byte, 100)
	closedLoop(b, 50, func(w int, n int64) error {
		k := make([]byte, 0, 16)
		k = fmt.Appendf(k, "r%02d", w)
		k = binary.BigEndian.AppendUint64(k, uint64(n))
		return <-g.add(k, val)
	})
	g.stop()
	if err := e.close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/float64(max(1, g.groups.Load())), "group")
}

func BenchmarkEnginePebble(b *testing.B) {
	benchEngine(b, func(dir string) (engine, error) {
		db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
		return pebbleEngine{db}, err
	})
}

func BenchmarkEngineBolt(b *testing.B) {
	benchEngine(b, func(dir string) (engine, error) {
		db, err := bolt.Open(dir, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
		if err != nil {
			return nil, err
		}
		err = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("m")); return err })
		return boltEngine{db}, err
	})
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)      {}
func (quietLogger) Errorf(string, ...any)     {}
func (quietLogger) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
