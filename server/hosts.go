package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The Host check: DNS rebinding. A page on evil.example can make its own
// name resolve to 127.0.0.1 and then read this server as same-origin; the
// only trace is the Host header, which still says evil.example. A request
// that reached a loopback address under a name that is not a loopback name
// is such a page (or a misconfigured client), and is refused on every
// route. Requests on other addresses are not checked unless
// Config.AllowedHosts lists names, since a public server is reached by
// names this process cannot know.

// hostPolicy is the Host check, fixed at New.
type hostPolicy struct {
	// names are the allowed host names, lower-case; "*.example.com"
	// entries are in suffixes as ".example.com". any: "*" was listed.
	names    map[string]bool
	suffixes []string
	any      bool
}

// newHostPolicy checks and normalises Config.AllowedHosts.
func newHostPolicy(list []string) (*hostPolicy, error) {
	p := &hostPolicy{names: make(map[string]bool)}
	for _, h := range list {
		h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
		switch {
		case h == "":
		case h == "*":
			p.any = true
		case strings.HasPrefix(h, "*."):
			p.suffixes = append(p.suffixes, h[1:])
		case strings.ContainsAny(h, ":/ *"):
			return nil, fmt.Errorf("allowed host %q: want a host name like chat.example.com or *.example.com, without scheme or port", h)
		default:
			p.names[h] = true
		}
	}
	return p, nil
}

// configured reports whether the list named any host.
func (p *hostPolicy) configured() bool {
	return p.any || len(p.names) > 0 || len(p.suffixes) > 0
}

// allows reports whether r's Host may be served. IP literals and loopback
// names are always allowed: no page can rebind them.
func (p *hostPolicy) allows(r *http.Request) bool {
	if p.any {
		return true
	}
	host := requestHostname(r.Host)
	if _, err := netip.ParseAddr(host); err == nil || host == "" || isLoopbackName(host) {
		return true
	}
	if p.names[host] {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	if p.configured() {
		return false
	}
	// Nothing configured: only what arrived on a loopback address is
	// checked.
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return !addrIsLoopback(local)
}

// requestHostname is the host name of a Host header, lower-case, without
// port, brackets or a trailing dot.
func requestHostname(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(h, "]"), "["), ".")
	if i := strings.IndexByte(h, '%'); i >= 0 {
		h = h[:i] // an IPv6 zone
	}
	return strings.ToLower(h)
}

// isLoopbackName reports whether name always resolves to this machine:
// localhost and its subdomains (RFC 6761).
func isLoopbackName(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

// addrIsLoopback reports whether a is a loopback IP address.
func addrIsLoopback(a net.Addr) bool {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	return a != nil && hostIsLoopback(a.String())
}

// hostIsLoopback reports whether hostport ("127.0.0.1:80", "[::1]:80",
// or a bare address) is a loopback IP address.
func hostIsLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkHost wraps h with the Host check.
func (s *Server) checkHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hosts.allows(r) {
			s.guards.hostRefused.Add(1)
			s.log.Debug("request refused: host not allowed", "remote", r.RemoteAddr, "host", r.Host, "path", r.URL.Path)
			http.Error(w, fmt.Sprintf("host %.64q is not a name of this server: a loopback server answers only loopback names "+
				"(localhost, 127.0.0.1, [::1]) and the names given with --allowed-hosts", r.Host), http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// sameOrigin reports whether a browser's Origin names the host (and port)
// the request was sent to: the page was served by this server. Schemes are
// not compared, so a page served over HTTPS by a TLS-terminating proxy that
// keeps the Host header still counts.
func sameOrigin(origin string, r *http.Request) bool {
	n, ok := normalOrigin(origin)
	if !ok {
		return false
	}
	_, host, _ := strings.Cut(n, "://")
	want := strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(r.Host), ":80"), ":443")
	return host == want
}
