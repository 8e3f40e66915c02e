package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rtsync/rtsync/protocol"
)

// fuzzAPIKey is the fuzz server's API key.
const fuzzAPIKey = "fuzz-api-key-0123456789abcdef"

// fuzzAPIRoutes are the API routes that read a request body. "{client}"
// in a path, and in a body (batch operations' paths), stands for the
// observer's client id, so inputs reach a live connection.
var fuzzAPIRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/rooms/r/publish"},
	{"POST", "/api/v1/broadcast"},
	{"POST", "/api/v1/batch"},
	{"PUT", "/api/v1/clients/{client}/session"},
	{"PATCH", "/api/v1/clients/{client}/session"},
	{"PUT", "/api/v1/clients/{client}/uid"},
	{"POST", "/api/v1/clients/{client}/send"},
	{"POST", "/api/v1/uids/fuzz/send"},
	{"POST", "/api/v1/clients/{client}/kick"},
}

// FuzzAPIBody sends arbitrary bodies to the HTTP API's routes that take
// one (publish, broadcast, batch, session set and patch, uid bind, send,
// kick), through the real server with a valid key. The properties:
//   - no answer is a 5xx; every answer is a JSON object in UTF-8, and a
//     failure carries an error code and message (batch results too);
//   - what a route accepted reads back as valid: a published message is in
//     the room's history with exactly the data sent (compacted), a session
//     reads back as the object set or as the patch's answer, and both stay
//     within protocol.MaxDepth and UTF-8;
//   - a WebSocket member of the room, whose client id the routes target,
//     gets only valid frames, and the server still answers it.
//
// The route is input too (an index into fuzzAPIRoutes). Seeds beyond these
// are in testdata/fuzz/FuzzAPIBody. Run it with
//
//	go test -run '^$' -fuzz '^FuzzAPIBody$' -fuzztime 60s ./server
func FuzzAPIBody(f *testing.F) {
	deep := strings.Repeat("[", protocol.MaxDepth+1) + strings.Repeat("]", protocol.MaxDepth+1)
	for _, s := range []struct {
		route uint8
		body  string
	}{
		{0, `{"data":{"text":"hi"},"name":"bot"}`},
		{0, `{"data":"\u00e9\ud83d\ude00","exclude":["{client}"]}`},
		{0, "{\"data\":\"\xff\"}"},
		{0, `{"data":` + deep + `}`},
		{0, `{"data":1e999999999,"name":"$server"}`},
		{0, `{"data":1,"data":{"a":[1,2]},"DATA":"last"}`},
		{0, "{\"data\":\"a\\u0000b\",\"name\":\"\u202eevil\"}"},
		{1, `{"data":{"alert":"all"},"exclude":[]}`},
		{1, `{"data":null}`},
		{1, `[1,2,3]`},
		{1, `{"data":1} {"data":2}`},
		{2, `{"ops":[{"method":"POST","path":"/api/v1/rooms/r/publish","body":{"data":1}},{"method":"put","path":"/api/v1/clients/{client}/session","body":{"a":1}},{"method":"DELETE","path":"/api/v1/clients/{client}/uid"}]}`},
		{2, `{"ops":[{"method":"POST","path":"/api/v1/batch","body":{"ops":[]}}],"stop_on_error":true}`},
		{2, `{"ops":[{"method":"GET","path":"/api/v1/rooms/r/history?limit=-1"},{"method":"GET","path":"/api/v1/../../etc/passwd"},{"method":"TRACE","path":"/x"}]}`},
		{2, `{"ops":[{"method":"POST","path":"/api/v1/rooms/r/publish","body":"{\"data\":1}"}]}`},
		{3, `{"role":"admin","n":1.5e300,"nested":{"a":[true,false,null]}}`},
		{3, `"not an object"`},
		{3, "{\"k\":\"\xc3\x28\"}"},
		{3, `{"a":` + deep + `}`},
		{4, `{"role":null,"x":{"y":"z"}}`},
		{4, `{"a":1,"a":2}`},
		{5, `{"uid":"ada"}`},
		{5, `{"uid":"$server"}`},
		{5, `{"uid":"a b\u0007"}`},
		{6, `{"data":{"text":"direct"}}`},
		{7, `{"data":[1,"two",{"three":3}]}`},
		{8, `{"reason":"fuzz"}`},
		{8, ``},
	} {
		f.Add(s.route, []byte(s.body))
	}
	cfg := fuzzConfig()
	cfg.APIKeys = []string{fuzzAPIKey}
	fs := startFuzzServer(f, cfg)
	obs := newFuzzObserver(f, fs.wsURL, "r")
	hc := &http.Client{Timeout: fuzzWait}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzAPIRoutes[int(route)%len(fuzzAPIRoutes)]
		client := obs.clientID()
		path := strings.ReplaceAll(rt.path, "{client}", client)
		body = bytes.ReplaceAll(body, []byte("{client}"), []byte(client))
		status, answer := fuzzAPIDo(t, hc, rt.method, fs.httpURL+path, body)
		if status < 300 {
			checkAPIAccepted(t, hc, fs.httpURL, rt.method, path, body, answer)
		}
		obs.check(t)
	})
}

// fuzzAPIDo makes one API request and checks the answer's form.
func fuzzAPIDo(t *testing.T, hc *http.Client, method, url string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+fuzzAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	in := fmt.Sprintf("%s %s with body %q", method, url, body)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s: status %d: %s", in, resp.StatusCode, answer)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q", in, ct)
	}
	checkAPIJSON(t, in, answer)
	if resp.StatusCode >= 300 {
		var eb apiErrorBody
		if err := json.Unmarshal(answer, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Fatalf("%s: status %d without an error code and message: %s", in, resp.StatusCode, answer)
		}
	}
	return resp.StatusCode, answer
}

// checkAPIJSON fails unless b is one JSON object in UTF-8 that a client
// can decode and whose values nest no deeper than a stored value may plus
// the answer's own levels.
func checkAPIJSON(t *testing.T, what string, b []byte) {
	t.Helper()
	if !utf8.Valid(b) || !json.Valid(b) || !bytes.HasPrefix(b, []byte("{")) {
		t.Fatalf("%s: the answer is not a JSON object in UTF-8: %q", what, b)
	}
	// Numbers as text: data may hold numbers no float64 holds, which is
	// valid JSON and relayed as sent.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: the answer does not decode: %v", what, err)
	}
	// A batch result holds a history page: results, op, messages,
	// message, data.
	if d := protocol.Depth(b); d > protocol.MaxDepth+6 {
		t.Fatalf("%s: the answer nests %d deep", what, d)
	}
}

// checkAPIAccepted reads back what an accepted request stored.
func checkAPIAccepted(t *testing.T, hc *http.Client, base, method, path string, body, answer []byte) {
	t.Helper()
	in := fmt.Sprintf("%s %s with body %q", method, path, body)
	if method != "PUT" && method != "PATCH" && !json.Valid(body) && len(bytes.TrimSpace(body)) > 0 {
		t.Fatalf("%s was accepted though its body is not one JSON value", in)
	}
	switch {
	case strings.HasSuffix(path, "/publish"):
		var sent apiPublishBody
		var pub apiPublished
		if json.Unmarshal(body, &sent) != nil || json.Unmarshal(answer, &pub) != nil {
			t.Fatalf("%s was accepted but its body or answer %q does not decode", in, answer)
		}
		_, page := fuzzAPIDo(t, hc, "GET", fmt.Sprintf("%s/api/v1/rooms/r/history?since=%d&limit=1", base, pub.Seq-1), nil)
		var hp struct {
			Messages []protocol.Event `json:"messages"`
		}
		if err := json.Unmarshal(page, &hp); err != nil || len(hp.Messages) != 1 || hp.Messages[0].Seq != pub.Seq {
			t.Fatalf("%s: message %d not in history: %s", in, pub.Seq, page)
		}
		checkStoredValue(t, in, hp.Messages[0].Data)
		if want := protocol.Compact(sent.Data); !bytes.Equal(hp.Messages[0].Data, want) {
			t.Fatalf("%s: history holds data %q, want %q", in, hp.Messages[0].Data, want)
		}
	case strings.HasSuffix(path, "/session"):
		_, got := fuzzAPIDo(t, hc, "GET", base+path, nil)
		checkStoredValue(t, in, got)
		want := answer // PATCH answers with the merged session
		if method == "PUT" {
			want = protocol.Compact(body)
		}
		if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
			t.Fatalf("%s: the session reads back as %q, want %q", in, got, want)
		}
	case strings.HasSuffix(path, "/batch"):
		var res struct {
			Results []apiBatchResult `json:"results"`
		}
		if err := json.Unmarshal(answer, &res); err != nil {
			t.Fatalf("%s: batch answer %q: %v", in, answer, err)
		}
		for i, r := range res.Results {
			if r.Status >= 500 || (r.Status >= 300) != (r.Error != nil) || (r.Error != nil && (r.Error.Code == "" || r.Error.Message == "")) {
				t.Fatalf("%s: operation %d: %+v", in, i, r)
			}
		}
	}
}

// checkStoredValue fails unless v, a value the server stored, is UTF-8
// within the depth every input path allows.
func checkStoredValue(t *testing.T, what string, v []byte) {
	t.Helper()
	if e := protocol.CheckValue("value", v); e != nil {
		t.Fatalf("%s: stored %q: %s", what, v, e.Message)
	}
}
