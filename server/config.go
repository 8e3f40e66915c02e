package server

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/rtsync/rtsync/server/broker"
	"github.com/rtsync/rtsync/server/store"
)

// RoomHistory is the history retention of the rooms matching Rooms.
type RoomHistory struct {
	// Rooms is a pattern of room names; "*" matches any run of characters.
	Rooms string `json:"rooms" yaml:"rooms"`
	// Size is how many messages each room keeps (0: none); TTL how long
	// (0: the server's HistoryTTL).
	Size int           `json:"size" yaml:"size"`
	TTL  time.Duration `json:"ttl" yaml:"ttl"`
}

// retention returns the history retention of room.
func (c *Config) retention(room string) store.Retention {
	for _, rh := range c.RoomHistory {
		if matchRoom(rh.Rooms, room) {
			ttl := rh.TTL
			if ttl == 0 {
				ttl = c.HistoryTTL
			}
			return store.Retention{Count: rh.Size, Age: ttl}
		}
	}
	return store.Retention{Count: c.HistorySize, Age: c.HistoryTTL}
}

// storeOptions are the store options cfg gives, logging trims on log.
func (c *Config) storeOptions(onTrim func(reason string, n int)) store.Options {
	return store.Options{
		Retention: c.retention,
		MaxBytes:  int64(c.MaxHistoryBytes),
		MaxRooms:  c.MaxRooms,
		InboxMax:  c.InboxMax,
		InboxTTL:  c.InboxTTL,
		OnTrim:    onTrim,
	}
}

// Config holds everything a Server needs. The zero value of a field means
// its default (see DefaultConfig), so callers set only what they change.
type Config struct {
	// Node names this server in welcome events and logs. Default: a
	// random id.
	Node string
	// Version is reported to clients in the welcome event.
	Version string

	// MaxConnections refuses new connections (close 4011) past this many.
	MaxConnections int
	// MaxConnsPerIP bounds the open connections (HTTP, WebSocket and TCP
	// alike) from one remote address; more are closed at accept.
	// Loopback addresses are not limited (a reverse proxy or the bench on
	// this machine). Negative: no limit.
	MaxConnsPerIP int
	// MaxMessageSize is the largest frame a client may send, in bytes.
	MaxMessageSize int
	// MaxRoomsPerConn caps the rooms one connection may join.
	MaxRoomsPerConn int
	// PublishRate is the sustained pub/send rate allowed per connection
	// (per second); PublishBurst the burst above it.
	PublishRate  float64
	PublishBurst int

	// SendQueueBytes bounds the bytes queued for one connection; a client
	// that lets it fill is closed with 4008 (slow consumer).
	SendQueueBytes int
	// WriteTimeout bounds one write to a client's socket.
	WriteTimeout time.Duration
	// WriteCoalesce, when positive, is the shortest time between two
	// writes to one connection: messages arriving sooner are written
	// together when it has passed. Zero or negative (the default): no
	// fixed window. Batching then follows the load: what arrives while a
	// write is under way or a room's fan-out is busy goes out together in
	// the next write, and the rest is written at once, from the room's
	// fan-out when the socket takes it (the fan-out writes only when no
	// window is set).
	WriteCoalesce time.Duration

	// HistorySize is how many messages each room keeps for recovery and
	// the history op; HistoryTTL how long. Zero size turns history off.
	HistorySize int
	HistoryTTL  time.Duration

	// RoomHistory overrides HistorySize and HistoryTTL for the rooms
	// whose names match a pattern ("*" matches any run of characters);
	// the first match wins.
	RoomHistory []RoomHistory

	// OpenStore opens where history and offline inboxes live, given the
	// options the server derives from this config (retention, bounds).
	// The server closes it when Run returns. Nil: a memory store (nothing
	// survives the process); `rtsync serve` opens the disk store.
	OpenStore func(store.Options) (store.Store, error)
	// Broker carries messages between nodes; nil: the in-process broker
	// of a single node. The server starts and closes it.
	Broker broker.Broker

	// InboxMax bounds the direct messages kept for one offline uid (the
	// oldest go); InboxTTL is how long one is kept.
	InboxMax int
	InboxTTL time.Duration

	// Global bounds, so that no number of clients can take the machine's
	// memory. Each refuses or evicts with an error code or close code and
	// a counter (docs/api.md); zero means the default, negative no bound.
	//
	// MaxHistoryBytes bounds the history of all rooms together (what
	// store.Message.Size counts). Past it the oldest messages go,
	// whichever room holds them, so the server keeps the newest history
	// rather than refusing publishes. It bounds memory with the memory
	// store and disk space with the disk store.
	MaxHistoryBytes int
	// MaxRooms bounds the rooms the server holds members of, and the
	// rooms the store keeps history for. A room the hub would make past
	// it first takes the place of a room without members; when every
	// room has members, the join or publish is refused (server_limit).
	// The store forgets the rooms whose last message is the oldest.
	MaxRooms int
	// MaxRoomsCreatedPerConn bounds the rooms one connection may make
	// (join when they did not exist) in its life, so that a few
	// connections cannot fill the server with rooms that outlive them.
	MaxRoomsCreatedPerConn int
	// MaxMemory is the Go heap size (bytes of live and not yet swept
	// objects) past which the server sheds load: it refuses new
	// connections (close 4011, "try again later") and drops the oldest
	// half of the history, until the heap is back under nine tenths of
	// it. It is checked once a second.
	MaxMemory int

	// PresenceMaxMembers switches join/leave events off for rooms larger
	// than this, so a huge room is not flooded with presence traffic. The
	// presence op still works.
	PresenceMaxMembers int

	// ReadMode is how the client frames of WebSocket connections are
	// read: "poll" registers each socket with the system's readiness
	// queue (epoll on Linux, kqueue on macOS and the BSDs), so an idle
	// connection holds no goroutine and no buffer; "goroutine" reads each
	// connection on a goroutine of its own; "auto" (the default) is poll
	// where the system has one, else goroutine. TLS connections, and
	// connections served through Handler by another HTTP server, are
	// always read on a goroutine.
	ReadMode string

	// HeartbeatInterval is how often the server pings each client. A
	// client silent for two intervals is closed.
	HeartbeatInterval time.Duration

	// ShutdownTimeout bounds the graceful drain in Run.
	ShutdownTimeout time.Duration

	// Logger receives the server's structured logs. Default: discard.
	Logger *slog.Logger

	// JWTSecret (HS256), JWTPublicKeyFile (PEM RSA or EC public key, for
	// RS256/ES256) and JWKSFile (a JSON Web Key Set file) configure client
	// authentication; see auth.go. With none set the server is open:
	// clients connect without a token and hello may set their uid.
	JWTSecret        string
	JWTPublicKeyFile string
	JWKSFile         string
	// JWTIssuer, when set, is the iss a token must carry; JWTAudience,
	// when set, lists the audiences of which a token's aud must name at
	// least one. Tokens minted for another service are refused.
	JWTIssuer   string
	JWTAudience []string
	// AllowAnonymous lets clients without a token connect to a server that
	// has JWT authentication; they have no uid, may join the rooms
	// AnonymousRooms allows (read-only), and may log in later by sending a
	// token in hello. Without it, a client that has not sent a token may
	// send only hello and ping.
	AllowAnonymous bool
	// AnonymousRooms are patterns of the rooms anonymous clients may join
	// ("*" matches any run of characters: "news.*", "*"). Empty: none.
	AnonymousRooms []string
	// AllowedOrigins lists the browser origins that may open a WebSocket
	// besides the server's own pages ("*" for any). Empty: only pages
	// this server served (same host and port as the request).
	AllowedOrigins []string
	// AllowedHosts lists the host names (and *.example.com patterns) the
	// server answers to, against DNS rebinding; IP addresses and
	// localhost are always allowed, "*" allows any. Empty: requests that
	// arrive on a loopback address must name a loopback host; others are
	// not checked.
	AllowedHosts []string

	// APIKeys are the bearer keys of the HTTP server API (/api/v1). With
	// none, the API answers loopback clients only.
	APIKeys []string

	// HookURL receives connect, message, rpc and close events as signed
	// HTTP POSTs; the per-event URLs override it for one event. See
	// hookhttp.go and docs/hooks.md.
	HookURL        string
	HookConnectURL string
	HookMessageURL string
	HookRPCURL     string
	HookCloseURL   string
	// HookSecret signs hook requests (HMAC-SHA256).
	HookSecret string
	// HookTimeout bounds one hook call, waiting for a free slot included;
	// HookConcurrency the HTTP calls in flight (more wait for a slot).
	HookTimeout     time.Duration
	HookConcurrency int
	// HookBreakerFailures failed calls in a row to one hook URL open its
	// circuit breaker: for HookBreakerCooldown, calls to it fail at once
	// (the failure policy applies), then one goes through as a probe.
	// Negative: no breaker.
	HookBreakerFailures int
	HookBreakerCooldown time.Duration
	// HookFailOpen accepts connections and messages when a hook fails;
	// false (fail closed) refuses them.
	HookFailOpen bool
	// Events handles the same events in-process, for programs that embed
	// the server; it takes precedence over HookURL.
	Events EventHandler

	// Pprof serves the Go profiler (net/http/pprof) under /debug/pprof/,
	// behind the API's authentication.
	Pprof bool

	// Page is the browser page served at GET / and its assets; nil serves
	// nothing there. It gets every GET and HEAD no other route takes, so it
	// answers unknown paths itself (web.Handler gives 404).
	Page http.Handler
}

// DefaultConfig returns the defaults that make `rtsync serve` with no flags
// a sensible server.
func DefaultConfig() Config {
	return Config{
		MaxConnections:         100_000,
		MaxConnsPerIP:          1000,
		MaxMessageSize:         64 << 10,
		MaxRoomsPerConn:        100,
		PublishRate:            100,
		PublishBurst:           200,
		SendQueueBytes:         1 << 20,
		WriteTimeout:           10 * time.Second,
		HistorySize:            1000,
		HistoryTTL:             24 * time.Hour,
		PresenceMaxMembers:     1000,
		MaxHistoryBytes:        128 << 20,
		InboxMax:               store.DefaultInboxMax,
		InboxTTL:               store.DefaultInboxTTL,
		MaxRooms:               50_000,
		MaxRoomsCreatedPerConn: 1000,
		MaxMemory:              1 << 30,
		ReadMode:               ReadModeAuto,
		HeartbeatInterval:      25 * time.Second,
		ShutdownTimeout:        10 * time.Second,
		HookTimeout:            5 * time.Second,
		HookConcurrency:        64,
		HookBreakerFailures:    5,
		HookBreakerCooldown:    5 * time.Second,
	}
}

// withDefaults fills zero fields from DefaultConfig and checks the rest.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Node == "" {
		c.Node = "n" + randomID(6)
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&c.MaxConnections, d.MaxConnections)
	setInt(&c.MaxMessageSize, d.MaxMessageSize)
	setInt(&c.MaxConnsPerIP, d.MaxConnsPerIP)
	setInt(&c.MaxRoomsPerConn, d.MaxRoomsPerConn)
	setInt(&c.PublishBurst, d.PublishBurst)
	setInt(&c.SendQueueBytes, d.SendQueueBytes)
	setInt(&c.PresenceMaxMembers, d.PresenceMaxMembers)
	setInt(&c.HistorySize, d.HistorySize)
	for _, v := range []struct {
		p   *int
		def int
	}{
		{&c.MaxHistoryBytes, d.MaxHistoryBytes}, {&c.MaxRooms, d.MaxRooms},
		{&c.MaxRoomsCreatedPerConn, d.MaxRoomsCreatedPerConn}, {&c.MaxMemory, d.MaxMemory},
	} {
		// Zero: the default; negative: no bound, kept as the largest int
		// so that every check is one comparison.
		setInt(v.p, v.def)
		if *v.p < 0 {
			*v.p = math.MaxInt
		}
	}
	if c.HistorySize < 0 {
		c.HistorySize = 0
	}
	setInt(&c.InboxMax, d.InboxMax)
	if c.InboxTTL == 0 {
		c.InboxTTL = d.InboxTTL
	}
	if c.InboxMax < 0 || c.InboxTTL < 0 {
		return c, errors.New("server config: inbox bounds must not be negative")
	}
	for i, rh := range c.RoomHistory {
		if rh.Rooms == "" || rh.Size < 0 || rh.TTL < 0 {
			return c, fmt.Errorf("server config: room history override %d: rooms pattern required, size and ttl not negative", i+1)
		}
	}
	if c.PublishRate == 0 {
		c.PublishRate = d.PublishRate
	}
	var errs0 []error
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&c.WriteTimeout, d.WriteTimeout)
	setDur(&c.WriteCoalesce, d.WriteCoalesce)
	if c.WriteCoalesce < 0 {
		c.WriteCoalesce = 0
	}
	if c.ReadMode == "" || c.ReadMode == ReadModeAuto {
		c.ReadMode = defaultReadMode
	}
	switch c.ReadMode {
	case ReadModeAuto, ReadModePoll, ReadModeGoroutine:
	default:
		errs0 = append(errs0, fmt.Errorf("read mode %q is not one of auto, poll, goroutine (--read-mode)", c.ReadMode))
	}
	if c.ReadMode == ReadModeAuto {
		c.ReadMode = ReadModeGoroutine
		if pollerAvailable {
			c.ReadMode = ReadModePoll
		}
	}
	if c.ReadMode == ReadModePoll && !pollerAvailable {
		errs0 = append(errs0, fmt.Errorf("read mode poll needs epoll or kqueue, which this system lacks; use --read-mode auto or goroutine"))
	}
	setDur(&c.HeartbeatInterval, d.HeartbeatInterval)
	setDur(&c.ShutdownTimeout, d.ShutdownTimeout)
	setDur(&c.HistoryTTL, d.HistoryTTL)
	setDur(&c.HookTimeout, d.HookTimeout)
	setInt(&c.HookConcurrency, d.HookConcurrency)
	setInt(&c.HookBreakerFailures, d.HookBreakerFailures)
	setDur(&c.HookBreakerCooldown, d.HookBreakerCooldown)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	errs := errs0
	neg := func(name string, v int) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %d", name, v))
		}
	}
	neg("max connections", c.MaxConnections)
	neg("max message size", c.MaxMessageSize)
	neg("max rooms per connection", c.MaxRoomsPerConn)
	neg("publish burst", c.PublishBurst)
	neg("send queue bytes", c.SendQueueBytes)
	neg("presence max members", c.PresenceMaxMembers)
	if c.PublishRate < 0 {
		errs = append(errs, fmt.Errorf("publish rate must not be negative, got %g", c.PublishRate))
	}
	neg("hook concurrency", c.HookConcurrency)
	for _, u := range []struct{ name, url string }{
		{"hook URL", c.HookURL}, {"hook connect URL", c.HookConnectURL}, {"hook message URL", c.HookMessageURL},
		{"hook rpc URL", c.HookRPCURL}, {"hook close URL", c.HookCloseURL},
	} {
		if err := checkHookURL(u.name, u.url); err != nil {
			errs = append(errs, err)
		}
	}
	if c.HistoryTTL < 0 || c.WriteTimeout < 0 || c.HeartbeatInterval < 0 || c.ShutdownTimeout < 0 || c.HookTimeout < 0 || c.HookBreakerCooldown < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if c.MaxMessageSize > 0 && c.MaxMessageSize < 256 {
		errs = append(errs, fmt.Errorf("max message size must be at least 256 bytes, got %d", c.MaxMessageSize))
	}
	if c.SendQueueBytes > 0 && c.SendQueueBytes < c.MaxMessageSize {
		errs = append(errs, fmt.Errorf("send queue (%d bytes) must hold at least one message of max size (%d bytes)", c.SendQueueBytes, c.MaxMessageSize))
	}
	return c, errors.Join(errs...)
}
