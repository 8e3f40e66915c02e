package disk

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtsync/rtsync/server/store"
)

// childEnv makes the test binary act as a child process (see TestMain).
const childEnv = "RTSYNC_DISK_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role, os.Getenv("RTSYNC_DISK_TEST_DIR")))
	}
	os.Exit(m.Run())
}

// child starts the test binary as a child playing role on dir.
func child(t *testing.T, role, dir string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, "RTSYNC_DISK_TEST_DIR="+dir)
	cmd.Stderr = os.Stderr
	return cmd
}

func runChild(role, dir string) int {
	switch role {
	case "hold":
		// Hold the store open until stdin closes.
		s, err := Open(dir, Options{})
		if err != nil {
			fmt.Println("open:", err)
			return 1
		}
		fmt.Println("open")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		s.Close()
		return 0
	case "append":
		return childAppend(dir)
	case "full":
		return childFull(dir)
	}
	fmt.Fprintln(os.Stderr, "unknown child role", role)
	return 2
}

// childAppend appends to four rooms from four goroutines, batch fsync,
// and prints "room seq" for each append whose commit reported, until
// killed.
func childAppend(dir string) int {
	s, err := Open(dir, Options{Options: store.Options{Retention: func(string) store.Retention { return store.Retention{Count: 1 << 20} }}})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	out := make(chan string, 1024)
	for r := range 4 {
		go func() {
			room := fmt.Sprintf("room%d", r)
			for i := 0; ; i++ {
				seq, _, c, err := s.Append(room, time.Now().UnixMilli(), []byte(`{"uid":"c"}`), fmt.Appendf(nil, `"%s-%d"`, room, i))
				if err == nil {
					err = c.Wait()
				}
				if err != nil {
					out <- "error " + err.Error()
					return
				}
				out <- fmt.Sprintf("%s %d", room, seq)
			}
		}()
	}
	w := bufio.NewWriter(os.Stdout)
	for line := range out {
		w.WriteString(line + "\n")
		if len(out) == 0 {
			w.Flush()
		}
	}
	return 0
}

// TestCrash kills a child that appends with batch fsync at a random point
// (kill -9) and checks that every append the child saw acknowledged is in
// the reopened store, once and in order, and that seqs go on from there.
func TestCrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var lastSeq uint64
	for round := range 3 {
		acked := map[string][]uint64{}
		cmd := child(t, "append", dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		want := 500 + 700*round
		n := 0
		for n < want && sc.Scan() {
			line := sc.Text()
			room, seqText, _ := strings.Cut(line, " ")
			seq, err := strconv.ParseUint(seqText, 10, 64)
			if err != nil {
				cmd.Process.Kill()
				t.Fatalf("child: %s", line)
			}
			acked[room] = append(acked[room], seq)
			n++
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Acks already written to the pipe count too: the child saw them.
		for sc.Scan() {
			room, seqText, _ := strings.Cut(sc.Text(), " ")
			if seq, err := strconv.ParseUint(seqText, 10, 64); err == nil {
				acked[room] = append(acked[room], seq)
			}
		}
		cmd.Wait()
		if n < want {
			t.Fatalf("round %d: the child acknowledged %d appends, want %d", round, n, want)
		}

		s, err := Open(dir, Options{Options: store.Options{Retention: func(string) store.Retention { return store.Retention{Count: 1 << 20} }}})
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		for room, seqs := range acked {
			p, err := s.Read(room, store.Query{After: new(uint64), Limit: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			got := map[uint64]int{}
			for i, m := range p.Messages {
				got[m.Seq]++
				if i > 0 && m.Seq != p.Messages[i-1].Seq+1 {
					t.Errorf("round %d: %s: seq %d follows %d", round, room, m.Seq, p.Messages[i-1].Seq)
				}
			}
			for _, seq := range seqs {
				if got[seq] != 1 {
					t.Errorf("round %d: %s: acknowledged seq %d is there %d times", round, room, seq, got[seq])
				}
			}
			newest := seqs[len(seqs)-1]
			seq, _, c, err := s.Append(room, 1, []byte(`{}`), []byte(`"after"`))
			if err != nil || c.Wait() != nil {
				t.Fatal(err)
			}
			if seq <= newest {
				t.Errorf("round %d: %s: seq %d given again after reopen (acknowledged up to %d)", round, room, seq, newest)
			}
			lastSeq = max(lastSeq, seq)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("last seq %d", lastSeq)
}

func TestLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The same process.
	if _, err := Open(dir, Options{}); !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "another rtsync serve is using "+dir) {
		t.Errorf("second Open in the process: %v, want ErrLocked naming the directory", err)
	}
	s.Close()

	// Another process.
	cmd := child(t, "hold", dir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "open\n" {
		t.Fatalf("child: %q", line)
	}
	_, err = Open(dir, Options{})
	if !errors.Is(err, store.ErrLocked) {
		t.Errorf("Open while another process holds the directory: %v, want ErrLocked", err)
	}
	if _, err := Check(dir); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Check while another process holds the directory: %v, want ErrLocked", err)
	}
	if _, _, err := Compact(dir); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Compact while another process holds the directory: %v, want ErrLocked", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after the other process ended: %v", err)
	}
	s.Close()
}

func TestNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file, Options{}); err == nil || !strings.Contains(err.Error(), file+" is a file") {
		t.Errorf("Open of a file: %v", err)
	}
	// A directory that cannot be made: its parent is a file.
	under := filepath.Join(file, "data")
	if _, err := Open(under, Options{}); err == nil || !strings.Contains(err.Error(), under) || !strings.Contains(err.Error(), "--data-dir") {
		t.Errorf("Open under a file: %v", err)
	}
}

func TestReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes whatever the modes say; a directory that cannot be
		// made or written is covered by TestNotADirectory, and a read-only
		// mount needs privileges a test should not use.
		t.Skip("running as root, which ignores directory modes")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "write access") {
		t.Errorf("Open of a read-only directory: %v", err)
	}
}

func fill(t *testing.T, dir string, n int) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var c *store.Commit
	for i := range n {
		_, _, c, err = s.Append(fmt.Sprintf("room%d", i%5), time.Now().UnixMilli(), []byte(`{"uid":"u"}`), fmt.Appendf(nil, `"message %d %s"`, i, strings.Repeat("x", 200)))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, c, err := s.InboxAppend("u1", time.Now().UnixMilli(), []byte(`{}`), []byte(`"dm"`)); err != nil || c.Wait() != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCorrupt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	fill(t, dir, 500)
	if rep, err := Check(dir); err != nil || rep.Messages != 500 || len(rep.Rooms) != 5 || rep.InboxMessages != 1 || rep.Format != formatVersion {
		t.Fatalf("Check of a sound store: %+v, %v", rep, err)
	}
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table files to damage")
	}
	for _, f := range tables {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(b) / 4; i < len(b)/2; i++ {
			b[i] ^= 0x5a
		}
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(dir, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a damaged store gave no error")
	}
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "rtsync store check --data-dir "+dir) {
		t.Errorf("Open of a damaged store: %v, want ErrCorrupt naming the check command", err)
	}
	if _, err := Check(dir); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Check of a damaged store: %v, want ErrCorrupt", err)
	}
}

func TestNewerFormat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	fill(t, dir, 10)
	db, err := openEngine(dir, false, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(formatKey, encodeUint(formatVersion+1), nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(dir, Options{})
	if !errors.Is(err, store.ErrFormat) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), fmt.Sprint("format ", formatVersion+1)) {
		t.Errorf("Open of a newer store: %v, want ErrFormat naming the directory and the version", err)
	}
	if _, err := Check(dir); !errors.Is(err, store.ErrFormat) {
		t.Errorf("Check of a newer store: %v, want ErrFormat", err)
	}
}

func TestCompact(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	fill(t, dir, 2000)
	// Trim nearly everything, then compact the space back.
	s, err := Open(dir, Options{Options: store.Options{Retention: func(string) store.Retention { return store.Retention{Count: 1} }}})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Head("room0"); h.Count != 1 || h.Seq != 400 {
		t.Fatalf("room0 after reopen with a count of 1: %+v", h)
	}
	s.Close()
	before, after, err := Compact(dir)
	if err != nil {
		t.Fatal(err)
	}
	if after >= before || before == 0 {
		t.Errorf("Compact: %d bytes before, %d after", before, after)
	}
	rep, err := Check(dir)
	if err != nil || rep.Messages != 5 {
		t.Errorf("Check after Compact: %d messages, %v", rep.Messages, err)
	}
}

func TestFsyncMode(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{Fsync: "sometimes"}); err == nil || !strings.Contains(err.Error(), "sometimes") {
		t.Errorf("Open with a bad fsync mode: %v", err)
	}
}
