package client

import (
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// Defaults for the zero fields of Options.
const (
	// DefaultEventBuffer is the capacity of the Events channel. An Event
	// is about 400 bytes, so the channel's buffer costs some 26 KB.
	DefaultEventBuffer = 64
	// DefaultRequestTimeout bounds a request whose context has no deadline.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultHandshakeTimeout bounds the TCP connect, WebSocket upgrade and
	// welcome of one connection attempt.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds one write to the socket.
	DefaultWriteTimeout = 10 * time.Second
)

// Timing of the connection itself.
const (
	// closeGrace is how long Close waits for the server to answer its close
	// frame before dropping the socket.
	closeGrace = time.Second
	// controlTimeout bounds writing a ping answer or a close frame.
	controlTimeout = time.Second
	// heartbeatSlack caps what is added to twice the server's heartbeat
	// interval to get the read deadline: a server that sent neither a frame
	// nor a ping for that long is presumed gone, even if TCP has not
	// noticed.
	heartbeatSlack = 5 * time.Second
	// ackDelay is how long the client waits after an offline direct
	// message for another before it acks: a page of the inbox arrives in a
	// burst and costs one ack, yet the server, which sends the next page
	// only after that ack, is not kept waiting noticeably.
	ackDelay = 5 * time.Millisecond
)

// Options configures a Client. The zero value is usable: it connects
// anonymously, reconnects with the default backoff, and delivers events on
// a channel of DefaultEventBuffer.
type Options struct {
	// Name, UID, Token and Meta are sent in a hello command right after
	// the welcome, and again after every reconnect, when any is set. Meta
	// must encode to a JSON object; a json.RawMessage is sent as is. A
	// Token is also sent as "Authorization: Bearer" on the upgrade
	// request, unless Header already has an Authorization.
	Name  string
	UID   string
	Token string
	Meta  any

	// Header is added to the WebSocket upgrade request.
	Header http.Header
	// Dialer makes the WebSocket connections; nil means a dialer with
	// HandshakeTimeout, proxy settings from the environment and gorilla's
	// default buffer sizes. Load generators holding thousands of clients
	// should pass one with small buffers and a WriteBufferPool.
	Dialer *websocket.Dialer
	// HandshakeTimeout bounds one connection attempt up to the welcome
	// event. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one write to the socket. Default
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// ReadLimit is the largest frame accepted from the server, in bytes;
	// zero means no limit.
	ReadLimit int64

	// FallbackURLs are other nodes of the same cluster as the URL given
	// to Dial: servers that share its rooms, history and inboxes (rtsync
	// serve --redis), so that a client recovers on any of them what it
	// missed. Dial tries the Dial URL, then these in order, and keeps the
	// first that answers. After a drop the client reconnects to the node
	// it was on, unless that one closed the connection as going away
	// (4012) or full (4011); each failed attempt moves on to the next URL
	// of the list (round robin, the Dial URL included), paced by Backoff
	// as with one URL. Client.URL and the Connected and Reconnecting
	// events say which URL is in use. Each
	// is normalized as the Dial URL is; one that is not a URL makes Dial
	// fail, naming it. Duplicates are tried once.
	FallbackURLs []string

	// NoReconnect turns automatic reconnection off: the client stops for
	// good when its connection ends.
	NoReconnect bool
	// Backoff paces reconnection attempts; zero fields take defaults.
	Backoff Backoff

	// NoAutoAck turns off the automatic ack of offline direct messages
	// (see Offline). The application then calls Client.Ack once it has
	// processed them; until it does, the server keeps them and hands them
	// out again on the next connection, and sends no further page.
	NoAutoAck bool

	// RequestTimeout bounds a request whose context has no deadline.
	// Default DefaultRequestTimeout; negative means no bound.
	RequestTimeout time.Duration

	// EventBuffer is the capacity of the Events channel. Default
	// DefaultEventBuffer. The buffer is allocated up front; programs
	// holding thousands of clients should use OnEvent instead.
	EventBuffer int
	// OnEvent, when set, receives every event on the reader goroutine
	// instead of the Events channel (which is then nil). It is the cheap
	// path for programs that hold many clients. It must return quickly,
	// and must not call Close or wait for a request of this client's
	// synchronously: the reply would be read by the goroutine it blocks.
	OnEvent func(Event)
}

// Backoff is the delay between reconnection attempts: Min for the first,
// doubling up to Max, each reduced by a random fraction of up to Jitter so
// that clients dropped together do not come back together. A connection
// must last Max before the next outage starts again from Min.
type Backoff struct {
	// Min is the base delay of the first attempt. Default 250ms.
	Min time.Duration
	// Max caps the delay. Default 10s.
	Max time.Duration
	// Jitter is the largest fraction (0 to 1) taken off each delay at
	// random. Default 0.5; negative means none.
	Jitter float64
}

func (b Backoff) withDefaults() Backoff {
	if b.Min <= 0 {
		b.Min = 250 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 10 * time.Second
	}
	if b.Max < b.Min {
		b.Max = b.Min
	}
	switch {
	case b.Jitter == 0:
		b.Jitter = 0.5
	case b.Jitter < 0:
		b.Jitter = 0
	case b.Jitter > 1:
		b.Jitter = 1
	}
	return b
}

// Delay returns the pause before reconnection attempt n (counting from 1).
// Zero fields of b take their defaults.
func (b Backoff) Delay(n int) time.Duration {
	b = b.withDefaults()
	d := b.Min
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if b.Jitter > 0 {
		d -= time.Duration(rand.Float64() * b.Jitter * float64(d))
	}
	return d
}

func (o Options) withDefaults() Options {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = DefaultEventBuffer
	}
	o.Backoff = o.Backoff.withDefaults()
	if o.Dialer == nil {
		o.Dialer = &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: o.HandshakeTimeout,
		}
	}
	h := http.Header{}
	for k, v := range o.Header {
		h[k] = append([]string(nil), v...)
	}
	if o.Token != "" && h.Get("Authorization") == "" {
		h.Set("Authorization", "Bearer "+o.Token)
	}
	o.Header = h
	return o
}
