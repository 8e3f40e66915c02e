//go:build unix

package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/internal/syncbuf"
	"github.com/rtsync/rtsync/protocol"
)

// crashServer is a real `rtsync serve` on a data directory, killed with
// SIGKILL by the test.
type crashServer struct {
	t      *testing.T
	addr   string
	dir    string
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan error
}

const crashKey = "crash-test-key"

func startCrashServer(t *testing.T, addr, dir string, extra ...string) *crashServer {
	t.Helper()
	args := append([]string{"serve", "--addr", addr, "--data-dir", dir, "--api-key", crashKey,
		"--publish-rate", "1000000", "--publish-burst", "1000000", "--history-size", "100000"}, extra...)
	return startServeProcess(t, addr, dir, args)
}

// startServeProcess runs rtsync with args, serving on addr, and waits
// until it answers.
func startServeProcess(t *testing.T, addr, dir string, args []string) *crashServer {
	t.Helper()
	s := &crashServer{t: t, addr: addr, dir: dir, cmd: exec.Command("rtsync", args...), done: make(chan error, 1)}
	s.stderr = &syncbuf.Buffer{Limit: 64 << 10}
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(s.kill)
	if err := waitHTTP("http://"+addr+"/healthz", 20*time.Second); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, s.stderr)
	}
	return s
}

// kill sends SIGKILL and waits for the process to go.
func (s *crashServer) kill() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// history reads every stored message of room through the API, paging.
func (s *crashServer) history(room string) (epoch string, msgs []protocol.Message) {
	s.t.Helper()
	since := uint64(0)
	for {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/api/v1/rooms/%s/history?since=%d&limit=1000", s.addr, room, since), nil)
		req.Header.Set("Authorization", "Bearer "+crashKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		var page struct {
			Epoch    string             `json:"epoch"`
			Messages []protocol.Message `json:"messages"`
			More     bool               `json:"more"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			s.t.Fatalf("history: %d %v", resp.StatusCode, err)
		}
		epoch = page.Epoch
		msgs = append(msgs, page.Messages...)
		if !page.More || len(page.Messages) == 0 {
			return epoch, msgs
		}
		since = page.Messages[len(page.Messages)-1].Seq
	}
}

// wsConn is a raw protocol client for the crash test.
type wsConn struct {
	ws *websocket.Conn
}

func dialWS(t *testing.T, addr string) *wsConn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := &wsConn{ws: ws}
	var first protocol.Event
	if err := c.events(func(e protocol.Event) bool { first = e; return false }); err != nil || first.Type != protocol.TypeWelcome {
		t.Fatalf("welcome: %+v %v", first, err)
	}
	return c
}

// events reads frames until f returns false, splitting batches.
func (c *wsConn) events(f func(protocol.Event) bool) error {
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return err
		}
		for _, line := range bytes.Split(b, []byte{'\n'}) {
			var e protocol.Event
			if err := json.Unmarshal(line, &e); err != nil {
				return err
			}
			if !f(e) {
				return nil
			}
		}
	}
}

func (c *wsConn) send(v any) error {
	b, _ := json.Marshal(v)
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// TestCrashKeepsAcknowledged runs the real binary with the disk store,
// has four clients publish as fast as they can, kills the server with
// SIGKILL mid-stream and starts it again on the same data directory:
// every acknowledged message is in history exactly once, in seq order,
// with its own data; no seq is given twice; the epoch is the same; a
// subscriber that rejoins with since gets exactly what it missed. Then
// the data directory is lost: the epoch changes and the same rejoin is
// told recovery was incomplete.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the binary; runs without -short")
	}
	t.Parallel()
	addr := freeAddr(t)
	dir := filepath.Join(t.TempDir(), "data")
	srv := startCrashServer(t, addr, dir)

	// A subscriber records what it saw live.
	sub := dialWS(t, addr)
	if err := sub.send(map[string]any{"op": "join", "room": "crash", "id": 1}); err != nil {
		t.Fatal(err)
	}
	var subMu sync.Mutex
	var subSeen uint64
	var subEpoch string
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		_ = sub.events(func(e protocol.Event) bool {
			if e.Type == protocol.TypeMsg {
				subMu.Lock()
				if e.Seq != subSeen+1 {
					t.Errorf("subscriber: seq %d after %d", e.Seq, subSeen)
				}
				subSeen, subEpoch = e.Seq, e.Epoch
				subMu.Unlock()
			}
			return true
		})
	}()

	// Four publishers pipeline pubs (up to 64 unanswered each) and
	// record which were acknowledged, with their seqs.
	type ack struct {
		pub, n int
	}
	var mu sync.Mutex
	acked := map[uint64]ack{}
	var total int
	var wg sync.WaitGroup
	for p := range 4 {
		c := dialWS(t, addr)
		if err := c.send(map[string]any{"op": "join", "room": "crash", "id": 0}); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			sent := make(chan struct{}, 64)
			go func() {
				for n := 1; n <= 100_000; n++ {
					sent <- struct{}{}
					if c.send(map[string]any{"op": "pub", "room": "crash", "id": n, "noecho": true, "data": map[string]int{"p": p, "n": n}}) != nil {
						return
					}
				}
			}()
			_ = c.events(func(e protocol.Event) bool {
				if e.Type != protocol.TypeReply {
					return true
				}
				var id int
				_ = json.Unmarshal(e.ID, &id)
				if id == 0 {
					return true // the join
				}
				<-sent
				if e.OK {
					mu.Lock()
					if prev, dup := acked[e.Seq]; dup {
						t.Errorf("seq %d acknowledged twice: %+v and pub %d #%d", e.Seq, prev, p, id)
					}
					acked[e.Seq] = ack{p, id}
					total++
					mu.Unlock()
				}
				return true
			})
		})
	}
	// Kill once a good stream is under way.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := total
		mu.Unlock()
		if n >= 3000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d publishes acknowledged in 30 s\nstderr:\n%s", n, srv.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.kill()
	wg.Wait()
	<-subDone
	mu.Lock()
	defer mu.Unlock()
	t.Logf("killed after %d acknowledged publishes; the subscriber saw %d", total, subSeen)

	srv = startCrashServer(t, addr, dir)
	epoch, msgs := srv.history("crash")
	if epoch != subEpoch {
		t.Fatalf("epoch %q after the restart, was %q: the data survived, so it must stay", epoch, subEpoch)
	}
	stored := map[uint64]ack{}
	var last uint64
	for _, m := range msgs {
		if m.Seq <= last {
			t.Fatalf("history out of order or repeated: seq %d after %d", m.Seq, last)
		}
		last = m.Seq
		var d struct{ P, N int }
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("seq %d data %s: %v", m.Seq, m.Data, err)
		}
		stored[m.Seq] = ack{d.P, d.N}
	}
	for seq, a := range acked {
		if got, ok := stored[seq]; !ok || got != a {
			t.Fatalf("acknowledged seq %d (pub %d #%d) is %+v in history (present %v)", seq, a.pub, a.n, got, ok)
		}
	}
	if last < subSeen {
		t.Fatalf("history ends at %d, but seq %d was delivered live before the crash", last, subSeen)
	}
	t.Logf("history after the restart: %d messages, up to seq %d", len(msgs), last)

	// A new publish takes the next seq: none is reused.
	c := dialWS(t, addr)
	_ = c.send(map[string]any{"op": "join", "room": "crash", "id": 1})
	_ = c.send(map[string]any{"op": "pub", "room": "crash", "id": 2, "data": "after"})
	var newSeq uint64
	_ = c.events(func(e protocol.Event) bool {
		if e.Type == protocol.TypeReply && string(e.ID) == "2" {
			newSeq = e.Seq
			return false
		}
		return true
	})
	if newSeq != last+1 {
		t.Fatalf("first publish after the restart got seq %d, want %d", newSeq, last+1)
	}

	// The subscriber comes back with since: it gets exactly what it
	// missed, then nothing more.
	back := dialWS(t, addr)
	_ = back.send(map[string]any{"op": "join", "room": "crash", "id": 1, "since": subSeen, "epoch": subEpoch})
	want := subSeen + 1
	var reply protocol.Event
	_ = back.events(func(e protocol.Event) bool {
		switch e.Type {
		case protocol.TypeReply:
			reply = e
		case protocol.TypeMsg:
			if e.Seq != want {
				t.Fatalf("rejoin: seq %d, want %d", e.Seq, want)
			}
			want++
		}
		return want <= newSeq
	})
	if reply.Recovered == nil || !*reply.Recovered || *reply.Replayed != int(newSeq-subSeen) {
		t.Fatalf("rejoin reply %+v, want recovered with %d replayed", reply, newSeq-subSeen)
	}

	// The data directory is lost: a new epoch, and the same rejoin is
	// told its recovery is incomplete.
	srv.kill()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	startCrashServer(t, addr, dir)
	lost := dialWS(t, addr)
	_ = lost.send(map[string]any{"op": "join", "room": "crash", "id": 1, "since": subSeen, "epoch": subEpoch})
	_ = lost.events(func(e protocol.Event) bool {
		if e.Type != protocol.TypeReply {
			return true
		}
		if !e.OK || e.Recovered == nil || *e.Recovered || e.Epoch == subEpoch {
			t.Fatalf("rejoin after the data was lost: %+v, want a new epoch and recovered false", e)
		}
		return false
	})
}
