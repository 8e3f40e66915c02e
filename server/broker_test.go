package server

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/broker"
)

// recordingBroker is the in-process broker behind another type, so the
// server takes the path any other broker takes (PublishRoom with a copy),
// and it keeps the topics the node is subscribed to.
type recordingBroker struct {
	*broker.InProcess
	mu     sync.Mutex
	topics map[broker.Topic]int
	rooms  int // room messages published
}

func (b *recordingBroker) Subscribe(t broker.Topic) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.topics[t]++
	return nil
}

func (b *recordingBroker) Unsubscribe(t broker.Topic) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.topics[t]--; b.topics[t] == 0 {
		delete(b.topics, t)
	}
	return nil
}

func (b *recordingBroker) PublishRoom(m *broker.RoomMessage) error {
	b.mu.Lock()
	b.rooms++
	b.mu.Unlock()
	return b.InProcess.PublishRoom(m)
}

func (b *recordingBroker) has(t broker.Topic) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.topics[t]
}

// TestBrokerSeam: a node subscribes to a room, a uid and a client id as
// the first one comes, once each, and unsubscribes as the last goes;
// room messages and direct messages travel through the broker.
func TestBrokerSeam(t *testing.T) {
	t.Parallel()
	b := &recordingBroker{InProcess: broker.NewInProcess(), topics: map[broker.Topic]int{}}
	s, url := startServer(t, Config{Broker: b, PresenceMaxMembers: 1})
	a1, a2 := dial(t, url), dial(t, url)
	for _, c := range []*wsClient{a1, a2} {
		mustOK(t, c.cmd(map[string]any{"op": "hello", "uid": "ada"}))
		mustOK(t, c.cmd(map[string]any{"op": "join", "room": "seam"}))
	}
	room, user := broker.Topic{Kind: broker.TopicRoom, Name: "seam"}, broker.Topic{Kind: broker.TopicUser, Name: "ada"}
	if b.has(room) != 1 || b.has(user) != 1 || b.has(broker.Topic{Kind: broker.TopicClient, Name: a1.welcome.Client}) != 1 {
		t.Fatalf("topics %v, want the room, the uid and each client once", b.topics)
	}
	mustOK(t, a1.cmd(map[string]any{"op": "pub", "room": "seam", "data": 1}))
	a1.expect(protocol.TypeMsg)
	a2.expect(protocol.TypeMsg)
	if _, err := s.SendToUID("ada", json.RawMessage(`"hi"`)); err != nil {
		t.Fatal(err)
	}
	a1.expect(protocol.TypeDirect)
	a2.expect(protocol.TypeDirect)
	if b.rooms != 1 {
		t.Fatalf("%d room messages went through the broker, want 1", b.rooms)
	}
	_ = a1.ws.Close()
	_ = a2.ws.Close()
	waitEmpty(t, s)
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		n := len(b.topics)
		b.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topics still subscribed after everyone left: %v", b.topics)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
