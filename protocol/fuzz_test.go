package protocol_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/rtsync/rtsync/protocol"
)

// decodeCodes are the codes Decode may return; the other codes come from the
// server, not from parsing a command.
var decodeCodes = map[string]bool{
	protocol.CodeBadJSON:    true,
	protocol.CodeBadRequest: true,
	protocol.CodeUnknownOp:  true,
	protocol.CodeBadRoom:    true,
	protocol.CodeBadFrame:   true,
}

// FuzzDecode feeds arbitrary frames through Split and Decode, the path every
// client frame takes on the server. Seeds beyond these live in
// testdata/fuzz/FuzzDecode. -fuzz is a regexp and FuzzDecodeEvent matches
// it too, so anchor it:
//
//	go test -run='^$' -fuzz='^FuzzDecode$' -fuzztime=60s ./protocol
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"op":"ping","id":1}`,
		`{"op":"hello","name":"Ada","uid":"ada","token":"t","meta":{"a":1}}`,
		`{"op":"join","room":"lobby","since":3,"epoch":"e1"}`,
		`{"op":"leave","room":"lobby"}`,
		`{"op":"pub","room":"lobby","data":{"text":"hi"},"noecho":true,"id":"x"}`,
		`{"op":"send","to_uid":"bob","data":[1,2]}`,
		`{"op":"presence","room":"lobby"}`,
		`{"op":"history","room":"lobby","before":10,"limit":5}`,
		"{\"op\":\"ping\",\"id\":1}\n{\"op\":\"ping\",\"id\":2}\r\n\n",
		`{"op":"join","room":5,"id":9}`,
		`{"op":"pub","room":"r","data":{"a": [1, 2],	"b": "<&>"}}`,
		"{\"op\":\"hello\",\"name\":\"\xff\"}",
		`[1,2,3]`,
		`{"op":`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		_ = protocol.Split(frame, func(obj []byte) error {
			if bytes.IndexByte(obj, '\n') >= 0 {
				t.Fatalf("Split passed an object holding a newline: %q", obj)
			}
			checkDecode(t, obj)
			return nil
		})
		// The whole frame as one object too: this reaches Validate with raw
		// newlines inside values, which Split never lets through.
		checkDecode(t, frame)
	})
}

func checkDecode(t *testing.T, obj []byte) {
	t.Helper()
	c, e := protocol.Decode(obj)
	if e != nil {
		if !decodeCodes[e.Code] {
			t.Fatalf("Decode(%q): undocumented code %q (%s)", obj, e.Code, e.Message)
		}
		if e.Message == "" || !utf8.ValidString(e.Message) {
			t.Fatalf("Decode(%q): bad message %q", obj, e.Message)
		}
		// An id kept for the error reply must be one the reply may echo.
		if len(c.ID) > 0 {
			if len(c.ID) > protocol.MaxIDLen || !json.Valid(c.ID) {
				t.Fatalf("Decode(%q) kept an unusable id %q", obj, c.ID)
			}
			if _, err := protocol.Marshal(protocol.Reply{Type: protocol.TypeReply, ID: c.ID, Error: e}); err != nil {
				t.Fatalf("error reply for %q does not encode: %v", obj, err)
			}
		}
		return
	}
	switch c.Op {
	case protocol.OpPub, protocol.OpSend:
		if bytes.ContainsAny(c.Data, "\r\n") {
			t.Fatalf("Decode(%q): data holds a raw line break: %q", obj, c.Data)
		}
	case protocol.OpHello:
		if bytes.ContainsAny(c.Meta, "\r\n") {
			t.Fatalf("Decode(%q): meta holds a raw line break: %q", obj, c.Meta)
		}
	}
	b, err := protocol.Marshal(c)
	if err != nil {
		t.Fatalf("Marshal(%+v) from %q: %v", c, obj, err)
	}
	if bytes.IndexByte(b, '\n') >= 0 {
		t.Fatalf("Marshal output holds a newline: %q", b)
	}
	c2, e2 := protocol.Decode(b)
	if e2 != nil {
		t.Fatalf("re-marshalled command %s from %q does not decode: %v", b, obj, e2)
	}
	if !equalCommand(c, c2) {
		t.Fatalf("round trip changed the command\n  in %q\n got %+v\nwant %+v", obj, c2, c)
	}
}

// FuzzDecodeEvent checks that a client's event decoder survives anything a
// server (or a man in the middle) may send.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"welcome","client":"c1","node":"n","server":"1","protocol":1,"heartbeat":25000}`,
		`{"type":"reply","id":1,"ok":true,"room":"r","seq":3,"epoch":"e","recovered":false,"replayed":0}`,
		`{"type":"reply","ok":true,"messages":[{"room":"r","seq":1,"epoch":"e","ts":1,"from":{"client":"c"},"data":null}],"more":true}`,
		`{"type":"reply","ok":true,"members":[{"client":"c","meta":{"a":1}}]}`,
		`{"type":"reply","id":"x","ok":false,"error":{"code":"not_joined","message":"no"}}`,
		`{"type":"msg","room":"r","seq":1,"epoch":"e","ts":1,"from":{"client":"c","uid":"u","name":"n"},"data":{"t":"hi"}}`,
		`{"type":"direct","from":{"client":"c"},"ts":1,"data":"x"}`,
		`{"type":"join","room":"r","client":"c"}`,
		`{"type":"error","code":"bad_json","message":"x"}`,
		`{"type":"msg","seq":-1,"from":[]}`,
		`{"room":"r"}`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		_ = protocol.Split(frame, func(obj []byte) error {
			e, err := protocol.DecodeEvent(obj)
			if err != nil {
				return nil
			}
			if e.Type == "" {
				t.Fatalf("DecodeEvent(%q) succeeded with no type", obj)
			}
			_ = e.Msg()
			_ = e.Err()
			return nil
		})
	})
}
