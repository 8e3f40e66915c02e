package redisbroker

import (
	"reflect"
	"testing"

	"github.com/rtsync/rtsync/server/broker"
)

// reencode encodes a decoded payload again.
func reencode(e *envelope) []byte {
	switch e.kind {
	case kindRoom:
		return encodeRoom(e.node, e.room)
	case kindPublish:
		return encodePublish(e.node, e.room)
	case kindUser, kindClient:
		return encodeDirect(e.kind, e.node, e.name, e.event)
	case kindControl:
		return encodeControl(e.node, e.ctl)
	case kindQuery:
		return encodeQuery(e.node, e.qid, e.qkind, e.body)
	case kindAnswer:
		return encodeAnswer(e.node, e.qid, e.status, e.body)
	}
	return nil
}

// FuzzDecodePayload: no payload makes the decoder panic, and what it
// reads encodes back to a payload that reads the same.
func FuzzDecodePayload(f *testing.F) {
	m := &broker.RoomMessage{Room: "lobby", Seq: 42, Epoch: "abcd2345", TS: 1700000000000, At: 1700000000000000000,
		From: []byte(`{"client":"c1"}`), Data: []byte(`"hi"`), Origin: "c1", Exclude: []string{"c2", "c:3"}}
	f.Add(encodeRoom("n1", m))
	f.Add(encodePublish("n1", &broker.RoomMessage{Room: "r", Event: []byte(`{"event":"leave"}`), Presence: true}))
	f.Add(encodeDirect(kindUser, "n1", "u1", []byte(`{}`)))
	f.Add(encodeDirect(kindClient, "n1", "c1", nil))
	f.Add(encodeControl("n1", broker.Control{Kind: broker.ControlKick, Client: "c1", Reason: "bye", Value: []byte(`x`)}))
	f.Add(encodeQuery("n1", 7, "clients", []byte(`{"room":"r"}`)))
	f.Add(encodeAnswer("n2", 7, "", []byte(`["c1"]`)))
	f.Add([]byte("R1:"))
	f.Add([]byte("U99999999999:x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decode(b)
		if err != nil {
			return
		}
		e2, err := decode(reencode(e))
		if err != nil {
			t.Fatalf("%q decodes, but its encoding again does not: %v", b, err)
		}
		normalize(e)
		normalize(e2)
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("%q decodes to %+v, its encoding again to %+v", b, e, e2)
		}
	})
}

// normalize makes empty byte slices nil, which an encoding cannot tell
// apart.
func normalize(e *envelope) {
	z := func(b *[]byte) {
		if len(*b) == 0 {
			*b = nil
		}
	}
	z(&e.event)
	z(&e.body)
	z(&e.ctl.Value)
	if e.room != nil {
		z(&e.room.From)
		z(&e.room.Data)
		z(&e.room.Event)
		if len(e.room.Exclude) == 0 {
			e.room.Exclude = nil
		}
	}
}
