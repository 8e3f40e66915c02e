package redisbroker

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/rtsync/rtsync/server/broker"
)

// The payload of every message the broker publishes is a kind byte then
// fields, each its length in decimal, ":", and its bytes: a format the
// append script builds with plain string concatenation.
const (
	// kindRoom: a room message appended by the script. Fields: seq,
	// epoch, node, room, ts, at, origin, exclude, from, data.
	kindRoom = 'R'
	// kindPublish: a room message published without the script
	// (presence, or PublishRoom of a message sequenced elsewhere).
	// Fields: node, room, seq, epoch, at, origin, exclude, event,
	// presence ("1" or "").
	kindPublish = 'P'
	// kindUser, kindClient: a direct event. Fields: node, uid or client,
	// event.
	kindUser   = 'U'
	kindClient = 'C'
	// kindControl: fields node, kind, client, uid, room, reason, value.
	kindControl = 'K'
	// kindQuery: fields node (the asker), query id, kind, args.
	kindQuery = 'Q'
	// kindAnswer: fields node (the answerer), query id, status ("" or
	// an error the asker reports), body.
	kindAnswer = 'A'
)

// maxFields is the most fields a payload has.
const maxFields = 10

// maxExclude bounds the client ids an exclude list may hold.
const maxExclude = 1 << 16

var errPayload = errors.New("malformed payload")

// appendField appends x as a field.
func appendField(b []byte, x []byte) []byte {
	b = strconv.AppendInt(b, int64(len(x)), 10)
	b = append(b, ':')
	return append(b, x...)
}

func appendFieldString(b []byte, x string) []byte {
	b = strconv.AppendInt(b, int64(len(x)), 10)
	b = append(b, ':')
	return append(b, x...)
}

func appendFieldInt(b []byte, n int64) []byte {
	var tmp [20]byte
	return appendField(b, strconv.AppendInt(tmp[:0], n, 10))
}

func appendFieldUint(b []byte, n uint64) []byte {
	var tmp [20]byte
	return appendField(b, strconv.AppendUint(tmp[:0], n, 10))
}

// appendExclude appends the exclude list as one field holding a field per
// client id.
func appendExclude(b []byte, ids []string) []byte {
	if len(ids) == 0 {
		return appendField(b, nil)
	}
	var inner []byte
	for _, id := range ids {
		inner = appendFieldString(inner, id)
	}
	return appendField(b, inner)
}

// nextField cuts the first field off b.
func nextField(b []byte) (field, rest []byte, err error) {
	n := 0
	i := 0
	for ; i < len(b) && b[i] != ':'; i++ {
		c := b[i]
		if c < '0' || c > '9' || i >= 9 {
			return nil, nil, errPayload
		}
		n = n*10 + int(c-'0')
	}
	if i == 0 || i == len(b) || n > len(b)-i-1 {
		return nil, nil, errPayload
	}
	b = b[i+1:]
	return b[:n:n], b[n:], nil
}

// split reads exactly len(out) fields of b into out.
func split(b []byte, out [][]byte) error {
	for i := range out {
		f, rest, err := nextField(b)
		if err != nil {
			return fmt.Errorf("field %d: %w", i+1, err)
		}
		out[i], b = f, rest
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes after the last field: %w", len(b), errPayload)
	}
	return nil
}

func parseInt(f []byte) (int64, error) {
	n, err := strconv.ParseInt(string(f), 10, 64)
	if err != nil {
		return 0, errPayload
	}
	return n, nil
}

func parseUint(f []byte) (uint64, error) {
	n, err := strconv.ParseUint(string(f), 10, 64)
	if err != nil {
		return 0, errPayload
	}
	return n, nil
}

func parseExclude(f []byte) ([]string, error) {
	var ids []string
	for len(f) > 0 {
		if len(ids) == maxExclude {
			return nil, errPayload
		}
		id, rest, err := nextField(f)
		if err != nil {
			return nil, err
		}
		ids = append(ids, string(id))
		f = rest
	}
	return ids, nil
}

// envelope is a decoded payload.
type envelope struct {
	kind byte
	node string
	// room: kindRoom and kindPublish.
	room *broker.RoomMessage
	// name is the uid or client of kindUser and kindClient; event their
	// event.
	name  string
	event []byte
	ctl   broker.Control
	// Queries and answers.
	qid    uint64
	qkind  string
	status string
	body   []byte
}

// decode reads a payload. The byte slices of the result share b.
func decode(b []byte) (*envelope, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty payload: %w", errPayload)
	}
	var f [maxFields][]byte
	e := &envelope{kind: b[0]}
	var err error
	switch e.kind {
	case kindRoom:
		if err = split(b[1:], f[:10]); err != nil {
			break
		}
		m := &broker.RoomMessage{Epoch: string(f[1]), Room: string(f[3]), Origin: string(f[6]), From: f[8], Data: f[9]}
		e.node = string(f[2])
		if m.Seq, err = parseUint(f[0]); err != nil {
			break
		}
		if m.TS, err = parseInt(f[4]); err != nil {
			break
		}
		if m.At, err = parseInt(f[5]); err != nil {
			break
		}
		if m.Exclude, err = parseExclude(f[7]); err != nil {
			break
		}
		e.room = m
	case kindPublish:
		if err = split(b[1:], f[:9]); err != nil {
			break
		}
		m := &broker.RoomMessage{Room: string(f[1]), Epoch: string(f[3]), Origin: string(f[5]), Event: f[7], Presence: string(f[8]) == "1"}
		e.node = string(f[0])
		if m.Seq, err = parseUint(f[2]); err != nil {
			break
		}
		if m.At, err = parseInt(f[4]); err != nil {
			break
		}
		if m.Exclude, err = parseExclude(f[6]); err != nil {
			break
		}
		e.room = m
	case kindUser, kindClient:
		if err = split(b[1:], f[:3]); err != nil {
			break
		}
		e.node, e.name, e.event = string(f[0]), string(f[1]), f[2]
	case kindControl:
		if err = split(b[1:], f[:7]); err != nil {
			break
		}
		e.node = string(f[0])
		e.ctl = broker.Control{Kind: string(f[1]), Client: string(f[2]), UID: string(f[3]), Room: string(f[4]), Reason: string(f[5]), Value: f[6]}
	case kindQuery:
		if err = split(b[1:], f[:4]); err != nil {
			break
		}
		e.node, e.qkind, e.body = string(f[0]), string(f[2]), f[3]
		e.qid, err = parseUint(f[1])
	case kindAnswer:
		if err = split(b[1:], f[:4]); err != nil {
			break
		}
		e.node, e.status, e.body = string(f[0]), string(f[2]), f[3]
		e.qid, err = parseUint(f[1])
	default:
		return nil, fmt.Errorf("unknown kind %q: %w", b[0], errPayload)
	}
	if err != nil {
		return nil, fmt.Errorf("payload of kind %q: %w", e.kind, err)
	}
	return e, nil
}

// roomMeta is the part of a kindRoom payload that the append script gets
// from the caller: node, room, ts, at, origin, exclude.
func roomMeta(node string, m *broker.RoomMessage) []byte {
	b := make([]byte, 0, 48+len(node)+len(m.Room)+len(m.Origin))
	b = appendFieldString(b, node)
	b = appendFieldString(b, m.Room)
	b = appendFieldInt(b, m.TS)
	b = appendFieldInt(b, m.At)
	b = appendFieldString(b, m.Origin)
	return appendExclude(b, m.Exclude)
}

// encodeRoom builds a kindRoom payload as the append script does (for
// tests and the fuzz seeds).
func encodeRoom(node string, m *broker.RoomMessage) []byte {
	b := []byte{kindRoom}
	b = appendFieldUint(b, m.Seq)
	b = appendFieldString(b, m.Epoch)
	b = append(b, roomMeta(node, m)...)
	b = appendField(b, m.From)
	return appendField(b, m.Data)
}

func encodePublish(node string, m *broker.RoomMessage) []byte {
	b := make([]byte, 0, 64+len(node)+len(m.Room)+len(m.Event))
	b = append(b, kindPublish)
	b = appendFieldString(b, node)
	b = appendFieldString(b, m.Room)
	b = appendFieldUint(b, m.Seq)
	b = appendFieldString(b, m.Epoch)
	b = appendFieldInt(b, m.At)
	b = appendFieldString(b, m.Origin)
	b = appendExclude(b, m.Exclude)
	b = appendField(b, m.Event)
	if m.Presence {
		return appendFieldString(b, "1")
	}
	return appendField(b, nil)
}

func encodeDirect(kind byte, node, name string, event []byte) []byte {
	b := make([]byte, 0, 16+len(node)+len(name)+len(event))
	b = append(b, kind)
	b = appendFieldString(b, node)
	b = appendFieldString(b, name)
	return appendField(b, event)
}

func encodeControl(node string, c broker.Control) []byte {
	b := []byte{kindControl}
	b = appendFieldString(b, node)
	b = appendFieldString(b, c.Kind)
	b = appendFieldString(b, c.Client)
	b = appendFieldString(b, c.UID)
	b = appendFieldString(b, c.Room)
	b = appendFieldString(b, c.Reason)
	return appendField(b, c.Value)
}

func encodeQuery(node string, qid uint64, kind string, args []byte) []byte {
	b := make([]byte, 0, 32+len(node)+len(kind)+len(args))
	b = append(b, kindQuery)
	b = appendFieldString(b, node)
	b = appendFieldUint(b, qid)
	b = appendFieldString(b, kind)
	return appendField(b, args)
}

func encodeAnswer(node string, qid uint64, status string, body []byte) []byte {
	b := make([]byte, 0, 32+len(node)+len(status)+len(body))
	b = append(b, kindAnswer)
	b = appendFieldString(b, node)
	b = appendFieldUint(b, qid)
	b = appendFieldString(b, status)
	return appendField(b, body)
}

// memberField is the field of a membership hash: room then client.
func memberField(room, client string) string {
	b := appendFieldString(nil, room)
	return string(appendFieldString(b, client))
}

func parseMemberField(s string) (room, client string, err error) {
	var f [2][]byte
	if err := split([]byte(s), f[:]); err != nil {
		return "", "", err
	}
	return string(f[0]), string(f[1]), nil
}
