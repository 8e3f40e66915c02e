package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/broker"
)

// The server API across a cluster. A call that names a client acts on it
// here when it is here, and otherwise asks the other nodes (a broker
// query), the one holding the client answering; calls about a uid, a
// room or everyone act here and ask every other node, and add up the
// answers; listings merge every node's items in key order. A node that
// does not answer in time makes a listing fail with ErrUnavailable
// rather than come out short without saying so.

// Query kinds.
const (
	queryClient    = "client"    // an operation on one client (opArgs.Op)
	queryUID       = "uid"       // on the connections of a uid
	queryList      = "list"      // a listing (opArgs.What)
	queryRoom      = "room"      // a room's members here
	queryBroadcast = "broadcast" // a direct event to every connection
	queryUngroup   = "ungroup"   // take everyone out of a room
	queryStats     = "stats"     // this node's stats
)

// clusterQueryTimeout bounds a query to the other nodes.
const clusterQueryTimeout = 3 * time.Second

// opArgs are the arguments of a query, for every kind.
type opArgs struct {
	Op      string          `json:"op,omitempty"`
	What    string          `json:"what,omitempty"`
	Client  string          `json:"client,omitempty"`
	UID     string          `json:"uid,omitempty"`
	Room    string          `json:"room,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	Exclude []string        `json:"exclude,omitempty"`
	Filter  *ClientFilter   `json:"filter,omitempty"`
	After   string          `json:"after,omitempty"`
	Limit   int             `json:"limit,omitempty"`
	Top     int             `json:"top,omitempty"`
	// Bytes bounds the encoded members of a presence listing.
	Bytes int `json:"bytes,omitempty"`
}

// opAnswer is a node's answer: Found when the client was there, with the
// operation's value or error.
type opAnswer struct {
	Found bool            `json:"found,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	Err   *wireOpError    `json:"err,omitempty"`
}

// wireOpError is an *OpError on its way between nodes.
type wireOpError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Kind    string `json:"kind"`
}

var opKinds = map[string]error{"not_found": ErrNotFound, "invalid": ErrInvalid, "too_large": ErrTooLarge,
	"conflict": ErrConflict, "unavailable": ErrUnavailable}

func toWire(err error) *wireOpError {
	var oe *OpError
	if !errors.As(err, &oe) {
		return &wireOpError{Code: protocol.CodeInternal, Message: err.Error(), Kind: "unavailable"}
	}
	w := &wireOpError{Code: oe.Code, Message: oe.Message, Kind: "invalid"}
	for name, kind := range opKinds {
		if oe.kind == kind {
			w.Kind = name
		}
	}
	return w
}

func (w *wireOpError) opError() *OpError {
	kind, ok := opKinds[w.Kind]
	if !ok {
		kind = ErrUnavailable
	}
	return &OpError{Code: w.Code, Message: w.Message, kind: kind}
}

// errCluster is the failure of a call that needed the other nodes and
// could not hear from them all.
func errCluster(what string, err error) *OpError {
	return opErrorf(ErrUnavailable, protocol.CodeUnavailable, "%s: not every node of the cluster answered (%v); try again", what, err)
}

// ask sends a query to every other node and decodes the answers. With no
// other node it returns nothing.
func (s *Server) ask(kind string, a *opArgs) ([][]byte, error) {
	if s.querier == nil {
		return nil, nil
	}
	args, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(s.life, clusterQueryTimeout)
	defer cancel()
	answers, err := s.querier.Query(ctx, kind, args)
	out := make([][]byte, 0, len(answers))
	for _, ans := range answers {
		out = append(out, ans.Body)
	}
	return out, err
}

// answerQuery answers another node's query (broker.Handler.HandleQuery).
func (s *Server) answerQuery(kind string, args []byte) []byte {
	var a opArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return nil
	}
	var v any
	switch kind {
	case queryClient:
		v = s.clientOpHere(&a)
	case queryUID:
		v = s.uidOpHere(&a)
	case queryList:
		v = s.listHere(&a)
	case queryRoom:
		v = s.roomHere(a.Room)
	case queryBroadcast:
		v = s.broadcastHere(a.Value, a.Exclude)
	case queryUngroup:
		v = s.ungroupHere(a.Room)
	case queryStats:
		v = s.nodeStats(a.Top)
	default:
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// clientOps are the operations on one client, run where it is.
var clientOps = map[string]func(s *Server, c *conn, a *opArgs) (any, error){
	"kick": func(_ *Server, c *conn, a *opArgs) (any, error) {
		c.kick(a.Reason)
		return nil, nil
	},
	"info": func(_ *Server, c *conn, _ *opArgs) (any, error) { return c.info(), nil },
	"uid": func(_ *Server, c *conn, _ *opArgs) (any, error) {
		_, uid, _ := c.identity()
		return uid, nil
	},
	"bind_uid": func(s *Server, c *conn, a *opArgs) (any, error) {
		s.rebind(c, identityChange{uid: &a.UID})
		return nil, nil
	},
	"join": func(s *Server, c *conn, a *opArgs) (any, error) {
		if e := c.enterRoom(&protocol.Command{Op: protocol.OpJoin, Room: a.Room}, joinNotify, false); e != nil {
			if e.Code == protocol.CodeTooManyRooms {
				return nil, opErrorf(ErrConflict, protocol.CodeTooManyRooms, "client %s is already in %d rooms, the server's limit (--max-rooms); take it out of one first", c.id, s.cfg.MaxRoomsPerConn)
			}
			return nil, fromWire(e)
		}
		return nil, nil
	},
	"leave": func(_ *Server, c *conn, a *opArgs) (any, error) {
		if !c.exitRoom(a.Room, true) {
			return nil, opErrorf(ErrNotFound, protocol.CodeNotJoined, "client %s is not in room %q", c.id, a.Room)
		}
		return nil, nil
	},
	"session": func(_ *Server, c *conn, _ *opArgs) (any, error) { return c.clientSession().Session, nil },
	"set_session": func(_ *Server, c *conn, a *opArgs) (any, error) {
		c.setSession(a.Value)
		return nil, nil
	},
	"update_session": func(s *Server, c *conn, a *opArgs) (any, error) { return s.updateSession(c, a.Value) },
}

// onClient runs the operation a.Op on the client a.Client, here or on the
// node that has it.
func onClient[T any](s *Server, a opArgs) (T, error) {
	var zero T
	c, err := s.live(a.Client)
	if err == nil {
		v, err := clientOps[a.Op](s, c, &a)
		if err != nil {
			return zero, err
		}
		t, _ := v.(T)
		return t, nil
	}
	answers, qerr := s.ask(queryClient, &a)
	for _, b := range answers {
		var ans opAnswer
		if json.Unmarshal(b, &ans) != nil || !ans.Found {
			continue
		}
		if ans.Err != nil {
			return zero, ans.Err.opError()
		}
		var t T
		if len(ans.Value) > 0 && string(ans.Value) != "null" {
			if err := json.Unmarshal(ans.Value, &t); err != nil {
				return zero, errCluster("decode another node's answer", err)
			}
		}
		return t, nil
	}
	if qerr != nil {
		return zero, errCluster(fmt.Sprintf("client %.64q is not on this node", a.Client), qerr)
	}
	return zero, err
}

// clientOpHere answers a client operation for a client that may be here.
func (s *Server) clientOpHere(a *opArgs) opAnswer {
	op, ok := clientOps[a.Op]
	if !ok {
		return opAnswer{}
	}
	c, err := s.live(a.Client)
	if err != nil {
		return opAnswer{}
	}
	v, err := op(s, c, a)
	if err != nil {
		return opAnswer{Found: true, Err: toWire(err)}
	}
	b, _ := json.Marshal(v)
	return opAnswer{Found: true, Value: b}
}

// uidAnswer is what a node did to or found of a uid's connections.
type uidAnswer struct {
	Clients []string `json:"clients"`
}

// uidOpHere runs a.Op on the connections of a.UID here: "kick" or
// "clients" (list them).
func (s *Server) uidOpHere(a *opArgs) uidAnswer {
	conns := s.liveByUID(a.UID)
	ids := make([]string, len(conns))
	for i, c := range conns {
		ids[i] = c.id
	}
	if a.Op == "kick" {
		done := make(chan struct{}, len(conns))
		for _, c := range conns {
			go func() { c.kick(a.Reason); done <- struct{}{} }()
		}
		for range conns {
			<-done
		}
	}
	return uidAnswer{Clients: ids}
}

// onUID runs a uid operation here and on every other node, and returns
// the ids of the connections it concerned, sorted.
func (s *Server) onUID(a opArgs) ([]string, error) {
	ids := s.uidOpHere(&a).Clients
	answers, err := s.ask(queryUID, &a)
	for _, b := range answers {
		var ans uidAnswer
		if json.Unmarshal(b, &ans) == nil {
			ids = append(ids, ans.Clients...)
		}
	}
	slices.Sort(ids)
	if err != nil {
		return ids, errCluster("uid "+a.UID, err)
	}
	return ids, nil
}

// Listings. Client ids are unique in the cluster, so the listings keyed
// by client id ask each node for its page and merge them; uids and rooms
// may be on several nodes, so those ask for every node's whole list.
const (
	listClients      = "clients"
	listClientIDs    = "client_ids"
	listSessions     = "sessions"
	listUIDs         = "uids"
	listRooms        = "rooms"
	listRoomClients  = "room_clients"
	listRoomUIDs     = "room_uids"
	listRoomSessions = "room_sessions"
	listRoomMembers  = "room_members"
)

// listHere is this node's part of a listing.
func (s *Server) listHere(a *opArgs) any {
	opts := ListOptions{After: a.After, Limit: a.Limit}
	switch a.What {
	case listClients:
		f := ClientFilter{}
		if a.Filter != nil {
			f = *a.Filter
		}
		return s.clientsHere(f, opts)
	case listClientIDs:
		return s.clientIDsHere(opts)
	case listSessions:
		return sessionPage(s.liveConns(), opts)
	case listUIDs:
		return s.uidsHere()
	case listRooms:
		return s.roomsHere()
	case listRoomClients:
		return stringPage(memberIDs(s.roomMembers(a.Room)), opts)
	case listRoomUIDs:
		return s.roomUIDsHere(a.Room)
	case listRoomSessions:
		return sessionPage(s.roomMembers(a.Room), opts)
	case listRoomMembers:
		var ans roomMembersAnswer
		if r := s.hub.room(a.Room, false); r != nil {
			ans.Members, ans.Total = r.memberEntries(a.After, a.Limit, max(a.Bytes, 1))
		}
		return ans
	}
	return nil
}

// mergePages merges this node's page of a listing keyed by client id
// with the other nodes' (asked with the same options).
func mergePages[T any](s *Server, what string, a opArgs, here Page[T], key func(T) string) (Page[T], error) {
	if s.querier == nil {
		return here, nil
	}
	a.What = what
	answers, err := s.ask(queryList, &a)
	if err != nil {
		return here, errCluster("list "+what, err)
	}
	items, total, more := here.Items, here.Total, here.Next != ""
	for _, b := range answers {
		var p Page[T]
		if err := json.Unmarshal(b, &p); err != nil {
			return here, errCluster("list "+what, err)
		}
		items = append(items, p.Items...)
		total += p.Total
		more = more || p.Next != ""
	}
	page, _, next := pageOf(items, key, ListOptions{Limit: a.Limit})
	if next == "" && more && len(page) > 0 {
		next = key(page[len(page)-1])
	}
	return Page[T]{Items: page, Total: total, Next: next}, nil
}

// mergeKeys merges this node's whole list of keys with the other nodes'
// and cuts out the page.
func (s *Server) mergeKeys(what string, a opArgs, here []string, opts ListOptions) (Page[string], error) {
	if s.querier != nil {
		a.What = what
		answers, err := s.ask(queryList, &a)
		if err != nil {
			return Page[string]{}, errCluster("list "+what, err)
		}
		for _, b := range answers {
			var keys []string
			if err := json.Unmarshal(b, &keys); err != nil {
				return Page[string]{}, errCluster("list "+what, err)
			}
			here = append(here, keys...)
		}
	}
	slices.Sort(here)
	return stringPage(slices.Compact(here), opts), nil
}

func memberIDs(conns []*conn) []string {
	ids := make([]string, len(conns))
	for i, c := range conns {
		ids[i] = c.id
	}
	return ids
}

// roomAnswer is a node's members of a room.
type roomAnswer struct {
	Clients int      `json:"clients"`
	UIDs    []string `json:"uids"`
}

func (s *Server) roomHere(room string) roomAnswer {
	members := s.roomMembers(room)
	return roomAnswer{Clients: len(members), UIDs: distinctUIDs(members)}
}

// broadcastHere queues a direct event with data for every connection
// here but those excluded, and returns how many.
func (s *Server) broadcastHere(data json.RawMessage, exclude []string) int {
	ex := excludeSet(exclude)
	b := serverDirect(data)
	n := 0
	for _, c := range s.hub.snapshot() {
		if !c.welcomed.Load() {
			continue
		}
		if _, skip := ex[c.id]; skip {
			continue
		}
		c.enqueue(b)
		n++
	}
	s.metrics.directs.Add(uint64(n))
	return n
}

// ungroupHere takes every member here out of room.
func (s *Server) ungroupHere(room string) int {
	r := s.hub.room(room, false)
	if r == nil {
		return 0
	}
	n := r.dissolve(s)
	s.hub.dropIfUnused(r)
	return n
}

// sumHere runs a counting query on every other node and adds the counts
// to here's.
func (s *Server) sumHere(kind, what string, a opArgs, here int) (int, error) {
	answers, err := s.ask(kind, &a)
	for _, b := range answers {
		var n int
		if json.Unmarshal(b, &n) == nil {
			here += n
		}
	}
	if err != nil {
		return here, errCluster(what, err)
	}
	return here, nil
}

// addNodeStats adds the other nodes' stats to this node's: Nodes lists
// every node, this one first, and the totals sum their counters. History
// and the store are shared, so they are this node's view of them; Rooms
// is the most any node counts, UIDs the sum (a uid on two nodes counts
// twice).
func (s *Server) addNodeStats(st *Stats, top int) {
	if s.querier == nil {
		return
	}
	answers, err := s.ask(queryStats, &opArgs{Top: top})
	if err != nil {
		s.hub.logLim.note(s.log, "cluster-stats", "cluster: some nodes did not answer for the stats; they are left out", "err", err)
	}
	for _, b := range answers {
		var n NodeStats
		if json.Unmarshal(b, &n) == nil {
			st.Nodes = append(st.Nodes, n)
		}
	}
	if len(st.Nodes) < 2 {
		return
	}
	slices.SortFunc(st.Nodes[1:], func(a, b NodeStats) int { return strings.Compare(a.Node, b.Node) })
	t := &st.NodeStats
	t.ConnectionsByTransport = maps.Clone(t.ConnectionsByTransport)
	t.Errors = maps.Clone(t.Errors)
	rooms := map[string]RoomStats{}
	for _, r := range t.TopRooms {
		rooms[r.Room] = r
	}
	for _, n := range st.Nodes[1:] {
		t.Connections += n.Connections
		for k, v := range n.ConnectionsByTransport {
			t.ConnectionsByTransport[k] += v
		}
		t.Rooms = max(t.Rooms, n.Rooms)
		t.UIDs += n.UIDs
		t.Accepted += n.Accepted
		t.Rejected += n.Rejected
		t.MessagesIn += n.MessagesIn
		t.Published += n.Published
		t.Directs += n.Directs
		t.Deliveries += n.Deliveries
		t.MessagesOut += n.MessagesOut
		t.FramesOut += n.FramesOut
		t.BytesOut += n.BytesOut
		t.SlowConsumers += n.SlowConsumers
		t.HeartbeatTimeouts += n.HeartbeatTimeouts
		t.Dropped += n.Dropped
		for k, v := range n.Errors {
			t.Errors[k] += v
		}
		t.RoomsReclaimed += n.RoomsReclaimed
		t.RoomsRefused += n.RoomsRefused
		t.MemoryHigh = t.MemoryHigh || n.MemoryHigh
		t.MemoryShed += n.MemoryShed
		t.MemoryRefused += n.MemoryRefused
		t.Goroutines += n.Goroutines
		t.RSSBytes += n.RSSBytes
		t.CPUSeconds += n.CPUSeconds
		for _, r := range n.TopRooms {
			// Every node counts the room's messages; members add up.
			cur, ok := rooms[r.Room]
			if !ok {
				rooms[r.Room] = r
				continue
			}
			cur.Members += r.Members
			cur.Published = max(cur.Published, r.Published)
			cur.MsgRate = max(cur.MsgRate, r.MsgRate)
			rooms[r.Room] = cur
		}
	}
	t.Commands, t.Frames, t.Objects, t.Timeouts = t.MessagesIn, t.FramesOut, t.MessagesOut, t.HeartbeatTimeouts
	t.Node = "cluster"
	t.TopRooms = slices.SortedFunc(maps.Values(rooms), busier)
	if len(t.TopRooms) > top {
		t.TopRooms = t.TopRooms[:top]
	}
}

var _ broker.Handler = (*hub)(nil)
