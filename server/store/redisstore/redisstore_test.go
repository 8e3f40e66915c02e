package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/redistest"
	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/storetest"
)

// startRedis starts a redis-server for the test and returns its URL.
func startRedis(t testing.TB) string { return redistest.Start(t).URL }

func TestContract(t *testing.T) {
	url := startRedis(t)
	var n atomic.Int64
	open := func(t *testing.T, prefix string, opts store.Options) store.Store {
		t.Helper()
		s, err := Open(url, Options{Options: opts, Prefix: prefix})
		if err != nil {
			t.Fatalf("Open(%s): %v", url, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	storetest.Run(t, storetest.Factory{
		// Each store gets a prefix of its own on the one Redis, so it
		// starts empty.
		Open: func(t *testing.T, opts store.Options) store.Store {
			return open(t, fmt.Sprintf("t%d:", n.Add(1)), opts)
		},
		Reopen: func(t *testing.T, s store.Store, opts store.Options) store.Store {
			t.Helper()
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, s.(*Store).opts.Prefix, opts)
		},
	})
}

// Two stores on one prefix are one store: what one appends the other
// reads, and seqs continue across them, as nodes of a cluster need.
func TestSharedPrefix(t *testing.T) {
	url := startRedis(t)
	a, err := Open(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	other, err := Open(url, Options{Prefix: "other:"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	now := time.Now().UnixMilli()
	seq1, e1, _, err := a.Append("r", now, []byte(`{}`), []byte(`1`))
	if err != nil {
		t.Fatal(err)
	}
	seq2, e2, _, err := b.Append("r", now+1, []byte(`{}`), []byte(`2`))
	if err != nil {
		t.Fatal(err)
	}
	if seq1 != 1 || seq2 != 2 || e1 != e2 {
		t.Errorf("appends through two stores: seqs %d %d epochs %q %q; want 1 2 and one epoch", seq1, seq2, e1, e2)
	}
	p, err := a.Read("r", store.Query{Limit: 10})
	if err != nil || len(p.Messages) != 2 || string(p.Messages[1].Data) != "2" {
		t.Errorf("read through the first store: %+v, %v", p, err)
	}
	if h, err := other.Head("r"); err != nil || h != (store.Head{}) {
		t.Errorf("Head under another prefix = %+v, %v; want nothing", h, err)
	}
	if st := a.Stats(); st.Kind != "redis" || st.Messages != 2 || st.Rooms != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestOpenErrors(t *testing.T) {
	// A port nothing listens on: take one and free it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Open("redis://"+addr+"/0", Options{Timeout: time.Second})
	if err == nil || !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), addr) {
		t.Errorf("Open of a closed port: %v; want ErrUnavailable naming %s", err, addr)
	}
	_, err = Open("http://user:secret@127.0.0.1/0", Options{})
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "URL") {
		t.Errorf("Open of a bad URL: %v; want an error about the URL that hides the password", err)
	}
}

// Redis gone while the store is open: calls fail with ErrUnavailable
// and say where, rather than hang or panic.
func TestRedisLost(t *testing.T) {
	url := startRedis(t)
	s, err := Open(url, Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, _, err := s.Append("r", 1000, []byte(`{}`), []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.rdb.Shutdown(ctx).Err() // the server goes; the reply is an EOF
	if _, _, _, err := s.Append("r", 1001, []byte(`{}`), []byte(`2`)); !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), s.addr) {
		t.Errorf("Append with Redis gone: %v; want ErrUnavailable naming %s", err, s.addr)
	}
	if _, err := s.Read("r", store.Query{Limit: 1}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Read with Redis gone: %v; want ErrUnavailable", err)
	}
	if st := s.Stats(); st.Errors < 2 {
		t.Errorf("Stats.Errors = %d after two failed calls", st.Errors)
	}
}
