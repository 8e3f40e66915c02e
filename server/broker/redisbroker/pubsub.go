package redisbroker

import (
	"errors"
	"hash/maphash"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rtsync/rtsync/server/broker"
)

// channel names the Redis channel of a topic.
func (b *Broker) channel(t broker.Topic) (string, error) {
	switch t.Kind {
	case broker.TopicRoom:
		return b.chRoom + t.Name, nil
	case broker.TopicUser:
		return b.chUser + t.Name, nil
	case broker.TopicClient:
		return b.chClient + t.Name, nil
	}
	return "", errors.New("redis broker: unknown topic kind")
}

// Subscribe asks for what is published to t. It never blocks: the
// subscription manager applies the wishes in batches.
func (b *Broker) Subscribe(t broker.Topic) error { return b.wish(t, true) }

// Unsubscribe stops what is published to t from reaching this node.
func (b *Broker) Unsubscribe(t broker.Topic) error { return b.wish(t, false) }

func (b *Broker) wish(t broker.Topic, on bool) error {
	ch, err := b.channel(t)
	if err != nil {
		return err
	}
	b.subMu.Lock()
	if on {
		b.want[ch] = t.Kind
	} else {
		delete(b.want, ch)
	}
	b.pending[ch] = struct{}{}
	b.subMu.Unlock()
	select {
	case b.subWake <- struct{}{}:
	default:
	}
	return nil
}

// wanted reports whether the node still asks for the room channel ch.
func (b *Broker) wanted(ch string) bool {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	_, ok := b.want[ch]
	return ok
}

// manageSubscriptions applies the subscription wishes: a topic
// subscribed and unsubscribed before the manager looked costs nothing.
func (b *Broker) manageSubscriptions() {
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.subWake:
		}
		b.subMu.Lock()
		var subs, unsubs []string
		b.psMu.Lock()
		for ch := range b.pending {
			_, on := b.want[ch]
			_, held := b.applied[ch]
			switch {
			case on && !held:
				subs = append(subs, ch)
				b.applied[ch] = struct{}{}
			case !on && held:
				unsubs = append(unsubs, ch)
				delete(b.applied, ch)
			}
		}
		clear(b.pending)
		b.subMu.Unlock()
		// Holding psMu: a rebuild of ps waits, and then holds exactly
		// applied.
		ps := b.ps
		for len(subs) > 0 {
			n := min(len(subs), subBatch)
			ctx, cancel := b.cmdCtx()
			// On failure go-redis keeps the channels and subscribes them
			// as it reconnects.
			_ = ps.Subscribe(ctx, subs[:n]...)
			cancel()
			subs = subs[n:]
		}
		for len(unsubs) > 0 {
			n := min(len(unsubs), subBatch)
			ctx, cancel := b.cmdCtx()
			_ = ps.Unsubscribe(ctx, unsubs[:n]...)
			cancel()
			unsubs = unsubs[n:]
		}
		b.psMu.Unlock()
	}
}

// newPubSub makes the subscription connection's PubSub, subscribed to the
// node's own channels and to applied. Call with psMu held.
func (b *Broker) newPubSub() *redis.PubSub {
	ps := b.rdb.Subscribe(b.ctx)
	chans := []string{b.chSelf, b.chAll}
	for ch := range b.applied {
		chans = append(chans, ch)
	}
	for len(chans) > 0 {
		n := min(len(chans), subBatch)
		ctx, cancel := b.cmdCtx()
		_ = ps.Subscribe(ctx, chans[:n]...)
		cancel()
		chans = chans[n:]
	}
	return ps
}

// receive reads the subscription connection and hands what comes to the
// workers, in the order Redis sent it. go-redis reconnects and
// resubscribes by itself after an error; each room's subscription
// confirmed (again) is a resync of the room.
func (b *Broker) receive() {
	wait := reconnectMin
	failed := false
	for {
		b.psMu.Lock()
		if b.stale {
			_ = b.ps.Close()
			b.ps = b.newPubSub()
			b.stale = false
		}
		ps := b.ps
		b.psMu.Unlock()
		msg, err := ps.Receive(b.ctx)
		if b.ctx.Err() != nil {
			return
		}
		if err != nil {
			b.psMu.Lock()
			stale := b.stale
			b.psMu.Unlock()
			if stale {
				continue
			}
			// The connection dropped: Redis restarted or went away, or
			// dropped this node for reading too slowly (its
			// client-output-buffer-limit for pubsub). The heartbeat finds
			// out at once whether Redis itself answers.
			if !failed && !b.health.lost.Load() {
				b.log.Warn("redis broker: the subscription connection dropped; subscribing again, and the rooms resync", "node", b.node, "err", err)
			}
			failed = true
			select {
			case b.beatNow <- struct{}{}:
			default:
			}
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, reconnectMax)
			continue
		}
		wait = reconnectMin
		b.lastRecv.Store(time.Now().UnixNano())
		switch m := msg.(type) {
		case *redis.Subscription:
			if failed {
				// The connection is back: make the heartbeat find out
				// whether Redis is, now rather than at its next tick.
				failed = false
				select {
				case b.beatNow <- struct{}{}:
				default:
				}
			}
			if m.Kind == "subscribe" && strings.HasPrefix(m.Channel, b.chRoom) && b.wanted(m.Channel) {
				room := m.Channel[len(b.chRoom):]
				b.workers[b.worker(room)] <- item{resync: room}
			}
		case *redis.Message:
			b.dispatch(m.Payload)
		}
	}
}

var seed = maphash.MakeSeed()

// worker picks the worker of a room, uid or client.
func (b *Broker) worker(name string) int {
	return int(maphash.String(seed, name) % uint64(len(b.workers)))
}

// item is one delivery: a message, or a room to resync.
type item struct {
	e      *envelope
	resync string
}

// dispatch decodes a payload and queues it for its worker (or the query
// workers, or a waiting Query).
func (b *Broker) dispatch(payload string) {
	e, err := decode([]byte(payload))
	if err != nil {
		if b.dropped.Add(1) == 1 {
			b.log.Warn("redis broker: dropped a message it cannot read (another program publishing on rtsync's channels, or a newer rtsync); later ones are counted, not logged", "err", err)
		}
		return
	}
	switch e.kind {
	case kindRoom:
		b.workers[b.worker(e.room.Room)] <- item{e: e}
	case kindPublish:
		if e.node != b.node { // the publisher delivered it to its own members
			b.workers[b.worker(e.room.Room)] <- item{e: e}
		}
	case kindUser, kindClient:
		b.workers[b.worker(e.name)] <- item{e: e}
	case kindControl:
		name := e.ctl.Client
		if name == "" {
			name = e.ctl.UID
		}
		b.workers[b.worker(name)] <- item{e: e}
	case kindQuery:
		if e.node == b.node {
			return
		}
		select {
		case b.queries <- e:
		default:
			b.log.Warn("redis broker: too many queries from other nodes waiting; one dropped (the asker reports this node missing)", slog.String("from", e.node), slog.String("kind", e.qkind))
		}
	case kindAnswer:
		b.answered(e)
	}
}

// work hands a worker's items to the handler. Resyncs queued one after
// the other go in one call.
func (b *Broker) work(q chan item) {
	var rooms []string
	for it := range q {
		for it.resync != "" {
			rooms = append(rooms, it.resync)
			var ok bool
			select {
			case it, ok = <-q:
			default:
				ok = false
			}
			if !ok {
				it = item{}
				break
			}
		}
		if len(rooms) > 0 {
			b.h.HandleResync(rooms)
			rooms = nil
		}
		if it.e != nil {
			b.deliver(it.e)
		}
	}
}

func (b *Broker) deliver(e *envelope) {
	switch e.kind {
	case kindRoom, kindPublish:
		b.h.HandleRoom(e.room)
	case kindUser:
		b.h.HandleUser(e.name, e.event)
	case kindClient:
		b.h.HandleClient(e.name, e.event)
	case kindControl:
		b.h.HandleControl(e.ctl)
	}
}
