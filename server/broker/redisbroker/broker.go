package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtsync/rtsync/server/broker"
	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/redisstore"
)

// Defaults for Options.
const (
	DefaultPrefix       = redisstore.DefaultPrefix
	DefaultHeartbeat    = time.Second
	DefaultNodeTTL      = 5 * time.Second
	DefaultQueryTimeout = 2 * time.Second
	DefaultTimeout      = 5 * time.Second
	DefaultWorkers      = 4
)

// Bounds.
const (
	// workerQueue is how many deliveries wait for each worker; past it
	// the reader waits, Redis buffers for this node, and past Redis's
	// client-output-buffer-limit for pubsub it drops the connection: the
	// broker reconnects and the rooms resync.
	workerQueue = 4096
	// queryWorkers answer other nodes' queries; queryQueue queries wait
	// for them, past which a query is dropped (the asker reports this
	// node missing).
	queryWorkers = 4
	queryQueue   = 256
	// MaxAnswer bounds one node's answer to a query: a bigger answer is
	// replaced by an error the asker reports (Redis drops a subscriber
	// whose output buffer passes 32 MB by default). MaxAnswers bounds
	// the answers of one query together; answers past it are dropped
	// and their nodes reported missing.
	MaxAnswer  = 16 << 20
	MaxAnswers = 64 << 20
	// subBatch is how many channels one SUBSCRIBE or UNSUBSCRIBE names;
	// memberBatch how many membership writes one pipeline carries.
	subBatch    = 512
	memberBatch = 512
	// reconnectMin and reconnectMax bound the wait between attempts to
	// reach Redis again after the subscription connection failed.
	reconnectMin = 100 * time.Millisecond
	reconnectMax = time.Second
)

// Options configure a Redis broker.
type Options struct {
	// Prefix starts every key and channel; "" is DefaultPrefix. Clusters
	// with different prefixes share a Redis without meeting.
	Prefix string
	// Node is this node's id, unique in the cluster: letters, digits,
	// '.', '_' and '-', at most 64. "": a random id of 8 characters.
	Node string
	// Logger receives the broker's logs; nil: slog.Default().
	Logger *slog.Logger
	// Heartbeat is how often the node tells Redis it lives (and looks
	// for dead nodes); NodeTTL how long after its last heartbeat a node
	// counts as dead. 0: DefaultHeartbeat, DefaultNodeTTL.
	Heartbeat time.Duration
	NodeTTL   time.Duration
	// QueryTimeout bounds a Query beyond its context; 0: DefaultQueryTimeout.
	QueryTimeout time.Duration
	// Timeout bounds each call to Redis; 0: DefaultTimeout.
	Timeout time.Duration
	// Workers is how many goroutines hand messages to the handler
	// (each room's messages always go through the same one); 0:
	// DefaultWorkers.
	Workers int
}

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Broker joins the rtsync nodes on one Redis into a cluster. See the
// package documentation.
type Broker struct {
	opts Options
	addr string
	rdb  *redis.Client
	log  *slog.Logger
	node string

	// Channel and key names.
	chRoom, chUser, chClient, chNode string
	chAll, chSelf                    string
	keyNodes, keyMembers, keyReap    string

	stMu sync.Mutex
	st   *redisstore.Store // the store AppendRoom appends through

	h       broker.Handler
	started atomic.Bool
	closed  atomic.Bool
	ctx     context.Context // canceled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup // every goroutine but the workers
	workWG  sync.WaitGroup // the workers

	health health

	// Subscriptions: want is the set the node asked for (channel ->
	// topic kind), pending the channels whose wish changed since the
	// manager last looked.
	subMu   sync.Mutex
	want    map[string]broker.TopicKind
	pending map[string]struct{}
	subWake chan struct{}
	// psMu guards ps, applied (the channels ps is asked to hold, beyond
	// the node's own) and stale.
	psMu     sync.Mutex
	ps       *redis.PubSub
	applied  map[string]struct{}
	stale    bool         // ps was closed to be made again
	lastRecv atomic.Int64 // unix nanoseconds of the last thing ps read
	beatNow  chan struct{}
	beaten   bool // a heartbeat succeeded before (heartbeat goroutine)

	workers  []chan item
	queueLen int // each worker's queue: workerQueue (tests make it short)
	queries  chan *envelope

	qMu   sync.Mutex
	qNext uint64
	qWait map[uint64]*waiting

	mem members

	dropped atomic.Uint64 // payloads that could not be decoded
}

var (
	_ broker.Broker     = (*Broker)(nil)
	_ broker.Sequencer  = (*Broker)(nil)
	_ broker.Querier    = (*Broker)(nil)
	_ broker.Membership = (*Broker)(nil)
	_ broker.Health     = (*Broker)(nil)
)

// Open connects to the Redis at rawURL and checks that it answers:
//
//	redis://[user:password@]host:port/db    one Redis
//	rediss://...                            the same over TLS
//	unix:///path/to/redis.sock?db=N         a Unix socket
//	redis://[user:password@]host:port/db?master_name=NAME[&addr=host:port...]
//	                                        Sentinel: host:port (and each addr)
//	                                        is a sentinel watching master NAME
//
// Redis Cluster is not supported: the scripts touch several keys of
// different rooms. The broker does nothing before Start.
func Open(rawURL string, opts Options) (*Broker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	useLogger(opts.Logger)
	rdb, addr, err := newClient(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Node == "" {
		opts.Node = store.NewEpoch()
	} else if !nodeIDPattern.MatchString(opts.Node) {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis broker: node id %q: use 1 to 64 letters, digits, '.', '_' or '-'", opts.Node)
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.NodeTTL <= 0 {
		opts.NodeTTL = DefaultNodeTTL
	}
	if opts.NodeTTL < 2*opts.Heartbeat {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis broker: node TTL %v is less than two heartbeats (%v): a live node would count as dead", opts.NodeTTL, opts.Heartbeat)
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, &unreachableError{fmt.Sprintf("cannot reach Redis at %s (%v); check that it runs and that the Redis URL names it", addr, err)}
	}
	P := opts.Prefix
	b := &Broker{
		opts: opts, addr: addr, rdb: rdb, log: opts.Logger.With("redis", addr), node: opts.Node,
		chRoom: P + "r:", chUser: P + "u:", chClient: P + "c:", chNode: P + "n:",
		chAll: P + "all", chSelf: P + "n:" + opts.Node,
		keyNodes: P + "nodes", keyMembers: P + "mem:", keyReap: P + "reap:",
		want: map[string]broker.TopicKind{}, pending: map[string]struct{}{}, applied: map[string]struct{}{},
		subWake: make(chan struct{}, 1), beatNow: make(chan struct{}, 1),
		qWait: map[uint64]*waiting{}, queueLen: workerQueue,
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.mem.init()
	return b, nil
}

// unreachableError is Open's error when Redis does not answer; it is a
// store.ErrUnavailable.
type unreachableError struct{ msg string }

func (e *unreachableError) Error() string { return e.msg }
func (e *unreachableError) Unwrap() error { return store.ErrUnavailable }

// newClient parses rawURL into a client, and returns the address to name
// in messages (never the password).
func newClient(rawURL string) (*redis.Client, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("redis broker: the Redis URL is not valid (want redis://host:port/db, rediss://, unix:// or Sentinel's ?master_name=): %s", redactParse(err))
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		fo, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, "", fmt.Errorf("redis broker: the Sentinel URL is not valid: %s", redactParse(err))
		}
		fo.MaxRetries = -1
		return redis.NewFailoverClient(fo), fmt.Sprintf("master %s via sentinels %v", fo.MasterName, fo.SentinelAddrs), nil
	case q.Has("addr"):
		return nil, "", fmt.Errorf("redis broker: the Redis URL names several addresses (addr=), as for Redis Cluster, which rtsync does not support: its scripts touch keys of several rooms; use one Redis, or Sentinel with ?master_name=")
	}
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("redis broker: the Redis URL is not valid (want redis://host:port/db, rediss://, unix:// or Sentinel's ?master_name=): %s", redactParse(err))
	}
	// A retried script could append a message twice: never retry.
	ro.MaxRetries = -1
	return redis.NewClient(ro), ro.Addr, nil
}

// redactParse keeps a URL parse error's reason without the URL, which may
// hold a password.
func redactParse(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// Node is this node's id.
func (b *Broker) Node() string { return b.node }

// Addr names the Redis the broker uses (no password).
func (b *Broker) Addr() string { return b.addr }

// Store returns a Redis store on the broker's connections, with o's
// retention and bounds; AppendRoom appends through the last store made
// (through a store with default options before the first). Closing the
// store leaves the broker's connections open.
func (b *Broker) Store(o store.Options) (store.Store, error) {
	s := redisstore.New(b.rdb, b.addr, redisstore.Options{Options: o, Prefix: b.opts.Prefix, Timeout: b.opts.Timeout})
	b.stMu.Lock()
	b.st = s
	b.stMu.Unlock()
	return s, nil
}

func (b *Broker) store() *redisstore.Store {
	b.stMu.Lock()
	defer b.stMu.Unlock()
	if b.st == nil {
		b.st = redisstore.New(b.rdb, b.addr, redisstore.Options{Prefix: b.opts.Prefix, Timeout: b.opts.Timeout})
	}
	return b.st
}

func (b *Broker) cmdCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, b.opts.Timeout)
}

// Start connects the broker to the node's handler and starts its
// goroutines: the subscription reader, the delivery workers, the
// subscription manager, the heartbeat, the membership writer and the
// query workers.
func (b *Broker) Start(h broker.Handler) error {
	if b.closed.Load() {
		return errors.New("redis broker: Start after Close")
	}
	if b.started.Swap(true) {
		return errors.New("redis broker: Start called twice")
	}
	b.h = h
	b.workers = make([]chan item, b.opts.Workers)
	for i := range b.workers {
		q := make(chan item, b.queueLen)
		b.workers[i] = q
		b.workWG.Go(func() { b.work(q) })
	}
	b.queries = make(chan *envelope, queryQueue)
	for range queryWorkers {
		b.wg.Go(b.answerQueries)
	}
	b.psMu.Lock()
	b.ps = b.newPubSub()
	b.psMu.Unlock()
	b.lastRecv.Store(time.Now().UnixNano())
	b.wg.Go(b.receive)
	b.wg.Go(b.manageSubscriptions)
	b.wg.Go(b.writeMembers)
	// The first heartbeat before Start returns: the node is in Nodes at
	// once.
	b.beat()
	b.wg.Go(b.heartbeat)
	return nil
}

// stop ends the goroutines and closes the subscription connection,
// without telling Redis anything.
func (b *Broker) stop() {
	b.cancel()
	if !b.started.Load() {
		return
	}
	b.psMu.Lock()
	if b.ps != nil {
		_ = b.ps.Close()
	}
	b.psMu.Unlock()
	b.wg.Wait()
	for _, q := range b.workers {
		close(q)
	}
	b.workWG.Wait()
}

// Close leaves the cluster: it stops the broker, removes the node from
// the live nodes and drops its membership records without publishing
// leave events (a node shutting down cleanly has told its rooms itself),
// and closes the connections to Redis.
func (b *Broker) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.stop()
	if b.started.Load() && b.health.lostSince().IsZero() {
		ctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
		pipe := b.rdb.TxPipeline()
		pipe.ZRem(ctx, b.keyNodes, b.node)
		pipe.Del(ctx, b.keyMembers+b.node)
		if _, err := pipe.Exec(ctx); err != nil {
			b.log.Warn("redis broker: could not remove this node from Redis; the other nodes drop it after the node TTL", "node", b.node, "err", err)
		}
		cancel()
	}
	if err := b.rdb.Close(); err != nil {
		return fmt.Errorf("redis broker at %s: close: %w", b.addr, err)
	}
	return nil
}
