package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rtsync/rtsync/protocol"
)

// The HTTP server API under /api/v1: the *Server methods of ops.go over
// HTTP, JSON in and out, for applications that are not written in Go.
// docs/api.md describes it for users and docs/openapi.yaml route by route;
// a test keeps that file and apiRoutes in step.

// API limits.
const (
	apiPrefix    = "/api/v1/"
	apiBatchPath = apiPrefix + "batch"
	// apiDefaultLimit and apiMaxLimit bound a page of a listing, so a
	// large server does not answer with megabytes.
	apiDefaultLimit = 100
	apiMaxLimit     = 1000
	// apiMaxBatchOps bounds the operations of one batch.
	apiMaxBatchOps = 1000
	// apiBatchBodyFactor: a batch body may be this many times the size of
	// another request's.
	apiBatchBodyFactor = 16
	// apiBodySlack is what a request body may hold besides its data: an
	// exclusion list, a name, JSON punctuation.
	apiBodySlack = 64 << 10
)

// apiFunc handles one API route: it returns the value to send as JSON with
// 200 OK, or an error that apiStatus maps to a status code.
type apiFunc func(a *api, r *http.Request) (any, error)

// apiRoute is one route of the API.
type apiRoute struct {
	method, path string
	handle       apiFunc
}

// apiRoutes lists every route of the API; registerAPI registers exactly
// these, and the OpenAPI test checks docs/openapi.yaml against them.
func apiRoutes() []apiRoute {
	return []apiRoute{
		{"POST", "/api/v1/broadcast", (*api).broadcast},
		{"POST", "/api/v1/batch", (*api).batch},
		{"GET", "/api/v1/stats", (*api).stats},

		{"GET", "/api/v1/clients", (*api).clients},
		{"GET", "/api/v1/clients/{client}", (*api).client},
		{"POST", "/api/v1/clients/{client}/send", (*api).sendToClient},
		{"POST", "/api/v1/clients/{client}/kick", (*api).kick},
		{"PUT", "/api/v1/clients/{client}/uid", (*api).bindUID},
		{"DELETE", "/api/v1/clients/{client}/uid", (*api).unbindUID},
		{"PUT", "/api/v1/clients/{client}/rooms/{room}", (*api).joinRoom},
		{"DELETE", "/api/v1/clients/{client}/rooms/{room}", (*api).leaveRoom},
		{"GET", "/api/v1/clients/{client}/session", (*api).session},
		{"PUT", "/api/v1/clients/{client}/session", (*api).setSession},
		{"PATCH", "/api/v1/clients/{client}/session", (*api).updateSession},

		{"GET", "/api/v1/uids", (*api).uids},
		{"GET", "/api/v1/uids/{uid}", (*api).uid},
		{"POST", "/api/v1/uids/{uid}/send", (*api).sendToUID},
		{"POST", "/api/v1/uids/{uid}/kick", (*api).kickUID},

		{"GET", "/api/v1/rooms", (*api).rooms},
		{"GET", "/api/v1/rooms/{room}", (*api).room},
		{"DELETE", "/api/v1/rooms/{room}", (*api).ungroup},
		{"POST", "/api/v1/rooms/{room}/publish", (*api).publish},
		{"GET", "/api/v1/rooms/{room}/clients", (*api).roomClients},
		{"GET", "/api/v1/rooms/{room}/uids", (*api).roomUIDs},
		{"GET", "/api/v1/rooms/{room}/sessions", (*api).roomSessions},
		{"GET", "/api/v1/rooms/{room}/history", (*api).history},

		{"GET", "/api/v1/sessions", (*api).sessions},
	}
}

// api serves /api/v1: it authenticates each request, bounds its body and
// hands it to its own mux of routes.
type api struct {
	srv *Server
	// routes has every route and no authentication; batch operations are
	// dispatched through it too.
	routes *http.ServeMux
	// keys are the SHA-256 digests of the accepted API keys; none means
	// loopback clients only. SetAPIKeys replaces them.
	keys      atomic.Pointer[[][sha256.Size]byte]
	bodyLimit int64
}

// registerAPI serves the API on mux under /api/v1/.
func (s *Server) registerAPI(mux *http.ServeMux) {
	a := &api{srv: s, routes: http.NewServeMux(), bodyLimit: 2*int64(s.cfg.MaxMessageSize) + apiBodySlack}
	for _, rt := range apiRoutes() {
		h := rt.handle
		a.routes.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) {
			v, err := h(a, r)
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			writeAPIJSON(w, http.StatusOK, v)
		})
	}
	s.api = a
	s.SetAPIKeys(s.cfg.APIKeys)
	mux.Handle(apiPrefix, a)
}

// SetAPIKeys replaces the keys the HTTP API accepts as Authorization:
// Bearer KEY; empty keys are ignored. With none, the API answers only
// requests from a loopback address. It is safe to call while the server
// runs: requests already authenticated finish, later ones see the new keys.
func (s *Server) SetAPIKeys(keys []string) {
	digests := make([][sha256.Size]byte, 0, len(keys))
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" {
			digests = append(digests, sha256.Sum256([]byte(k)))
		}
	}
	s.api.keys.Store(&digests)
}

// ServeHTTP authenticates the request, then routes it.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if err := a.authenticate(r); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && (ae.status == http.StatusForbidden || ae.status == http.StatusUnsupportedMediaType) {
			a.srv.guards.apiRefused.Add(1)
		}
		a.writeError(w, r, err)
		return
	}
	limit := a.bodyLimit
	if r.URL.Path == apiBatchPath {
		limit *= apiBatchBodyFactor
	}
	if r.Body == nil {
		r.Body = http.NoBody // a server request always has one; a test's may not
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	sw := &apiStatusWriter{ResponseWriter: w, status: http.StatusOK}
	a.dispatch(sw, r)
	a.srv.log.Debug("api request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
		"remote", r.RemoteAddr, "took", time.Since(start).Round(time.Microsecond))
}

// dispatch runs the route r asks for, answering unknown routes and wrong
// methods with JSON errors rather than the mux's plain text.
func (a *api) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := a.routes.Handler(r)
	if pattern != "" {
		a.routes.ServeHTTP(w, r)
		return
	}
	rec := &apiRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		a.writeError(w, r, &apiError{http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, allow)})
		return
	}
	a.writeError(w, r, &apiError{http.StatusNotFound, protocol.CodeNotFound,
		fmt.Sprintf("no API route %s %.128s; see docs/api.md for the routes", r.Method, r.URL.Path)})
}

// authenticate checks the request's bearer key, or, with no keys
// configured, that it comes from this machine.
func (a *api) authenticate(r *http.Request) error {
	keys := *a.keys.Load()
	if len(keys) == 0 {
		if !apiFromLoopback(r) {
			return &apiError{http.StatusForbidden, protocol.CodeForbidden,
				"this server has no API key, so its API answers requests from this machine (loopback, not through a proxy) only; start rtsync serve with --api-key KEY and send Authorization: Bearer KEY"}
		}
		return apiBrowserGuard(r)
	}
	token, ok := apiBearer(r)
	if !ok {
		return &apiError{http.StatusUnauthorized, protocol.CodeUnauthorized, "missing API key; send the header Authorization: Bearer KEY"}
	}
	d := sha256.Sum256([]byte(token))
	// Compare digests, of equal length, against every key: the time taken
	// says nothing about the key or about which one matched.
	match := 0
	for _, k := range keys {
		match |= subtle.ConstantTimeCompare(d[:], k[:])
	}
	if match != 1 {
		return &apiError{http.StatusUnauthorized, protocol.CodeUnauthorized, "API key not accepted; check it, or whether it was replaced"}
	}
	return nil
}

// apiBearer returns the token of an Authorization: Bearer header.
func apiBearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// apiForwardHeaders are the headers a reverse proxy adds. Any of them, even
// empty, marks a request that came through a proxy.
var apiForwardHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "Via"}

// apiFromLoopback reports whether r comes straight from this machine. A
// request carrying forwarding headers came through a proxy, which may be
// on this machine while the client is not, so it does not count. The
// headers count when present at all: a client that sends an empty
// X-Forwarded-For line ahead of the proxy's must not pass.
//
// A proxy that adds none of them (nginx's proxy_pass does not by default)
// cannot be told from a local client; that is why `rtsync serve` never runs
// the API keyless (see docs/security.md).
func apiFromLoopback(r *http.Request) bool {
	for _, h := range apiForwardHeaders {
		if _, ok := r.Header[h]; ok {
			return false
		}
	}
	return hostIsLoopback(r.RemoteAddr)
}

// apiBrowserGuard refuses, on a keyless server, what a web page in a
// browser on this machine could send: loopback is no trust boundary for
// browsers. Browsers attach Origin to every cross-origin request and to
// every POST, PUT, PATCH and DELETE, and Sec-Fetch-Site to every request
// (but a typed address's "none"); a page cannot send a JSON body across
// origins without a CORS preflight, which the API never grants. Each rule
// alone stops the requests seen in attacks (text/plain POSTs, batches
// carrying PUT and DELETE); together they also cover older browsers. DNS
// rebinding is refused before this, by the Host check (hosts.go).
func apiBrowserGuard(r *http.Request) error {
	forbid := func(why string) error {
		return &apiError{http.StatusForbidden, protocol.CodeForbidden,
			"this server has no API key, so its API refuses requests from web pages (" + why + "); start rtsync serve with --api-key KEY and send Authorization: Bearer KEY"}
	}
	if o, ok := r.Header["Origin"]; ok {
		return forbid(fmt.Sprintf("Origin: %.64q", strings.Join(o, ",")))
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "none" {
		return forbid(fmt.Sprintf("Sec-Fetch-Site: %.32q", site))
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && (r.ContentLength != 0 || len(r.TransferEncoding) > 0) {
		mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
		if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
			return &apiError{http.StatusUnsupportedMediaType, protocol.CodeBadRequest,
				fmt.Sprintf("a request body must be sent as Content-Type: application/json, not %.64q", r.Header.Get("Content-Type"))}
		}
	}
	return nil
}

// apiError is an API failure with its HTTP status.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.message }

func apiBadRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, protocol.CodeBadRequest, fmt.Sprintf(format, args...)}
}

// apiStatus maps an error to its HTTP status, code and message.
func apiStatus(err error) (int, string, string) {
	var he *apiError
	if errors.As(err, &he) {
		return he.status, he.code, he.message
	}
	var oe *OpError
	if errors.As(err, &oe) {
		status := http.StatusBadRequest
		switch {
		case errors.Is(oe, ErrNotFound):
			status = http.StatusNotFound
		case errors.Is(oe, ErrTooLarge):
			status = http.StatusRequestEntityTooLarge
		case errors.Is(oe, ErrConflict):
			status = http.StatusConflict
		case errors.Is(oe, ErrUnavailable):
			status = http.StatusServiceUnavailable
		}
		return status, oe.Code, oe.Message
	}
	return http.StatusInternalServerError, protocol.CodeInternal, "internal error; see the server's log"
}

// apiErrorBody is the body of every failed API request.
type apiErrorBody struct {
	Error protocol.Error `json:"error"`
}

func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := apiStatus(err)
	if status >= 500 {
		a.srv.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtsync API"`)
	}
	writeAPIJSON(w, status, apiErrorBody{Error: protocol.Error{Code: code, Message: msg}})
}

func writeAPIJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshalCompact(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"could not encode the answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// apiStatusWriter remembers the status written, for the request log.
type apiStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *apiStatusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// apiRecorder is a ResponseWriter that keeps what is written: for batch
// operations and for the mux's own 404 and 405 answers.
type apiRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *apiRecorder) Header() http.Header { return r.header }

func (r *apiRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *apiRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// apiDecodeBody reads r's body, one JSON object, into v. Unknown fields are
// refused so a misspelt field does not pass silently. An empty body leaves
// v as it is unless required.
func apiDecodeBody(r *http.Request, v any, required bool) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return apiBodyError(err)
	}
	if err := apiCheckBody(r, b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if errors.Is(err, io.EOF) {
		if required {
			return apiBadRequest("missing request body; send a JSON object (see docs/api.md)")
		}
		return nil
	}
	// More reports false before a stray ']' or '}', so look at what is
	// left: nothing but white space may follow the one value.
	if err == nil && len(bytes.TrimSpace(b[dec.InputOffset():])) > 0 {
		return &apiError{http.StatusBadRequest, protocol.CodeBadJSON, "request body holds more than one JSON value; send one object"}
	}
	if err != nil {
		return apiBodyError(err)
	}
	return nil
}

// apiBodyError explains why a request body could not be decoded.
func apiBodyError(err error) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return &apiError{http.StatusRequestEntityTooLarge, protocol.CodeTooLarge,
			fmt.Sprintf("request body is larger than this server's limit of %d bytes", mbe.Limit)}
	case errors.As(err, &se):
		return &apiError{http.StatusBadRequest, protocol.CodeBadJSON, fmt.Sprintf("request body is not valid JSON: %v (at byte %d)", se, se.Offset)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{http.StatusBadRequest, protocol.CodeBadJSON, "request body ends in the middle of a JSON value"}
	case errors.As(err, &te):
		if te.Field == "" {
			return apiBadRequest("request body must be a JSON object, not %s", apiJSONKind(te.Value))
		}
		return apiBadRequest("field %q: %s where %s belongs", te.Field, apiJSONKind(te.Value), apiGoKind(te.Type.String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return apiBadRequest("%s; see docs/api.md for this route's fields", strings.TrimPrefix(err.Error(), "json: "))
	}
	return apiBadRequest("request body: %v", err)
}

// apiJSONKind names a JSON value kind, as json.UnmarshalTypeError gives
// it, for people.
func apiJSONKind(kind string) string {
	switch kind {
	case "array":
		return "a list"
	case "object":
		return "an object"
	case "bool":
		return "true or false"
	case "number", "string":
		return "a " + kind
	}
	return kind
}

// apiGoKind names the JSON a Go type of a request body takes.
func apiGoKind(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	}
	return "an object"
}

// apiBodyDepth is how deeply a request body may nest: a value's MaxDepth
// plus the levels of a batch around it ({"ops":[{"body":{"data":...}}]}).
const apiBodyDepth = protocol.MaxDepth + 4

// apiCheckBody checks what every request body must be before it is
// decoded: UTF-8 (Go's decoder would silently replace bad bytes in
// strings, and keep them in raw values that are relayed) and not nested
// past apiBodyDepth, as the WebSocket path checks its frames.
func apiCheckBody(r *http.Request, b []byte) error {
	if !utf8.Valid(b) {
		return &apiError{http.StatusBadRequest, protocol.CodeBadJSON, "request body is not valid UTF-8; send JSON text in UTF-8"}
	}
	if protocol.Depth(b) > apiBodyDepth {
		return apiBadRequest("request body nests objects and arrays more than %d levels deep; data, meta and sessions may nest %d", apiBodyDepth, protocol.MaxDepth)
	}
	return nil
}

// apiReadBody reads r's whole body, for routes whose body is a value of its
// own (a session object).
func apiReadBody(r *http.Request) (json.RawMessage, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, apiBodyError(err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, apiBadRequest("missing request body; send a JSON object")
	}
	if err := apiCheckBody(r, b); err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, &apiError{http.StatusBadRequest, protocol.CodeBadJSON, "request body is not valid JSON"}
	}
	return b, nil
}

// apiListOptions reads the paging parameters limit and cursor. limit=0 asks
// for the total only.
func apiListOptions(r *http.Request) (opts ListOptions, countOnly bool, err error) {
	q := r.URL.Query()
	opts.Limit = apiDefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > apiMaxLimit {
			return opts, false, apiBadRequest("limit must be a number from 0 (count only) to %d, not %q", apiMaxLimit, v)
		}
		if n == 0 {
			countOnly, n = true, 1
		}
		opts.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		after, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(after) == 0 {
			return opts, false, apiBadRequest("cursor %.64q is not one this server gave out; pass the previous page's next_cursor as it is", v)
		}
		opts.After = string(after)
	}
	return opts, countOnly, nil
}

// apiListBody is the answer of a listing: its items under the listing's own
// name (clients, uids, rooms, sessions), the total, and the cursor of the
// next page.
func apiListBody[T any](name string, p Page[T], countOnly bool) map[string]any {
	items := p.Items
	if items == nil || countOnly {
		items = []T{}
	}
	out := map[string]any{name: items, "total": p.Total}
	if p.Next != "" && !countOnly {
		out["next_cursor"] = base64.RawURLEncoding.EncodeToString([]byte(p.Next))
	}
	return out
}

// Bodies of the routes that take one.
type (
	apiDataBody struct {
		Data json.RawMessage `json:"data"`
	}
	apiBroadcastBody struct {
		Data    json.RawMessage `json:"data"`
		Exclude []string        `json:"exclude"`
	}
	apiPublishBody struct {
		Data    json.RawMessage `json:"data"`
		Name    string          `json:"name"`
		Exclude []string        `json:"exclude"`
	}
	apiKickBody struct {
		Reason string `json:"reason"`
	}
	apiBindBody struct {
		UID string `json:"uid"`
	}
)

// Answers of the routes whose answer is not a type of the Go API.
type (
	apiPublished struct {
		Room  string `json:"room"`
		Seq   uint64 `json:"seq"`
		Epoch string `json:"epoch"`
	}
	apiUID struct {
		UID     string   `json:"uid"`
		Online  bool     `json:"online"`
		Clients []string `json:"clients"`
	}
	apiBinding struct {
		Client string `json:"client"`
		UID    string `json:"uid"`
	}
	apiMembership struct {
		Client string `json:"client"`
		Room   string `json:"room"`
	}
	apiUngrouped struct {
		Room    string `json:"room"`
		Removed int    `json:"removed"`
	}
)

func (a *api) broadcast(r *http.Request) (any, error) {
	var b apiBroadcastBody
	if err := apiDecodeBody(r, &b, true); err != nil {
		return nil, err
	}
	n, err := a.srv.Broadcast(b.Data, b.Exclude)
	return map[string]int{"delivered": n}, err
}

func (a *api) sendToClient(r *http.Request) (any, error) {
	var b apiDataBody
	if err := apiDecodeBody(r, &b, true); err != nil {
		return nil, err
	}
	if err := a.srv.SendToClient(r.PathValue("client"), b.Data); err != nil {
		return nil, err
	}
	return map[string]int{"delivered": 1}, nil
}

func (a *api) sendToUID(r *http.Request) (any, error) {
	var b apiDataBody
	if err := apiDecodeBody(r, &b, true); err != nil {
		return nil, err
	}
	res, err := a.srv.SendToUID(r.PathValue("uid"), b.Data)
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (a *api) publish(r *http.Request) (any, error) {
	var b apiPublishBody
	if err := apiDecodeBody(r, &b, true); err != nil {
		return nil, err
	}
	room := r.PathValue("room")
	seq, epoch, err := a.srv.Publish(room, b.Data, PublishOptions{Name: b.Name, Exclude: b.Exclude})
	if err != nil {
		return nil, err
	}
	return apiPublished{Room: room, Seq: seq, Epoch: epoch}, nil
}

func (a *api) kick(r *http.Request) (any, error) {
	var b apiKickBody
	if err := apiDecodeBody(r, &b, false); err != nil {
		return nil, err
	}
	if err := a.srv.Kick(r.PathValue("client"), b.Reason); err != nil {
		return nil, err
	}
	return map[string]int{"kicked": 1}, nil
}

func (a *api) kickUID(r *http.Request) (any, error) {
	var b apiKickBody
	if err := apiDecodeBody(r, &b, false); err != nil {
		return nil, err
	}
	n, err := a.srv.KickUID(r.PathValue("uid"), b.Reason)
	return map[string]int{"kicked": n}, err
}

func (a *api) client(r *http.Request) (any, error) {
	return a.srv.Client(r.PathValue("client"))
}

func (a *api) uid(r *http.Request) (any, error) {
	uid := r.PathValue("uid")
	if err := checkAPIUID(uid); err != nil {
		return nil, err
	}
	ids := a.srv.ClientIDsByUID(uid)
	return apiUID{UID: uid, Online: len(ids) > 0, Clients: ids}, nil
}

func (a *api) bindUID(r *http.Request) (any, error) {
	var b apiBindBody
	if err := apiDecodeBody(r, &b, true); err != nil {
		return nil, err
	}
	client := r.PathValue("client")
	if err := a.srv.BindUID(client, b.UID); err != nil {
		return nil, err
	}
	return apiBinding{Client: client, UID: b.UID}, nil
}

func (a *api) unbindUID(r *http.Request) (any, error) {
	client := r.PathValue("client")
	if err := a.srv.UnbindUID(client); err != nil {
		return nil, err
	}
	return apiBinding{Client: client}, nil
}

func (a *api) joinRoom(r *http.Request) (any, error) {
	client, room := r.PathValue("client"), r.PathValue("room")
	if err := a.srv.JoinRoom(client, room); err != nil {
		return nil, err
	}
	return apiMembership{Client: client, Room: room}, nil
}

func (a *api) leaveRoom(r *http.Request) (any, error) {
	client, room := r.PathValue("client"), r.PathValue("room")
	if err := a.srv.LeaveRoom(client, room); err != nil {
		return nil, err
	}
	return apiMembership{Client: client, Room: room}, nil
}

func (a *api) ungroup(r *http.Request) (any, error) {
	room := r.PathValue("room")
	n, err := a.srv.Ungroup(room)
	if err != nil {
		return nil, err
	}
	return apiUngrouped{Room: room, Removed: n}, nil
}

func (a *api) room(r *http.Request) (any, error) {
	return a.srv.Room(r.PathValue("room"))
}

func (a *api) session(r *http.Request) (any, error) {
	return a.srv.Session(r.PathValue("client"))
}

func (a *api) setSession(r *http.Request) (any, error) {
	body, err := apiReadBody(r)
	if err != nil {
		return nil, err
	}
	client := r.PathValue("client")
	if err := a.srv.SetSession(client, body); err != nil {
		return nil, err
	}
	return a.srv.Session(client)
}

func (a *api) updateSession(r *http.Request) (any, error) {
	body, err := apiReadBody(r)
	if err != nil {
		return nil, err
	}
	return a.srv.UpdateSession(r.PathValue("client"), body)
}

func (a *api) history(r *http.Request) (any, error) {
	q := r.URL.Query()
	var hq HistoryQuery
	for _, p := range []struct {
		name string
		dst  **uint64
	}{{"since", &hq.Since}, {"before", &hq.Before}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, apiBadRequest("%s must be a seq (a whole number 0 or more), not %q", p.name, v)
			}
			*p.dst = &n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, apiBadRequest("limit must be a number from 1 to %d, not %q", protocol.MaxHistoryLimit, v)
		}
		hq.Limit = n
	}
	return a.srv.History(r.PathValue("room"), hq)
}

// stats answers a snapshot with the ?rooms=N busiest rooms (default 10,
// 0 for none).
func (a *api) stats(r *http.Request) (any, error) {
	opts := StatsOptions{TopRooms: defaultTopRooms}
	if v := r.URL.Query().Get("rooms"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxTopRooms {
			return nil, apiBadRequest("rooms must be a number from 0 to %d (how many of the busiest rooms to list), not %.32q", maxTopRooms, v)
		}
		opts.TopRooms = n
		if n == 0 {
			opts.TopRooms = -1
		}
	}
	return a.srv.StatsWith(opts), nil
}

// apiList serves a listing route.
func apiList[T any](r *http.Request, name string, get func(ListOptions) (Page[T], error)) (any, error) {
	opts, countOnly, err := apiListOptions(r)
	if err != nil {
		return nil, err
	}
	p, err := get(opts)
	if err != nil {
		return nil, err
	}
	return apiListBody(name, p, countOnly), nil
}

func apiInRoom[T any](r *http.Request, f func(string, ListOptions) (Page[T], error)) func(ListOptions) (Page[T], error) {
	room := r.PathValue("room")
	return func(o ListOptions) (Page[T], error) { return f(room, o) }
}

// apiClients is the answer of GET /clients; its paging is the other
// listings' (docs/api.md, Paging).
type apiClients struct {
	Clients []ClientSummary `json:"clients"`
	Total   int             `json:"total"`
	Next    string          `json:"next_cursor,omitempty"`
}

// clients lists the connections in detail, filtered by ?room, ?uid and
// ?remote (a prefix of the address).
func (a *api) clients(r *http.Request) (any, error) {
	opts, countOnly, err := apiListOptions(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	p, err := a.srv.Clients(ClientFilter{Room: q.Get("room"), UID: q.Get("uid"), RemotePrefix: q.Get("remote")}, opts)
	if err != nil {
		return nil, err
	}
	out := apiClients{Clients: p.Items, Total: p.Total}
	if out.Clients == nil || countOnly {
		out.Clients = []ClientSummary{}
	}
	if p.Next != "" && !countOnly {
		out.Next = base64.RawURLEncoding.EncodeToString([]byte(p.Next))
	}
	return out, nil
}

func (a *api) uids(r *http.Request) (any, error) { return apiList(r, "uids", a.srv.UIDs) }

func (a *api) rooms(r *http.Request) (any, error) { return apiList(r, "rooms", a.srv.Rooms) }

func (a *api) sessions(r *http.Request) (any, error) {
	return apiList(r, "sessions", a.srv.Sessions)
}

func (a *api) roomClients(r *http.Request) (any, error) {
	return apiList(r, "clients", apiInRoom(r, a.srv.RoomClientIDs))
}

func (a *api) roomUIDs(r *http.Request) (any, error) {
	return apiList(r, "uids", apiInRoom(r, a.srv.RoomUIDs))
}

func (a *api) roomSessions(r *http.Request) (any, error) {
	return apiList(r, "sessions", apiInRoom(r, a.srv.RoomSessions))
}

// Batches.
type (
	apiBatchBody struct {
		Ops []apiBatchOp `json:"ops"`
		// StopOnError ends the batch at the first failed operation; the
		// results then stop there too.
		StopOnError bool `json:"stop_on_error"`
	}
	apiBatchOp struct {
		Method string          `json:"method"`
		Path   string          `json:"path"`
		Body   json.RawMessage `json:"body"`
	}
	apiBatchResult struct {
		Status int             `json:"status"`
		Result json.RawMessage `json:"result,omitempty"`
		Error  *protocol.Error `json:"error,omitempty"`
	}
)

// batch runs a list of API calls in order, each as if it had been its own
// request, and answers with each one's status and result or error.
func (a *api) batch(r *http.Request) (any, error) {
	var b apiBatchBody
	if err := apiDecodeBody(r, &b, true); err != nil {
		return nil, err
	}
	if len(b.Ops) > apiMaxBatchOps {
		return nil, apiBadRequest("a batch holds at most %d operations, this one %d; split it", apiMaxBatchOps, len(b.Ops))
	}
	results := make([]apiBatchResult, 0, len(b.Ops))
	for i := range b.Ops {
		res := a.runBatchOp(r, &b.Ops[i])
		results = append(results, res)
		if b.StopOnError && res.Error != nil {
			break
		}
	}
	return map[string]any{"results": results}, nil
}

var apiBatchMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

func (a *api) runBatchOp(parent *http.Request, op *apiBatchOp) apiBatchResult {
	fail := func(err error) apiBatchResult {
		status, code, msg := apiStatus(err)
		return apiBatchResult{Status: status, Error: &protocol.Error{Code: code, Message: msg}}
	}
	method := strings.ToUpper(op.Method)
	if !slices.Contains(apiBatchMethods, method) {
		return fail(apiBadRequest("operation method must be one of %s, not %.16q", strings.Join(apiBatchMethods, ", "), op.Method))
	}
	if !strings.HasPrefix(op.Path, apiPrefix) {
		return fail(apiBadRequest("operation path must start with %s, such as /api/v1/uids/ada/send; got %.64q", apiPrefix, op.Path))
	}
	req, err := http.NewRequestWithContext(parent.Context(), method, op.Path, http.NoBody)
	if err != nil {
		return fail(apiBadRequest("operation path %.64q is not a valid URL path: %v", op.Path, err))
	}
	if req.URL.Path == apiBatchPath {
		return fail(apiBadRequest("batches do not nest; put the operations in one batch"))
	}
	if body := op.Body; len(body) > 0 && string(body) != "null" {
		req.Body = http.MaxBytesReader(nil, io.NopCloser(bytes.NewReader(body)), a.bodyLimit)
		req.ContentLength = int64(len(body))
	}
	req.RemoteAddr = parent.RemoteAddr
	rec := &apiRecorder{header: http.Header{}}
	a.dispatch(rec, req)
	res := apiBatchResult{Status: rec.status}
	if rec.status < 300 {
		res.Result = json.RawMessage(bytes.TrimSpace(rec.body.Bytes()))
		return res
	}
	var eb apiErrorBody
	if err := json.Unmarshal(rec.body.Bytes(), &eb); err != nil || eb.Error.Code == "" {
		eb.Error = protocol.Error{Code: protocol.CodeInternal, Message: strings.TrimSpace(rec.body.String())}
	}
	res.Error = &eb.Error
	return res
}
