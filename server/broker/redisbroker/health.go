package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtsync/rtsync/server/store"
)

// health is the broker's view of its connection to Redis: lost from the
// first call that failed for want of Redis until a heartbeat succeeds.
type health struct {
	lost  atomic.Bool
	mu    sync.Mutex
	since time.Time
	err   error
}

func (h *health) lostSince() time.Time {
	if !h.lost.Load() {
		return time.Time{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.since
}

// connErr reports whether err says Redis could not be reached (rather
// than Redis refusing a command).
func connErr(err error) bool {
	if err == nil || errors.Is(err, redis.ErrClosed) || errors.Is(err, context.Canceled) {
		return false
	}
	var re redis.Error
	return !errors.As(err, &re)
}

// noteErr records a failed call: when it failed for want of Redis, the
// broker counts Redis as lost (and logs it, once).
func (b *Broker) noteErr(err error) {
	if !connErr(err) || b.ctx.Err() != nil {
		return
	}
	b.health.mu.Lock()
	first := !b.health.lost.Load()
	if first {
		b.health.since, b.health.err = time.Now(), err
		b.health.lost.Store(true)
	}
	b.health.mu.Unlock()
	if first {
		b.mem.needRewrite()
		b.log.Error("Redis lost: local clients are still served; room messages, direct messages and queries across nodes, history and inboxes wait for Redis, which the broker keeps trying",
			"node", b.node, "err", err)
	}
}

// noteOK records that a call to Redis succeeded; after a loss it logs
// that Redis is back and rewrites the membership records.
func (b *Broker) noteOK() {
	if !b.health.lost.Load() {
		return
	}
	b.health.mu.Lock()
	since := b.health.since
	b.health.since, b.health.err = time.Time{}, nil
	b.health.lost.Store(false)
	b.health.mu.Unlock()
	b.log.Info(fmt.Sprintf("Redis back after %s", time.Since(since).Round(time.Millisecond)), "node", b.node)
	b.mem.wake()
}

// down returns the error to give a caller while Redis is lost, nil while
// it is not: calls fail at once instead of waiting for a timeout each.
func (b *Broker) down(op string) error {
	if b.closed.Load() {
		return fmt.Errorf("redis broker: %s: %w", op, store.ErrClosed)
	}
	if !b.health.lost.Load() {
		return nil
	}
	b.health.mu.Lock()
	since, err := b.health.since, b.health.err
	b.health.mu.Unlock()
	return fmt.Errorf("redis broker: %s: Redis at %s unreachable for %s (%v): %w", op, b.addr, time.Since(since).Round(time.Millisecond), err, store.ErrUnavailable)
}

// fail wraps a failed call's error and records it.
func (b *Broker) fail(op string, err error) error {
	b.noteErr(err)
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrClosed) {
		return err
	}
	return fmt.Errorf("redis broker at %s: %s: %w: %w", b.addr, op, err, store.ErrUnavailable)
}

// Healthy returns an error while Redis is lost.
func (b *Broker) Healthy() error {
	if b.closed.Load() {
		return fmt.Errorf("redis broker: %w", store.ErrClosed)
	}
	return b.down("cluster")
}

// goRedisLog routes go-redis's own log (dial failures and the like)
// through the last broker's slog logger, at most one line per
// goRedisLogEvery, so that a Redis that is down does not fill the log.
type goRedisLog struct {
	logger     atomic.Pointer[slog.Logger]
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

const goRedisLogEvery = 10 * time.Second

var (
	redisLog     goRedisLog
	redisLogOnce sync.Once
)

func useLogger(l *slog.Logger) {
	redisLog.logger.Store(l)
	redisLogOnce.Do(func() { redis.SetLogger(&redisLog) })
}

// Printf implements go-redis's internal logger.
func (g *goRedisLog) Printf(_ context.Context, format string, v ...any) {
	g.mu.Lock()
	now := time.Now()
	if !g.last.IsZero() && now.Sub(g.last) < goRedisLogEvery {
		g.suppressed++
		g.mu.Unlock()
		return
	}
	n := g.suppressed
	g.last, g.suppressed = now, 0
	g.mu.Unlock()
	l := g.logger.Load()
	if l == nil {
		return
	}
	args := []any{}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.Warn("redis client: "+fmt.Sprintf(format, v...), args...)
}
