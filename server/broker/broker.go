package broker

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RoomMessage is a room message on its way to every node's members.
type RoomMessage struct {
	Room  string
	Seq   uint64
	Epoch string
	// At is when it was published, in unix nanoseconds (for the time
	// from publish to write that nodes report).
	At int64
	// Event is the encoded msg event, written to members as is.
	Event []byte
	// Origin, when set, is the client id of a publisher that asked not
	// to get its own message (noecho); Exclude lists client ids the
	// publisher left out. Both are skipped on every node.
	Origin  string
	Exclude []string
	// Local, on the node that published, is what the hub needs to skip
	// the origin without looking it up; brokers pass it on untouched to
	// the local handler and never send it to other nodes.
	Local any

	// TS (unix milliseconds), From (the encoded sender) and Data are the
	// message's parts. A Sequencer carries them between nodes instead of
	// Event, and hands the handler a message with Event nil: the handler
	// encodes it, once per node.
	TS   int64
	From []byte
	Data []byte
	// Presence marks a join or leave event about a member (Event set, no
	// seq, not in history). Handlers deliver it to their members without
	// touching the room's seq. The publishing node's members got it
	// directly, so a broker delivers presence to the other nodes only.
	Presence bool
}

// Control kinds: operations the HTTP API or a hook asks of a client that
// may live on another node.
const (
	ControlKick    = "kick"
	ControlJoin    = "join"
	ControlLeave   = "leave"
	ControlBindUID = "bind_uid"
	ControlSession = "session"
)

// Control is an operation on a client or on a uid's clients, wherever
// they are connected.
type Control struct {
	Kind   string
	Client string
	UID    string
	Room   string
	Reason string
	// Value is the new uid (bind_uid) or session object (session).
	Value []byte
}

// TopicKind says what a Topic names.
type TopicKind uint8

// Kinds of topic.
const (
	TopicRoom TopicKind = iota
	TopicUser
	TopicClient
)

// Topic is what a node subscribes to: a room, a uid or a client id.
type Topic struct {
	Kind TopicKind
	Name string
}

// Handler is the node's side of a broker: what it does with what
// reaches it. The hub implements it.
type Handler interface {
	// HandleRoom delivers a room message to this node's members of the
	// room, in the order the broker hands them over, which is seq order
	// per room.
	HandleRoom(m *RoomMessage)
	// HandleUser delivers a direct event to this node's connections of
	// uid and returns how many there were.
	HandleUser(uid string, event []byte) int
	// HandleClient delivers a direct event to the connection client if
	// it is on this node, and reports whether it was.
	HandleClient(client string, event []byte) bool
	// HandleControl runs c on this node's clients it names and reports
	// whether any was here.
	HandleControl(c Control) bool
	// HandleResync tells the node that messages published to rooms may
	// not all have reached it: a room subscription has just taken effect,
	// or taken effect again after the broker's connection came back. The
	// node reads what its members missed from the store. For each room it
	// is called on the goroutine that delivers the room's messages,
	// before any message that follows the subscription; it must not
	// block.
	HandleResync(rooms []string)
	// HandleQuery answers a query from another node (Querier.Query); the
	// answer goes back to the asker as is.
	HandleQuery(kind string, args []byte) []byte
}

// Broker carries messages between the nodes of a cluster: room messages,
// direct messages to uids and clients, and control operations. Each node
// subscribes to the rooms it has members in and to its uids and clients;
// a publish reaches the handlers of the nodes subscribed. The in-process
// broker (one node) hands everything to its own handler at once.
type Broker interface {
	// Start connects the broker to the node's handler; call it once,
	// before any publish.
	Start(h Handler) error
	// PublishRoom delivers m to every node's members of m.Room. Calls for
	// one room must not run concurrently (the caller orders them): the
	// order of calls is the order members see.
	PublishRoom(m *RoomMessage) error
	// PublishUser delivers a direct event to every connection of uid on
	// any node and returns how many it reached, as far as the broker can
	// know: connections for the in-process broker, nodes holding one for
	// a cluster's (0: uid is offline everywhere).
	PublishUser(uid string, event []byte) (int, error)
	// PublishClient delivers a direct event to the connection client,
	// wherever it is, and reports whether it was found.
	PublishClient(client string, event []byte) (bool, error)
	// PublishControl runs c on the node(s) holding its client or uid and
	// reports whether any did.
	PublishControl(c Control) (bool, error)
	// Subscribe and Unsubscribe tell the broker this node has (or no
	// longer has) a room with members, a connection bound to a uid, or a
	// connection with a client id, so that what is published to it
	// reaches this node. The hub calls them as the first one comes and
	// the last one goes.
	Subscribe(t Topic) error
	Unsubscribe(t Topic) error
	// Close stops the broker.
	Close() error
}

// Sequencer is a broker that keeps room history itself and assigns each
// message its seq as it appends it, publishing it in the same atomic
// step (the Redis broker: a script appends and publishes). Every node,
// the publishing one included, then receives a room's messages in seq
// order whoever published them. With a Sequencer the server calls
// AppendRoom instead of Store.Append and PublishRoom for room messages,
// and its own members get each message through HandleRoom like every
// other node's.
type Sequencer interface {
	// AppendRoom appends m (Room, TS, From, Data; Origin, Exclude and At
	// travel with it) to the room's history, sets m.Seq and m.Epoch, and
	// publishes it to every node subscribed to m.Room. When it returns
	// nil the message is stored and on its way; an error means it was
	// neither stored nor published.
	AppendRoom(m *RoomMessage) error
}

// Querier is a broker that can ask every node of the cluster and gather
// their answers: what the server API needs to list and count clients
// everywhere and to act on a client wherever it is.
type Querier interface {
	// Query sends (kind, args) to every other live node and returns the
	// answers that came before ctx was done. Nodes that did not answer in
	// time are named by a *PartialError (with the answers that came).
	Query(ctx context.Context, kind string, args []byte) ([]Answer, error)
	// Node is this node's id in the cluster.
	Node() string
	// Nodes lists the live nodes, this one included, sorted by id.
	Nodes() ([]Node, error)
}

// Answer is one node's answer to a query.
type Answer struct {
	Node string
	Body []byte
}

// Node is a live node of the cluster.
type Node struct {
	ID string
	// Seen is the node's last heartbeat.
	Seen time.Time
}

// PartialError reports the nodes that did not answer a query in time.
type PartialError struct {
	Missing []string
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("no answer in time from %d node(s): %s", len(e.Missing), strings.Join(e.Missing, ", "))
}

// Membership is a broker that records which of this node's clients are
// in which rooms, so that when the node dies (no heartbeat for the node
// TTL) another node publishes their leave events to the rooms. Calls
// never block: the broker writes in batches, and writes everything again
// after its connection comes back.
type Membership interface {
	// Joined records that client is a member of room here; leave is the
	// encoded leave event to publish (as Presence) if this node dies.
	Joined(room, client string, leave []byte)
	// Left forgets it.
	Left(room, client string)
}

// Health is a broker that can lose its connection: /readyz reports the
// node not ready while Healthy returns an error.
type Health interface {
	Healthy() error
}
