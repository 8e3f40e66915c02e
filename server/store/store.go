package store

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"time"
)

// Message is one message of a room's history.
type Message struct {
	// Seq is the message's place in its room: strictly increasing, never
	// reused while the room's epoch stays.
	Seq uint64
	// TS is when it was published, in unix milliseconds.
	TS int64
	// From is the sender, a JSON object ({"client","uid","name"}); Data
	// the message, a compact JSON value. Neither holds a newline.
	From []byte
	Data []byte
}

// Size is what m counts for the byte bounds of pages and stores.
func (m Message) Size() int { return len(m.From) + len(m.Data) + MessageOverhead }

// MessageOverhead is what a message costs beyond its From and Data in the
// byte bounds: its seq, its time and an encoded event's fixed parts.
const MessageOverhead = 96

// Head sums up a room's history.
type Head struct {
	// Epoch names the generation of the room's history: seqs compare
	// only within one epoch. It changes when the history is lost (a data
	// directory wiped, a room forgotten) and seqs start again. "" for a
	// room the store has never seen (or forgot): its first message gives
	// it one.
	Epoch string
	// Seq is the last seq assigned, 0 for none.
	Seq uint64
	// Oldest is the seq of the oldest message kept, 0 when none is.
	Oldest uint64
	// Count is how many messages are kept; Bytes what they count
	// (Message.Size).
	Count int
	Bytes int64
}

// Query selects a page of a room's history.
type Query struct {
	// After, when set, asks for the oldest messages with a seq after it;
	// Before, when not 0, for the newest with a seq before it; neither,
	// the newest messages.
	After  *uint64
	Before uint64
	// Limit caps the messages of the page (at least 1).
	Limit int
	// MaxBytes caps what the page's messages count (Message.Size); a
	// page holds at least one message when one is there, so paging
	// always moves on. 0: no cap.
	MaxBytes int
}

// Page is one page of a room's history.
type Page struct {
	Head
	// Messages, oldest first.
	Messages []Message
	// More is set when more messages exist in the direction asked.
	More bool
	// Truncated is set when MaxBytes, not Limit, ended the page.
	Truncated bool
}

// Retention says how much of a room's history a store keeps.
type Retention struct {
	// Count is how many of the newest messages are kept; 0 keeps none
	// (history is off for the room, though seqs are still assigned).
	Count int
	// Age is how long a message is kept; 0 keeps messages until Count
	// pushes them out.
	Age time.Duration
}

// Direct is a direct message held in a user's inbox while the user is
// offline.
type Direct struct {
	// ID is its place in the inbox: strictly increasing per uid.
	ID uint64
	// TS is when it was sent, in unix milliseconds; From and Data are as
	// in Message.
	TS   int64
	From []byte
	Data []byte
	// Delivered is set when it was handed to a connection before (see
	// Store.InboxDelivered) without being acknowledged: the client may
	// have it already.
	Delivered bool
}

// Size is what d counts for the byte bounds.
func (d Direct) Size() int { return len(d.From) + len(d.Data) + MessageOverhead }

// Stats are a store's figures, for /stats and /metrics.
type Stats struct {
	// Kind is the store's name: "memory", "disk", "redis".
	Kind string `json:"kind"`
	// Rooms, Messages and Bytes count the history kept (Bytes as
	// Message.Size counts it).
	Rooms    int   `json:"rooms"`
	Messages int64 `json:"messages"`
	Bytes    int64 `json:"bytes"`
	// Inboxes and InboxMessages count the offline direct messages kept.
	Inboxes       int   `json:"inboxes"`
	InboxMessages int64 `json:"inbox_messages"`
	// Trimmed counts messages dropped by retention (count or age);
	// Evicted those dropped to keep the store within its size bound;
	// InboxExpired inbox messages dropped by age or the per-uid cap.
	Trimmed      uint64 `json:"trimmed"`
	Evicted      uint64 `json:"evicted"`
	InboxExpired uint64 `json:"inbox_expired"`
	// Commits counts the durable writes (group commits), Synced the
	// messages they carried; Synced/Commits is the mean group size.
	// Errors counts failed writes. CommitNanos sums the commits' time.
	Commits     uint64 `json:"commits"`
	Synced      uint64 `json:"synced"`
	Errors      uint64 `json:"errors"`
	CommitNanos uint64 `json:"commit_nanos"`
	// DiskBytes is what the store's files take on disk; 0 for stores
	// without files.
	DiskBytes int64 `json:"disk_bytes"`
}

// Store keeps room history and offline inboxes: the memory ring, the
// embedded disk store, Redis. A Store is safe for concurrent use, with one
// rule: the caller orders the Appends of one room (it holds the room's
// lock), so that seq order is publish order.
//
// Nothing in the interface says where data lives; storetest holds the
// contract every implementation passes.
type Store interface {
	// Append adds a message to room's history and returns its seq and
	// the room's epoch at once, without waiting for I/O. The message is
	// durable, and can be read, once c reports (a nil c: it is already);
	// commits report in the order of the Appends. Appends of one room
	// must not run concurrently. An error from c (wrapping ErrUnavailable)
	// means the message is not stored; its seq is not given again.
	Append(room string, ts int64, from, data []byte) (seq uint64, epoch string, c *Commit, err error)
	// Head sums up room's history; it does not make a room.
	Head(room string) (Head, error)
	// Read returns a page of room's history.
	Read(room string, q Query) (Page, error)
	// Rooms lists the rooms with history, sorted, after the name after
	// (""for the first), at most limit (0: all).
	Rooms(after string, limit int) ([]string, error)

	// InboxAppend adds a direct message to uid's inbox and returns its
	// id; it is durable when c reports.
	InboxAppend(uid string, ts int64, from, data []byte) (id uint64, c *Commit, err error)
	// InboxRead returns uid's messages with an id after after, oldest
	// first, at most limit and maxBytes (Direct.Size; at least one).
	InboxRead(uid string, after uint64, limit, maxBytes int) ([]Direct, error)
	// InboxDelivered records that uid's messages up to id upTo were
	// handed to a connection, so that a later read marks them Delivered.
	InboxDelivered(uid string, upTo uint64) error
	// InboxAck removes uid's messages up to id upTo and returns how many
	// went.
	InboxAck(uid string, upTo uint64) (int, error)

	// Stats returns the store's figures.
	Stats() Stats
	// Close flushes what is pending and releases the store.
	Close() error
}

// Options configure a store.
type Options struct {
	// Retention returns the retention of a room; nil: 1000 messages for
	// 24 hours.
	Retention func(room string) Retention
	// MaxBytes bounds the history of all rooms together (Message.Size):
	// past it the oldest messages go, whichever room holds them. 0: the
	// store's default; negative: no bound.
	MaxBytes int64
	// MaxRooms bounds how many rooms a store keeps history for; past it
	// the rooms whose newest message is the oldest are forgotten (their
	// epoch goes with them). 0: no bound.
	MaxRooms int
	// InboxMax bounds each uid's inbox (messages); past it the oldest go.
	// InboxTTL is how long an inbox message is kept. 0: 1000 messages,
	// 7 days.
	InboxMax int
	InboxTTL time.Duration
	// OnTrim, when set, is told of what the store drops to keep within
	// its bounds (reason "size", "rooms", "inbox"), for logs.
	OnTrim func(reason string, n int)
}

// Defaults for Options.
const (
	DefaultRetentionCount = 1000
	DefaultRetentionAge   = 24 * time.Hour
	DefaultInboxMax       = 1000
	DefaultInboxTTL       = 7 * 24 * time.Hour
)

// RetentionOf returns the retention o gives room.
func (o Options) RetentionOf(room string) Retention {
	if o.Retention == nil {
		return Retention{Count: DefaultRetentionCount, Age: DefaultRetentionAge}
	}
	return o.Retention(room)
}

// InboxLimits returns o's inbox bounds with their defaults.
func (o Options) InboxLimits() (int, time.Duration) {
	n, ttl := o.InboxMax, o.InboxTTL
	if n <= 0 {
		n = DefaultInboxMax
	}
	if ttl <= 0 {
		ttl = DefaultInboxTTL
	}
	return n, ttl
}

// Errors a store returns; implementations wrap them with the details
// (path, cause), so callers test with errors.Is.
var (
	// ErrUnavailable: the store cannot write now (disk full, read-only,
	// I/O error). Reads and live delivery go on.
	ErrUnavailable = errors.New("store unavailable")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrLocked: another process holds the store.
	ErrLocked = errors.New("store locked by another process")
	// ErrCorrupt: the store's data failed a check.
	ErrCorrupt = errors.New("store corrupt")
	// ErrFormat: the store was written by a newer version.
	ErrFormat = errors.New("store format not supported")
	// ErrFull: the store is at a bound that eviction cannot lift (say,
	// offline inboxes past their share of the size bound).
	ErrFull = errors.New("store full")
)

// Evicter is implemented by stores that hold history in memory and can
// give some back when the process is short of it.
type Evicter interface {
	// Evict drops the oldest history across rooms until at most target
	// bytes remain, and returns how many messages went.
	Evict(target int64) int
}

// NewEpoch returns a fresh random epoch: 8 lower-case letters and digits,
// characters no JSON string needs escaped.
func NewEpoch() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported systems
	return epochEncoding.EncodeToString(b)
}

var epochEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Sweeper is implemented by stores that trim by age when told to: the
// server calls Sweep every few seconds.
type Sweeper interface {
	Sweep(now time.Time)
}
