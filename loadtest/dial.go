package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rtsync/rtsync/protocol"
)

// Timing of one connection's set-up.
const (
	// handshakeTimeout bounds dial + upgrade + welcome + hello/join replies.
	handshakeTimeout = 15 * time.Second
	// readBuffer and writeBuffer size gorilla's buffers: receivers read
	// frames of batched messages; publishers write batches.
	readBuffer  = 4096
	writeBuffer = 4096
)

// replyError is an error reply the server sent to hello, join or pub.
type replyError struct{ code, message string }

func (e *replyError) Error() string { return fmt.Sprintf("server replied %s: %s", e.code, e.message) }

// writeBufs are the dialers' shared write buffers.
var writeBufs = &sync.Pool{}

// dialer builds the gorilla dialer for one source address (nil: let the
// kernel pick). Binding a source address costs a port per address, so it
// is only done when --source-ips asks for it.
func newDialer(src netip.Addr) *websocket.Dialer {
	// No TCP keep-alive: the server's heartbeat pings keep a connection
	// checked, and the probes' socket options cost four system calls a
	// dial.
	nd := &net.Dialer{Timeout: handshakeTimeout, KeepAlive: -1}
	if src.IsValid() {
		nd.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	return &websocket.Dialer{
		NetDialContext:   wrapDial(nd.DialContext),
		HandshakeTimeout: handshakeTimeout,
		ReadBufferSize:   readBuffer,
		WriteBufferSize:  writeBuffer,
		// A connection holds a write buffer only while it writes a
		// message: receivers write only hello and join.
		WriteBufferPool: writeBufs,
	}
}

// cause names why a dial, handshake or connection failed, for the
// failures-by-cause counts.
func cause(err error, resp *http.Response) string {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		return "http_" + strconv.Itoa(resp.StatusCode)
	}
	var re *replyError
	if errors.As(err, &re) {
		return "error_" + re.code
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return "close_" + strconv.Itoa(ce.Code)
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, syscall.EADDRINUSE), errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_source_port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too_many_files"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "eof"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return "dns"
	}
	if errors.Is(err, websocket.ErrBadHandshake) {
		return "bad_handshake"
	}
	return "other"
}

// wireEvent is the part of a server event the handshake looks at.
type wireEvent struct {
	Type   string          `json:"type"`
	ID     json.RawMessage `json:"id"`
	OK     bool            `json:"ok"`
	Server string          `json:"server"`
	Node   string          `json:"node"`
	// Heartbeat is the server's ping interval in ms (welcome).
	Heartbeat int64 `json:"heartbeat"`
	Error     *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	CloseCode int    `json:"close_code"`
	Reason    string `json:"reason"`
}

// handshake is what a connection learnt while setting up.
type handshake struct {
	server, node string
	heartbeat    time.Duration
}

// rtsyncSetup reads the welcome, then sends hello (and join, for a room
// member) in one frame and waits for their replies. Events that arrive
// meanwhile (presence, early messages) are skipped: nothing is measured
// before the run starts.
func rtsyncSetup(ws *websocket.Conn, hello, join []byte) (handshake, error) {
	var hs handshake
	_ = ws.SetReadDeadline(time.Now().Add(handshakeTimeout))
	defer ws.SetReadDeadline(time.Time{})
	want := map[string]bool{}
	var frame []byte
	if hello != nil {
		frame = append(frame, hello...)
		want["1"] = true
	}
	if join != nil {
		if frame != nil {
			frame = append(frame, '\n')
		}
		frame = append(frame, join...)
		want["2"] = true
	}
	welcomed := false
	var buf []byte
	for !welcomed || len(want) > 0 {
		_, r, err := ws.NextReader()
		if err != nil {
			return hs, err
		}
		if buf, err = readAll(r, buf[:0]); err != nil {
			return hs, err
		}
		data := buf
		for len(data) > 0 {
			line := data
			if i := indexByte(data, '\n'); i >= 0 {
				line, data = data[:i], data[i+1:]
			} else {
				data = nil
			}
			var ev wireEvent
			if !quickEvent(line, &ev) && json.Unmarshal(line, &ev) != nil {
				continue
			}
			switch ev.Type {
			case "welcome":
				welcomed = true
				hs.server, hs.node = ev.Server, ev.Node
				hs.heartbeat = time.Duration(ev.Heartbeat) * time.Millisecond
				if frame != nil {
					if err := ws.WriteMessage(websocket.TextMessage, frame); err != nil {
						return hs, err
					}
				}
			case "reply":
				id := string(ev.ID)
				if !want[id] {
					continue
				}
				delete(want, id)
				if !ev.OK {
					code, msg := "unknown", "no error given"
					if ev.Error != nil {
						code, msg = ev.Error.Code, ev.Error.Message
					}
					return hs, &replyError{code: code, message: msg}
				}
			case "error":
				return hs, &replyError{code: "protocol", message: string(line)}
			}
		}
	}
	return hs, nil
}

// quickEvent reads the events the set-up waits through without decoding
// JSON, as rtsync writes them: an event it does not look at (presence,
// early messages: only its type is set) and a successful reply (type, id,
// ok). It reports false for anything else (the welcome, an error, a reply
// written otherwise), which is then decoded in full.
func quickEvent(line []byte, ev *wireEvent) bool {
	const typePrefix = `{"type":"`
	if !bytes.HasPrefix(line, []byte(typePrefix)) {
		return false
	}
	rest := line[len(typePrefix):]
	end := indexByte(rest, '"')
	if end < 0 {
		return false
	}
	typ := rest[:end]
	switch string(typ) {
	case "welcome", "error":
		return false
	case "reply":
	default:
		ev.Type = string(typ)
		return true
	}
	// {"type":"reply","id":N,"ok":true...
	rest = rest[end+1:]
	if !bytes.HasPrefix(rest, []byte(`,"id":`)) {
		return false
	}
	rest = rest[len(`,"id":`):]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 || !bytes.HasPrefix(rest[n:], []byte(`,"ok":true`)) {
		return false
	}
	ev.Type, ev.ID, ev.OK = "reply", rest[:n], true
	return true
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// causeHints says what to do about the failure causes a user can act on,
// keyed as cause names them. Causes with nothing to add are absent.
var causeHints = map[string]string{
	"close_" + strconv.Itoa(protocol.CloseRateLimited):  "4009: a publisher sent faster than the server allows each connection (rtsync serve --publish-rate, 100/s by default); raise it on the server, or spread --rate over more --publishers",
	"close_" + strconv.Itoa(protocol.CloseSlowConsumer): "4008: a receiver's send queue overflowed on the server; the bench read too slowly (see its CPU) or the server's --send-queue is small for the rate",
	"close_" + strconv.Itoa(protocol.CloseServerFull):   "4011: the server is at its --max-conns",
	"close_" + strconv.Itoa(protocol.CloseUnauthorized): "4001: the server wants a token (--token) or refused the one given; rtsync token makes one",
	"close_" + strconv.Itoa(protocol.CloseGoingAway):    "4012: the server shut down during the run",
	"close_" + strconv.Itoa(protocol.CloseNoHeartbeat):  "4013: the server heard nothing from a connection for two heartbeats; the bench was too busy to answer pings (see its CPU)",
	"no_source_port": "no_source_port: the ephemeral ports to one address ran out; spread connections with --source-ips 127.0.0.1-127.0.0.16",
	"too_many_files": "too_many_files: the bench hit its open-file limit; use more --procs",
	"refused":        "refused: nothing listens at the URL; is the server running?",
}

// hints returns the hints for the causes in m, most frequent first, as
// one sentence; "" when none applies.
func hints(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if causeHints[k] != "" {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, causeHints[k])
	}
	return strings.Join(parts, "; ")
}

// hintSuffix is hints(m) as the end of a warning: "" or ". " and the hints.
func hintSuffix(m map[string]int64) string {
	if h := hints(m); h != "" {
		return ". " + h
	}
	return ""
}
