package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server/store"
)

// Operations on a connection from the server side (connect hook, HTTP API)
// rather than from the client's own commands.

// joinFor puts c into room as the connect hook asks: no reply, no
// replay, no event to c itself. Other members see a join event as usual.
func (s *Server) joinFor(c *conn, room string) *protocol.Error {
	if e := protocol.ValidRoom(room); e != nil {
		return e
	}
	return c.enterRoom(&protocol.Command{Op: protocol.OpJoin, Room: room}, joinQuiet, false)
}

// setSession replaces c's session object.
func (c *conn) setSession(v json.RawMessage) {
	c.stateMu.Lock()
	c.session = v
	c.stateMu.Unlock()
}

// The server API: GatewayWorker's Gateway:: calls as methods on *Server,
// for the HTTP API (/api/v1, api.go) and for Go programs that embed the
// server. They are safe for concurrent use. They only see connections that
// were accepted (welcomed): one still in its connect hook is not online yet.
//
// Failures are *OpError values that unwrap to ErrNotFound, ErrInvalid,
// ErrTooLarge, ErrConflict or ErrUnavailable, so callers can test them
// with errors.Is.

// ServerClientID is the from.client of messages sent through the server
// API, so clients can tell them from other clients' messages. Client ids
// starting with '$' are reserved: a connection's id is lower-case base32.
const ServerClientID = "$server"

// Kinds of server API failure; every *OpError unwraps to one of them.
var (
	// ErrNotFound: no connected client has the given id, or the client is
	// not in the given room.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: an argument breaks a rule (room or uid name, JSON data,
	// session not an object, limit out of range).
	ErrInvalid = errors.New("invalid argument")
	// ErrTooLarge: data or a session is larger than the server's message
	// size limit (Config.MaxMessageSize).
	ErrTooLarge = errors.New("too large")
	// ErrConflict: the operation conflicts with a limit of the client, such
	// as its maximum number of rooms.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the server's store (or broker) failed; the call
	// may be retried.
	ErrUnavailable = errors.New("unavailable")
)

// OpError is the error a server API call returns: a wire error code (one
// of the protocol.Code* values: not_found, not_joined, bad_request,
// bad_room, too_large, too_many_rooms) with a message for people, and one
// of the Err* kinds it unwraps to.
type OpError struct {
	Code    string
	Message string
	kind    error
}

// Error returns the message.
func (e *OpError) Error() string { return e.Message }

// Unwrap returns the kind of failure: ErrNotFound, ErrInvalid, ErrTooLarge
// or ErrConflict.
func (e *OpError) Unwrap() error { return e.kind }

func opErrorf(kind error, code, format string, args ...any) *OpError {
	return &OpError{Code: code, Message: fmt.Sprintf(format, args...), kind: kind}
}

// fromWire turns a protocol error of a shared code path into an OpError.
func fromWire(e *protocol.Error) *OpError {
	kind := ErrInvalid
	switch e.Code {
	case protocol.CodeNotFound, protocol.CodeNotJoined:
		kind = ErrNotFound
	case protocol.CodeTooLarge:
		kind = ErrTooLarge
	case protocol.CodeTooManyRooms, protocol.CodeServerLimit:
		kind = ErrConflict
	}
	return &OpError{Code: e.Code, Message: e.Message, kind: kind}
}

// kickDrainWait bounds how long a kick waits for what is already queued
// for the client (say, a message sent just before the kick) to be written.
const kickDrainWait = time.Second

// serverFrom is the encoded from of direct messages the server API sends.
var serverFrom = []byte(`{"client":"` + ServerClientID + `"}`)

// live returns the accepted, open connection with id client.
func (s *Server) live(client string) (*conn, error) {
	if c := s.hub.client(client); c != nil && c.welcomed.Load() && !c.isClosed() {
		return c, nil
	}
	return nil, opErrorf(ErrNotFound, protocol.CodeNotFound, "no connected client %.64q", client)
}

// liveByUID returns the accepted connections bound to uid.
func (s *Server) liveByUID(uid string) []*conn {
	conns := s.hub.byUID(uid)
	out := conns[:0]
	for _, c := range conns {
		if c.welcomed.Load() {
			out = append(out, c)
		}
	}
	return out
}

// checkAPIData validates data as one JSON value within the message size limit
// and returns it compact: objects on the wire are separated by newlines,
// so relayed data must not hold any.
func (s *Server) checkAPIData(data json.RawMessage) (json.RawMessage, error) {
	if len(data) == 0 {
		return nil, opErrorf(ErrInvalid, protocol.CodeBadRequest, "data is required: any JSON value, such as {\"text\":\"hi\"}")
	}
	if !json.Valid(data) {
		return nil, opErrorf(ErrInvalid, protocol.CodeBadRequest, "data is not valid JSON")
	}
	if e := protocol.CheckValue("data", data); e != nil {
		return nil, fromWire(e)
	}
	data = protocol.Compact(data)
	if len(data) > s.cfg.MaxMessageSize {
		return nil, opErrorf(ErrTooLarge, protocol.CodeTooLarge, "data is %d bytes, more than the server's message size limit of %d bytes (--max-message-size)", len(data), s.cfg.MaxMessageSize)
	}
	return data, nil
}

// checkAPIObject validates v as a JSON object within the message size limit
// and returns it compact.
func (s *Server) checkAPIObject(what string, v json.RawMessage) (json.RawMessage, error) {
	t := bytes.TrimLeft(v, " \t\r\n")
	if len(t) == 0 || t[0] != '{' || !json.Valid(v) {
		return nil, opErrorf(ErrInvalid, protocol.CodeBadRequest, "%s must be a JSON object, such as {\"role\":\"admin\"}", what)
	}
	if e := protocol.CheckValue(what, v); e != nil {
		return nil, fromWire(e)
	}
	v = protocol.Compact(v)
	if len(v) > s.cfg.MaxMessageSize {
		return nil, opErrorf(ErrTooLarge, protocol.CodeTooLarge, "%s is %d bytes, more than the server's message size limit of %d bytes (--max-message-size)", what, len(v), s.cfg.MaxMessageSize)
	}
	return v, nil
}

func checkAPIUID(uid string) error {
	if e := protocol.ValidUID(uid); e != nil {
		return fromWire(e)
	}
	return nil
}

func checkAPIRoom(room string) error {
	if e := protocol.ValidRoom(room); e != nil {
		return fromWire(e)
	}
	return nil
}

// excludeSet turns a list of client ids into a set; nil when empty, which
// keeps fan-out free of lookups.
func excludeSet(ids []string) map[string]struct{} {
	if len(ids) == 0 {
		return nil
	}
	set := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	return set
}

func serverDirect(data []byte) []byte { return directEvent(serverFrom, data) }

// Broadcast sends data as a direct event from ServerClientID to every
// connection but those whose ids are in exclude (GatewayWorker's
// sendToAll). It returns how many connections it was queued for.
func (s *Server) Broadcast(data json.RawMessage, exclude []string) (int, error) {
	data, err := s.checkAPIData(data)
	if err != nil {
		return 0, err
	}
	n := s.broadcastHere(data, exclude)
	return s.sumHere(queryBroadcast, "broadcast", opArgs{Value: data, Exclude: exclude}, n)
}

// SendToClient sends data to one connection as a direct event from
// ServerClientID (sendToClient).
func (s *Server) SendToClient(client string, data json.RawMessage) error {
	data, err := s.checkAPIData(data)
	if err != nil {
		return err
	}
	ok, err := s.sendToClient(client, serverFrom, data)
	if err != nil {
		return fmt.Errorf("send to client %s: %w", client, err)
	}
	if !ok {
		return opErrorf(ErrNotFound, protocol.CodeNotFound, "no connected client %.64q", client)
	}
	return nil
}

// SendResult is what a send to a uid did.
type SendResult struct {
	// Delivered counts the connections of the uid it was queued for.
	Delivered int `json:"delivered"`
	// Stored is set when the uid had no live connection and the message
	// was kept in its inbox (durable), to be delivered when it next
	// connects; Inbox is its id there.
	Stored bool   `json:"stored"`
	Inbox  uint64 `json:"inbox,omitempty"`
}

// SendToUID sends data to every connection of uid as a direct event from
// ServerClientID (sendToUid). When the user is offline the message is
// kept in its inbox, durable when SendToUID returns, and delivered in
// order when the user next connects.
func (s *Server) SendToUID(uid string, data json.RawMessage) (SendResult, error) {
	if err := checkAPIUID(uid); err != nil {
		return SendResult{}, err
	}
	data, err := s.checkAPIData(data)
	if err != nil {
		return SendResult{}, err
	}
	res, err := s.sendToUID(uid, serverFrom, data)
	if err != nil {
		return SendResult{}, opErrorf(ErrUnavailable, protocol.CodeOffline, "user %q has no live connection and the message could not be kept for them: %v", uid, err)
	}
	return SendResult{Delivered: res.delivered, Stored: res.inbox > 0, Inbox: res.inbox}, nil
}

// PublishOptions are the optional parts of a server-side publish.
type PublishOptions struct {
	// Name is put in the message's from.name, beside from.client
	// ServerClientID (say, "system" or the name of a bot).
	Name string
	// Exclude lists client ids that are not sent the message. It is
	// stored in history all the same.
	Exclude []string
}

// Publish publishes data in room exactly as a member's pub would, but from
// ServerClientID (sendToGroup): it assigns the next seq, stores the message
// in history and sends a msg event to every member not excluded. The room
// need not have members. It returns the message's seq and the room's epoch.
func (s *Server) Publish(room string, data json.RawMessage, opts PublishOptions) (seq uint64, epoch string, err error) {
	if err := checkAPIRoom(room); err != nil {
		return 0, "", err
	}
	if e := protocol.ValidName(opts.Name); e != nil {
		return 0, "", fromWire(e)
	}
	data, err = s.checkAPIData(data)
	if err != nil {
		return 0, "", err
	}
	from, err := json.Marshal(protocol.From{Client: ServerClientID, Name: opts.Name})
	if err != nil {
		return 0, "", fmt.Errorf("encode from: %w", err)
	}
	if s.clustered() {
		// The broker delivers it to every node's members; no room here.
		seq, epoch, err := s.publishSequenced(room, "", opts.Exclude, from, data)
		if err != nil {
			return 0, "", opErrorf(ErrUnavailable, protocol.CodeStoreUnavailable, "the message was not sent: the cluster's store refused it: %v", err)
		}
		return seq, epoch, nil
	}
	for {
		// A room with no members may be dropped between lookup and
		// publish; then look again.
		r := s.hub.room(room, true)
		if r == nil {
			return 0, "", fromWire(s.hub.errRoomLimit())
		}
		seq, epoch, commit, ok, err := r.publish(s, pendingPub{}, nil, false, opts.Exclude, from, data)
		if err != nil {
			return 0, "", opErrorf(ErrUnavailable, protocol.CodeStoreUnavailable, "the message was not sent: the server's store refused it: %v", err)
		}
		if !ok {
			continue
		}
		err = commit.Wait()
		// Delivered by the time Publish returns, whoever's flush runs.
		r.flush(s)
		s.hub.dropIfUnused(r)
		if err != nil {
			return seq, epoch, opErrorf(ErrUnavailable, protocol.CodeNotStored, "message %d was delivered to the room's members but could not be stored (the server's store is failing: disk full?): %v", seq, err)
		}
		return seq, epoch, nil
	}
}

func checkKickReason(reason string) error {
	if len(reason) > maxCloseReason || !utf8.ValidString(reason) {
		return opErrorf(ErrInvalid, protocol.CodeBadRequest, "reason must be UTF-8 text of at most %d bytes (a WebSocket close frame's limit)", maxCloseReason)
	}
	return nil
}

// Kick closes a connection with close code 4010 (protocol.CloseKicked) and
// reason (empty: "kicked") (closeClient). Messages already queued for the
// client are written first, waiting up to a second; when Kick returns the
// client is offline.
func (s *Server) Kick(client, reason string) error {
	if err := checkKickReason(reason); err != nil {
		return err
	}
	_, err := onClient[any](s, opArgs{Op: "kick", Client: client, Reason: reason})
	return err
}

// KickUID kicks every connection of uid, as Kick does, and returns how
// many there were.
func (s *Server) KickUID(uid, reason string) (int, error) {
	if err := checkAPIUID(uid); err != nil {
		return 0, err
	}
	if err := checkKickReason(reason); err != nil {
		return 0, err
	}
	ids, err := s.onUID(opArgs{Op: "kick", UID: uid, Reason: reason})
	return len(ids), err
}

// kick lets the writer flush what is queued (bounded by kickDrainWait),
// then closes with 4010. Unlike close it takes the connection out of the
// hub before returning but leaves the close handshake to a goroutine: a
// peer that does not read could hold it for the write timeout.
func (c *conn) kick(reason string) {
	c.waitDrained(kickDrainWait)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.markClosedLocked()
	c.mu.Unlock()
	if reason == "" {
		reason = protocol.CloseReason(protocol.CloseKicked)
	}
	c.hookClose(protocol.CloseKicked, reason)
	c.srv.hub.remove(c)
	go c.t.Close(protocol.CloseKicked, reason)
}

// IsOnline reports whether a connection with id client is connected
// (isOnline).
func (s *Server) IsOnline(client string) bool {
	_, err := onClient[string](s, opArgs{Op: "uid", Client: client})
	return err == nil
}

// IsUIDOnline reports whether uid has at least one connection
// (isUidOnline).
func (s *Server) IsUIDOnline(uid string) bool { return len(s.ClientIDsByUID(uid)) > 0 }

// ClientIDsByUID returns the ids of uid's connections, sorted
// (getClientIdByUid). It is empty when the user is offline.
func (s *Server) ClientIDsByUID(uid string) []string {
	ids, err := s.onUID(opArgs{Op: "clients", UID: uid})
	if err != nil {
		s.hub.logLim.note(s.log, "cluster-query", "cluster: some nodes did not answer; a uid's clients are listed without theirs", "err", err)
	}
	return ids
}

// UIDByClientID returns the uid bound to a connection, "" when none
// (getUidByClientId).
func (s *Server) UIDByClientID(client string) (string, error) {
	return onClient[string](s, opArgs{Op: "uid", Client: client})
}

// ClientInfo describes one connection.
type ClientInfo struct {
	Client string `json:"client"`
	// UID and Name are "" when unset.
	UID  string `json:"uid"`
	Name string `json:"name"`
	// Meta is what the client sent as meta in hello, if anything.
	Meta json.RawMessage `json:"meta,omitempty"`
	// Session is the session object, {} when there is none.
	Session json.RawMessage `json:"session"`
	// Rooms are the rooms the connection is in, sorted.
	Rooms []string `json:"rooms"`
	// Transport is "ws" or another transport's kind; RemoteAddr the
	// peer's address.
	Transport  string `json:"transport"`
	RemoteAddr string `json:"remote_addr"`
	ClientCounters
}

// Client describes a connected client.
func (s *Server) Client(client string) (ClientInfo, error) {
	return onClient[ClientInfo](s, opArgs{Op: "info", Client: client})
}

// info describes c.
func (c *conn) info() ClientInfo {
	info := ClientInfo{Client: c.id, Transport: c.t.Kind(), RemoteAddr: c.t.RemoteAddr()}
	c.stateMu.Lock()
	info.UID, info.Name, info.Meta, info.Session = c.uid, c.name, c.meta, c.session
	info.Rooms = make([]string, 0, len(c.rooms))
	for name := range c.rooms {
		info.Rooms = append(info.Rooms, name)
	}
	c.stateMu.Unlock()
	if len(info.Session) == 0 {
		info.Session = emptySession()
	}
	slices.Sort(info.Rooms)
	info.ClientCounters = c.counters()
	return info
}

// BindUID binds a connection to uid, replacing any uid it had (bindUid).
// Messages to uid reach it from then on; its later messages and presence
// events carry the uid.
func (s *Server) BindUID(client, uid string) error {
	if err := checkAPIUID(uid); err != nil {
		return err
	}
	_, err := onClient[any](s, opArgs{Op: "bind_uid", Client: client, UID: uid})
	return err
}

// UnbindUID removes a connection's uid, if it has one (unbindUid).
func (s *Server) UnbindUID(client string) error {
	_, err := onClient[any](s, opArgs{Op: "bind_uid", Client: client})
	return err
}

// JoinRoom puts a connection in the room roomName (joinGroup). The client
// is sent a join event about itself, since it sent no join; the other
// members get the usual join event. Joining a room it is in already does
// nothing.
func (s *Server) JoinRoom(client, roomName string) error {
	if err := checkAPIRoom(roomName); err != nil {
		return err
	}
	_, err := onClient[any](s, opArgs{Op: "join", Client: client, Room: roomName})
	return err
}

// LeaveRoom takes a connection out of room (leaveGroup). The client is
// sent a leave event about itself, the other members the usual leave
// event. It fails with ErrNotFound (code not_joined) when the client is
// not in the room.
func (s *Server) LeaveRoom(client, room string) error {
	if err := checkAPIRoom(room); err != nil {
		return err
	}
	_, err := onClient[any](s, opArgs{Op: "leave", Client: client, Room: room})
	return err
}

// Ungroup takes every member out of room and returns how many there were
// (ungroup). Each member is sent a leave event about itself. The room's
// history stays.
func (s *Server) Ungroup(room string) (int, error) {
	if err := checkAPIRoom(room); err != nil {
		return 0, err
	}
	return s.sumHere(queryUngroup, "ungroup", opArgs{Room: room}, s.ungroupHere(room))
}

// RoomInfo sums up a room. A room exists while it has members or the
// store knows it; for one that does not, every number is 0 and Epoch is
// empty.
type RoomInfo struct {
	Room string `json:"room"`
	// Clients and UIDs count the members and their distinct uids
	// (getClientCountByGroup, getUidCountByGroup).
	Clients int `json:"clients"`
	UIDs    int `json:"uids"`
	// Seq is the last assigned seq, Epoch the history generation it
	// belongs to, Stored the messages history holds.
	Seq    uint64 `json:"seq"`
	Epoch  string `json:"epoch"`
	Stored int    `json:"stored"`
}

// Room sums up a room.
func (s *Server) Room(room string) (RoomInfo, error) {
	if err := checkAPIRoom(room); err != nil {
		return RoomInfo{}, err
	}
	info := RoomInfo{Room: room}
	h, err := s.store.Head(room)
	if err != nil {
		return info, opErrorf(ErrUnavailable, protocol.CodeStoreUnavailable, "cannot read room %q from the store: %v", room, err)
	}
	info.Seq, info.Epoch, info.Stored = h.Seq, h.Epoch, h.Count
	here := s.roomHere(room)
	info.Clients = here.Clients
	uids := here.UIDs
	answers, err := s.ask(queryRoom, &opArgs{Room: room})
	if err != nil {
		return info, errCluster("room "+room, err)
	}
	for _, b := range answers {
		var ans roomAnswer
		if json.Unmarshal(b, &ans) == nil {
			info.Clients += ans.Clients
			uids = append(uids, ans.UIDs...)
		}
	}
	slices.Sort(uids)
	info.UIDs = len(slices.Compact(uids))
	return info, nil
}

// ListOptions selects one page of a listing. Listings are sorted by key
// (client id, uid or room name), so paging with After is stable while
// items come and go.
type ListOptions struct {
	// After starts the page after this key: the Next of the previous page.
	After string
	// Limit caps the items of the page; 0 means no limit.
	Limit int
}

// Page is one page of a listing.
type Page[T any] struct {
	Items []T
	// Total counts the items of the whole listing.
	Total int
	// Next is the After of the next page; "" when this page is the last.
	Next string
}

// pageOf sorts items by key and cuts out the page opts asks for.
func pageOf[T any](items []T, key func(T) string, opts ListOptions) (page []T, total int, next string) {
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	start := 0
	if opts.After != "" {
		start, _ = slices.BinarySearchFunc(items, opts.After, func(e T, t string) int { return strings.Compare(key(e), t) })
		for start < len(items) && key(items[start]) <= opts.After {
			start++
		}
	}
	end := len(items)
	if opts.Limit > 0 && end-start > opts.Limit {
		end = start + opts.Limit
		next = key(items[end-1])
	}
	return items[start:end], len(items), next
}

func sameKey(s string) string { return s }

func stringPage(keys []string, opts ListOptions) Page[string] {
	items, total, next := pageOf(keys, sameKey, opts)
	return Page[string]{Items: items, Total: total, Next: next}
}

// ClientSession is a connection's identity and session object, as the
// session listings return them. Session is {} when there is none.
type ClientSession struct {
	Client  string          `json:"client"`
	UID     string          `json:"uid"`
	Name    string          `json:"name"`
	Session json.RawMessage `json:"session"`
}

// emptySession is the session of a client that has none.
func emptySession() json.RawMessage { return json.RawMessage{'{', '}'} }

func (c *conn) clientSession() ClientSession {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	cs := ClientSession{Client: c.id, UID: c.uid, Name: c.name, Session: c.session}
	if len(cs.Session) == 0 {
		cs.Session = emptySession()
	}
	return cs
}

func connKey(c *conn) string { return c.id }

func sessionPage(conns []*conn, opts ListOptions) Page[ClientSession] {
	items, total, next := pageOf(conns, connKey, opts)
	out := make([]ClientSession, len(items))
	for i, c := range items {
		out[i] = c.clientSession()
	}
	return Page[ClientSession]{Items: out, Total: total, Next: next}
}

// liveConns returns the accepted connections.
func (s *Server) liveConns() []*conn {
	conns := s.hub.snapshot()
	out := conns[:0]
	for _, c := range conns {
		if c.welcomed.Load() {
			out = append(out, c)
		}
	}
	return out
}

// roomMembers returns the accepted members of room, nil when there is no
// such room.
func (s *Server) roomMembers(room string) []*conn {
	r := s.hub.room(room, false)
	if r == nil {
		return nil
	}
	r.mu.Lock()
	snap := r.snapshotLocked()
	r.mu.Unlock()
	out := make([]*conn, 0, len(snap))
	for _, m := range snap {
		if m.welcomed.Load() {
			out = append(out, m)
		}
	}
	return out
}

// ClientCount returns how many connections are connected
// (getAllClientCount).
func (s *Server) ClientCount() int {
	p, err := s.ClientIDs(ListOptions{Limit: 1})
	if err != nil {
		s.hub.logLim.note(s.log, "cluster-query", "cluster: some nodes did not answer; the client count leaves theirs out", "err", err)
	}
	return p.Total
}

// ClientIDs lists the ids of every connection (getAllClientIdList).
func (s *Server) ClientIDs(opts ListOptions) (Page[string], error) {
	return mergePages(s, listClientIDs, opArgs{After: opts.After, Limit: opts.Limit}, s.clientIDsHere(opts), sameKey)
}

func (s *Server) clientIDsHere(opts ListOptions) Page[string] {
	return stringPage(memberIDs(s.liveConns()), opts)
}

// UIDs lists the uids with at least one connection (getAllUidList).
func (s *Server) UIDs(opts ListOptions) (Page[string], error) {
	return s.mergeKeys(listUIDs, opArgs{}, s.uidsHere(), opts)
}

func (s *Server) uidsHere() []string {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	uids := make([]string, 0, len(s.hub.uids))
	for uid, set := range s.hub.uids {
		for c := range set {
			if c.welcomed.Load() {
				uids = append(uids, uid)
				break
			}
		}
	}
	return uids
}

// Rooms lists the rooms that exist: those with members or stored messages
// (getAllGroupIdList).
func (s *Server) Rooms(opts ListOptions) (Page[string], error) {
	names := s.roomsHere()
	stored, err := s.store.Rooms("", 0)
	if err != nil {
		s.hub.logLim.note(s.log, "store-read", "store: cannot list rooms", "err", err)
	}
	return s.mergeKeys(listRooms, opArgs{}, append(names, stored...), opts)
}

// roomsHere lists the rooms with members or activity here.
func (s *Server) roomsHere() []string {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	return slices.Collect(maps.Keys(s.hub.rooms))
}

// Sessions lists every connection with its session (getAllClientSessions).
func (s *Server) Sessions(opts ListOptions) (Page[ClientSession], error) {
	return mergePages(s, listSessions, opArgs{After: opts.After, Limit: opts.Limit}, sessionPage(s.liveConns(), opts), sessionKey)
}

// RoomClientIDs lists the ids of room's members (getClientIdListByGroup).
// A room that does not exist has none.
func (s *Server) RoomClientIDs(room string, opts ListOptions) (Page[string], error) {
	if err := checkAPIRoom(room); err != nil {
		return Page[string]{}, err
	}
	here := stringPage(memberIDs(s.roomMembers(room)), opts)
	return mergePages(s, listRoomClients, opArgs{Room: room, After: opts.After, Limit: opts.Limit}, here, sameKey)
}

// RoomUIDs lists the distinct uids of room's members (getUidListByGroup).
func (s *Server) RoomUIDs(room string, opts ListOptions) (Page[string], error) {
	if err := checkAPIRoom(room); err != nil {
		return Page[string]{}, err
	}
	return s.mergeKeys(listRoomUIDs, opArgs{Room: room}, s.roomUIDsHere(room), opts)
}

// roomUIDsHere lists the distinct uids of room's members here.
func (s *Server) roomUIDsHere(room string) []string { return distinctUIDs(s.roomMembers(room)) }

// distinctUIDs lists the distinct uids of conns, in their order.
func distinctUIDs(conns []*conn) []string {
	seen := make(map[string]struct{})
	uids := []string{}
	for _, m := range conns {
		if _, uid, _ := m.identity(); uid != "" {
			if _, dup := seen[uid]; !dup {
				seen[uid] = struct{}{}
				uids = append(uids, uid)
			}
		}
	}
	return uids
}

// RoomSessions lists room's members with their sessions
// (getClientSessionsByGroup).
func (s *Server) RoomSessions(room string, opts ListOptions) (Page[ClientSession], error) {
	if err := checkAPIRoom(room); err != nil {
		return Page[ClientSession]{}, err
	}
	here := sessionPage(s.roomMembers(room), opts)
	return mergePages(s, listRoomSessions, opArgs{Room: room, After: opts.After, Limit: opts.Limit}, here, sessionKey)
}

func sessionKey(cs ClientSession) string { return cs.Client }

// Session returns a connection's session object, {} when it has none
// (getSession).
func (s *Server) Session(client string) (json.RawMessage, error) {
	return onClient[json.RawMessage](s, opArgs{Op: "session", Client: client})
}

// SetSession replaces a connection's session with a JSON object
// (setSession). The session goes with the client's events to the
// application (Who.Session); it is at most Config.MaxMessageSize bytes.
// The server keeps session (compacted): do not modify it afterwards.
func (s *Server) SetSession(client string, session json.RawMessage) error {
	session, err := s.checkAPIObject("session", session)
	if err != nil {
		return err
	}
	_, err = onClient[any](s, opArgs{Op: "set_session", Client: client, Value: session})
	return err
}

// UpdateSession merges the top-level keys of patch, a JSON object, into a
// connection's session (updateSession): each key replaces the session's,
// and a key whose value is null is removed. It returns the new session.
func (s *Server) UpdateSession(client string, patch json.RawMessage) (json.RawMessage, error) {
	patch, err := s.checkAPIObject("session patch", patch)
	if err != nil {
		return nil, err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(patch, &keys); err != nil {
		return nil, opErrorf(ErrInvalid, protocol.CodeBadRequest, "session patch: %v", err)
	}
	return onClient[json.RawMessage](s, opArgs{Op: "update_session", Client: client, Value: patch})
}

// updateSession merges patch, a checked JSON object, into c's session.
func (s *Server) updateSession(c *conn, patch json.RawMessage) (json.RawMessage, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(patch, &keys); err != nil {
		return nil, opErrorf(ErrInvalid, protocol.CodeBadRequest, "session patch: %v", err)
	}
	// The read-modify-write holds stateMu so concurrent updates of
	// different keys all land.
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	merged := make(map[string]json.RawMessage, len(keys))
	if len(c.session) > 0 {
		if err := json.Unmarshal(c.session, &merged); err != nil {
			// Only a connect hook can have set a non-object; replace it.
			clear(merged)
		}
	}
	for k, v := range keys {
		if string(v) == "null" {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	out, err := marshalCompact(merged)
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	if len(out) > s.cfg.MaxMessageSize {
		return nil, opErrorf(ErrTooLarge, protocol.CodeTooLarge, "the merged session would be %d bytes, more than the server's message size limit of %d bytes (--max-message-size)", len(out), s.cfg.MaxMessageSize)
	}
	c.session = out
	return out, nil
}

// marshalCompact encodes v compactly without escaping <, > and &, so relayed
// JSON keeps its bytes.
func marshalCompact(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// HistoryQuery selects messages of a room's history, as the history op
// does: Since lists the oldest Limit messages after that seq, Before the
// newest ones before it, neither the newest. Limit 0 means 100; at most
// 1000. A page holds at most replyBudget bytes of messages (half the send
// queue), whatever the limit: past it, the page is cut and says so.
type HistoryQuery struct {
	Since  *uint64
	Before *uint64
	Limit  int
}

// HistoryPage is a room's history, as the history op's reply has it.
type HistoryPage struct {
	Room  string `json:"room"`
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
	// Messages are msg events, oldest first.
	Messages []json.RawMessage `json:"messages"`
	// More is set when further messages exist in the direction asked;
	// NextSeq is then where to continue: the since of the next page
	// forward, or the before of the next page back.
	More    bool   `json:"more"`
	NextSeq uint64 `json:"next_seq,omitempty"`
	// Truncated is set when the page holds fewer messages than the limit
	// asked, though more exist, because a page never holds more bytes
	// than half a connection's send queue.
	Truncated bool `json:"truncated,omitempty"`
}

// History lists stored messages of room. A room that does not exist has
// none (and no epoch).
func (s *Server) History(room string, q HistoryQuery) (HistoryPage, error) {
	if err := checkAPIRoom(room); err != nil {
		return HistoryPage{}, err
	}
	if q.Since != nil && q.Before != nil {
		return HistoryPage{}, opErrorf(ErrInvalid, protocol.CodeBadRequest, "history takes since or before, not both")
	}
	if q.Limit == 0 {
		q.Limit = protocol.DefaultHistoryLimit
	}
	if q.Limit < 0 || q.Limit > protocol.MaxHistoryLimit {
		return HistoryPage{}, opErrorf(ErrInvalid, protocol.CodeBadRequest, "limit must be between 1 and %d", protocol.MaxHistoryLimit)
	}
	p, err := s.readHistory(room, q, s.replyBudget())
	if err != nil {
		return HistoryPage{}, opErrorf(ErrUnavailable, protocol.CodeStoreUnavailable, "cannot read the history of room %q: %v", room, err)
	}
	return p.HistoryPage(), nil
}

// roomPage is a page of a room's history as the store gave it.
type roomPage struct {
	room    string
	forward bool // since: paging toward newer messages
	store.Page
}

// nextSeq is where the next page starts: the since after the last
// message forward, the before of the first one backward; 0 without more.
func (p roomPage) nextSeq() uint64 {
	if !p.More || len(p.Messages) == 0 {
		return 0
	}
	if p.forward {
		return p.Messages[len(p.Messages)-1].Seq
	}
	return p.Messages[0].Seq
}

// events returns the page's messages as encoded msg events.
func (p roomPage) events() [][]byte {
	out := make([][]byte, len(p.Messages))
	for i, m := range p.Messages {
		out[i] = encodeMsg(p.room, p.Epoch, m)
	}
	return out
}

// HistoryPage turns p into the API's form.
func (p roomPage) HistoryPage() HistoryPage {
	hp := HistoryPage{Room: p.room, Epoch: p.Epoch, Seq: p.Seq, More: p.More, Truncated: p.Truncated, NextSeq: p.nextSeq(), Messages: make([]json.RawMessage, len(p.Messages))}
	for i, b := range p.events() {
		hp.Messages[i] = b
	}
	return hp
}

// readHistory reads the page q asks of room's history from the store:
// after Since, before Before, or the newest; a zero Limit means the
// default; at most maxBytes of messages. Both the history op and the API
// use it.
func (s *Server) readHistory(room string, q HistoryQuery, maxBytes int) (roomPage, error) {
	if q.Limit == 0 {
		q.Limit = protocol.DefaultHistoryLimit
	}
	sq := store.Query{After: q.Since, Limit: q.Limit, MaxBytes: maxBytes}
	if q.Before != nil {
		sq.Before = *q.Before
	}
	p, err := s.store.Read(room, sq)
	rp := roomPage{room: room, forward: q.Since != nil, Page: p}
	rp.fit(maxBytes)
	return rp, err
}

// encodedSize is the length of m encoded as a msg event of room (a bound:
// seq and ts at their longest).
func encodedSize(room, epoch string, m store.Message) int {
	return len(`{"type":"msg","room":"","seq":,"epoch":"","ts":,"from":,"data":}`) + 40 + len(room) + len(epoch) + len(m.From) + len(m.Data)
}

// fit cuts the page to maxBytes of encoded events, keeping at least one:
// the store bounds what it reads by store.Message.Size, which a long room
// name can exceed.
func (p *roomPage) fit(maxBytes int) {
	size := 0
	for i := range p.Messages {
		j := i
		if !p.forward {
			j = len(p.Messages) - 1 - i
		}
		if size += encodedSize(p.room, p.Epoch, p.Messages[j]) + 1; size > maxBytes && i > 0 {
			if p.forward {
				p.Messages = p.Messages[:j]
			} else {
				p.Messages = p.Messages[j+1:]
			}
			p.More, p.Truncated = true, true
			return
		}
	}
}
