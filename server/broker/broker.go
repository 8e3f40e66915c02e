package broker

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
	// know (0: uid is offline everywhere).
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
