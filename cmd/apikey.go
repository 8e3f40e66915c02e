package cmd

import (
	"net/netip"
	"net/url"
	"strings"

	"github.com/rtsync/rtsync/internal/localkey"
)

// localAPIKey returns the key `rtsync serve` keeps for itself when it was
// given none (localkey), for a tool talking to a server on this machine,
// or "" when there is none to read. It is never offered to a server
// elsewhere: the key would leak to whoever runs it.
func localAPIKey(serverURL string, lookupEnv func(string) (string, bool)) string {
	if !loopbackURL(serverURL) {
		return ""
	}
	path, err := localkey.DefaultPath(lookupEnv)
	if err != nil {
		return ""
	}
	key, err := localkey.Load(path)
	if err != nil {
		return ""
	}
	return key
}

// loopbackURL reports whether u (http://, ws://, or a bare host:port)
// names a loopback address or localhost.
func loopbackURL(u string) bool {
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(p.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
