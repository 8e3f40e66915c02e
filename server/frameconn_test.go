package server

import "encoding/binary"

// wsFrame builds a WebSocket frame header and payload as a client would
// send it (masked) or a server (unmasked).
func wsFrame(payload []byte, masked bool) []byte {
	b := []byte{0x81}
	mask := byte(0)
	if masked {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, mask|byte(n))
	case n < 1<<16:
		b = append(b, mask|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if masked {
		b = append(b, 1, 2, 3, 4) // the mask is opaque to frameConn
	}
	return append(b, payload...)
}
