package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rtsync/rtsync/protocol"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		want  []string
	}{
		{"empty frame", "", nil},
		{"single object", `{"op":"ping"}`, []string{`{"op":"ping"}`}},
		{"single object with trailing newline", "{\"op\":\"ping\"}\n", []string{`{"op":"ping"}`}},
		{
			"several objects",
			"{\"op\":\"ping\",\"id\":1}\n{\"op\":\"ping\",\"id\":2}\n{\"op\":\"ping\",\"id\":3}",
			[]string{`{"op":"ping","id":1}`, `{"op":"ping","id":2}`, `{"op":"ping","id":3}`},
		},
		{
			"blank lines are skipped",
			"\n\n{\"id\":1}\n\n\n{\"id\":2}\n\n",
			[]string{`{"id":1}`, `{"id":2}`},
		},
		{
			"CRLF line ends",
			"{\"id\":1}\r\n{\"id\":2}\r\n",
			[]string{`{"id":1}`, `{"id":2}`},
		},
		{
			"surrounding white space is trimmed",
			"  {\"id\":1}\t\n\t {\"id\":2}  ",
			[]string{`{"id":1}`, `{"id":2}`},
		},
		{"only white space", " \t\r\n \n\r\n\t", nil},
		{"only newlines", "\n\n\n", nil},
		{
			// An object must sit on one line: a raw newline inside it splits
			// it, and each piece then fails to decode as bad_json.
			"pretty-printed object is cut at its newlines",
			"{\n\"op\": \"ping\"\n}",
			[]string{"{", `"op": "ping"`, "}"},
		},
		{
			"non-JSON lines are passed through",
			"hello\nworld",
			[]string{"hello", "world"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			err := protocol.Split([]byte(tt.frame), func(obj []byte) error {
				got = append(got, string(obj))
				return nil
			})
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			if !equalStrings(got, tt.want) {
				t.Errorf("Split(%q) = %q, want %q", tt.frame, got, tt.want)
			}
		})
	}
}

func TestSplitStopsAtFirstError(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	var calls int
	err := protocol.Split([]byte("{\"id\":1}\n{\"id\":2}\n{\"id\":3}"), func(obj []byte) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Split returned %v, want the callback's error", err)
	}
	if calls != 2 {
		t.Errorf("callback ran %d times, want 2", calls)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func u64(v uint64) *uint64 { return &v }

func TestDecodeValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want protocol.Command
	}{
		{"ping", `{"op":"ping"}`, protocol.Command{Op: "ping"}},
		{"ping with number id", `{"op":"ping","id":7}`, protocol.Command{Op: "ping", ID: json.RawMessage(`7`)}},
		{"ping with negative id", `{"op":"ping","id":-3}`, protocol.Command{Op: "ping", ID: json.RawMessage(`-3`)}},
		{"ping with string id", `{"op":"ping","id":"a-1"}`, protocol.Command{Op: "ping", ID: json.RawMessage(`"a-1"`)}},
		{"ping with null id", `{"op":"ping","id":null}`, protocol.Command{Op: "ping", ID: json.RawMessage(`null`)}},
		{"id of exactly 64 bytes", `{"op":"ping","id":"` + strings.Repeat("i", 62) + `"}`, protocol.Command{Op: "ping", ID: json.RawMessage(`"` + strings.Repeat("i", 62) + `"`)}},
		{"unknown fields are ignored", `{"op":"ping","future":{"x":[1]}}`, protocol.Command{Op: "ping"}},
		{"field names match case-insensitively", `{"OP":"ping","Id":1}`, protocol.Command{Op: "ping", ID: json.RawMessage(`1`)}},
		{"white space between tokens", `{ "op" : "ping" , "id" : 1 }`, protocol.Command{Op: "ping", ID: json.RawMessage(`1`)}},

		{"hello empty", `{"op":"hello"}`, protocol.Command{Op: "hello"}},
		{
			"hello with every field",
			`{"op":"hello","id":1,"name":"Ada","token":"t0k","uid":"user@example.com","meta":{"color":"red"}}`,
			protocol.Command{Op: "hello", ID: json.RawMessage(`1`), Name: "Ada", Token: "t0k", UID: "user@example.com", Meta: json.RawMessage(`{"color":"red"}`)},
		},
		{"hello with unicode name", `{"op":"hello","name":"Zoë 🐙"}`, protocol.Command{Op: "hello", Name: "Zoë 🐙"}},
		{"hello with 64-character name", `{"op":"hello","name":"` + strings.Repeat("é", 64) + `"}`, protocol.Command{Op: "hello", Name: strings.Repeat("é", 64)}},
		{"hello with null meta", `{"op":"hello","meta":null}`, protocol.Command{Op: "hello", Meta: json.RawMessage(`null`)}},
		{"hello with empty uid means no uid", `{"op":"hello","uid":""}`, protocol.Command{Op: "hello"}},
		{"hello with unicode uid", `{"op":"hello","uid":"ユーザー"}`, protocol.Command{Op: "hello", UID: "ユーザー"}},

		{"join", `{"op":"join","room":"lobby"}`, protocol.Command{Op: "join", Room: "lobby"}},
		{"join with since 0", `{"op":"join","room":"lobby","since":0}`, protocol.Command{Op: "join", Room: "lobby", Since: u64(0)}},
		{
			"join with since and epoch",
			`{"op":"join","room":"lobby","since":18446744073709551615,"epoch":"e1"}`,
			protocol.Command{Op: "join", Room: "lobby", Since: u64(18446744073709551615), Epoch: "e1"},
		},
		{"join with every allowed character", `{"op":"join","room":"aZ09-_.:@/#"}`, protocol.Command{Op: "join", Room: "aZ09-_.:@/#"}},
		{"join 128-byte room", `{"op":"join","room":"` + strings.Repeat("r", 128) + `"}`, protocol.Command{Op: "join", Room: strings.Repeat("r", 128)}},

		{"leave", `{"op":"leave","room":"lobby","id":2}`, protocol.Command{Op: "leave", Room: "lobby", ID: json.RawMessage(`2`)}},
		{"presence", `{"op":"presence","room":"lobby"}`, protocol.Command{Op: "presence", Room: "lobby"}},

		{"history", `{"op":"history","room":"lobby"}`, protocol.Command{Op: "history", Room: "lobby"}},
		{"history with since and limit", `{"op":"history","room":"lobby","since":5,"limit":10}`, protocol.Command{Op: "history", Room: "lobby", Since: u64(5), Limit: 10}},
		{"history with before", `{"op":"history","room":"lobby","before":50}`, protocol.Command{Op: "history", Room: "lobby", Before: u64(50)}},
		{"history with the largest limit", `{"op":"history","room":"lobby","limit":1000}`, protocol.Command{Op: "history", Room: "lobby", Limit: 1000}},
		{"history with limit 0 means default", `{"op":"history","room":"lobby","limit":0}`, protocol.Command{Op: "history", Room: "lobby"}},

		{"pub object", `{"op":"pub","room":"lobby","data":{"text":"hi"}}`, protocol.Command{Op: "pub", Room: "lobby", Data: json.RawMessage(`{"text":"hi"}`)}},
		{"pub string", `{"op":"pub","room":"lobby","data":"hi"}`, protocol.Command{Op: "pub", Room: "lobby", Data: json.RawMessage(`"hi"`)}},
		{"pub number", `{"op":"pub","room":"lobby","data":-1.5e3}`, protocol.Command{Op: "pub", Room: "lobby", Data: json.RawMessage(`-1.5e3`)}},
		{"pub array", `{"op":"pub","room":"lobby","data":[1,2]}`, protocol.Command{Op: "pub", Room: "lobby", Data: json.RawMessage(`[1,2]`)}},
		{"pub false", `{"op":"pub","room":"lobby","data":false}`, protocol.Command{Op: "pub", Room: "lobby", Data: json.RawMessage(`false`)}},
		{"pub null", `{"op":"pub","room":"lobby","data":null}`, protocol.Command{Op: "pub", Room: "lobby", Data: json.RawMessage(`null`)}},
		{"pub noecho", `{"op":"pub","room":"lobby","data":1,"noecho":true}`, protocol.Command{Op: "pub", Room: "lobby", Data: json.RawMessage(`1`), NoEcho: true}},

		{"send to uid", `{"op":"send","to_uid":"bob","data":"hi"}`, protocol.Command{Op: "send", ToUID: "bob", Data: json.RawMessage(`"hi"`)}},
		{"send to client", `{"op":"send","to_client":"c-12","data":"hi"}`, protocol.Command{Op: "send", ToClient: "c-12", Data: json.RawMessage(`"hi"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, e := protocol.Decode([]byte(tt.in))
			if e != nil {
				t.Fatalf("Decode(%s) failed: %v", tt.in, e)
			}
			if !equalCommand(got, tt.want) {
				t.Errorf("Decode(%s)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		in   string
		code string
		// id is the id the command must still carry ("" for none).
		id string
		// field, when set, must appear in the error message.
		field string
	}{
		{"empty input", ``, protocol.CodeBadJSON, "", ""},
		{"missing op", `{}`, protocol.CodeBadRequest, "", "op"},
		{"missing op keeps id", `{"id":1}`, protocol.CodeBadRequest, "1", "op"},
		{"empty op", `{"op":"","id":"a"}`, protocol.CodeBadRequest, `"a"`, "op"},
		{"unknown op", `{"op":"dance","id":2}`, protocol.CodeUnknownOp, "2", "dance"},
		{"unknown op is case-sensitive", `{"op":"PING"}`, protocol.CodeUnknownOp, "", ""},
		{"very long unknown op", `{"op":"` + long(5000) + `"}`, protocol.CodeUnknownOp, "", ""},

		{"truncated JSON", `{"op":"pub",`, protocol.CodeBadJSON, "", ""},
		{"unquoted value", `{"op":ping}`, protocol.CodeBadJSON, "", ""},
		{"single quotes", `{'op':'ping'}`, protocol.CodeBadJSON, "", ""},
		{"trailing comma", `{"op":"ping",}`, protocol.CodeBadJSON, "", ""},
		{"trailing garbage", `{"op":"ping"} x`, protocol.CodeBadJSON, "", ""},
		{"two objects on one line", `{"op":"ping"}{"op":"ping"}`, protocol.CodeBadJSON, "", ""},
		{"leading white space", ` {"op":"ping"}`, protocol.CodeBadJSON, "", ""},
		{"byte order mark", "\uFEFF{\"op\":\"ping\"}", protocol.CodeBadJSON, "", ""},
		{"plain text", `hello there`, protocol.CodeBadJSON, "", ""},
		{"deep nesting", `{"op":"pub","room":"r","data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, protocol.CodeBadRequest, "", "levels deep"},
		{"data one level too deep", `{"op":"pub","id":7,"room":"r","data":` + strings.Repeat("[", protocol.MaxDepth+1) + strings.Repeat("]", protocol.MaxDepth+1) + `}`, protocol.CodeBadRequest, "7", "64"},
		{"meta too deep", `{"op":"hello","meta":{"a":` + strings.Repeat("{\"a\":", protocol.MaxDepth) + `1` + strings.Repeat("}", protocol.MaxDepth+2), protocol.CodeBadRequest, "", "levels deep"},
		{"reserved uid", `{"op":"hello","uid":"$server"}`, protocol.CodeBadRequest, "", "reserved"},
		{"reserved name", `{"op":"hello","name":"$server"}`, protocol.CodeBadRequest, "", "reserved"},

		{"array", `[{"op":"ping"}]`, protocol.CodeBadJSON, "", ""},
		{"string", `"ping"`, protocol.CodeBadJSON, "", ""},
		{"number", `42`, protocol.CodeBadJSON, "", ""},
		{"null", `null`, protocol.CodeBadJSON, "", ""},
		{"true", `true`, protocol.CodeBadJSON, "", ""},

		{"invalid UTF-8 in a string", "{\"op\":\"hello\",\"name\":\"\xff\xfe\",\"id\":1}", protocol.CodeBadFrame, "", ""},
		{"invalid UTF-8 alone", "\xc3\x28", protocol.CodeBadFrame, "", ""},
		{"UTF-16 surrogate bytes", "{\"op\":\"ping\",\"x\":\"\xed\xa0\x80\"}", protocol.CodeBadFrame, "", ""},

		{"since is a string", `{"op":"join","room":"r","since":"x","id":3}`, protocol.CodeBadRequest, "3", `"since"`},
		{"since is negative", `{"op":"join","room":"r","since":-1,"id":3}`, protocol.CodeBadRequest, "3", `"since"`},
		{"since is fractional", `{"op":"join","room":"r","since":1.5,"id":3}`, protocol.CodeBadRequest, "3", `"since"`},
		{"since overflows", `{"op":"join","room":"r","since":18446744073709551616,"id":3}`, protocol.CodeBadRequest, "3", `"since"`},
		{"before is a string", `{"op":"history","room":"r","before":"9","id":"h"}`, protocol.CodeBadRequest, `"h"`, `"before"`},
		{"room is a number", `{"op":"join","room":5,"id":4}`, protocol.CodeBadRequest, "4", `"room"`},
		{"room is an object", `{"op":"join","room":{},"id":4}`, protocol.CodeBadRequest, "4", `"room"`},
		{"noecho is a string", `{"op":"pub","room":"r","data":1,"noecho":"yes","id":5}`, protocol.CodeBadRequest, "5", `"noecho"`},
		{"noecho is a number", `{"op":"pub","room":"r","data":1,"noecho":1,"id":5}`, protocol.CodeBadRequest, "5", `"noecho"`},
		{"limit is a string", `{"op":"history","room":"r","limit":"10","id":6}`, protocol.CodeBadRequest, "6", `"limit"`},
		{"limit is fractional", `{"op":"history","room":"r","limit":2.5,"id":6}`, protocol.CodeBadRequest, "6", `"limit"`},
		{"op is a number", `{"op":5,"id":7}`, protocol.CodeBadRequest, "7", `"op"`},
		{"name is an array", `{"op":"hello","name":["a"],"id":8}`, protocol.CodeBadRequest, "8", `"name"`},
		{"to_uid is true", `{"op":"send","to_uid":true,"data":1,"id":9}`, protocol.CodeBadRequest, "9", `"to_uid"`},
		{"epoch is a number", `{"op":"join","room":"r","since":1,"epoch":1,"id":9}`, protocol.CodeBadRequest, "9", `"epoch"`},
		{"wrong type with a bad id drops the id", `{"op":"join","room":5,"id":{"a":1}}`, protocol.CodeBadRequest, "", `"room"`},
		{"wrong type with no id", `{"op":"join","room":5}`, protocol.CodeBadRequest, "", `"room"`},

		{"id is an object", `{"op":"ping","id":{"a":1}}`, protocol.CodeBadRequest, "", "id"},
		{"id is an array", `{"op":"ping","id":[1]}`, protocol.CodeBadRequest, "", "id"},
		{"id is a bool", `{"op":"ping","id":true}`, protocol.CodeBadRequest, "", "id"},
		{"id string too long", `{"op":"ping","id":"` + long(63) + `"}`, protocol.CodeBadRequest, "", "id"},
		{"id number too long", `{"op":"ping","id":` + strings.Repeat("9", 65) + `}`, protocol.CodeBadRequest, "", "id"},
		{"bad id reported before a bad op", `{"op":"dance","id":[1]}`, protocol.CodeBadRequest, "", "id"},

		{"join without room", `{"op":"join","id":10}`, protocol.CodeBadRoom, "10", "room"},
		{"join empty room", `{"op":"join","room":"","id":10}`, protocol.CodeBadRoom, "10", "room"},
		{"room too long", `{"op":"join","room":"` + long(129) + `","id":10}`, protocol.CodeBadRoom, "10", ""},
		{"room with space", `{"op":"join","room":"has space","id":10}`, protocol.CodeBadRoom, "10", ""},
		{"room with tab", `{"op":"join","room":"a\tb"}`, protocol.CodeBadRoom, "", ""},
		{"room with unicode", `{"op":"join","room":"café"}`, protocol.CodeBadRoom, "", ""},
		{"room starting with $", `{"op":"join","room":"$sys"}`, protocol.CodeBadRoom, "", ""},
		{"room with $ inside", `{"op":"join","room":"a$b"}`, protocol.CodeBadRoom, "", ""},
		{"room with !", `{"op":"join","room":"hi!"}`, protocol.CodeBadRoom, "", ""},
		{"room with +", `{"op":"join","room":"a+b"}`, protocol.CodeBadRoom, "", ""},
		{"room with NUL", `{"op":"join","room":"a\u0000b"}`, protocol.CodeBadRoom, "", ""},
		{"leave without room", `{"op":"leave"}`, protocol.CodeBadRoom, "", ""},
		{"presence with bad room", `{"op":"presence","room":"a b"}`, protocol.CodeBadRoom, "", ""},
		{"history with bad room", `{"op":"history","room":"a b"}`, protocol.CodeBadRoom, "", ""},
		{"pub with bad room", `{"op":"pub","room":"a b","data":1}`, protocol.CodeBadRoom, "", ""},
		{"pub without room", `{"op":"pub","data":1}`, protocol.CodeBadRoom, "", ""},

		{"send without target", `{"op":"send","data":1,"id":11}`, protocol.CodeBadRequest, "11", "to_uid"},
		{"send with both targets", `{"op":"send","to_uid":"u","to_client":"c","data":1,"id":11}`, protocol.CodeBadRequest, "11", "to_client"},
		{"send without data", `{"op":"send","to_uid":"u","id":11}`, protocol.CodeBadRequest, "11", "data"},
		{"send to uid with space", `{"op":"send","to_uid":"a b","data":1}`, protocol.CodeBadRequest, "", "uid"},
		{"send to uid too long", `{"op":"send","to_uid":"` + long(129) + `","data":1}`, protocol.CodeBadRequest, "", "uid"},
		{"send to client too long", `{"op":"send","to_client":"` + long(129) + `","data":1}`, protocol.CodeBadRequest, "", "to_client"},
		{"pub without data", `{"op":"pub","room":"r","id":12}`, protocol.CodeBadRequest, "12", "data"},

		{"history with since and before", `{"op":"history","room":"r","since":1,"before":9,"id":13}`, protocol.CodeBadRequest, "13", "before"},
		{"history limit negative", `{"op":"history","room":"r","limit":-1,"id":13}`, protocol.CodeBadRequest, "13", "limit"},
		{"history limit too large", `{"op":"history","room":"r","limit":1001,"id":13}`, protocol.CodeBadRequest, "13", "limit"},

		{"join epoch without since", `{"op":"join","room":"r","epoch":"e1","id":14}`, protocol.CodeBadRequest, "14", "since"},
		{"join epoch too long", `{"op":"join","room":"r","since":1,"epoch":"` + long(65) + `"}`, protocol.CodeBadRequest, "", "epoch"},

		{"hello name too long", `{"op":"hello","name":"` + long(65) + `","id":15}`, protocol.CodeBadRequest, "15", "name"},
		{"hello name 65 runes", `{"op":"hello","name":"` + strings.Repeat("é", 65) + `"}`, protocol.CodeBadRequest, "", "name"},
		{"hello name with newline", `{"op":"hello","name":"a\nb"}`, protocol.CodeBadRequest, "", "name"},
		{"hello name with bell", `{"op":"hello","name":"a\u0007"}`, protocol.CodeBadRequest, "", "name"},
		{"hello name with DEL", `{"op":"hello","name":"a\u007f"}`, protocol.CodeBadRequest, "", "name"},
		{"hello name with C1 control", `{"op":"hello","name":"a\u0085"}`, protocol.CodeBadRequest, "", "name"},
		{"hello uid with space", `{"op":"hello","uid":"a b","id":16}`, protocol.CodeBadRequest, "16", "uid"},
		{"hello uid with control", `{"op":"hello","uid":"a\u0001"}`, protocol.CodeBadRequest, "", "uid"},
		{"hello uid with no-break space", `{"op":"hello","uid":"a\u00a0b"}`, protocol.CodeBadRequest, "", "uid"},
		{"hello uid too long", `{"op":"hello","uid":"` + long(129) + `"}`, protocol.CodeBadRequest, "", "uid"},
		{"hello meta array", `{"op":"hello","meta":[1],"id":17}`, protocol.CodeBadRequest, "17", "meta"},
		{"hello meta string", `{"op":"hello","meta":"x"}`, protocol.CodeBadRequest, "", "meta"},
		{"hello meta number", `{"op":"hello","meta":1}`, protocol.CodeBadRequest, "", "meta"},
		{"hello meta too large", `{"op":"hello","meta":{"k":"` + long(protocol.MaxMetaBytes) + `"}}`, protocol.CodeBadRequest, "", "meta"},
		{"hello token too large", `{"op":"hello","token":"` + long(protocol.MaxTokenBytes+1) + `"}`, protocol.CodeBadRequest, "", "token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, e := protocol.Decode([]byte(tt.in))
			if e == nil {
				t.Fatalf("Decode(%.80s) = %+v, want error %s", tt.in, got, tt.code)
			}
			if e.Code != tt.code {
				t.Errorf("Decode(%.80s) code = %s (%s), want %s", tt.in, e.Code, e.Message, tt.code)
			}
			if e.Message == "" {
				t.Errorf("Decode(%.80s): empty error message", tt.in)
			}
			if len(e.Message) > 300 {
				t.Errorf("error message is %d bytes long; it should quote input briefly: %.100s…", len(e.Message), e.Message)
			}
			if tt.field != "" && !strings.Contains(e.Message, tt.field) {
				t.Errorf("message %q does not name %s", e.Message, tt.field)
			}
			if string(got.ID) != tt.id {
				t.Errorf("id = %q, want %q", got.ID, tt.id)
			}
			var asErr error = e
			if !strings.HasPrefix(asErr.Error(), tt.code+": ") {
				t.Errorf("Error() = %q, want it to start with the code", asErr.Error())
			}
		})
	}
}

func TestDecodeLimitsAreExact(t *testing.T) {
	t.Parallel()
	// A meta of exactly MaxMetaBytes is allowed, one byte more is not.
	pad := protocol.MaxMetaBytes - len(`{"k":""}`)
	ok := `{"op":"hello","meta":{"k":"` + strings.Repeat("m", pad) + `"}}`
	if _, e := protocol.Decode([]byte(ok)); e != nil {
		t.Errorf("meta of %d bytes refused: %v", protocol.MaxMetaBytes, e)
	}
	over := `{"op":"hello","meta":{"k":"` + strings.Repeat("m", pad+1) + `"}}`
	if _, e := protocol.Decode([]byte(over)); e == nil || e.Code != protocol.CodeBadRequest {
		t.Errorf("meta of %d bytes: got %v, want bad_request", protocol.MaxMetaBytes+1, e)
	}
	tok := `{"op":"hello","token":"` + strings.Repeat("t", protocol.MaxTokenBytes) + `"}`
	if _, e := protocol.Decode([]byte(tok)); e != nil {
		t.Errorf("token of %d bytes refused: %v", protocol.MaxTokenBytes, e)
	}
	uid := `{"op":"hello","uid":"` + strings.Repeat("u", protocol.MaxUIDLen) + `"}`
	if _, e := protocol.Decode([]byte(uid)); e != nil {
		t.Errorf("uid of %d bytes refused: %v", protocol.MaxUIDLen, e)
	}
	epoch := `{"op":"join","room":"r","since":1,"epoch":"` + strings.Repeat("e", protocol.MaxEpochLen) + `"}`
	if _, e := protocol.Decode([]byte(epoch)); e != nil {
		t.Errorf("epoch of %d bytes refused: %v", protocol.MaxEpochLen, e)
	}
	client := `{"op":"send","to_client":"` + strings.Repeat("c", protocol.MaxUIDLen) + `","data":1}`
	if _, e := protocol.Decode([]byte(client)); e != nil {
		t.Errorf("to_client of %d bytes refused: %v", protocol.MaxUIDLen, e)
	}
}

func TestDecodeCompactsData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		field func(protocol.Command) json.RawMessage
		want  string
	}{
		{
			"pub data",
			"{\"op\":\"pub\",\"room\":\"r\",\"data\":{\r\n  \"text\": \"a b\",\n\t\"n\": [1, 2]\n}}",
			func(c protocol.Command) json.RawMessage { return c.Data },
			`{"text":"a b","n":[1,2]}`,
		},
		{
			"send data",
			"{\"op\":\"send\",\"to_uid\":\"u\",\"data\":[\n1,\n2\n]}",
			func(c protocol.Command) json.RawMessage { return c.Data },
			`[1,2]`,
		},
		{
			"hello meta",
			"{\"op\":\"hello\",\"meta\":{\n  \"color\": \"red\"\n}}",
			func(c protocol.Command) json.RawMessage { return c.Meta },
			`{"color":"red"}`,
		},
		{
			"escaped newlines in strings are kept",
			`{"op":"pub","room":"r","data":"line1\nline2"}`,
			func(c protocol.Command) json.RawMessage { return c.Data },
			`"line1\nline2"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, e := protocol.Decode([]byte(tt.in))
			if e != nil {
				t.Fatalf("Decode: %v", e)
			}
			got := tt.field(c)
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if bytes.ContainsAny(got, "\r\n") {
				t.Errorf("%q holds a raw line break", got)
			}
		})
	}
}

func TestValidateCompactsBuiltCommand(t *testing.T) {
	t.Parallel()
	c := protocol.Command{Op: protocol.OpPub, Room: "r", Data: json.RawMessage("{\n  \"a\": 1\n}")}
	if e := c.Validate(); e != nil {
		t.Fatalf("Validate: %v", e)
	}
	if string(c.Data) != `{"a":1}` {
		t.Errorf("Data = %s, want compacted", c.Data)
	}
	b, err := protocol.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(b, '\n') >= 0 {
		t.Errorf("marshalled command holds a newline: %s", b)
	}
}

func TestValidRoom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		room string
		ok   bool
	}{
		{"one letter", "a", true},
		{"mixed", "Chat-room_1.v2:eu@team/general#3", true},
		{"only punctuation", "-_.:@/#", true},
		{"128 bytes", strings.Repeat("a", 128), true},
		{"empty", "", false},
		{"129 bytes", strings.Repeat("a", 129), false},
		{"space", "a b", false},
		{"dollar prefix", "$system", false},
		{"unicode letter", "ñ", false},
		{"emoji", "🎉", false},
		{"percent", "50%", false},
		{"question mark", "a?b", false},
		{"backslash", `a\b`, false},
		{"quote", `a"b`, false},
		{"newline", "a\nb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := protocol.ValidRoom(tt.room)
			if (e == nil) != tt.ok {
				t.Fatalf("ValidRoom(%q) = %v, want ok=%v", tt.room, e, tt.ok)
			}
			if e != nil && e.Code != protocol.CodeBadRoom {
				t.Errorf("code = %s, want %s", e.Code, protocol.CodeBadRoom)
			}
		})
	}
}

func TestValidRoomNamesTheBadCharacter(t *testing.T) {
	t.Parallel()
	e := protocol.ValidRoom("café")
	if e == nil {
		t.Fatal("ValidRoom(café) accepted")
	}
	if !strings.Contains(e.Message, `character 'é'`) {
		t.Errorf("message %q does not name the character é", e.Message)
	}
}

func TestValidUID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		uid  string
		ok   bool
	}{
		{"ascii", "user-1", true},
		{"email", "ada@example.com", true},
		{"unicode", "ユーザー", true},
		{"punctuation", `a!"#$%&'()*+,-./:;<=>?[\]^_{|}~`, true},
		{"128 bytes", strings.Repeat("u", 128), true},
		{"empty", "", false},
		{"129 bytes", strings.Repeat("u", 129), false},
		{"space", "a b", false},
		{"tab", "a\tb", false},
		{"control", "a\x00b", false},
		{"ideographic space", "a\u3000b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := protocol.ValidUID(tt.uid)
			if (e == nil) != tt.ok {
				t.Fatalf("ValidUID(%q) = %v, want ok=%v", tt.uid, e, tt.ok)
			}
			if e != nil && e.Code != protocol.CodeBadRequest {
				t.Errorf("code = %s, want %s", e.Code, protocol.CodeBadRequest)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"empty is anonymous", "", true},
		{"spaces allowed", "Ada Lovelace", true},
		{"unicode", "Zoë 🐙", true},
		{"64 runes", strings.Repeat("名", 64), true},
		{"65 runes", strings.Repeat("名", 65), false},
		{"newline", "a\nb", false},
		{"escape", "a\x1b[31m", false},
		{"DEL", "a\x7f", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := protocol.ValidName(tt.in)
			if (e == nil) != tt.ok {
				t.Fatalf("ValidName(%q) = %v, want ok=%v", tt.in, e, tt.ok)
			}
			if e != nil && e.Code != protocol.CodeBadRequest {
				t.Errorf("code = %s, want %s", e.Code, protocol.CodeBadRequest)
			}
		})
	}
}

// equalCommand compares two commands, taking RawMessage fields as equal
// when they hold the same JSON value.
func equalCommand(a, b protocol.Command) bool {
	return a.Op == b.Op && sameJSON(a.ID, b.ID) &&
		a.Name == b.Name && a.Token == b.Token && a.UID == b.UID && sameJSON(a.Meta, b.Meta) &&
		a.Room == b.Room && equalU64(a.Since, b.Since) && a.Epoch == b.Epoch &&
		equalU64(a.Before, b.Before) && a.Limit == b.Limit &&
		sameJSON(a.Data, b.Data) && a.NoEcho == b.NoEcho &&
		a.ToUID == b.ToUID && a.ToClient == b.ToClient
}

func equalU64(a, b *uint64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// sameJSON reports whether a and b encode the same JSON value (numbers
// compared by their text, so large ones keep their precision).
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	va, erra := decodeValue(a)
	vb, errb := decodeValue(b)
	if erra != nil || errb != nil {
		return bytes.Equal(a, b)
	}
	return deepEqualJSON(va, vb)
}

func decodeValue(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func deepEqualJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !deepEqualJSON(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !deepEqualJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}
