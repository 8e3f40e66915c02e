package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

// Attacks on the server's memory and on its replies, at small scale: each
// test sets a small limit, does what an attacker did to the defaults, and
// checks that the bound holds, the client stays connected or gets a clear
// error, and the counter shows it.

// text returns a message body of about n bytes.
func text(n int, tag string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"text":%q}`, tag+strings.Repeat("x", max(n-len(tag), 0))))
}

// publishN publishes n messages of size bytes to room through the API.
func publishN(t *testing.T, s *Server, room string, n, size int) {
	t.Helper()
	for i := range n {
		if _, _, err := s.Publish(room, text(size, fmt.Sprintf("%s-%d-", room, i)), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// A history reply bigger than the send queue closed the asking client
// with 4008. Now it is one page that fits, says it was cut, and paging
// on with next_seq (forward and back) lists every message once, in order.
func TestHistoryReplyFitsSendQueue(t *testing.T) {
	t.Parallel()
	cfg := Config{SendQueueBytes: 64 << 10, MaxMessageSize: 8 << 10}
	s, url := startServer(t, cfg)
	publishN(t, s, "big", 40, 6000) // 240 KB of history, the queue holds 64 KB
	c := dial(t, url)
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "big"}))

	first := mustOK(t, c.cmd(map[string]any{"op": "history", "room": "big", "limit": 1000}))
	if !first.Truncated || !first.More || len(first.Messages) == 0 || len(first.Messages) >= 40 {
		t.Fatalf("newest page: %d messages, truncated %v, more %v; want a page cut short", len(first.Messages), first.Truncated, first.More)
	}
	if first.NextSeq != first.Messages[0].Seq {
		t.Fatalf("next_seq %d, want the first listed seq %d", first.NextSeq, first.Messages[0].Seq)
	}
	if n := pageBytes(t, first.Messages); n > cfg.SendQueueBytes/2 {
		t.Fatalf("page holds %d bytes of messages, more than half the %d-byte queue", n, cfg.SendQueueBytes)
	}

	// Forward from the start.
	var seqs []uint64
	since := uint64(0)
	for range 100 {
		p := mustOK(t, c.cmd(map[string]any{"op": "history", "room": "big", "since": since, "limit": 1000}))
		for _, m := range p.Messages {
			seqs = append(seqs, m.Seq)
		}
		if !p.More {
			break
		}
		since = p.NextSeq
	}
	checkSeqs(t, "forward", seqs, 40)

	// Back from the newest.
	seqs = nil
	var before *uint64
	for range 100 {
		cmd := map[string]any{"op": "history", "room": "big", "limit": 1000}
		if before != nil {
			cmd["before"] = *before
		}
		p := mustOK(t, c.cmd(cmd))
		var page []uint64
		for _, m := range p.Messages {
			page = append(page, m.Seq)
		}
		seqs = append(page, seqs...)
		if !p.More {
			break
		}
		next := p.NextSeq
		before = &next
	}
	checkSeqs(t, "backward", seqs, 40)
	mustOK(t, c.cmd(map[string]any{"op": "ping"}))
	if n := s.Stats().SlowConsumers; n != 0 {
		t.Fatalf("%d slow consumers, want none", n)
	}
	// The HTTP API's pages are bounded the same way.
	hp, err := s.History("big", HistoryQuery{Limit: 1000})
	if err != nil || !hp.Truncated || !hp.More || len(hp.Messages) >= 40 || hp.NextSeq == 0 {
		t.Fatalf("API page: %d messages, truncated %v, more %v, next %d, err %v", len(hp.Messages), hp.Truncated, hp.More, hp.NextSeq, err)
	}
}

func pageBytes(t *testing.T, msgs []protocol.Message) int {
	t.Helper()
	n := 0
	for _, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		n += len(b)
	}
	return n
}

// checkSeqs fails unless seqs is 1..n.
func checkSeqs(t *testing.T, what string, seqs []uint64, n int) {
	t.Helper()
	if len(seqs) != n {
		t.Fatalf("%s: %d messages, want %d: %v", what, len(seqs), n, seqs)
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("%s: seqs %v, want 1..%d", what, seqs, n)
		}
	}
}

// A presence list bigger than the send queue closed the asking client
// with 4008. Now it pages: total, more, next and truncated, and paging
// on with after lists every member once.
func TestPresenceRepliesPage(t *testing.T) {
	t.Parallel()
	cfg := Config{SendQueueBytes: 16 << 10, MaxMessageSize: 4 << 10}
	_, url := startServer(t, cfg)
	const members = 24
	meta := fmt.Sprintf(`{"bio":%q}`, strings.Repeat("m", 1900))
	ids := map[string]bool{}
	var c *wsClient
	for i := range members {
		c = dial(t, url)
		c.sendRaw(`{"op":"hello","name":"m` + itoa(i) + `","meta":` + meta + `}`)
		c.expect(protocol.TypeReply)
		mustOK(t, c.cmd(map[string]any{"op": "join", "room": "p"}))
		ids[c.welcome.Client] = true
	}
	seen := map[string]bool{}
	after := ""
	pages := 0
	for range members + 1 {
		cmd := map[string]any{"op": "presence", "room": "p"}
		if after != "" {
			cmd["after"] = after
		}
		p := mustOK(t, c.cmd(cmd))
		pages++
		if p.Total != members {
			t.Fatalf("total %d, want %d", p.Total, members)
		}
		for _, m := range p.Members {
			if seen[m.Client] || !ids[m.Client] {
				t.Fatalf("member %s listed twice or unknown", m.Client)
			}
			seen[m.Client] = true
		}
		if !p.More {
			break
		}
		if !p.Truncated || p.Next == "" {
			t.Fatalf("a page cut by size: truncated %v, next %q", p.Truncated, p.Next)
		}
		after = p.Next
	}
	if len(seen) != members || pages < 3 {
		t.Fatalf("%d members in %d pages, want %d in several", len(seen), pages, members)
	}
	// A limit pages without truncation.
	p := mustOK(t, c.cmd(map[string]any{"op": "presence", "room": "p", "limit": 2}))
	if len(p.Members) != 2 || !p.More || p.Truncated || p.Next != p.Members[1].Client {
		t.Fatalf("limit 2: %d members, more %v, truncated %v, next %q", len(p.Members), p.More, p.Truncated, p.Next)
	}
	mustErr(t, c.cmd(map[string]any{"op": "presence", "room": "p", "limit": -1}), protocol.CodeBadRequest)
}

// Re-joining many rooms with since in one frame replayed up to half the
// send queue for each room, together more than the queue: the client
// was closed with 4008 and reconnected into the same overflow. Now each
// replay streams from the store as the queue drains (800 KB through a
// 256 KB queue to a client that reads slowly): every room is recovered
// whole, in order, and the client is never cut off.
func TestRecoveryReplaysFitSendQueue(t *testing.T) {
	t.Parallel()
	cfg := Config{SendQueueBytes: 256 << 10, MaxMessageSize: 16 << 10}
	s, _, tcpAddr := startTCPServer(t, cfg)
	const rooms = 8
	for i := range rooms {
		publishN(t, s, "r"+itoa(i), 10, 10_000) // 100 KB each; 800 KB in all
	}
	// A client that reads slowly: a small receive buffer, and nothing
	// read until every join is sent.
	// The receive buffer is set before connecting: shrunk after the
	// handshake, it leaves a window scale that stalls the transfer for
	// seconds on zero-window probes.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) }); err != nil {
			return err
		}
		return serr
	}}
	nc, err := d.Dial("tcp", tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	var b strings.Builder
	for i := range rooms {
		fmt.Fprintf(&b, `{"op":"join","id":%d,"room":"r%d","since":0}`+"\n", i, i)
	}
	if _, err := nc.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(nc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := map[string]*roomRead{}
	replies := 0
	for replies < rooms || !replayed(got) {
		if !sc.Scan() {
			t.Fatalf("connection ended after %d replies: %v (slow consumers: %d)", replies, sc.Err(), s.Stats().SlowConsumers)
		}
		e, err := protocol.DecodeEvent(sc.Bytes())
		if err != nil {
			t.Fatalf("%v: %.200q", err, sc.Bytes())
		}
		switch e.Type {
		case protocol.TypeClose:
			t.Fatalf("closed with %d %s after %d replies", e.CloseCode, e.Reason, replies)
		case protocol.TypeReply:
			mustOK(t, e)
			got[e.Room] = &roomRead{reply: e}
			replies++
		case protocol.TypeMsg:
			got[e.Room].seqs = append(got[e.Room].seqs, e.Seq)
		}
	}
	for name, r := range got {
		if n := *r.reply.Replayed; n != 10 || len(r.seqs) != 10 || !*r.reply.Recovered || r.reply.Truncated {
			t.Fatalf("%s: replayed %d (%v), recovered %v, truncated %v; want all 10", name, n, r.seqs, *r.reply.Recovered, r.reply.Truncated)
		}
		for i, seq := range r.seqs {
			if seq != uint64(i+1) {
				t.Fatalf("%s: replayed %v, want 1 to 10 in order", name, r.seqs)
			}
		}
	}
	if n := s.Stats().SlowConsumers; n != 0 {
		t.Fatalf("%d slow consumers", n)
	}
}

// roomRead is what a client read of one room it re-joined.
type roomRead struct {
	reply protocol.Event
	seqs  []uint64
}

// replayed reports whether every room read so far has all the messages
// its reply announced.
func replayed(got map[string]*roomRead) bool {
	for _, r := range got {
		if len(r.seqs) < *r.reply.Replayed {
			return false
		}
	}
	return true
}

// churnRooms has c make rooms that outlive it, as the attack did: join a
// new room, publish one message of size bytes, leave, n times. It
// returns the replies to the joins that failed.
func churnRooms(t *testing.T, c *wsClient, prefix string, n, size int) []protocol.Event {
	t.Helper()
	var refused []protocol.Event
	for i := range n {
		room := prefix + itoa(i)
		j := c.cmd(map[string]any{"op": "join", "room": room})
		if !j.OK {
			refused = append(refused, j)
			continue
		}
		mustOK(t, c.cmd(map[string]any{"op": "pub", "room": room, "data": text(size, room), "noecho": true}))
		mustOK(t, c.cmd(map[string]any{"op": "leave", "room": room}))
	}
	return refused
}

// Twenty unauthenticated connections left 882 MB of history. Now the
// rooms' history together stays under --max-history-bytes: the oldest
// messages go, whichever room holds them, publishing goes on, and the
// newest history is kept.
func TestHistoryBytesGlobalBound(t *testing.T) {
	t.Parallel()
	const limit = 256 << 10
	cfg := Config{MaxHistoryBytes: limit, PublishRate: 1e6, PublishBurst: 1e6}
	s, url := startServer(t, cfg)
	for i := range 4 {
		c := dial(t, url)
		if refused := churnRooms(t, c, "h"+itoa(i)+"-", 100, 1000); len(refused) > 0 {
			t.Fatalf("join refused: %+v", refused[0].Error)
		}
	}
	// 400 KB published into 400 rooms; the bound is 256 KB.
	st := s.Stats()
	if st.HistoryBytes > limit || st.Store.Bytes > limit {
		t.Fatalf("history holds %d bytes (store %d), the bound is %d", st.HistoryBytes, st.Store.Bytes, limit)
	}
	if st.HistoryEvicted == 0 || st.HistoryMessages == 0 || st.Store.Evicted != st.HistoryEvicted {
		t.Fatalf("evicted %d (store %d), held %d messages; want some of each", st.HistoryEvicted, st.Store.Evicted, st.HistoryMessages)
	}
	// The newest room kept its message; the oldest lost it.
	if p, _ := s.History("h3-99", HistoryQuery{}); len(p.Messages) != 1 {
		t.Fatalf("newest room holds %d messages, want 1", len(p.Messages))
	}
	if p, _ := s.History("h0-0", HistoryQuery{}); len(p.Messages) != 0 {
		t.Fatalf("oldest room holds %d messages, want them evicted", len(p.Messages))
	}
	if st.Rooms >= 400 {
		t.Fatalf("%d rooms remain, want the emptied ones forgotten", st.Rooms)
	}
}

// Ten connections made 11,000 rooms that outlived them. Now the server
// holds at most --max-rooms-total: the store forgets the rooms idle
// longest, the hub drops rooms as their last member leaves, and when
// every room has members a join that would make one gets server_limit.
func TestRoomLimit(t *testing.T) {
	t.Parallel()
	cfg := Config{MaxRooms: 20, PublishRate: 1e6, PublishBurst: 1e6}
	s, url := startServer(t, cfg)
	c := dial(t, url)
	if refused := churnRooms(t, c, "gone-", 60, 100); len(refused) > 0 {
		t.Fatalf("join refused while rooms without members could make way: %+v", refused[0].Error)
	}
	st := s.Stats()
	if st.Rooms > 20 || st.Store.Rooms > 20 || st.Store.Evicted == 0 {
		t.Fatalf("%d rooms (store %d), %d messages evicted with their rooms; want at most 20 and some evicted", st.Rooms, st.Store.Rooms, st.Store.Evicted)
	}
	// Fill the server with rooms that have members.
	for i := range 20 {
		mustOK(t, c.cmd(map[string]any{"op": "join", "room": "held-" + itoa(i)}))
	}
	mustErr(t, c.cmd(map[string]any{"op": "join", "room": "one-too-many"}), protocol.CodeServerLimit)
	if _, _, err := s.Publish("api-room", text(10, "x"), PublishOptions{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("API publish to a new room past the limit: %v, want ErrConflict", err)
	}
	// Existing rooms still work.
	mustOK(t, c.cmd(map[string]any{"op": "pub", "room": "held-3", "data": 1}))
	st = s.Stats()
	if st.Rooms != 20 || st.RoomsRefused < 2 || st.Errors[protocol.CodeServerLimit] == 0 {
		t.Fatalf("rooms %d, refused %d, server_limit errors %d", st.Rooms, st.RoomsRefused, st.Errors[protocol.CodeServerLimit])
	}
}

// One connection may make only --max-rooms-created rooms in its life;
// joining rooms that exist stays free.
func TestRoomsCreatedPerConn(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{MaxRoomsCreatedPerConn: 5})
	publishN(t, s, "existing", 1, 10)
	c := dial(t, url)
	refused := churnRooms(t, c, "mine-", 6, 10)
	if len(refused) != 1 || refused[0].Error.Code != protocol.CodeTooManyRooms || !strings.Contains(refused[0].Error.Message, "--max-rooms-created") {
		t.Fatalf("refused %+v, want the sixth join refused for --max-rooms-created", refused)
	}
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "existing"}))
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "mine-0"}))
	if n := s.Stats().RoomsRefused; n != 1 {
		t.Fatalf("rooms_refused %d, want 1", n)
	}
	// The application may still put the client in new rooms.
	if err := s.JoinRoom(c.welcome.Client, "by-app"); err != nil {
		t.Fatal(err)
	}
}

// Past --max-memory the server refuses new connections with 4011 and a
// reason that says to try again, drops the oldest half of the history,
// and takes connections again once the heap is back down. The heap is
// given to checkMemory, the function the once-a-second watcher calls.
func TestMemoryHighWater(t *testing.T) {
	t.Parallel()
	s, url := startServer(t, Config{MaxMemory: 64 << 20})
	publishN(t, s, "m", 100, 1000)
	before := s.store.Stats().Bytes
	live := dial(t, url)
	mustOK(t, live.cmd(map[string]any{"op": "join", "room": "m"}))

	s.checkMemory(65 << 20)
	_, err := dialHeader(t, url, nil)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseServerFull || !strings.Contains(ce.Text, "try again later") {
		t.Fatalf("dial past --max-memory: %v, want close 4011 try again later", err)
	}
	if after := s.store.Stats().Bytes; after > before/2+1200 {
		t.Fatalf("history %d bytes after shedding, was %d; want about half", after, before)
	}
	st := s.Stats()
	if !st.MemoryHigh || st.MemoryShed != 1 || st.MemoryRefused != 1 {
		t.Fatalf("memory_high %v, shed %d, refused %d", st.MemoryHigh, st.MemoryShed, st.MemoryRefused)
	}
	// Connections already open carry on.
	mustOK(t, live.cmd(map[string]any{"op": "pub", "room": "m", "data": 1}))

	s.checkMemory(60 << 20) // under the limit but above nine tenths: still refusing
	if _, err := dialHeader(t, url, nil); err == nil {
		t.Fatal("accepted between nine tenths of --max-memory and the limit, want refusal until the heap is well down")
	}
	s.checkMemory(1 << 20)
	dial(t, url)
	if s.Stats().MemoryHigh {
		t.Fatal("memory_high still set")
	}
}
