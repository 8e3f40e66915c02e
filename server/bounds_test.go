package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

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
// replay fits what is left of the queue, says recovered:false and
// truncated when cut, and still runs without a gap into live messages.
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
	nc, err := net.Dial("tcp", tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.(*net.TCPConn).SetReadBuffer(4096)
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
			t.Fatal(err)
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
	cut := 0
	for name, r := range got {
		n := *r.reply.Replayed
		if len(r.seqs) != n {
			t.Fatalf("%s: %d replayed, reply said %d", name, len(r.seqs), n)
		}
		// The replay is the newest messages: it ends at the room's seq.
		for i, seq := range r.seqs {
			if seq != uint64(10-n+i+1) {
				t.Fatalf("%s: replayed %v, want the newest %d ending at 10", name, r.seqs, n)
			}
		}
		if n < 10 {
			cut++
			if *r.reply.Recovered || !r.reply.Truncated {
				t.Fatalf("%s: %d of 10 replayed, but recovered %v truncated %v", name, n, *r.reply.Recovered, r.reply.Truncated)
			}
		}
	}
	if cut == 0 {
		t.Fatal("every replay was complete; the test needs more history than the queue holds")
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
