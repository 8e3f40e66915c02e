//go:build unix

package cmd

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/internal/syncbuf"
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server"
)

func TestParseRoomHistory(t *testing.T) {
	t.Parallel()
	got, err := parseRoomHistory([]string{"news.*=5000/72h", "tmp.*=0"})
	want := []server.RoomHistory{{Rooms: "news.*", Size: 5000, TTL: 72 * time.Hour}, {Rooms: "tmp.*", Size: 0}}
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("parseRoomHistory = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"news", "=5", "news=", "news=-1", "news=five", "news=5/", "news=5/72", "news=5/-1h"} {
		if _, err := parseRoomHistory([]string{bad}); err == nil || !strings.Contains(err.Error(), "--room-history") {
			t.Errorf("parseRoomHistory(%q) = %v, want an error naming the flag", bad, err)
		}
	}
}

// runRtsync runs the real binary to its end and returns its exit code
// and stderr.
func runRtsync(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command("rtsync", args...)
	cmd.Dir = dir
	stderr := &syncbuf.Buffer{Limit: 64 << 10}
	cmd.Stderr = stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("rtsync %v still running after 20 s\nstderr:\n%s", args, stderr)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// TestServeStoreErrors: a data directory another server holds, a file
// where the directory should be, and bad storage flags each stop serve
// with one clear line naming the path or flag and what to do.
func TestServeStoreErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the binary; runs without -short")
	}
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddr(t)
	data := filepath.Join(dir, "data")
	startCrashServer(t, addr, data)
	otherAddr := freeAddr(t)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"locked", []string{"--data-dir", data}, 1, "another rtsync serve is using " + data + "; stop it or use another --data-dir"},
		{"file", []string{"--data-dir", file}, 1, "data directory " + file + " is a file, not a directory"},
		{"fsync", []string{"--fsync", "sometimes"}, 2, "--fsync"},
		{"room history", []string{"--room-history", "news=lots"}, 2, `--room-history "news=lots"`},
		{"inbox", []string{"--inbox-max", "0"}, 2, "--inbox-max must be at least 1"},
		{"store", []string{"--store", "tape"}, 2, "--store"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stderr := runRtsync(t, dir, append([]string{"serve", "--addr", otherAddr, "--api-key", "k"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}

// TestServeDiskFull: the server's files may not grow past 512 KiB (a real
// EFBIG from the kernel, as on a full disk). Publishers then get
// not_stored replies with their seq, the room's members still get every
// message live, and the server keeps serving: no crash, /healthz answers,
// the store's failures show in the stats.
func TestServeDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the binary; runs without -short")
	}
	t.Parallel()
	addr := freeAddr(t)
	dir := t.TempDir()
	// ulimit -f counts 512-byte blocks; SIGXFSZ is ignored so that the
	// write fails with EFBIG instead of killing the process.
	cmd := exec.Command("sh", "-c", `trap '' XFSZ; ulimit -f 1024 && exec rtsync serve --addr "$0" --data-dir "$1" --api-key `+crashKey+
		` --publish-rate 1000000 --publish-burst 1000000 --max-message-size 64KiB`, addr, filepath.Join(dir, "data"))
	stderr := &syncbuf.Buffer{Limit: 64 << 10}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	if err := waitHTTP("http://"+addr+"/healthz", 20*time.Second); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, stderr)
	}
	sub := dialWS(t, addr)
	_ = sub.send(map[string]any{"op": "join", "room": "full", "id": 1})
	pub := dialWS(t, addr)
	_ = pub.send(map[string]any{"op": "join", "room": "full", "id": 1})
	big := strings.Repeat("x", 32<<10)
	var notStored []uint64
	var lastSeq uint64
	for n := 2; n < 1000 && len(notStored) < 3; n++ {
		_ = pub.send(map[string]any{"op": "pub", "room": "full", "id": n, "noecho": true, "data": big})
		_ = pub.events(func(e protocol.Event) bool {
			if e.Type != protocol.TypeReply || string(e.ID) != strconv.Itoa(n) {
				return true
			}
			switch {
			case e.OK:
			case e.Error != nil && e.Error.Code == protocol.CodeNotStored && e.Seq > 0:
				notStored = append(notStored, e.Seq)
			case e.Error != nil && e.Error.Code == protocol.CodeStoreUnavailable:
				t.Fatalf("pub %d: %v, want not_stored (delivered live) while the store fails", n, e.Error)
			default:
				t.Fatalf("pub %d: %+v", n, e)
			}
			lastSeq = e.Seq
			return false
		})
	}
	if len(notStored) < 3 {
		t.Fatalf("no not_stored reply in 1000 pubs of 32 KiB with the files bound to 512 KiB\nstderr:\n%s", stderr)
	}
	// The member got every message, the failed ones included.
	want := uint64(1)
	_ = sub.events(func(e protocol.Event) bool {
		if e.Type == protocol.TypeMsg {
			if e.Seq != want {
				t.Fatalf("member got seq %d, want %d", e.Seq, want)
			}
			want++
		}
		return want <= lastSeq
	})
	if err := waitHTTP("http://"+addr+"/healthz", 5*time.Second); err != nil {
		t.Fatalf("server stopped answering after the store failed: %v\nstderr:\n%s", err, stderr)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/stats", nil)
	req.Header.Set("Authorization", "Bearer "+crashKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st server.Stats
	err = json.NewDecoder(resp.Body).Decode(&st)
	_ = resp.Body.Close()
	if err != nil || st.Store.Failed < 3 || st.Store.Kind != "disk" {
		t.Fatalf("stats store %+v (%v), want disk with at least 3 failed", st.Store, err)
	}
	if !strings.Contains(stderr.String(), "could not be stored") {
		t.Errorf("the log does not say messages could not be stored:\n%s", stderr)
	}
}

// TestServeStoreSettings: the storage settings come from flags, the
// environment and the config file like every other, room-history as a
// YAML list included.
func TestServeStoreSettings(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "rtsync.yaml")
	writeFile(t, cfgFile, "room-history:\n  - news.*=5000/72h\n  - tmp.*=0\nstore: memory\nfsync: always\ninbox-max: 50\n")
	t.Setenv("RTSYNC_DATA_DIR", "/var/lib/rtsync")
	t.Setenv("RTSYNC_REDIS", "redis://:pw@127.0.0.1:6390/2")
	ios, _, _, _ := iostreams.Test()
	var got *serveOptions
	c := newServeCmd(ios, func(_ context.Context, o *serveOptions) error {
		got = o
		return nil
	})
	c.SetArgs([]string{"--config", cfgFile, "--inbox-ttl", "1h"})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	want := serveStoreFlags{Kind: "memory", DataDir: "/var/lib/rtsync", Fsync: "always", RoomHistory: []string{"news.*=5000/72h", "tmp.*=0"},
		Redis: "redis://:pw@127.0.0.1:6390/2", RedisPrefix: "rtsync:", kindSet: true}
	if !reflect.DeepEqual(got.Store, want) || got.Server.InboxMax != 50 || got.Server.InboxTTL != time.Hour {
		t.Fatalf("store settings %+v, inbox %d %s; want %+v, 50, 1h", got.Store, got.Server.InboxMax, got.Server.InboxTTL, want)
	}
	rh, err := parseRoomHistory(got.Store.RoomHistory)
	if err != nil || len(rh) != 2 || rh[0].TTL != 72*time.Hour || rh[1].Size != 0 {
		t.Fatalf("room history %+v, %v", rh, err)
	}
}
