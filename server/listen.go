package server

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

// What the listeners bound before a connection reaches HTTP or the TCP
// transport: connections per remote address, and the log line when the
// process runs out of open files.

// guardMetrics count what the guards in front of the protocol refused.
type guardMetrics struct {
	hostRefused   atomic.Uint64 // requests naming a host this server is not (DNS rebinding)
	originRefused atomic.Uint64 // WebSocket upgrades from another site's page
	apiRefused    atomic.Uint64 // keyless API requests from a proxy or a web page
	perIPRefused  atomic.Uint64 // connections over the per-address limit
	acceptErrors  atomic.Uint64 // failed accepts (mostly: out of open files)
}

// GuardStats are the guards' counters in a stats snapshot.
type GuardStats struct {
	// HostRefused counts requests refused for naming a host that is not
	// this server's (DNS rebinding; see Config.AllowedHosts).
	HostRefused uint64 `json:"host_refused"`
	// OriginRefused counts WebSocket upgrades refused for coming from a
	// page of another origin (Config.AllowedOrigins).
	OriginRefused uint64 `json:"origin_refused"`
	// APIRefused counts keyless API requests refused for coming through a
	// proxy or from a web page.
	APIRefused uint64 `json:"api_refused"`
	// PerIPRefused counts connections closed at accept because their
	// address had Config.MaxConnsPerIP open already.
	PerIPRefused uint64 `json:"per_ip_refused"`
	// AcceptErrors counts failed accepts, mostly for want of open files.
	AcceptErrors uint64 `json:"accept_errors"`
}

func (m *guardMetrics) snapshot() GuardStats {
	return GuardStats{
		HostRefused: m.hostRefused.Load(), OriginRefused: m.originRefused.Load(), APIRefused: m.apiRefused.Load(),
		PerIPRefused: m.perIPRefused.Load(), AcceptErrors: m.acceptErrors.Load(),
	}
}

// ipLimiter counts open connections per remote address.
type ipLimiter struct {
	max int // 0: no limit
	// loopbackToo limits loopback addresses as well; only tests set it,
	// since their clients can only come from loopback.
	loopbackToo bool
	mu          sync.Mutex
	n           map[netip.Addr]int
}

// limits reports whether connections from ip count against the limit.
func (l *ipLimiter) limits(ip netip.Addr) bool {
	return l.max > 0 && ip.IsValid() && (l.loopbackToo || !ip.IsLoopback())
}

// acquire counts a connection from ip, or reports false when ip has max
// open already. Loopback addresses are not limited: they are this machine
// (a reverse proxy on it, the bench).
func (l *ipLimiter) acquire(ip netip.Addr) bool {
	if !l.limits(ip) {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[ip] >= l.max {
		return false
	}
	if l.n == nil {
		l.n = make(map[netip.Addr]int)
	}
	l.n[ip]++
	return true
}

func (l *ipLimiter) release(ip netip.Addr) {
	if !l.limits(ip) {
		return
	}
	l.mu.Lock()
	if l.n[ip]--; l.n[ip] <= 0 {
		delete(l.n, ip)
	}
	l.mu.Unlock()
}

// guardConn is an accepted TCP connection that gives its address's slot
// back when closed, once.
type guardConn struct {
	*net.TCPConn
	// lim counts ip's connections; nil when ip is not limited.
	lim      *ipLimiter
	ip       netip.Addr
	released atomic.Bool

	// hold is holdNone, or holdArmed once a WebSocket upgrade hijacked the
	// connection: the handshake response (101) is then kept back
	// (holdHeld, in held) and goes out ahead of the next write, the
	// welcome's, in one segment (greet.go). Once armed, every write is
	// made under the frame writer's lock (wsframe.go) but the response's,
	// made before anyone else knows the connection; heldMu covers the
	// hand-over anyway.
	hold   atomic.Int32
	heldMu sync.Mutex
	held   []byte
}

const (
	holdNone int32 = iota
	holdArmed
	holdHeld
)

// upgradeResponse is how the handshake response that guardConn keeps back
// starts.
var upgradeResponse = []byte("HTTP/1.1 101 ")

// armHold makes the next write, if it is a handshake response, wait for
// the write after it.
func (c *guardConn) armHold() { c.hold.Store(holdArmed) }

func (c *guardConn) Write(p []byte) (int, error) {
	switch c.hold.Load() {
	case holdArmed:
		if bytes.HasPrefix(p, upgradeResponse) {
			c.heldMu.Lock()
			c.held = append(make([]byte, 0, len(p)+256), p...)
			c.hold.Store(holdHeld)
			c.heldMu.Unlock()
			return len(p), nil
		}
		c.hold.Store(holdNone)
	case holdHeld:
		return c.writeHeld(p)
	}
	return c.TCPConn.Write(p)
}

// writeHeld writes the held response and p in one write.
func (c *guardConn) writeHeld(p []byte) (int, error) {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	h := c.held
	c.held = nil
	c.hold.Store(holdNone)
	if h == nil {
		return c.TCPConn.Write(p)
	}
	n, err := c.TCPConn.Write(append(h, p...))
	return max(n-len(h), 0), err
}

// flushHeld writes the held response, if it is still held.
func (c *guardConn) flushHeld() error {
	if c.hold.Load() != holdHeld {
		return nil
	}
	_, err := c.writeHeld(nil)
	return err
}

func (c *guardConn) Close() error {
	err := c.TCPConn.Close()
	if c.lim != nil && c.released.CompareAndSwap(false, true) {
		c.lim.release(c.ip)
	}
	return err
}

// accept takes the next connection from ln that the per-address limit
// admits. Connections over the limit are closed at once, before a byte is
// read. Accept errors are counted and, when they mean the process is out
// of open files, logged (rate-limited): otherwise net/http retries them
// silently and the server just looks hung.
func (s *Server) accept(ln net.Listener) (*guardConn, net.Conn, error) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.guards.acceptErrors.Add(1)
				if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
					s.hub.logLim.noteLevel(s.log, slog.LevelError, "files", "cannot accept connections: the process is out of open files; lower --max-conns or raise the limit (ulimit -n)",
						"addr", ln.Addr().String(), "connections", s.hub.count.Load(), "max_conns", s.cfg.MaxConnections)
				}
			}
			return nil, nil, err
		}
		tc, ok := nc.(*net.TCPConn)
		if !ok {
			return nil, nc, nil
		}
		var ip netip.Addr
		if ta, ok := tc.RemoteAddr().(*net.TCPAddr); ok {
			ip = ta.AddrPort().Addr().Unmap()
		}
		if !s.perIP.acquire(ip) {
			s.guards.perIPRefused.Add(1)
			s.hub.logLim.note(s.log, "per-ip", "connection refused: too many connections from one address (--max-conns-per-ip)",
				"remote", ip.String(), "max_conns_per_ip", s.perIP.max)
			_ = tc.Close()
			continue
		}
		gc := &guardConn{TCPConn: tc}
		if s.perIP.limits(ip) {
			gc.lim, gc.ip = &s.perIP, ip
		}
		return gc, nil, nil
	}
}

// guardListener is a listener that hands out what Server.accept admits.
type guardListener struct {
	net.Listener
	s *Server
}

func (l guardListener) Accept() (net.Conn, error) {
	gc, other, err := l.s.accept(l.Listener)
	if gc != nil {
		return gc, nil
	}
	return other, err
}
