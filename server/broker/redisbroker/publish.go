package redisbroker

import (
	"errors"
	"fmt"

	"github.com/rtsync/rtsync/server/broker"
	"github.com/rtsync/rtsync/server/store/redisstore"
)

var errNotStarted = errors.New("redis broker: publish before Start")

// AppendRoom appends m to its room's history and publishes it, in one
// script: every node subscribed to the room, this one included, gets the
// room's messages in seq order through HandleRoom (with Event nil).
func (b *Broker) AppendRoom(m *broker.RoomMessage) error {
	if !b.started.Load() {
		return errNotStarted
	}
	op := fmt.Sprintf("append to room %q", m.Room)
	if err := b.down(op); err != nil {
		return err
	}
	seq, epoch, err := b.store().AppendPublish(m.Room, m.TS, m.From, m.Data, redisstore.Publish{
		Channel: b.chRoom + m.Room, Head: []byte{kindRoom}, Meta: roomMeta(b.node, m)})
	if err != nil {
		return b.fail(op, err)
	}
	m.Seq, m.Epoch = seq, epoch
	return nil
}

// publish runs PUBLISH and returns how many subscribers got it.
func (b *Broker) publish(op, ch string, payload []byte) (int64, error) {
	if !b.started.Load() {
		return 0, errNotStarted
	}
	if err := b.down(op); err != nil {
		return 0, err
	}
	ctx, cancel := b.cmdCtx()
	defer cancel()
	n, err := b.rdb.Publish(ctx, ch, payload).Result()
	if err != nil {
		return 0, b.fail(op, err)
	}
	return n, nil
}

// PublishRoom publishes m, sequenced elsewhere or a presence event
// (Event set), to the other nodes' members of m.Room. A presence event is
// not handed to this node's handler (the caller delivered it here); any
// other message is, at once, before it is published.
func (b *Broker) PublishRoom(m *broker.RoomMessage) error {
	if !b.started.Load() {
		return errNotStarted
	}
	if !m.Presence {
		b.h.HandleRoom(m)
	}
	_, err := b.publish(fmt.Sprintf("publish to room %q", m.Room), b.chRoom+m.Room, encodePublish(b.node, m))
	return err
}

// PublishUser delivers event to uid's connections on every node and
// returns how many nodes have some (the number of subscribers Redis
// counted).
func (b *Broker) PublishUser(uid string, event []byte) (int, error) {
	n, err := b.publish(fmt.Sprintf("send to uid %q", uid), b.chUser+uid, encodeDirect(kindUser, b.node, uid, event))
	return int(n), err
}

// PublishClient delivers event to the connection client, wherever it
// is, and reports whether a node holds it.
func (b *Broker) PublishClient(client string, event []byte) (bool, error) {
	n, err := b.publish(fmt.Sprintf("send to client %q", client), b.chClient+client, encodeDirect(kindClient, b.node, client, event))
	return n > 0, err
}

// PublishControl runs c on the node holding c.Client, or on the nodes
// holding c.UID's connections when c.Client is empty, and reports
// whether any node holds it.
func (b *Broker) PublishControl(c broker.Control) (bool, error) {
	ch := b.chClient + c.Client
	if c.Client == "" {
		if c.UID == "" {
			return false, fmt.Errorf("redis broker: control %q names no client and no uid", c.Kind)
		}
		ch = b.chUser + c.UID
	}
	n, err := b.publish(fmt.Sprintf("%s for client %q uid %q", c.Kind, c.Client, c.UID), ch, encodeControl(b.node, c))
	return n > 0, err
}
