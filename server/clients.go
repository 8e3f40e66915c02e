package server

import (
	"slices"
	"strings"
	"time"
)

// The detailed list of connections behind GET /api/v1/clients, for
// monitors (rtsync top) and operators: who is connected, from where, in
// which rooms, and how much is waiting to be written to each.

// ClientCounters are a connection's traffic figures.
type ClientCounters struct {
	// ConnectedAt is when the connection was accepted.
	ConnectedAt time.Time `json:"connected_at"`
	// QueueBytes and QueueMessages are what waits in the send queue, not
	// counting a write under way.
	QueueBytes    int `json:"queue_bytes"`
	QueueMessages int `json:"queue_messages"`
	// MessagesIn counts the commands the client sent, MessagesOut the
	// objects (events, replies) written to it.
	MessagesIn  uint64 `json:"messages_in"`
	MessagesOut uint64 `json:"messages_out"`
}

// ClientSummary is one connection in the clients listing.
type ClientSummary struct {
	Client string `json:"client"`
	// UID and Name are "" when unset.
	UID  string `json:"uid"`
	Name string `json:"name"`
	// Remote is the peer's address; Transport "ws" or "tcp".
	Remote    string `json:"remote"`
	Transport string `json:"transport"`
	// Rooms are the rooms the connection is in, sorted.
	Rooms []string `json:"rooms"`
	ClientCounters
}

// ClientFilter selects connections for Clients; an empty field matches
// every connection.
type ClientFilter struct {
	// Room keeps the members of this room.
	Room string
	// UID keeps the connections bound to this uid.
	UID string
	// RemotePrefix keeps the connections whose remote address starts
	// with it ("10.0.", "[::1]", "127.0.0.1:5").
	RemotePrefix string
}

// counters reads the connection's traffic figures.
func (c *conn) counters() ClientCounters {
	cc := ClientCounters{
		ConnectedAt: time.Unix(0, c.connectedAt).UTC().Truncate(time.Millisecond),
		MessagesIn:  c.msgsIn.Load(), MessagesOut: c.msgsOut.Load(),
	}
	c.mu.Lock()
	cc.QueueBytes, cc.QueueMessages = c.queued, len(c.queue)
	c.mu.Unlock()
	return cc
}

// summary describes the connection for the clients listing.
func (c *conn) summary() ClientSummary {
	cs := ClientSummary{Client: c.id, Remote: c.t.RemoteAddr(), Transport: c.t.Kind()}
	c.stateMu.Lock()
	cs.UID, cs.Name = c.uid, c.name
	cs.Rooms = make([]string, 0, len(c.rooms))
	for name := range c.rooms {
		cs.Rooms = append(cs.Rooms, name)
	}
	c.stateMu.Unlock()
	slices.Sort(cs.Rooms)
	cs.ClientCounters = c.counters()
	return cs
}

// Clients lists the connections that match f, sorted by client id, with
// their identity, rooms and traffic figures. The room and uid filters
// start from the room's members or the uid's connections, so they cost
// what those hold rather than what the server holds.
func (s *Server) Clients(f ClientFilter, opts ListOptions) (Page[ClientSummary], error) {
	if f.Room != "" {
		if err := checkAPIRoom(f.Room); err != nil {
			return Page[ClientSummary]{}, err
		}
	}
	if f.UID != "" {
		if err := checkAPIUID(f.UID); err != nil {
			return Page[ClientSummary]{}, err
		}
	}
	return mergePages(s, listClients, opArgs{Filter: &f, After: opts.After, Limit: opts.Limit}, s.clientsHere(f, opts), summaryKey)
}

func summaryKey(cs ClientSummary) string { return cs.Client }

// clientsHere is Clients for the connections here.
func (s *Server) clientsHere(f ClientFilter, opts ListOptions) Page[ClientSummary] {
	var conns []*conn
	switch {
	case f.Room != "":
		conns = s.roomMembers(f.Room)
	case f.UID != "":
		conns = s.liveByUID(f.UID)
	default:
		conns = s.liveConns()
	}
	if f.UID != "" || f.RemotePrefix != "" {
		conns = slices.DeleteFunc(conns, func(c *conn) bool { return !f.matches(c) })
	}
	items, total, next := pageOf(conns, connKey, opts)
	out := make([]ClientSummary, len(items))
	for i, c := range items {
		out[i] = c.summary()
	}
	return Page[ClientSummary]{Items: out, Total: total, Next: next}
}

// matches reports whether c passes the uid and remote filters (the room
// filter chose the connections to begin with).
func (f *ClientFilter) matches(c *conn) bool {
	if f.RemotePrefix != "" && !strings.HasPrefix(c.t.RemoteAddr(), f.RemotePrefix) {
		return false
	}
	if f.UID != "" {
		if _, uid, _ := c.identity(); uid != f.UID {
			return false
		}
	}
	return true
}
