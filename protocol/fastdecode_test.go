package protocol

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// fastSeeds are commands as clients send them, and near misses that must
// go to encoding/json.
var fastSeeds = []string{
	`{"op":"hello","id":1,"name":"bench-7"}`,
	`{"op":"hello","id":"a","name":"ann","uid":"u1","token":"t.k.n","meta":{"color":"red","n":[1,2,{"x":"}"}]}}`,
	`{"op":"join","id":2,"room":"lobby"}`,
	`{"op":"join","id":3,"room":"lobby","since":42,"epoch":"e1"}`,
	`{"op":"pub","id":4,"room":"lobby","data":{"text":"hi \"there\" \\ {["},"noecho":true}`,
	`{"op":"pub","room":"r","data":"a string","noecho":false}`,
	`{"op":"pub","room":"r","data":-1.5e3}`,
	`{"op":"pub","room":"r","data":[true,false,null]}`,
	`{"op":"send","to_uid":"bob","data":1}`,
	`{"op":"send","to_client":"c1","data":{}}`,
	`{"op":"history","room":"r","before":10,"limit":50}`,
	`{"op":"presence","room":"r","after":"c9","limit":0}`,
	`{"op":"rpc","method":"m","data":{"a":1}}`,
	`{"op":"ack","inbox":18446744073709551615}`,
	` { "op" : "ping" , "id" : 9 } `,
	`{}`,
	`{"op":"ping","id":null}`,
	`{"op":"pub","data":null}`,
	`{"Op":"ping"}`,
	`{"op":"p\u0069ng"}`,
	`{"op":"ping","extra":1}`,
	`{"op":"history","limit":-1}`,
	`{"op":"history","limit":1.0}`,
	`{"op":"ack","inbox":18446744073709551616}`,
	`{"op":"pub","noecho":"yes"}`,
	`{"op":1}`,
	`{"op":"ping","op":"join"}`,
	`{"op":"ping"`,
	`{"op":"ping"}x`,
	`[1]`,
}

// TestDecodeFastAgrees: on the seeds, what decodeFast decodes is what
// encoding/json decodes, and the common commands do take the fast path.
func TestDecodeFastAgrees(t *testing.T) {
	fast := 0
	for _, s := range fastSeeds {
		if checkFast(t, []byte(s)) {
			fast++
		}
	}
	if fast < 15 {
		t.Errorf("only %d of the seeds took the fast path", fast)
	}
	for _, s := range fastSeeds[:5] {
		if _, ok := decodeFast([]byte(s)); !ok {
			t.Errorf("%s did not take the fast path", s)
		}
	}
}

// checkFast fails t when decodeFast accepts obj and encoding/json does
// not, or decodes it otherwise. It reports whether decodeFast accepted it.
func checkFast(t *testing.T, obj []byte) bool {
	t.Helper()
	if !utf8.Valid(obj) {
		return false // Decode checks this before
	}
	got, ok := decodeFast(obj)
	if !ok {
		return false
	}
	var want Command
	if err := json.Unmarshal(obj, &want); err != nil {
		t.Fatalf("decodeFast accepted %q, which encoding/json refuses: %v", obj, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decodeFast %+v, encoding/json %+v", obj, got, want)
	}
	return true
}

// FuzzDecodeFast: whatever decodeFast accepts, encoding/json decodes the
// same.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		checkFast(t, obj)
	})
}

// TestDecodeFastCopies: the decoded raw values do not share the frame's
// memory, which the server reuses for the next frame.
func TestDecodeFastCopies(t *testing.T) {
	obj := []byte(`{"op":"pub","id":7,"room":"r","data":{"a":1}}`)
	c, ok := decodeFast(obj)
	if !ok {
		t.Fatal("not decoded")
	}
	for i := range obj {
		obj[i] = 'x'
	}
	if string(c.Data) != `{"a":1}` || string(c.ID) != "7" || c.Room != "r" {
		t.Errorf("after the frame was overwritten: %+v", c)
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, s := range []string{`{"op":"hello","id":1,"name":"bench-7"}`, `{"op":"pub","id":4,"room":"lobby","data":{"text":"a message of about a hundred bytes, like a chat line or a small update"}}`} {
		b.Run(s[7:10], func(b *testing.B) {
			obj := []byte(s)
			b.ReportAllocs()
			for range b.N {
				if _, e := Decode(obj); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}
