package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The HTTP API client. Where the WebSocket Client is a participant (it
// joins rooms and publishes), API is an operator's view of a server: the
// counters of /api/v1/stats, the detailed connection list of
// /api/v1/clients, and kicking. `rtsync top` is built on it; docs/api.md
// describes the routes.

// API limits and defaults.
const (
	// DefaultAPITimeout bounds one request when NewAPI is given no
	// *http.Client: long enough for a busy server's stats, short enough
	// that a monitor notices a hung one.
	DefaultAPITimeout = 10 * time.Second
	// apiMaxAnswer bounds what is read of an answer. A full page of 1,000
	// clients in 10 rooms each is under 1 MB; a stats answer with 100
	// rooms per node is tens of KB.
	apiMaxAnswer = 16 << 20
	// apiSnippet is how much of an unexpected answer an error quotes.
	apiSnippet = 80
)

// API is a client of an rtsync server's HTTP API (/api/v1). Make one with
// NewAPI. Its methods are safe to call from any number of goroutines.
type API struct {
	base string // scheme://host[:port][/prefix], no trailing slash
	key  string
	hc   *http.Client
}

// NewAPI returns a client of the API of the server at baseURL, sending
// apiKey (when not empty) as Authorization: Bearer. baseURL may be the
// server's http:// or https:// address, its ws:// or wss:// WebSocket URL
// (the scheme is mapped and a trailing /ws dropped), or a bare host:port;
// a path before /ws is kept as a prefix, for a server behind a proxy. A
// nil httpClient means one with DefaultAPITimeout.
func NewAPI(baseURL, apiKey string, httpClient *http.Client) (*API, error) {
	base, err := normalizeAPIURL(baseURL)
	if err != nil {
		return nil, err
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultAPITimeout}
	}
	return &API{base: base, key: strings.TrimSpace(apiKey), hc: httpClient}, nil
}

// normalizeAPIURL turns the forms people type into the server's base URL.
func normalizeAPIURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("empty server URL; give one like http://127.0.0.1:7000")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("server URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("server URL %q: scheme %q is not http, https, ws or wss", raw, u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("server URL %q has no host; give one like http://127.0.0.1:7000", raw)
	}
	p := strings.TrimRight(u.Path, "/")
	for _, suffix := range []string{"/ws", "/api/v1"} {
		p = strings.TrimSuffix(p, suffix)
	}
	u.Path, u.RawPath, u.RawQuery, u.Fragment, u.User = strings.TrimRight(p, "/"), "", "", "", nil
	return u.String(), nil
}

// URL returns the server's base URL, as requests are made to it (e.g.
// http://127.0.0.1:7000).
func (a *API) URL() string { return a.base }

// APIError is an error answer of the API: an HTTP status with the
// server's error code and message.
type APIError struct {
	// Method and Path name the request, e.g. GET /api/v1/stats.
	Method, Path string
	// Status is the HTTP status code.
	Status int
	// Code is the API's error code (not_found, unauthorized, forbidden…);
	// empty when the answer did not carry one.
	Code string
	// Message is the server's explanation.
	Message string
	// hint says what to do, when there is something to say.
	hint string
}

// Error says which request failed, how, and what to do when there is
// something to do.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, strings.ToLower(http.StatusText(e.Status)))
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.hint != "" {
		b.WriteString("; " + e.hint)
	}
	return b.String()
}

// NotFound reports whether the thing the request named does not exist,
// such as a client that has already gone.
func (e *APIError) NotFound() bool { return e.Status == http.StatusNotFound }

// Unauthorized reports whether the server refused the API key, or wants
// one.
func (e *APIError) Unauthorized() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// ServerStats is the answer of GET /api/v1/stats: the totals over the
// cluster's nodes, and each node's own figures in Nodes (one entry on a
// single server). Counters only grow while a node runs; rates come from
// the difference between two snapshots.
//
// Decoding is lenient, because a monitor must keep going on whatever a
// server of another version answers: unknown fields are ignored, missing
// ones stay zero, and a field of the wrong type is left zero rather than
// failing the whole answer.
type ServerStats struct {
	NodeStats
	// Nodes has one entry per node, with the same fields.
	Nodes []NodeStats `json:"nodes,omitempty"`

	// Raw is the answer as the server sent it, for printing it whole
	// (rtsync top --once --json) with the fields this package does not
	// know.
	Raw json.RawMessage `json:"-"`
}

// NodeStats are the figures of one node, or the totals over a cluster.
type NodeStats struct {
	Node    string `json:"node"`
	Version string `json:"version"`
	// Started is when the node started; Time when the snapshot was taken,
	// by the server's clock. Either is zero if missing or unreadable.
	Started       time.Time `json:"started"`
	Time          time.Time `json:"time"`
	UptimeSeconds float64   `json:"uptime_seconds"`

	Connections            int64            `json:"connections"`
	ConnectionsByTransport map[string]int64 `json:"connections_by_transport,omitempty"`
	Rooms                  int64            `json:"rooms"`
	UIDs                   int64            `json:"uids"`

	// Connections accepted and refused (limits, authentication).
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	// MessagesIn counts commands received from clients (every op).
	MessagesIn int64 `json:"messages_in"`
	// Published counts room messages published, by clients and the API;
	// Directs direct messages.
	Published int64 `json:"published"`
	Directs   int64 `json:"directs"`
	// Deliveries counts room messages queued for members.
	Deliveries int64 `json:"deliveries"`
	// MessagesOut, FramesOut and BytesOut count what was written to
	// clients: objects (events, replies), frames (writes) and bytes.
	MessagesOut int64 `json:"messages_out"`
	FramesOut   int64 `json:"frames_out"`
	BytesOut    int64 `json:"bytes_out"`
	// SlowConsumers and HeartbeatTimeouts count connections closed for
	// not keeping up and for going silent; Dropped is the clients closed
	// because they could not keep up.
	SlowConsumers     int64 `json:"slow_consumers"`
	HeartbeatTimeouts int64 `json:"heartbeat_timeouts"`
	Dropped           int64 `json:"dropped"`
	// Errors counts error replies by code.
	Errors map[string]int64 `json:"errors,omitempty"`

	// HistoryMessages and HistoryBytes are what room history holds.
	HistoryMessages int64 `json:"history_messages"`
	HistoryBytes    int64 `json:"history_bytes"`

	// The process: goroutines, resident memory and CPU time so far.
	Goroutines int64   `json:"goroutines"`
	RSSBytes   int64   `json:"rss_bytes"`
	CPUSeconds float64 `json:"cpu_seconds"`

	// Hooks is the hook counters object, as sent.
	Hooks json.RawMessage `json:"hooks,omitempty"`

	// TopRooms are the busiest rooms, busiest first.
	TopRooms []RoomStats `json:"top_rooms,omitempty"`
	// Cluster is set by a node of a cluster (serve --redis): whether it
	// reaches Redis, and the live nodes it knows.
	Cluster *ClusterStats `json:"cluster,omitempty"`
}

// ClusterStats is a node's view of its cluster. Error is remote text:
// clean it before showing it on a terminal.
type ClusterStats struct {
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
	Nodes   int    `json:"nodes"`
}

// RoomStats are one room's figures in ServerStats.TopRooms.
type RoomStats struct {
	Room      string `json:"room"`
	Members   int64  `json:"members"`
	Published int64  `json:"published"`
	// MsgRate is messages published per second over about the last 10 s.
	MsgRate float64 `json:"msg_rate"`
	// History is how many messages the room holds; Seq its last seq.
	History int64 `json:"history"`
	Seq     int64 `json:"seq"`
}

// UnmarshalJSON decodes leniently; see ServerStats.
func (n *NodeStats) UnmarshalJSON(b []byte) error {
	// plain has NodeStats's fields and not this method; the times are
	// shadowed by raw fields parsed here, since time.Time fails the whole
	// decode on a malformed value.
	type plain NodeStats
	aux := struct {
		*plain
		Started json.RawMessage `json:"started"`
		Time    json.RawMessage `json:"time"`
	}{plain: (*plain)(n)}
	if err := decodeLenient(b, &aux); err != nil {
		return err
	}
	n.Started, n.Time = parseTime(aux.Started), parseTime(aux.Time)
	return nil
}

// UnmarshalJSON decodes leniently; see ServerStats. It is needed because
// the embedded NodeStats's method would otherwise decode the whole object
// and leave Nodes out.
func (s *ServerStats) UnmarshalJSON(b []byte) error {
	if err := s.NodeStats.UnmarshalJSON(b); err != nil {
		return err
	}
	var aux struct {
		Nodes []json.RawMessage `json:"nodes"`
	}
	if err := decodeLenient(b, &aux); err != nil {
		return err
	}
	s.Nodes = nil
	for _, raw := range aux.Nodes {
		var n NodeStats
		if decodeLenient(raw, &n) == nil {
			s.Nodes = append(s.Nodes, n)
		}
	}
	return nil
}

// decodeLenient is json.Unmarshal that forgives a value of the wrong type
// inside the object (the field stays zero, the rest is decoded) but not a
// body that is no JSON, or no object at all.
func decodeLenient(b []byte, v any) error {
	err := json.Unmarshal(b, v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return nil
	}
	return err
}

// parseTime reads a JSON time string; anything else is the zero time.
func parseTime(raw json.RawMessage) time.Time {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Stats fetches GET /api/v1/stats. rooms asks for that many of the
// busiest rooms in TopRooms (the server caps it, at 100 today); 0 means
// the server's default (10).
func (a *API) Stats(ctx context.Context, rooms int) (ServerStats, error) {
	q := url.Values{}
	if rooms > 0 {
		q.Set("rooms", strconv.Itoa(rooms))
	}
	var st ServerStats
	body, err := a.do(ctx, http.MethodGet, "/api/v1/stats", q, nil)
	if err != nil {
		return st, err
	}
	if err := a.decodeObject("/api/v1/stats", body, &st); err != nil {
		return ServerStats{}, err
	}
	st.Raw = bytes.TrimSpace(body)
	return st, nil
}

// ClientsQuery selects and pages GET /api/v1/clients. The zero value asks
// for the first page of every client.
type ClientsQuery struct {
	// Room, UID and Remote filter: clients in this room, bound to this
	// uid, whose remote address starts with this prefix.
	Room   string
	UID    string
	Remote string
	// Limit is the page size; 0 means the server's default (100), and the
	// server refuses more than 1,000.
	Limit int
	// Cursor continues from a previous page's Next.
	Cursor string
}

// ClientsPage is one page of GET /api/v1/clients.
type ClientsPage struct {
	Clients []ClientInfo `json:"clients"`
	// Total counts the clients matching the filters, over all pages.
	Total int64 `json:"total"`
	// Next is the cursor of the next page; empty on the last one.
	Next string `json:"next,omitempty"`
}

// ClientInfo describes one connection.
type ClientInfo struct {
	Client    string   `json:"client"`
	UID       string   `json:"uid,omitempty"`
	Name      string   `json:"name,omitempty"`
	Remote    string   `json:"remote,omitempty"`
	Transport string   `json:"transport,omitempty"`
	Rooms     []string `json:"rooms,omitempty"`
	// ConnectedAt is when the connection was accepted; zero if unknown.
	ConnectedAt time.Time `json:"connected_at"`
	// QueueBytes and QueueMessages are what waits to be written to it.
	QueueBytes    int64 `json:"queue_bytes"`
	QueueMessages int64 `json:"queue_messages"`
	// MessagesIn and MessagesOut count what it sent and was sent.
	MessagesIn  int64 `json:"messages_in"`
	MessagesOut int64 `json:"messages_out"`
}

// UnmarshalJSON decodes leniently, like ServerStats. A bare string is
// taken as a client id: servers before the detailed listing answered
// /clients with ids only.
func (c *ClientInfo) UnmarshalJSON(b []byte) error {
	var id string
	if json.Unmarshal(b, &id) == nil {
		*c = ClientInfo{Client: id}
		return nil
	}
	type plain ClientInfo
	aux := struct {
		*plain
		ConnectedAt json.RawMessage `json:"connected_at"`
	}{plain: (*plain)(c)}
	if err := decodeLenient(b, &aux); err != nil {
		return err
	}
	c.ConnectedAt = parseTime(aux.ConnectedAt)
	return nil
}

// Clients fetches one page of GET /api/v1/clients.
func (a *API) Clients(ctx context.Context, q ClientsQuery) (ClientsPage, error) {
	v := url.Values{}
	for k, s := range map[string]string{"room": q.Room, "uid": q.UID, "remote": q.Remote, "cursor": q.Cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	body, err := a.do(ctx, http.MethodGet, "/api/v1/clients", v, nil)
	if err != nil {
		return ClientsPage{}, err
	}
	var aux struct {
		Clients []json.RawMessage `json:"clients"`
		Total   int64             `json:"total"`
		Next    string            `json:"next_cursor"`
	}
	if err := a.decodeObject("/api/v1/clients", body, &aux); err != nil {
		return ClientsPage{}, err
	}
	p := ClientsPage{Total: aux.Total, Next: aux.Next}
	for _, raw := range aux.Clients {
		var c ClientInfo
		if json.Unmarshal(raw, &c) == nil && c.Client != "" {
			p.Clients = append(p.Clients, c)
		}
	}
	return p, nil
}

// Kick closes a client's connection with close code 4010 (kicked) and
// reason, which may be empty. A client that has already gone is an
// *APIError whose NotFound is true.
func (a *API) Kick(ctx context.Context, clientID, reason string) error {
	if clientID == "" {
		return errors.New("kick: no client id")
	}
	var body io.Reader
	if reason != "" {
		b, err := json.Marshal(map[string]string{"reason": reason})
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	_, err := a.do(ctx, http.MethodPost, "/api/v1/clients/"+url.PathEscape(clientID)+"/kick", nil, body)
	return err
}

// do makes one request and returns the body of a 2xx answer, or an error
// that says what went wrong and what to do.
func (a *API) do(ctx context.Context, method, path string, q url.Values, body io.Reader) ([]byte, error) {
	u := a.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, a.transportError(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, apiMaxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer from %s: %w", method, path, a.base, err)
	}
	if len(b) > apiMaxAnswer {
		return nil, fmt.Errorf("%s %s: the answer from %s is over %d MB; is it an rtsync server?", method, path, a.base, apiMaxAnswer>>20)
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	return nil, a.statusError(method, path, resp.StatusCode, b)
}

// transportError explains a request that got no answer.
func (a *API) transportError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s did not answer in time (is it overloaded, or not an rtsync server?): %w", a.base, context.Cause(ctx))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", a.base, context.Cause(ctx))
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("no rtsync server at %s (is it running?): %w", a.base, syscall.ECONNREFUSED)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%s did not answer in time (is it overloaded, or not an rtsync server?): %w", a.base, err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the method and URL
	}
	return fmt.Errorf("reach %s: %w", a.base, err)
}

// statusError turns a non-2xx answer into an *APIError, or into a plain
// error when the answer is not the API's JSON.
func (a *API) statusError(method, path string, status int, body []byte) error {
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e := &APIError{Method: method, Path: path, Status: status}
	if json.Unmarshal(body, &eb) == nil {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
	}
	switch status {
	case http.StatusUnauthorized:
		if a.key == "" {
			e.hint = "this server wants an API key: pass it with --api-key"
		} else {
			e.hint = "the --api-key given was not accepted"
		}
	case http.StatusForbidden:
		e.hint = "without an API key the server answers this machine only: start it with --api-key KEY and pass the same --api-key here"
	case http.StatusNotFound:
		if e.Code == "" {
			e.hint = fmt.Sprintf("is %s an rtsync server?", a.base)
		}
	}
	if e.Code == "" && e.Message == "" && status != http.StatusUnauthorized && status != http.StatusForbidden {
		e.Message = "answer " + quoteSnippet(body)
	}
	return e
}

// decodeObject decodes a 2xx answer that must be a JSON object.
func (a *API) decodeObject(path string, body []byte, v any) error {
	t := bytes.TrimSpace(body)
	if !json.Valid(t) {
		return fmt.Errorf("GET %s: the answer from %s is not JSON (%s); is it an rtsync server?", path, a.base, quoteSnippet(t))
	}
	if len(t) == 0 || t[0] != '{' {
		return fmt.Errorf("GET %s: the answer from %s is not a JSON object (%s); is it an rtsync server?", path, a.base, quoteSnippet(t))
	}
	if err := decodeLenient(t, v); err != nil {
		return fmt.Errorf("GET %s: decode the answer from %s: %w", path, a.base, err)
	}
	return nil
}

// quoteSnippet quotes the start of an unexpected answer for an error.
func quoteSnippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "empty"
	}
	s := string(b)
	if len(s) > apiSnippet {
		s = s[:apiSnippet] + "…"
	}
	return strconv.Quote(s)
}
