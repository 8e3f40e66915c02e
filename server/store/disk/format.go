package disk

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// The store's keys. Every key starts with a kind byte; names are length
// prefixed, so that no room name, however odd, runs into another's keys.
//
//	F                                  format version (uvarint)
//	R name                             a room: epoch and last seq
//	M len(name) name seq               a message of the room
//	N                                  the last inbox id given
//	U uid                              an inbox: the delivered mark
//	I len(uid) uid id                  a direct message of the inbox
//
// Values carry a CRC-32C of the rest, so that `rtsync store check` can
// tell a damaged value from a good one.
const (
	kindFormat  = 'F'
	kindRoom    = 'R'
	kindMessage = 'M'
	kindLastID  = 'N'
	kindInbox   = 'U'
	kindDirect  = 'I'
)

// formatVersion is the layout this build writes; a store with a higher
// one was written by a newer rtsync.
const formatVersion = 1

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var errBadValue = errors.New("checksum or length mismatch")

var formatKey = []byte{kindFormat}
var lastIDKey = []byte{kindLastID}

// prefixKey is kind, the name's length and the name: the prefix of every
// message of a room (kindMessage) or direct message of an inbox
// (kindDirect).
func prefixKey(kind byte, name string) []byte {
	k := make([]byte, 0, 1+binary.MaxVarintLen64+len(name)+8)
	k = append(k, kind)
	k = binary.AppendUvarint(k, uint64(len(name)))
	return append(k, name...)
}

// seqKey is prefix followed by n, big-endian, so keys sort by n.
func seqKey(prefix []byte, n uint64) []byte {
	k := make([]byte, len(prefix), len(prefix)+8)
	copy(k, prefix)
	return binary.BigEndian.AppendUint64(k, n)
}

// parseSeqKey splits a message or direct key into its name and number.
func parseSeqKey(k []byte) (name string, n uint64, ok bool) {
	if len(k) < 1+1+8 {
		return "", 0, false
	}
	l, w := binary.Uvarint(k[1:])
	if w <= 0 || uint64(len(k)) != 1+uint64(w)+l+8 {
		return "", 0, false
	}
	name = string(k[1+w : 1+w+int(l)])
	return name, binary.BigEndian.Uint64(k[len(k)-8:]), true
}

func nameKey(kind byte, name string) []byte {
	return append([]byte{kind}, name...)
}

// sealed prefixes v's body with its checksum.
func seal(body []byte) []byte {
	out := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(out, crc32.Checksum(body, crcTable))
	return append(out, body...)
}

// unseal checks v's checksum and returns its body.
func unseal(v []byte) ([]byte, error) {
	if len(v) < 4 || binary.BigEndian.Uint32(v) != crc32.Checksum(v[4:], crcTable) {
		return nil, errBadValue
	}
	return v[4:], nil
}

// encodeMessage is the value of a message or direct message: ts, the
// length of from, from, data.
func encodeMessage(ts int64, from, data []byte) []byte {
	body := make([]byte, 0, 8+binary.MaxVarintLen64+len(from)+len(data))
	body = binary.BigEndian.AppendUint64(body, uint64(ts))
	body = binary.AppendUvarint(body, uint64(len(from)))
	body = append(body, from...)
	body = append(body, data...)
	return seal(body)
}

// decodeMessage returns the parts of a message value; from and data are
// copies when cp is set, else they alias v.
func decodeMessage(v []byte, cp bool) (ts int64, from, data []byte, err error) {
	body, err := unseal(v)
	if err != nil || len(body) < 9 {
		return 0, nil, nil, errBadValue
	}
	ts = int64(binary.BigEndian.Uint64(body))
	l, w := binary.Uvarint(body[8:])
	if w <= 0 || uint64(len(body)-8-w) < l {
		return 0, nil, nil, errBadValue
	}
	from = body[8+w : 8+w+int(l)]
	data = body[8+w+int(l):]
	if cp {
		from, data = clone(from), clone(data)
	}
	return ts, from, data, nil
}

func clone(b []byte) []byte { return append(make([]byte, 0, len(b)), b...) }

// encodeRoom is a room's value: its last seq and its epoch.
func encodeRoom(epoch string, seq uint64) []byte {
	body := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(epoch)), seq)
	return seal(append(body, epoch...))
}

func decodeRoom(v []byte) (epoch string, seq uint64, err error) {
	body, err := unseal(v)
	if err != nil || len(body) < 8 {
		return "", 0, errBadValue
	}
	return string(body[8:]), binary.BigEndian.Uint64(body), nil
}

// encodeUint is the value of the format, last id and delivered keys.
func encodeUint(n uint64) []byte { return seal(binary.BigEndian.AppendUint64(nil, n)) }

func decodeUint(v []byte) (uint64, error) {
	body, err := unseal(v)
	if err != nil || len(body) != 8 {
		return 0, errBadValue
	}
	return binary.BigEndian.Uint64(body), nil
}
