package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtsync/rtsync/server/store"
)

// Factory opens the stores the suite tests.
type Factory struct {
	// Open returns a fresh, empty store with opts, closed when the test
	// ends (Close may then run a second time).
	Open func(t *testing.T, opts store.Options) store.Store
	// Reopen closes s and opens the same store again with opts. nil for
	// stores that keep nothing across a close.
	Reopen func(t *testing.T, s store.Store, opts store.Options) store.Store
}

// Run runs the whole contract against the stores f opens.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"SeqsAndEpochs", testSeqsAndEpochs},
		{"ReadPages", testReadPages},
		{"ReadAfterTrim", testReadAfterTrim},
		{"ReadLimit", testReadLimit},
		{"RetentionCountZero", testRetentionCountZero},
		{"RetentionAge", testRetentionAge},
		{"MaxBytes", testMaxBytes},
		{"MaxRooms", testMaxRooms},
		{"Rooms", testRooms},
		{"InboxIDs", testInboxIDs},
		{"InboxRead", testInboxRead},
		{"InboxDelivered", testInboxDelivered},
		{"InboxAck", testInboxAck},
		{"InboxCap", testInboxCap},
		{"InboxTTL", testInboxTTL},
		{"Commit", testCommit},
		{"Closed", testClosed},
		{"Concurrent", testConcurrent},
	}
	if f.Reopen != nil {
		tests = append(tests, struct {
			name string
			fn   func(*testing.T, Factory)
		}{"Reopen", testReopen})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, f) })
	}
}

// from is the sender every message of the suite carries; with data of
// dataLen bytes a message counts size bytes.
var from = []byte(`{"uid":"u"}`)

const (
	dataLen = 93
	size    = 11 + dataLen + store.MessageOverhead // 200
)

// data returns a message body of dataLen bytes that names n.
func data(n int) []byte {
	s := fmt.Sprintf(`"m%d`, n)
	return []byte(s + strings.Repeat("x", dataLen-len(s)-1) + `"`)
}

func keep(n int) store.Options {
	return store.Options{Retention: func(string) store.Retention { return store.Retention{Count: n} }, MaxBytes: -1}
}

// appendN appends n messages to room with times from ts on and waits for
// their commits; it returns the seqs.
func appendN(t *testing.T, s store.Store, room string, n int, ts int64) []uint64 {
	t.Helper()
	var seqs []uint64
	var last *store.Commit
	for i := range n {
		seq, _, c, err := s.Append(room, ts+int64(i), from, data(int(ts)+i))
		if err != nil {
			t.Fatalf("Append(%q) #%d: %v", room, i, err)
		}
		seqs = append(seqs, seq)
		last = c
	}
	if err := last.Wait(); err != nil {
		t.Fatalf("commit of %q: %v", room, err)
	}
	return seqs
}

func seqsOf(ms []store.Message) []uint64 {
	out := make([]uint64, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

func idsOf(ds []store.Direct) []uint64 {
	out := make([]uint64, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func seqRange(a, b uint64) []uint64 {
	var out []uint64
	for s := a; s <= b; s++ {
		out = append(out, s)
	}
	return out
}

func head(t *testing.T, s store.Store, room string) store.Head {
	t.Helper()
	h, err := s.Head(room)
	if err != nil {
		t.Fatalf("Head(%q): %v", room, err)
	}
	return h
}

func read(t *testing.T, s store.Store, room string, q store.Query) store.Page {
	t.Helper()
	p, err := s.Read(room, q)
	if err != nil {
		t.Fatalf("Read(%q, %+v): %v", room, q, err)
	}
	return p
}

func u64(n uint64) *uint64 { return &n }

func testSeqsAndEpochs(t *testing.T, f Factory) {
	s := f.Open(t, keep(100))
	if h := head(t, s, "nobody"); h != (store.Head{}) {
		t.Errorf("Head of an unknown room = %+v, want zero", h)
	}
	var epochA, epochB string
	for i := range 20 {
		room := "a"
		if i%3 == 0 {
			room = "b"
		}
		seq, epoch, c, err := s.Append(room, int64(1000+i), from, data(i))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
		want := &epochA
		if room == "b" {
			want = &epochB
		}
		if *want == "" {
			*want = epoch
		}
		if epoch != *want || epoch == "" {
			t.Fatalf("append %d to %q: epoch %q, want %q (stable, not empty)", i, room, epoch, *want)
		}
		_ = seq
	}
	if epochA == epochB {
		t.Errorf("rooms a and b share epoch %q", epochA)
	}
	pa := read(t, s, "a", store.Query{Limit: 100})
	pb := read(t, s, "b", store.Query{Limit: 100})
	if got := seqsOf(pa.Messages); !slices.Equal(got, seqRange(1, 13)) {
		t.Errorf("room a seqs %v, want 1..13", got)
	}
	if got := seqsOf(pb.Messages); !slices.Equal(got, seqRange(1, 7)) {
		t.Errorf("room b seqs %v, want 1..7", got)
	}
	if pa.Epoch != epochA || pb.Epoch != epochB {
		t.Errorf("page epochs %q, %q; want %q, %q", pa.Epoch, pb.Epoch, epochA, epochB)
	}
	for i, m := range pa.Messages {
		if m.TS == 0 || string(m.From) != string(from) || len(m.Data) != dataLen {
			t.Errorf("message %d of a: %+v", i, m)
		}
	}
}

func testReadPages(t *testing.T, f Factory) {
	s := f.Open(t, keep(100))
	appendN(t, s, "r", 10, 1000)
	want := store.Head{Seq: 10, Oldest: 1, Count: 10, Bytes: 10 * size}
	if h := head(t, s, "r"); h.Epoch == "" || h.Seq != want.Seq || h.Oldest != want.Oldest || h.Count != want.Count || h.Bytes != want.Bytes {
		t.Fatalf("Head = %+v, want %+v and an epoch", h, want)
	}
	cases := []struct {
		name            string
		q               store.Query
		want            []uint64
		more, truncated bool
	}{
		{"newest", store.Query{Limit: 3}, seqRange(8, 10), true, false},
		{"newest all", store.Query{Limit: 20}, seqRange(1, 10), false, false},
		{"after 0", store.Query{After: u64(0), Limit: 3}, seqRange(1, 3), true, false},
		{"after 8", store.Query{After: u64(8), Limit: 3}, seqRange(9, 10), false, false},
		{"after newest", store.Query{After: u64(10), Limit: 3}, nil, false, false},
		{"after beyond", store.Query{After: u64(50), Limit: 3}, nil, false, false},
		{"before 5", store.Query{Before: 5, Limit: 3}, seqRange(2, 4), true, false},
		{"before 3", store.Query{Before: 3, Limit: 5}, seqRange(1, 2), false, false},
		{"before 1", store.Query{Before: 1, Limit: 5}, nil, false, false},
		{"before beyond", store.Query{Before: 100, Limit: 3}, seqRange(8, 10), true, false},
		{"after bytes", store.Query{After: u64(0), Limit: 10, MaxBytes: 2*size + 50}, seqRange(1, 2), true, true},
		{"newest bytes", store.Query{Limit: 10, MaxBytes: 2*size + 50}, seqRange(9, 10), true, true},
		{"before bytes", store.Query{Before: 6, Limit: 10, MaxBytes: 2 * size}, seqRange(4, 5), true, true},
		{"after one too big", store.Query{After: u64(0), Limit: 10, MaxBytes: 50}, seqRange(1, 1), true, true},
		{"newest one too big", store.Query{Limit: 10, MaxBytes: 50}, seqRange(10, 10), true, true},
		{"after bytes exact", store.Query{After: u64(7), Limit: 3, MaxBytes: 3 * size}, seqRange(8, 10), false, false},
		{"after limit before bytes", store.Query{After: u64(6), Limit: 2, MaxBytes: 3 * size}, seqRange(7, 8), true, false},
		{"after bytes at end", store.Query{After: u64(7), Limit: 5, MaxBytes: 2 * size}, seqRange(8, 9), true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := read(t, s, "r", tc.q)
			if got := seqsOf(p.Messages); !slices.Equal(got, tc.want) {
				t.Errorf("seqs %v, want %v", got, tc.want)
			}
			if p.More != tc.more || p.Truncated != tc.truncated {
				t.Errorf("More %v Truncated %v, want %v %v", p.More, p.Truncated, tc.more, tc.truncated)
			}
			if p.Messages == nil {
				t.Errorf("Messages is nil, want an empty list")
			}
			if p.Seq != 10 || p.Count != 10 || p.Oldest != 1 || p.Bytes != 10*size {
				t.Errorf("page head %+v", p.Head)
			}
		})
	}
	// Paging with MaxBytes moves on and meets every message once.
	var got []uint64
	after := uint64(0)
	for range 20 {
		p := read(t, s, "r", store.Query{After: &after, Limit: 4, MaxBytes: 10})
		got = append(got, seqsOf(p.Messages)...)
		if !p.More {
			break
		}
		after = p.Messages[len(p.Messages)-1].Seq
	}
	if !slices.Equal(got, seqRange(1, 10)) {
		t.Errorf("paging after with MaxBytes 10 met %v", got)
	}
	if p := read(t, s, "unknown", store.Query{Limit: 5}); p.Messages == nil || len(p.Messages) != 0 || p.More {
		t.Errorf("Read of an unknown room = %+v", p)
	}
}

func testReadAfterTrim(t *testing.T, f Factory) {
	s := f.Open(t, keep(5))
	appendN(t, s, "r", 10, 1000)
	if h := head(t, s, "r"); h.Seq != 10 || h.Oldest != 6 || h.Count != 5 || h.Bytes != 5*size {
		t.Fatalf("Head = %+v, want seq 10, oldest 6, count 5", h)
	}
	cases := []struct {
		name string
		q    store.Query
		want []uint64
		more bool
	}{
		{"after trimmed", store.Query{After: u64(2), Limit: 2}, seqRange(6, 7), true},
		{"before oldest", store.Query{Before: 6, Limit: 3}, nil, false},
		{"before 8", store.Query{Before: 8, Limit: 5}, seqRange(6, 7), false},
		{"newest", store.Query{Limit: 10}, seqRange(6, 10), false},
	}
	for _, tc := range cases {
		p := read(t, s, "r", tc.q)
		if got := seqsOf(p.Messages); !slices.Equal(got, tc.want) || p.More != tc.more {
			t.Errorf("%s: seqs %v More %v, want %v %v", tc.name, got, p.More, tc.want, tc.more)
		}
	}
}

func testReadLimit(t *testing.T, f Factory) {
	s := f.Open(t, keep(5))
	appendN(t, s, "r", 1, 1000)
	if _, err := s.Read("r", store.Query{}); err == nil {
		t.Error("Read with Limit 0 gave no error")
	}
	if _, err := s.InboxRead("u", 0, 0, 0); err == nil {
		t.Error("InboxRead with limit 0 gave no error")
	}
}

func testRetentionCountZero(t *testing.T, f Factory) {
	opts := keep(5)
	opts.Retention = func(room string) store.Retention {
		if room == "off" {
			return store.Retention{}
		}
		return store.Retention{Count: 5}
	}
	s := f.Open(t, opts)
	if got := appendN(t, s, "off", 3, 1000); !slices.Equal(got, seqRange(1, 3)) {
		t.Errorf("seqs of a room without history: %v, want 1..3", got)
	}
	appendN(t, s, "on", 1, 1000)
	h := head(t, s, "off")
	if h.Seq != 3 || h.Count != 0 || h.Oldest != 0 || h.Bytes != 0 || h.Epoch == "" {
		t.Errorf("Head of a room without history = %+v", h)
	}
	if p := read(t, s, "off", store.Query{Limit: 10}); len(p.Messages) != 0 || p.Seq != 3 {
		t.Errorf("Read of a room without history = %+v", p)
	}
	if rooms, _ := s.Rooms("", 0); !slices.Equal(rooms, []string{"on"}) {
		t.Errorf("Rooms = %v, want [on]", rooms)
	}
}

func testRetentionAge(t *testing.T, f Factory) {
	opts := keep(100)
	opts.Retention = func(string) store.Retention { return store.Retention{Count: 100, Age: time.Hour} }
	s := f.Open(t, opts)
	now := time.Now().UnixMilli()
	old := now - 2*time.Hour.Milliseconds()
	appendN(t, s, "r", 3, old)
	appendN(t, s, "r", 2, now)
	if h := head(t, s, "r"); h.Seq != 5 || h.Oldest != 4 || h.Count != 2 {
		t.Errorf("Head = %+v, want seq 5, oldest 4, count 2", h)
	}
	if p := read(t, s, "r", store.Query{Limit: 10}); !slices.Equal(seqsOf(p.Messages), []uint64{4, 5}) {
		t.Errorf("Read = %v, want [4 5]", seqsOf(p.Messages))
	}
	if st := s.Stats(); st.Trimmed < 3 || st.Messages != 2 {
		t.Errorf("Stats: trimmed %d, messages %d; want at least 3 and 2", st.Trimmed, st.Messages)
	}
}

// trims records OnTrim's calls.
type trims struct {
	mu sync.Mutex
	n  map[string]int
}

func (tr *trims) on(reason string, n int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.n == nil {
		tr.n = map[string]int{}
	}
	tr.n[reason] += n
}

func (tr *trims) get(reason string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.n[reason]
}

func testMaxBytes(t *testing.T, f Factory) {
	var tr trims
	opts := keep(1000)
	opts.MaxBytes = 20 * size
	opts.OnTrim = tr.on
	s := f.Open(t, opts)
	// Room a's messages are the oldest, then b's, then c's, so eviction
	// takes a's first, whichever room the new messages go to.
	appendN(t, s, "a", 10, 1000)
	appendN(t, s, "b", 10, 2000)
	appendN(t, s, "c", 10, 3000)
	var total int64
	kept := map[string][]uint64{}
	for _, r := range []string{"a", "b", "c"} {
		h := head(t, s, r)
		total += h.Bytes
		kept[r] = seqsOf(read(t, s, r, store.Query{Limit: 100}).Messages)
		if h.Seq != 10 {
			t.Errorf("room %s: seq %d, want 10", r, h.Seq)
		}
	}
	if total > opts.MaxBytes {
		t.Errorf("history holds %d bytes, bound %d", total, opts.MaxBytes)
	}
	if len(kept["a"]) != 0 || !slices.Equal(kept["c"], seqRange(1, 10)) {
		t.Errorf("kept %v: want a's messages gone first and c's all kept", kept)
	}
	if b := kept["b"]; len(b) > 0 && b[len(b)-1] != 10 {
		t.Errorf("room b kept %v, want its newest", b)
	}
	evicted := 30 - len(kept["a"]) - len(kept["b"]) - len(kept["c"])
	if got := tr.get("size"); got != evicted || evicted == 0 {
		t.Errorf("OnTrim(size) told of %d, %d went", got, evicted)
	}
	if st := s.Stats(); st.Bytes != total || st.Evicted != uint64(evicted) {
		t.Errorf("Stats bytes %d evicted %d, want %d %d", st.Bytes, st.Evicted, total, evicted)
	}
}

func testMaxRooms(t *testing.T, f Factory) {
	var tr trims
	opts := keep(10)
	opts.MaxRooms = 3
	opts.OnTrim = tr.on
	s := f.Open(t, opts)
	appendN(t, s, "r1", 2, 1000)
	appendN(t, s, "r2", 2, 2000)
	appendN(t, s, "r3", 2, 3000)
	e2 := head(t, s, "r2").Epoch
	appendN(t, s, "r4", 2, 4000)
	if h := head(t, s, "r1"); h.Count != 0 || h.Seq != 0 && h.Epoch == "" {
		t.Errorf("Head of the forgotten room = %+v", h)
	}
	if rooms, _ := s.Rooms("", 0); !slices.Equal(rooms, []string{"r2", "r3", "r4"}) {
		t.Errorf("Rooms = %v, want [r2 r3 r4]", rooms)
	}
	if h := head(t, s, "r2"); h.Epoch != e2 || h.Count != 2 {
		t.Errorf("r2 after r1 went: %+v", h)
	}
	if tr.get("rooms") != 1 {
		t.Errorf("OnTrim(rooms) told of %d rooms, want 1", tr.get("rooms"))
	}
	// The forgotten room comes back as a new one: a new epoch, seqs from 1.
	seq, epoch, c, err := s.Append("r1", 5000, from, data(1))
	if err != nil || c.Wait() != nil {
		t.Fatal(err)
	}
	if seq != 1 || epoch == "" {
		t.Errorf("r1 again: seq %d epoch %q, want seq 1", seq, epoch)
	}
}

func testRooms(t *testing.T, f Factory) {
	s := f.Open(t, keep(10))
	for _, r := range []string{"d", "b", "a", "c", "e"} {
		appendN(t, s, r, 1, 1000)
	}
	cases := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 0, []string{"a", "b", "c", "d", "e"}},
		{"", 2, []string{"a", "b"}},
		{"b", 2, []string{"c", "d"}},
		{"bb", 0, []string{"c", "d", "e"}},
		{"e", 0, []string{}},
	}
	for _, tc := range cases {
		got, err := s.Rooms(tc.after, tc.limit)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Rooms(%q, %d) = %v, %v; want %v", tc.after, tc.limit, got, err, tc.want)
		}
	}
}

func inboxAppend(t *testing.T, s store.Store, uid string, ts int64) uint64 {
	t.Helper()
	id, c, err := s.InboxAppend(uid, ts, from, data(int(ts)))
	if err != nil {
		t.Fatalf("InboxAppend(%q): %v", uid, err)
	}
	if err := c.Wait(); err != nil {
		t.Fatalf("InboxAppend(%q) commit: %v", uid, err)
	}
	return id
}

func inboxRead(t *testing.T, s store.Store, uid string, after uint64, limit, maxBytes int) []store.Direct {
	t.Helper()
	ds, err := s.InboxRead(uid, after, limit, maxBytes)
	if err != nil {
		t.Fatalf("InboxRead(%q): %v", uid, err)
	}
	return ds
}

func testInboxIDs(t *testing.T, f Factory) {
	s := f.Open(t, keep(10))
	now := time.Now().UnixMilli()
	last := map[string]uint64{}
	var all []uint64
	for i := range 9 {
		uid := []string{"u1", "u2", "u3"}[i%3]
		id := inboxAppend(t, s, uid, now)
		if id <= last[uid] {
			t.Fatalf("id %d for %s after %d", id, uid, last[uid])
		}
		last[uid] = id
		all = append(all, id)
	}
	// An inbox that empties and fills again does not give its ids again.
	if n, err := s.InboxAck("u1", last["u1"]); err != nil || n != 3 {
		t.Fatalf("InboxAck = %d, %v; want 3", n, err)
	}
	if ds := inboxRead(t, s, "u1", 0, 10, 0); len(ds) != 0 {
		t.Fatalf("emptied inbox holds %v", idsOf(ds))
	}
	id := inboxAppend(t, s, "u1", now)
	if slices.Contains(all, id) || id <= last["u1"] {
		t.Errorf("id %d after the inbox emptied: given before or not increasing (last %d)", id, last["u1"])
	}
}

func testInboxRead(t *testing.T, f Factory) {
	s := f.Open(t, keep(10))
	now := time.Now().UnixMilli()
	var ids []uint64
	for range 5 {
		ids = append(ids, inboxAppend(t, s, "u", now))
	}
	inboxAppend(t, s, "other", now)
	cases := []struct {
		name            string
		after           uint64
		limit, maxBytes int
		want            []uint64
	}{
		{"all", 0, 10, 0, ids},
		{"limit", 0, 2, 0, ids[:2]},
		{"after", ids[1], 10, 0, ids[2:]},
		{"after limit", ids[1], 2, 0, ids[2:4]},
		{"bytes", 0, 10, 2*size + 10, ids[:2]},
		{"at least one", ids[3], 10, 10, ids[4:]},
		{"after last", ids[4], 10, 0, nil},
	}
	for _, tc := range cases {
		ds := inboxRead(t, s, "u", tc.after, tc.limit, tc.maxBytes)
		if got := idsOf(ds); !slices.Equal(got, tc.want) {
			t.Errorf("%s: ids %v, want %v", tc.name, got, tc.want)
		}
		for _, d := range ds {
			if d.TS != now || string(d.From) != string(from) || len(d.Data) != dataLen || d.Delivered {
				t.Errorf("%s: message %+v", tc.name, d)
			}
		}
	}
	if ds := inboxRead(t, s, "nobody", 0, 10, 0); ds == nil || len(ds) != 0 {
		t.Errorf("InboxRead of an unknown uid = %v, want an empty list", ds)
	}
}

func testInboxDelivered(t *testing.T, f Factory) {
	s := f.Open(t, keep(10))
	now := time.Now().UnixMilli()
	var ids []uint64
	for range 4 {
		ids = append(ids, inboxAppend(t, s, "u", now))
	}
	if err := s.InboxDelivered("u", ids[1]); err != nil {
		t.Fatal(err)
	}
	ds := inboxRead(t, s, "u", 0, 10, 0)
	var marks []bool
	for _, d := range ds {
		marks = append(marks, d.Delivered)
	}
	if !slices.Equal(marks, []bool{true, true, false, false}) {
		t.Errorf("Delivered marks %v, want [true true false false]", marks)
	}
	// A lower mark does not take back a higher one.
	if err := s.InboxDelivered("u", ids[0]); err != nil {
		t.Fatal(err)
	}
	if ds := inboxRead(t, s, "u", 0, 10, 0); !ds[1].Delivered {
		t.Error("a lower mark took back the higher one")
	}
}

func testInboxAck(t *testing.T, f Factory) {
	s := f.Open(t, keep(10))
	now := time.Now().UnixMilli()
	var ids []uint64
	for range 5 {
		ids = append(ids, inboxAppend(t, s, "u", now))
	}
	if n, err := s.InboxAck("u", ids[2]); err != nil || n != 3 {
		t.Errorf("InboxAck(up to the 3rd) = %d, %v; want 3", n, err)
	}
	if n, err := s.InboxAck("u", ids[2]); err != nil || n != 0 {
		t.Errorf("InboxAck again = %d, %v; want 0", n, err)
	}
	if got := idsOf(inboxRead(t, s, "u", 0, 10, 0)); !slices.Equal(got, ids[3:]) {
		t.Errorf("after ack: %v, want %v", got, ids[3:])
	}
	if n, err := s.InboxAck("nobody", 100); err != nil || n != 0 {
		t.Errorf("InboxAck of an unknown uid = %d, %v", n, err)
	}
	if st := s.Stats(); st.InboxMessages != 2 || st.Inboxes != 1 {
		t.Errorf("Stats: %d inbox messages in %d inboxes, want 2 in 1", st.InboxMessages, st.Inboxes)
	}
}

func testInboxCap(t *testing.T, f Factory) {
	opts := keep(10)
	opts.InboxMax = 3
	s := f.Open(t, opts)
	now := time.Now().UnixMilli()
	var ids []uint64
	for range 5 {
		ids = append(ids, inboxAppend(t, s, "u", now))
	}
	if got := idsOf(inboxRead(t, s, "u", 0, 10, 0)); !slices.Equal(got, ids[2:]) {
		t.Errorf("capped inbox holds %v, want the newest 3 %v", got, ids[2:])
	}
	if st := s.Stats(); st.InboxExpired != 2 {
		t.Errorf("InboxExpired = %d, want 2", st.InboxExpired)
	}
}

func testInboxTTL(t *testing.T, f Factory) {
	opts := keep(10)
	opts.InboxTTL = time.Hour
	s := f.Open(t, opts)
	now := time.Now().UnixMilli()
	inboxAppend(t, s, "u", now-2*time.Hour.Milliseconds())
	fresh := inboxAppend(t, s, "u", now)
	if got := idsOf(inboxRead(t, s, "u", 0, 10, 0)); !slices.Equal(got, []uint64{fresh}) {
		t.Errorf("inbox holds %v, want only the fresh %d", got, fresh)
	}
}

func testCommit(t *testing.T, f Factory) {
	s := f.Open(t, keep(10))
	var cs []*store.Commit
	for i := range 20 {
		_, _, c, err := s.Append("r", int64(1000+i), from, data(i))
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	for i, c := range cs {
		if err := c.Wait(); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		if !c.Finished() {
			t.Fatalf("commit %d: not Finished after Wait", i)
		}
		// (*Commit)(nil).Err panics in store/commit.go; a nil Commit is
		// durable already, so only a real one is asked.
		if c != nil && c.Err() != nil {
			t.Fatalf("commit %d: Err %v after Wait returned nil", i, c.Err())
		}
	}
	// Once a commit reports, its message can be read.
	_, _, c, err := s.Append("r", 5000, from, data(5000))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	p := read(t, s, "r", store.Query{Limit: 1})
	if len(p.Messages) != 1 || p.Messages[0].Seq != 21 || p.Messages[0].TS != 5000 {
		t.Errorf("newest after its commit: %+v", p.Messages)
	}
}

func testClosed(t *testing.T, f Factory) {
	s := f.Open(t, keep(10))
	appendN(t, s, "r", 1, 1000)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, _, _, err := s.Append("r", 2000, from, data(1)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if _, _, err := s.InboxAppend("u", 2000, from, data(1)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("InboxAppend after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func testConcurrent(t *testing.T, f Factory) {
	const rooms, perRoom, readers = 16, 60, 4
	s := f.Open(t, keep(50))
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	errs := make(chan error, rooms+readers)
	for i := range readers {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			// Bounded in count as well as by the writers' end.
			for n := 0; n < 5000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				room := fmt.Sprintf("room%d", (i+n)%rooms)
				p, err := s.Read(room, store.Query{Limit: 10, MaxBytes: 4 * size})
				if err != nil {
					errs <- err
					return
				}
				for j := 1; j < len(p.Messages); j++ {
					if p.Messages[j].Seq != p.Messages[j-1].Seq+1 {
						errs <- fmt.Errorf("%s: page seqs %v not consecutive", room, seqsOf(p.Messages))
						return
					}
				}
				if _, err := s.Head(room); err != nil {
					errs <- err
					return
				}
				if _, err := s.Rooms("", 5); err != nil {
					errs <- err
					return
				}
				if n < 20 {
					_, _, _ = s.InboxAppend(fmt.Sprintf("u%d", i), 1000, from, data(n))
				}
				if _, err := s.InboxRead(fmt.Sprintf("u%d", i), 0, 5, 0); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for i := range rooms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			room := fmt.Sprintf("room%d", i)
			for n := range perRoom {
				seq, _, c, err := s.Append(room, int64(1000+n), from, data(n))
				if err == nil && seq != uint64(n+1) {
					err = fmt.Errorf("%s: append %d got seq %d", room, n, seq)
				}
				if err == nil && n%3 == 0 {
					err = c.Wait()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Everything committed: a last append per room and its commit.
	for i := range rooms {
		room := fmt.Sprintf("room%d", i)
		appendN(t, s, room, 1, 9999)
		p := read(t, s, room, store.Query{Limit: 100})
		if got := seqsOf(p.Messages); !slices.Equal(got, seqRange(perRoom+2-50, perRoom+1)) {
			t.Errorf("%s holds %v, want the newest 50 of 1..%d", room, got, perRoom+1)
		}
	}
}

func testReopen(t *testing.T, f Factory) {
	opts := keep(10)
	opts.Retention = func(room string) store.Retention {
		if room == "off" {
			return store.Retention{}
		}
		return store.Retention{Count: 10}
	}
	s := f.Open(t, opts)
	appendN(t, s, "a", 12, 1000)
	appendN(t, s, "b", 3, 2000)
	appendN(t, s, "off", 4, 3000)
	now := time.Now().UnixMilli()
	var ids []uint64
	for range 3 {
		ids = append(ids, inboxAppend(t, s, "u1", now))
	}
	if err := s.InboxDelivered("u1", ids[1]); err != nil {
		t.Fatal(err)
	}
	gone := inboxAppend(t, s, "u2", now)
	if n, err := s.InboxAck("u2", gone); err != nil || n != 1 {
		t.Fatalf("InboxAck = %d, %v", n, err)
	}
	heads := map[string]store.Head{}
	pages := map[string]store.Page{}
	for _, r := range []string{"a", "b", "off"} {
		heads[r] = head(t, s, r)
		pages[r] = read(t, s, r, store.Query{Limit: 100})
	}
	inbox := inboxRead(t, s, "u1", 0, 10, 0)

	s = f.Reopen(t, s, opts)
	for _, r := range []string{"a", "b", "off"} {
		if h := head(t, s, r); h != heads[r] {
			t.Errorf("Head(%s) after reopen = %+v, want %+v", r, h, heads[r])
		}
		p := read(t, s, r, store.Query{Limit: 100})
		if !slices.EqualFunc(p.Messages, pages[r].Messages, func(a, b store.Message) bool {
			return a.Seq == b.Seq && a.TS == b.TS && string(a.From) == string(b.From) && string(a.Data) == string(b.Data)
		}) {
			t.Errorf("room %s after reopen: %v, want %v", r, seqsOf(p.Messages), seqsOf(pages[r].Messages))
		}
	}
	if rooms, _ := s.Rooms("", 0); !slices.Equal(rooms, []string{"a", "b"}) {
		t.Errorf("Rooms after reopen = %v", rooms)
	}
	for _, r := range []string{"a", "off"} {
		seq, epoch, c, err := s.Append(r, 9000, from, data(9000))
		if err != nil || c.Wait() != nil {
			t.Fatal(err)
		}
		if seq != heads[r].Seq+1 || epoch != heads[r].Epoch {
			t.Errorf("append to %s after reopen: seq %d epoch %q, want %d %q", r, seq, epoch, heads[r].Seq+1, heads[r].Epoch)
		}
	}
	got := inboxRead(t, s, "u1", 0, 10, 0)
	if !slices.EqualFunc(got, inbox, func(a, b store.Direct) bool {
		return a.ID == b.ID && a.TS == b.TS && a.Delivered == b.Delivered && string(a.Data) == string(b.Data)
	}) {
		t.Errorf("inbox after reopen: %+v, want %+v", got, inbox)
	}
	if ds := inboxRead(t, s, "u2", 0, 10, 0); len(ds) != 0 {
		t.Errorf("acked inbox came back: %v", idsOf(ds))
	}
	if id := inboxAppend(t, s, "u2", now); id <= gone {
		t.Errorf("inbox id %d after reopen, want past %d", id, gone)
	}
	// A second reopen with nothing written in between changes nothing.
	h := head(t, s, "a")
	s = f.Reopen(t, s, opts)
	if h2 := head(t, s, "a"); h2 != h {
		t.Errorf("Head after a second reopen = %+v, want %+v", h2, h)
	}
}
