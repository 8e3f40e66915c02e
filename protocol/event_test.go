package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rtsync/rtsync/protocol"
)

func boolp(v bool) *bool { return &v }
func intp(v int) *int    { return &v }

func TestEventRoundTrip(t *testing.T) {
	t.Parallel()
	from := protocol.From{Client: "c1", UID: "ada", Name: "Ada"}
	tests := []struct {
		name string
		in   any
		want protocol.Event
	}{
		{
			"welcome",
			protocol.Welcome{Type: protocol.TypeWelcome, Client: "c1", UID: "ada", Name: "Ada", Node: "n1", Server: "1.2.3", Protocol: protocol.Version, Heartbeat: 25000},
			protocol.Event{Type: protocol.TypeWelcome, Client: "c1", UID: "ada", Name: "Ada", Node: "n1", Server: "1.2.3", Protocol: protocol.Version, Heartbeat: 25000},
		},
		{
			"anonymous welcome",
			protocol.Welcome{Type: protocol.TypeWelcome, Client: "c1", Node: "n1", Server: "dev", Protocol: protocol.Version, Heartbeat: 1},
			protocol.Event{Type: protocol.TypeWelcome, Client: "c1", Node: "n1", Server: "dev", Protocol: protocol.Version, Heartbeat: 1},
		},
		{
			"reply to ping",
			protocol.Reply{Type: protocol.TypeReply, ID: json.RawMessage(`1`), OK: true, Pong: true},
			protocol.Event{Type: protocol.TypeReply, ID: json.RawMessage(`1`), OK: true, Pong: true},
		},
		{
			"reply to hello",
			protocol.Reply{Type: protocol.TypeReply, ID: json.RawMessage(`"h"`), OK: true, Client: "c1", UID: "ada", Name: "Ada"},
			protocol.Event{Type: protocol.TypeReply, ID: json.RawMessage(`"h"`), OK: true, Client: "c1", UID: "ada", Name: "Ada"},
		},
		{
			"reply to join with recovery",
			protocol.Reply{Type: protocol.TypeReply, ID: json.RawMessage(`2`), OK: true, Room: "lobby", Seq: 42, Epoch: "e1", Recovered: boolp(true), Replayed: intp(3)},
			protocol.Event{Type: protocol.TypeReply, ID: json.RawMessage(`2`), OK: true, Room: "lobby", Seq: 42, Epoch: "e1", Recovered: boolp(true), Replayed: intp(3)},
		},
		{
			"reply to join without recovery keeps false and zero",
			protocol.Reply{Type: protocol.TypeReply, OK: true, Room: "lobby", Seq: 7, Epoch: "e2", Recovered: boolp(false), Replayed: intp(0)},
			protocol.Event{Type: protocol.TypeReply, OK: true, Room: "lobby", Seq: 7, Epoch: "e2", Recovered: boolp(false), Replayed: intp(0)},
		},
		{
			"reply to send with zero delivered",
			protocol.Reply{Type: protocol.TypeReply, ID: json.RawMessage(`3`), OK: true, Delivered: intp(0)},
			protocol.Event{Type: protocol.TypeReply, ID: json.RawMessage(`3`), OK: true, Delivered: intp(0)},
		},
		{
			"reply to presence",
			protocol.Reply{Type: protocol.TypeReply, OK: true, Room: "lobby", Members: []protocol.Member{
				{Client: "c1", UID: "ada", Name: "Ada", Meta: json.RawMessage(`{"color":"red"}`)},
				{Client: "c2"},
			}},
			protocol.Event{Type: protocol.TypeReply, OK: true, Room: "lobby", Members: []protocol.Member{
				{Client: "c1", UID: "ada", Name: "Ada", Meta: json.RawMessage(`{"color":"red"}`)},
				{Client: "c2"},
			}},
		},
		{
			"reply to history",
			protocol.Reply{Type: protocol.TypeReply, OK: true, Room: "lobby", Seq: 9, Epoch: "e1", More: true, Messages: []protocol.Message{
				{Room: "lobby", Seq: 8, Epoch: "e1", TS: 1700000000000, From: from, Data: json.RawMessage(`"hi"`)},
				{Room: "lobby", Seq: 9, Epoch: "e1", TS: 1700000000001, From: protocol.From{Client: "c2"}, Data: json.RawMessage(`{"n":1}`)},
			}},
			protocol.Event{Type: protocol.TypeReply, OK: true, Room: "lobby", Seq: 9, Epoch: "e1", More: true, Messages: []protocol.Message{
				{Room: "lobby", Seq: 8, Epoch: "e1", TS: 1700000000000, From: from, Data: json.RawMessage(`"hi"`)},
				{Room: "lobby", Seq: 9, Epoch: "e1", TS: 1700000000001, From: protocol.From{Client: "c2"}, Data: json.RawMessage(`{"n":1}`)},
			}},
		},
		{
			"error reply",
			protocol.Reply{Type: protocol.TypeReply, ID: json.RawMessage(`4`), Error: protocol.Errorf(protocol.CodeNotJoined, "not in room %q", "x")},
			protocol.Event{Type: protocol.TypeReply, ID: json.RawMessage(`4`), Error: &protocol.Error{Code: protocol.CodeNotJoined, Message: `not in room "x"`}},
		},
		{
			"msg",
			protocol.Message{Type: protocol.TypeMsg, Room: "lobby", Seq: 1, Epoch: "e1", TS: 1700000000000, From: from, Data: json.RawMessage(`{"text":"hi"}`)},
			protocol.Event{Type: protocol.TypeMsg, Room: "lobby", Seq: 1, Epoch: "e1", TS: 1700000000000, From: &from, Data: json.RawMessage(`{"text":"hi"}`)},
		},
		{
			"direct",
			protocol.Direct{Type: protocol.TypeDirect, From: from, TS: 1700000000000, Data: json.RawMessage(`[1,2,3]`)},
			protocol.Event{Type: protocol.TypeDirect, From: &from, TS: 1700000000000, Data: json.RawMessage(`[1,2,3]`)},
		},
		{
			"join presence",
			protocol.Presence{Type: protocol.TypeJoin, Room: "lobby", Client: "c1", UID: "ada", Name: "Ada"},
			protocol.Event{Type: protocol.TypeJoin, Room: "lobby", Client: "c1", UID: "ada", Name: "Ada"},
		},
		{
			"leave presence",
			protocol.Presence{Type: protocol.TypeLeave, Room: "lobby", Client: "c2"},
			protocol.Event{Type: protocol.TypeLeave, Room: "lobby", Client: "c2"},
		},
		{
			"error event",
			protocol.ErrorEvent{Type: protocol.TypeError, Code: protocol.CodeTooLarge, Message: "frame is longer than 65536 bytes"},
			protocol.Event{Type: protocol.TypeError, Code: protocol.CodeTooLarge, Message: "frame is longer than 65536 bytes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := protocol.Marshal(tt.in)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if bytes.IndexByte(b, '\n') >= 0 {
				t.Fatalf("Marshal output holds a newline: %s", b)
			}
			got, err := protocol.DecodeEvent(b)
			if err != nil {
				t.Fatalf("DecodeEvent(%s): %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeEvent(%s)\n got %+v\nwant %+v", b, got, tt.want)
			}
		})
	}
}

func TestMarshalNeverWritesNewline(t *testing.T) {
	t.Parallel()
	from := protocol.From{Client: "c1", Name: "line1\nline2"}
	pretty := json.RawMessage("{\n  \"text\": \"a\\nb\",\n  \"list\": [\n    1,\n    2\n  ]\n}")
	tests := []struct {
		name string
		in   any
	}{
		{"msg with pretty data", protocol.Message{Type: protocol.TypeMsg, Room: "r", Seq: 1, Epoch: "e", From: from, Data: pretty}},
		{"direct with pretty data", protocol.Direct{Type: protocol.TypeDirect, From: from, Data: pretty}},
		{"member meta", protocol.Reply{Type: protocol.TypeReply, OK: true, Members: []protocol.Member{{Client: "c", Meta: pretty}}}},
		{"id with escaped newline", protocol.Reply{Type: protocol.TypeReply, ID: json.RawMessage(`"a\nb"`), OK: true}},
		{"error message with newline", protocol.ErrorEvent{Type: protocol.TypeError, Code: protocol.CodeBadJSON, Message: "one\ntwo\r\n"}},
		{"command with pretty data", protocol.Command{Op: protocol.OpPub, Room: "r", Data: pretty}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := protocol.Marshal(tt.in)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if bytes.ContainsAny(b, "\r\n") {
				t.Errorf("Marshal output holds a raw line break: %q", b)
			}
			var n int
			_ = protocol.Split(b, func([]byte) error { n++; return nil })
			if n != 1 {
				t.Errorf("Split sees %d objects in one marshalled value, want 1", n)
			}
		})
	}
}

func TestMarshalRejectsInvalidRawJSON(t *testing.T) {
	t.Parallel()
	_, err := protocol.Marshal(protocol.Message{Type: protocol.TypeMsg, Data: json.RawMessage(`{"a":`)})
	if err == nil {
		t.Fatal("Marshal accepted invalid raw JSON")
	}
	if !strings.Contains(err.Error(), "protocol.Message") {
		t.Errorf("error %q does not name the type being encoded", err)
	}
}

func TestDecodeEventErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ``},
		{"not JSON", `hello`},
		{"truncated", `{"type":"msg",`},
		{"missing type", `{"room":"lobby"}`},
		{"empty type", `{"type":""}`},
		{"array", `[{"type":"msg"}]`},
		{"wrong-typed seq", `{"type":"msg","seq":"1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := protocol.DecodeEvent([]byte(tt.in)); err == nil {
				t.Errorf("DecodeEvent(%q) succeeded, want an error", tt.in)
			}
		})
	}
}

func TestDecodeEventIgnoresUnknownFields(t *testing.T) {
	t.Parallel()
	e, err := protocol.DecodeEvent([]byte(`{"type":"future","x":1,"room":"r"}`))
	if err != nil {
		t.Fatalf("DecodeEvent: %v", err)
	}
	if e.Type != "future" || e.Room != "r" {
		t.Errorf("got %+v", e)
	}
}

func TestEventMsg(t *testing.T) {
	t.Parallel()
	from := protocol.From{Client: "c1", UID: "u", Name: "n"}
	want := protocol.Message{Room: "r", Seq: 5, Epoch: "e", TS: 99, From: from, Data: json.RawMessage(`1`)}
	b, err := protocol.Marshal(protocol.Message{Type: protocol.TypeMsg, Room: "r", Seq: 5, Epoch: "e", TS: 99, From: from, Data: json.RawMessage(`1`)})
	if err != nil {
		t.Fatal(err)
	}
	e, err := protocol.DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Msg(); !reflect.DeepEqual(got, want) {
		t.Errorf("Msg() = %+v, want %+v", got, want)
	}
	// A msg without from must not panic and gives an empty From.
	e = protocol.Event{Type: protocol.TypeMsg, Room: "r"}
	if got := e.Msg(); got.From != (protocol.From{}) {
		t.Errorf("Msg() without from = %+v", got.From)
	}
}

func TestEventErr(t *testing.T) {
	t.Parallel()
	ok := protocol.Event{Type: protocol.TypeReply, OK: true}
	if err := ok.Err(); err != nil {
		t.Errorf("Err() of a successful reply = %v", err)
	}
	failed := protocol.Event{Type: protocol.TypeReply, Error: &protocol.Error{Code: protocol.CodeOffline, Message: "gone"}}
	err := failed.Err()
	var pe *protocol.Error
	if err == nil || !errors.As(err, &pe) || pe.Code != protocol.CodeOffline {
		t.Errorf("Err() = %v, want a *protocol.Error with code offline", err)
	}
	if err.Error() != "offline: gone" {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestCloseCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code      int
		reconnect bool
	}{
		{protocol.CloseUnauthorized, false},
		{protocol.CloseSlowConsumer, true},
		{protocol.CloseRateLimited, true},
		{protocol.CloseKicked, false},
		{protocol.CloseServerFull, true},
		{protocol.CloseGoingAway, true},
		{protocol.CloseNoHeartbeat, true},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		reason := protocol.CloseReason(tt.code)
		if reason == "" {
			t.Errorf("close code %d has no reason", tt.code)
		}
		// RFC 6455: the close frame's body (2-byte code + reason) fits in 125 bytes.
		if len(reason) > 123 {
			t.Errorf("reason for %d is %d bytes, over the close frame limit", tt.code, len(reason))
		}
		if seen[reason] {
			t.Errorf("reason %q is used twice", reason)
		}
		seen[reason] = true
		if tt.code < 4000 || tt.code > 4999 {
			t.Errorf("close code %d outside the application range", tt.code)
		}
		if got := protocol.ShouldReconnect(tt.code); got != tt.reconnect {
			t.Errorf("ShouldReconnect(%d) = %v, want %v", tt.code, got, tt.reconnect)
		}
	}
	for _, code := range []int{1000, 1001, 1006, 1009, 4000} {
		if r := protocol.CloseReason(code); r != "" {
			t.Errorf("CloseReason(%d) = %q, want empty", code, r)
		}
		if !protocol.ShouldReconnect(code) {
			t.Errorf("ShouldReconnect(%d) = false, want true", code)
		}
	}
}

// Marshal must not grow values with HTML escapes: a command at a limit has to
// stay within it when a Go client encodes it.
func TestMarshalKeepsHTMLCharacters(t *testing.T) {
	t.Parallel()
	id := `"` + strings.Repeat("<", protocol.MaxIDLen-2) + `"`
	meta := `{"u":"` + strings.Repeat("&", protocol.MaxMetaBytes-len(`{"u":""}`)) + `"}`
	in := `{"op":"hello","id":` + id + `,"name":"a<b>&c","meta":` + meta + `}`
	c, e := protocol.Decode([]byte(in))
	if e != nil {
		t.Fatalf("Decode: %v", e)
	}
	b, err := protocol.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`\u00`)) {
		t.Errorf("Marshal escaped HTML characters: %.120s…", b)
	}
	c2, e := protocol.Decode(b)
	if e != nil {
		t.Fatalf("re-encoded command refused: %v", e)
	}
	if string(c2.ID) != id || string(c2.Meta) != meta || c2.Name != "a<b>&c" {
		t.Errorf("round trip changed the command: id %.20s… meta %.20s… name %q", c2.ID, c2.Meta, c2.Name)
	}
}

// TestCloseEventDecodes: the TCP close line decodes as an Event, its numeric
// close code apart from the string code of error events.
func TestCloseEventDecodes(t *testing.T) {
	t.Parallel()
	b, err := protocol.Marshal(protocol.CloseEvent{Type: protocol.TypeClose, CloseCode: protocol.CloseSlowConsumer, Reason: "slow consumer"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := protocol.DecodeEvent(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if e.Type != protocol.TypeClose || e.CloseCode != protocol.CloseSlowConsumer || e.Reason != "slow consumer" || e.Code != "" {
		t.Fatalf("decoded %+v from %s", e, b)
	}
}
