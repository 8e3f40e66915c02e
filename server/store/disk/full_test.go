//go:build linux

package disk

import (
	"bufio"
	"errors"
	"fmt"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtsync/rtsync/server/store"
)

// fileLimit is the file size the disk-full child may write.
const fileLimit = 2 << 20

var keepAll = store.Options{Retention: func(string) store.Retention { return store.Retention{Count: 1 << 20} }}

// TestDiskFull runs a child whose files may not grow past fileLimit
// (RLIMIT_FSIZE, with SIGXFSZ ignored, so writes fail with EFBIG): its
// appends must fail with ErrUnavailable while reads go on; once the child
// is gone (the limit with it), the store reopens with every acknowledged
// append, and seqs go on past them.
func TestDiskFull(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cmd := child(t, "full", dir)
	out, err := cmd.Output()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var acked, failed uint64
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		fmt.Sscanf(sc.Text(), "acked %d failed %d", &acked, &failed)
	}
	if !strings.Contains(string(out), "PASS") || acked == 0 {
		t.Fatal("the child did not pass")
	}
	s, err := Open(dir, Options{Options: keepAll})
	if err != nil {
		t.Fatalf("reopen after the failed writes: %v", err)
	}
	defer s.Close()
	p, err := s.Read("r", store.Query{After: new(uint64), Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if got := seqsOf(p.Messages); len(got) < int(acked) || got[acked-1] != acked || got[0] != 1 {
		t.Fatalf("after reopen the room holds %d messages (%v...), want 1..%d", len(got), got[:min(3, len(got))], acked)
	}
	seq, _, c, err := s.Append("r", time.Now().UnixMilli(), []byte(`{}`), []byte(`"again"`))
	if err != nil || c.Wait() != nil {
		t.Fatalf("append after reopen: %v", err)
	}
	if seq <= acked {
		t.Errorf("seq %d given again after reopen (acknowledged up to %d)", seq, acked)
	}
}

func seqsOf(ms []store.Message) []uint64 {
	out := make([]uint64, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

func childFull(dir string) int {
	fail := func(format string, args ...any) int {
		fmt.Printf("FAIL: "+format+"\n", args...)
		return 1
	}
	signal.Ignore(syscall.SIGXFSZ)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		return fail("getrlimit: %v", err)
	}
	s, err := Open(dir, Options{Options: keepAll, Logf: func(f string, a ...any) { fmt.Printf("log: "+f+"\n", a...) }})
	if err != nil {
		return fail("open: %v", err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: fileLimit, Max: lim.Max}); err != nil {
		return fail("setrlimit: %v", err)
	}
	data := fmt.Appendf(nil, `"%s"`, strings.Repeat("x", 8<<10))
	var failed error
	var acked, failedSeq uint64
	for i := 0; i < 2000 && failed == nil; i++ {
		seq, _, c, err := s.Append("r", time.Now().UnixMilli(), []byte(`{}`), data)
		if err != nil {
			return fail("append %d: %v", i, err)
		}
		if failed = c.Wait(); failed == nil {
			acked = seq
		} else {
			failedSeq = seq
		}
	}
	if failed == nil {
		return fail("2000 appends of 8 KiB fit under a file limit of %d bytes", fileLimit)
	}
	fmt.Printf("%d appends committed, then: %v\n", acked, failed)
	if !errors.Is(failed, store.ErrUnavailable) || !strings.Contains(failed.Error(), dir) {
		return fail("the failed commit's error does not wrap ErrUnavailable or name %s", dir)
	}
	// Reads go on.
	p, err := s.Read("r", store.Query{Limit: 3})
	if err != nil || len(p.Messages) != 3 || p.Messages[2].Seq != acked {
		return fail("read while writes fail: %v, %v", err, seqsOf(p.Messages))
	}
	// Later appends fail too, at once, and their seqs are not given again.
	for range 20 {
		seq, _, c, err := s.Append("r", time.Now().UnixMilli(), []byte(`{}`), data)
		if err != nil {
			return fail("append after the failure: %v", err)
		}
		if seq <= failedSeq {
			return fail("seq %d given again", seq)
		}
		failedSeq = seq
		if err := c.Wait(); !errors.Is(err, store.ErrUnavailable) {
			return fail("append after the failure: %v, want ErrUnavailable", err)
		}
	}
	if st := s.Stats(); st.Errors < 21 {
		return fail("Stats.Errors is %d after 21 failed writes", st.Errors)
	}
	if err := s.Close(); !errors.Is(err, store.ErrUnavailable) {
		return fail("Close of a store that stopped writing: %v, want ErrUnavailable", err)
	}
	fmt.Printf("acked %d failed %d\n", acked, failedSeq)
	fmt.Println("PASS")
	return 0
}

// TestMinFree holds writes back while the disk has less free space than
// the floor, and lets them go once it has more.
func TestMinFree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	free, err := freeBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.minFree.Store(free + 1<<40)
	time.Sleep(freeCheckEvery)
	_, _, c, err := s.Append("r", time.Now().UnixMilli(), []byte(`{}`), []byte(`"1"`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "MiB free") || !strings.Contains(err.Error(), "writes resume by themselves") {
		t.Fatalf("append under the floor: %v, want ErrUnavailable saying so", err)
	}
	s.minFree.Store(1 << 20)
	time.Sleep(freeCheckEvery)
	seq, _, c, err := s.Append("r", time.Now().UnixMilli(), []byte(`{}`), []byte(`"2"`))
	if err != nil || c.Wait() != nil || seq != 2 {
		t.Fatalf("append once space is back: seq %d, %v, %v", seq, err, c.Wait())
	}
}
