package loadtest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
)

// FuzzReplyID feeds arbitrary lines to replyID, the bench's cheap reading
// of a reply's id (it counts acknowledged and refused messages from it).
// The properties: it returns -1 or a whole number below 10^18, and on a
// reply laid out as the server writes it ({"type":"reply","id":N,...}) it
// returns exactly the id a JSON decoder reads.
//
// Seeds beyond these are in testdata/fuzz/FuzzReplyID. Run it with
//
//	go test -run '^$' -fuzz '^FuzzReplyID$' -fuzztime 60s ./loadtest
func FuzzReplyID(f *testing.F) {
	for _, s := range []string{
		`{"type":"reply","id":42,"ok":true,"room":"r","seq":1,"epoch":"e"}`,
		`{"type":"reply","id":7,"ok":false,"error":{"code":"rate_limited","message":"\"id\":9"}}`,
		`{"type":"reply","id":"x","ok":true}`,
		`{"type":"reply","id":99999999999999999999999,"ok":true}`,
		`{"type":"reply","id":-1,"ok":true}`,
		`{"type":"msg","data":"\"id\":5"}`,
		`"id":`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		n := replyID(line)
		if n != -1 && (n < 0 || n >= 1e18) {
			t.Fatalf("replyID(%q) = %d", line, n)
		}
		if !bytes.HasPrefix(line, []byte(`{"type":"reply","id":`)) || !json.Valid(line) {
			return
		}
		var ev struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(line, &ev) != nil {
			return
		}
		want, err := strconv.ParseInt(string(ev.ID), 10, 64)
		if err != nil || want < 0 || want >= 1e18 || bytes.HasPrefix(ev.ID, []byte("-")) {
			// -0 is 0 to ParseInt, but no id the bench gives out.
			want = -1
		}
		if n != int(want) {
			t.Fatalf("replyID(%q) = %d, want %d", line, n, want)
		}
	})
}
