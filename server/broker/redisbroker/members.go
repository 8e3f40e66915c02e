package redisbroker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtsync/rtsync/server/broker"
)

// reapLock is how long a node that set out to publish a dead node's leave
// events keeps the others from doing the same.
const reapLock = 30 * time.Second

// beatScript: KEYS nodes; ARGV node, TTL in ms. It records the node's
// heartbeat at Redis's time (so that clocks of nodes need not agree) and
// returns how long ago its previous one was (-1: none, the node was
// forgotten), then the nodes whose last heartbeat is older than the TTL.
var beatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prev = redis.call('ZSCORE', KEYS[1], ARGV[1])
local ago = -1
if prev then ago = now - tonumber(prev) end
redis.call('ZADD', KEYS[1], now, ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2])))
table.insert(dead, 1, tostring(ago))
return dead
`)

// nodesScript: KEYS nodes; ARGV TTL in ms. It returns the live nodes and
// their last heartbeats (ms), flat.
var nodesScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf', 'WITHSCORES')
`)

// reapedScript: KEYS nodes, the node's membership hash; ARGV node, TTL
// in ms. It forgets the node unless it came back meanwhile.
var reapedScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) >= now - tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
`)

func (b *Broker) ttlMS() int64 { return b.opts.NodeTTL.Milliseconds() }

// Nodes lists the live nodes, this one included, sorted by id.
func (b *Broker) Nodes() ([]broker.Node, error) {
	if err := b.down("list nodes"); err != nil {
		return nil, err
	}
	ctx, cancel := b.cmdCtx()
	defer cancel()
	v, err := nodesScript.Run(ctx, b.rdb, []string{b.keyNodes}, b.ttlMS()).StringSlice()
	if err != nil {
		return nil, b.fail("list nodes", err)
	}
	nodes := make([]broker.Node, 0, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		ms, _ := strconv.ParseFloat(v[i+1], 64)
		nodes = append(nodes, broker.Node{ID: v[i], Seen: time.UnixMilli(int64(ms))})
	}
	slices.SortFunc(nodes, func(a, b broker.Node) int { return cmpString(a.ID, b.ID) })
	return nodes, nil
}

// heartbeat beats every Heartbeat (four times as often while Redis is
// lost, to find it back soon), and at once when the subscription
// connection came back.
func (b *Broker) heartbeat() {
	t := time.NewTimer(b.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		case <-b.beatNow:
		}
		b.beat()
		next := b.opts.Heartbeat
		if b.health.lost.Load() {
			next /= 4
		}
		t.Reset(next)
	}
}

// beat records this node's heartbeat, checks the subscription connection
// and reaps the dead nodes.
func (b *Broker) beat() {
	ctx, cancel := context.WithTimeout(b.ctx, min(b.opts.Timeout, b.opts.NodeTTL))
	dead, err := beatScript.Run(ctx, b.rdb, []string{b.keyNodes}, b.node, b.ttlMS()).StringSlice()
	cancel()
	if err != nil || len(dead) == 0 {
		b.noteErr(err)
		return
	}
	ago, _ := strconv.ParseInt(dead[0], 10, 64)
	dead = dead[1:]
	wasLost := b.health.lost.Load()
	b.noteOK()
	// Past the TTL without a heartbeat (a long pause, or Redis lost and
	// back, or back empty) other nodes may have taken this one for dead,
	// published its members' leaves and dropped its records: write them
	// again. The leaves are out; the node's rooms resync as their
	// subscriptions are confirmed.
	if b.beaten && (ago < 0 || ago > b.ttlMS()) {
		if !wasLost {
			b.log.Warn("redis broker: this node went without a heartbeat past the node TTL; other nodes may have published its clients' leaves", "node", b.node, "since_ms", ago)
		}
		b.mem.needRewrite()
	}
	b.beaten = true
	b.mem.wakeIfPending()

	// The subscription connection reads nothing for a while: ping it
	// (the answer counts as a read); nothing for longer than the node
	// TTL while Redis answers commands: it is dead without go-redis
	// knowing, make it again.
	idle := time.Since(time.Unix(0, b.lastRecv.Load()))
	b.psMu.Lock()
	switch {
	case idle > b.opts.NodeTTL+b.opts.Heartbeat:
		b.log.Warn("redis broker: the subscription connection read nothing for a while; making it again", "idle", idle.Round(time.Millisecond))
		b.stale = true
		b.lastRecv.Store(time.Now().UnixNano())
		_ = b.ps.Close()
	case idle > b.opts.Heartbeat:
		ctx, cancel := b.cmdCtx()
		_ = b.ps.Ping(ctx)
		cancel()
	}
	b.psMu.Unlock()

	for _, d := range dead {
		if d == b.node {
			continue
		}
		ctx, cancel := b.cmdCtx()
		ok, err := b.rdb.SetNX(ctx, b.keyReap+d, b.node, reapLock).Result()
		cancel()
		if err != nil {
			b.noteErr(err)
			return
		}
		if ok {
			b.wg.Go(func() { b.reap(d) })
		}
	}
}

// reap publishes the leave events a dead node recorded, to every live
// node (the payload names the dead node as publisher), then forgets the
// node.
func (b *Broker) reap(dead string) {
	key := b.keyMembers + dead
	var cursor uint64
	n := 0
	start := time.Now()
	for {
		ctx, cancel := b.cmdCtx()
		kv, next, err := b.rdb.HScan(ctx, key, cursor, "", memberBatch).Result()
		if err != nil {
			cancel()
			b.log.Warn("redis broker: reading a dead node's members failed; another node tries again later", "dead", dead, "err", err)
			b.noteErr(err)
			return
		}
		pipe := b.rdb.Pipeline()
		for i := 0; i+1 < len(kv); i += 2 {
			room, _, perr := parseMemberField(kv[i])
			if perr != nil {
				continue
			}
			m := &broker.RoomMessage{Room: room, Event: []byte(kv[i+1]), Presence: true, At: time.Now().UnixNano()}
			pipe.Publish(ctx, b.chRoom+room, encodePublish(dead, m))
			n++
		}
		if pipe.Len() > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				cancel()
				b.noteErr(err)
				return
			}
		}
		cancel()
		if cursor = next; cursor == 0 {
			break
		}
	}
	ctx, cancel := b.cmdCtx()
	defer cancel()
	if err := reapedScript.Run(ctx, b.rdb, []string{b.keyNodes, key}, dead, b.ttlMS()).Err(); err != nil {
		b.noteErr(err)
		return
	}
	b.log.Info("redis broker: a node stopped beating; its clients left their rooms", "dead", dead, "leaves", n, "took", time.Since(start).Round(time.Millisecond))
}

// members is this node's membership records: what it writes to Redis
// for another node to publish should this one die.
type members struct {
	mu      sync.Mutex
	m       map[string][]byte   // memberField -> leave event
	dirty   map[string]struct{} // fields changed since the last write
	rewrite bool                // write the whole hash again
	wakeCh  chan struct{}
}

func (s *members) init() {
	s.m, s.dirty, s.wakeCh = map[string][]byte{}, map[string]struct{}{}, make(chan struct{}, 1)
}

func (s *members) wake() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}

func (s *members) needRewrite() {
	s.mu.Lock()
	s.rewrite = true
	s.mu.Unlock()
}

func (s *members) wakeIfPending() {
	s.mu.Lock()
	pending := s.rewrite || len(s.dirty) > 0
	s.mu.Unlock()
	if pending {
		s.wake()
	}
}

// Joined records that client is a member of room on this node, with the
// leave event to publish if the node dies. It never blocks.
func (b *Broker) Joined(room, client string, leave []byte) {
	f := memberField(room, client)
	b.mem.mu.Lock()
	b.mem.m[f] = leave
	b.mem.dirty[f] = struct{}{}
	b.mem.mu.Unlock()
	b.mem.wake()
}

// Left forgets what Joined recorded.
func (b *Broker) Left(room, client string) {
	f := memberField(room, client)
	b.mem.mu.Lock()
	delete(b.mem.m, f)
	b.mem.dirty[f] = struct{}{}
	b.mem.mu.Unlock()
	b.mem.wake()
}

// writeMembers writes the membership changes to the node's hash in
// batches, and the whole hash again after Redis was lost.
func (b *Broker) writeMembers() {
	key := b.keyMembers + b.node
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.mem.wakeCh:
		}
		if b.health.lost.Load() {
			continue // noteOK wakes this again, with rewrite set
		}
		s := &b.mem
		s.mu.Lock()
		rewrite := s.rewrite
		var set map[string][]byte
		var del []string
		if rewrite {
			set = maps.Clone(s.m)
		} else {
			set = make(map[string][]byte, len(s.dirty))
			for f := range s.dirty {
				if v, ok := s.m[f]; ok {
					set[f] = v
				} else {
					del = append(del, f)
				}
			}
		}
		s.rewrite = false
		clear(s.dirty)
		s.mu.Unlock()

		if err := b.writeHash(key, rewrite, set, del); err != nil {
			b.noteErr(err)
			s.needRewrite() // the next heartbeat wakes this again
		}
	}
}

func (b *Broker) writeHash(key string, rewrite bool, set map[string][]byte, del []string) error {
	ctx, cancel := b.cmdCtx()
	defer cancel()
	pipe := b.rdb.Pipeline()
	if rewrite {
		pipe.Del(ctx, key)
	}
	args := make([]any, 0, 2*memberBatch)
	for f, v := range set {
		args = append(args, f, v)
		if len(args) == cap(args) {
			pipe.HSet(ctx, key, args...)
			args = make([]any, 0, 2*memberBatch)
		}
	}
	if len(args) > 0 {
		pipe.HSet(ctx, key, args...)
	}
	for len(del) > 0 {
		n := min(len(del), memberBatch)
		pipe.HDel(ctx, key, del[:n]...)
		del = del[n:]
	}
	if pipe.Len() == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("write the membership of node %s: %w", b.node, err)
	}
	return nil
}
