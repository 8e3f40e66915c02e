package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/protocol"
)

const testSecret = "test-secret-of-at-least-32-bytes!"

// Keys are generated once per test binary: RSA generation is slow under
// -race.
var (
	rsaKey  = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	ecKey1  = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	ecKey2  = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	edKey   = sync.OnceValue(func() ed25519.PrivateKey { _, k := must2(ed25519.GenerateKey(rand.Reader)); return k })
	smallRS = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 1024)) })
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// claims returns the claims of a valid token for uid expiring in an hour,
// with extra merged in (a nil value deletes the claim).
func claims(uid string, extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": uid, "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign makes a token; kid goes in the header when not empty.
func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func hs(t *testing.T, c jwt.MapClaims) string {
	return sign(t, jwt.SigningMethodHS256, []byte(testSecret), c, "")
}

func writePublicPEM(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "pub.pem")
	writeTestFile(t, name, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	return name
}

func writeTestFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeJWKS writes a key set of the public keys, with their kids.
func writeJWKS(t *testing.T, keys map[string]crypto.PublicKey) string {
	t.Helper()
	var set jose.JSONWebKeySet
	for kid, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: kid, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "jwks.json")
	writeTestFile(t, name, string(b))
	return name
}

func withQuery(u, token string) string { return u + "?token=" + url.QueryEscape(token) }

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// refused dials with the token as ?token= and returns the close the server
// sent instead of a welcome.
func refused(t *testing.T, u, token string) *websocket.CloseError {
	t.Helper()
	c, err := dialHeader(t, withQuery(u, token), nil)
	if err == nil {
		t.Fatalf("token accepted (welcome %+v), want a 4001 close", c.welcome)
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("dial: %v, want a close frame", err)
	}
	return ce
}

// closeErr reads until the server closes and returns its close frame.
func (c *wsClient) closeErr(d time.Duration) *websocket.CloseError {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_, err := c.tryRead(time.Until(deadline))
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		if err != nil && !errors.Is(err, errTimeout) {
			c.t.Fatalf("connection ended without a close frame: %v", err)
		}
	}
	c.t.Fatal("no close within", d)
	return nil
}

func wantClose(t *testing.T, ce *websocket.CloseError, code int, reason string) {
	t.Helper()
	if ce.Code != code || !strings.Contains(ce.Text, reason) {
		t.Fatalf("closed with %d %q, want %d with %q", ce.Code, ce.Text, code, reason)
	}
}

func hsConfig() Config {
	return Config{JWTSecret: testSecret, PublishRate: 1e6, PublishBurst: 1e6}
}

func TestAuthTokenSources(t *testing.T) {
	t.Parallel()
	_, u := startServer(t, hsConfig())
	tok := hs(t, claims("alice", map[string]any{"name": "Alice"}))
	tests := []struct {
		name string
		dial func() *wsClient
	}{
		{"query", func() *wsClient {
			c, err := dialHeader(t, withQuery(u, tok), nil)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{"header", func() *wsClient {
			c, err := dialHeader(t, u, bearer(tok))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{"hello", func() *wsClient {
			c := dial(t, u)
			if c.welcome.UID != "" {
				t.Fatalf("welcome before the token has uid %q", c.welcome.UID)
			}
			r := mustOK(t, c.cmd(map[string]any{"op": "hello", "token": tok, "name": "ignored"}))
			if r.UID != "alice" || r.Name != "Alice" {
				t.Fatalf("hello reply uid %q name %q, want alice, Alice (the token's)", r.UID, r.Name)
			}
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.dial()
			if tt.name != "hello" && (c.welcome.UID != "alice" || c.welcome.Name != "Alice") {
				t.Fatalf("welcome uid %q name %q, want alice, Alice", c.welcome.UID, c.welcome.Name)
			}
			mustOK(t, c.cmd(map[string]any{"op": "join", "room": "lobby"}))
			mustOK(t, c.cmd(map[string]any{"op": "pub", "room": "lobby", "data": 1}))
			// hello can neither set the uid nor rename a user the token names.
			r := mustOK(t, c.cmd(map[string]any{"op": "hello", "uid": "mallory", "name": "Mallory"}))
			if r.UID != "alice" || r.Name != "Alice" {
				t.Fatalf("hello changed identity to uid %q name %q", r.UID, r.Name)
			}
		})
	}
}

// TestAuthIssuerAudience: with an issuer and audiences configured, a token
// from that issuer for one of the audiences is accepted, whether aud is a
// string or a list; TestAuthRefusedTokens has the refusals.
func TestAuthIssuerAudience(t *testing.T) {
	t.Parallel()
	cfg := hsConfig()
	cfg.JWTIssuer, cfg.JWTAudience = "https://auth.example.com", []string{"chat", " ops "}
	_, u := startServer(t, cfg)
	for _, aud := range []any{"chat", "ops", []string{"billing", "ops"}} {
		tok := hs(t, claims("alice", map[string]any{"iss": "https://auth.example.com", "aud": aud}))
		c, err := dialHeader(t, u, bearer(tok))
		if err != nil {
			t.Fatalf("aud %v: %v", aud, err)
		}
		if c.welcome.UID != "alice" {
			t.Fatalf("aud %v: welcome uid %q", aud, c.welcome.UID)
		}
		mustOK(t, c.cmd(map[string]any{"op": "hello", "token": tok}))
	}
}

func TestAuthRefusedTokens(t *testing.T) {
	t.Parallel()
	_, hsURL := startServer(t, hsConfig())
	_, rsURL := startServer(t, Config{JWTPublicKeyFile: writePublicPEM(t, rsaKey().Public())})
	issCfg := hsConfig()
	issCfg.JWTIssuer, issCfg.JWTAudience = "https://auth.example.com", []string{"chat", "ops"}
	_, issURL := startServer(t, issCfg)
	rsaPEM, err := os.ReadFile(writePublicPEM(t, rsaKey().Public()))
	if err != nil {
		t.Fatal(err)
	}
	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("alice", nil), "")

	tests := []struct {
		name, url, token, reason string
	}{
		{"expired", hsURL, hs(t, claims("alice", map[string]any{"exp": time.Now().Add(-time.Minute).Unix()})), "token expired"},
		{"wrong secret", hsURL, sign(t, jwt.SigningMethodHS256, []byte("another secret"), claims("alice", nil), ""), "bad signature"},
		{"RS256 token, HS256 server", hsURL, sign(t, jwt.SigningMethodRS256, rsaKey(), claims("alice", nil), ""), "wrong algorithm: token is RS256, this server accepts HS256"},
		{"HS256 token, RS256 server", rsURL, hs(t, claims("alice", nil)), "wrong algorithm: token is HS256, this server accepts RS256"},
		// The classic confusion: an HS256 token keyed with the public key.
		{"HS256 keyed with the public key", rsURL, sign(t, jwt.SigningMethodHS256, rsaPEM, claims("alice", nil), ""), "wrong algorithm"},
		{"alg none", hsURL, noneTok, "wrong algorithm: token is none"},
		{"ES256 token, RS256 server", rsURL, sign(t, jwt.SigningMethodES256, ecKey1(), claims("alice", nil), ""), "wrong algorithm: token is ES256"},
		{"other RSA key", rsURL, sign(t, jwt.SigningMethodRS256, smallRS(), claims("alice", nil), ""), "bad signature"},
		{"malformed", hsURL, "not-a-token", "malformed token"},
		{"malformed base64", hsURL, "a.b.c", "malformed token"},
		{"no exp", hsURL, hs(t, claims("alice", map[string]any{"exp": nil})), "no exp"},
		{"no sub", hsURL, hs(t, claims("", nil)), "no sub"},
		{"numeric sub", hsURL, hs(t, claims("", map[string]any{"sub": 7})), "bad claims"},
		{"rooms not a list", hsURL, hs(t, claims("alice", map[string]any{"rooms": "chat.*"})), "rooms must be a list"},
		{"bad pattern", hsURL, hs(t, claims("alice", map[string]any{"read": []string{"news feed"}})), `read: pattern "news feed"`},
		{"not yet valid", hsURL, hs(t, claims("alice", map[string]any{"nbf": time.Now().Add(time.Hour).Unix()})), "not valid yet"},
		{"no iss", issURL, hs(t, claims("alice", map[string]any{"aud": "chat"})), `bad claims: no iss; this server accepts tokens issued by "https://auth.example.com"`},
		{"other iss", issURL, hs(t, claims("alice", map[string]any{"iss": "https://evil.example", "aud": "chat"})), `wrong issuer: the token's iss is "https://evil.example", this server accepts "https://auth.example.com"`},
		{"no aud", issURL, hs(t, claims("alice", map[string]any{"iss": "https://auth.example.com"})), "bad claims: no aud; this server accepts tokens for chat, ops"},
		{"other aud", issURL, hs(t, claims("alice", map[string]any{"iss": "https://auth.example.com", "aud": []string{"billing", "mail"}})), `wrong audience: the token's aud is ["billing","mail"], this server accepts chat, ops`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantClose(t, refused(t, tt.url, tt.token), protocol.CloseUnauthorized, tt.reason)

			// The same token in hello: an unauthorized reply, then 4001.
			c := dial(t, tt.url)
			r := c.cmd(map[string]any{"op": "hello", "token": tt.token})
			mustErr(t, r, protocol.CodeUnauthorized)
			if !strings.Contains(r.Error.Message, tt.reason) {
				t.Errorf("hello error %q does not say %q", r.Error.Message, tt.reason)
			}
			wantClose(t, c.closeErr(5*time.Second), protocol.CloseUnauthorized, tt.reason)
		})
	}
}

func TestAuthMissingToken(t *testing.T) {
	t.Parallel()
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		_, u := startServer(t, hsConfig())
		c := dial(t, u)
		mustOK(t, c.cmd(map[string]any{"op": "ping"}))
		r := c.cmd(map[string]any{"op": "join", "room": "lobby"})
		mustErr(t, r, protocol.CodeUnauthorized)
		wantClose(t, c.closeErr(5*time.Second), protocol.CloseUnauthorized, "no token")
	})
	t.Run("no token in time", func(t *testing.T) {
		t.Parallel()
		cfg := hsConfig()
		cfg.HeartbeatInterval = 100 * time.Millisecond
		_, u := startServer(t, cfg)
		c := dial(t, u)
		start := time.Now()
		wantClose(t, c.closeErr(5*time.Second), protocol.CloseUnauthorized, "no token")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("closed after %s, want within two heartbeats", d)
		}
	})
	t.Run("anonymous", func(t *testing.T) {
		t.Parallel()
		cfg := hsConfig()
		cfg.AllowAnonymous = true
		cfg.AnonymousRooms = []string{"news.*"}
		_, u := startServer(t, cfg)
		c := dial(t, u)
		if c.welcome.UID != "" {
			t.Fatalf("anonymous welcome has uid %q", c.welcome.UID)
		}
		mustOK(t, c.cmd(map[string]any{"op": "join", "room": "news.today"}))
		mustErr(t, c.cmd(map[string]any{"op": "pub", "room": "news.today", "data": 1}), protocol.CodeForbidden)
		mustErr(t, c.cmd(map[string]any{"op": "join", "room": "chat"}), protocol.CodeForbidden)
		mustErr(t, c.cmd(map[string]any{"op": "send", "to_uid": "bob", "data": 1}), protocol.CodeForbidden)
		// hello may not pick a uid; a token logs in.
		r := mustOK(t, c.cmd(map[string]any{"op": "hello", "uid": "bob"}))
		if r.UID != "" {
			t.Fatalf("anonymous hello set uid %q", r.UID)
		}
		r = mustOK(t, c.cmd(map[string]any{"op": "hello", "token": hs(t, claims("carol", nil))}))
		if r.UID != "carol" {
			t.Fatalf("hello with token: uid %q, want carol", r.UID)
		}
		mustOK(t, c.cmd(map[string]any{"op": "pub", "room": "news.today", "data": 2}))
		mustOK(t, c.cmd(map[string]any{"op": "join", "room": "chat"}))
	})
	t.Run("anonymous, no rooms", func(t *testing.T) {
		t.Parallel()
		cfg := hsConfig()
		cfg.AllowAnonymous = true
		_, u := startServer(t, cfg)
		c := dial(t, u)
		e := c.cmd(map[string]any{"op": "join", "room": "news"})
		mustErr(t, e, protocol.CodeForbidden)
		if !strings.Contains(e.Error.Message, "log in with a token") {
			t.Errorf("forbidden join says %q", e.Error.Message)
		}
		c.quiet(100 * time.Millisecond) // forbidden does not close
	})
}

func TestAuthRoomPermissions(t *testing.T) {
	t.Parallel()
	_, u := startServer(t, hsConfig())
	tests := []struct {
		name     string
		extra    map[string]any
		room     string
		join     bool
		publish  bool
		errorMsg string // part of the forbidden message, if any
	}{
		{"no claims: any room", nil, "anything", true, true, ""},
		{"rooms pattern", map[string]any{"rooms": []string{"chat.*", "dm:alice:*"}}, "chat.general", true, true, ""},
		{"star crosses dots", map[string]any{"rooms": []string{"chat.*"}}, "chat.a.b", true, true, ""},
		{"dm pattern", map[string]any{"rooms": []string{"chat.*", "dm:alice:*"}}, "dm:alice:bob", true, true, ""},
		{"other dm", map[string]any{"rooms": []string{"chat.*", "dm:alice:*"}}, "dm:bob:carol", false, false, `does not allow room "dm:bob:carol"`},
		{"prefix only", map[string]any{"rooms": []string{"chat.*"}}, "chat", false, false, "does not allow"},
		{"read only", map[string]any{"rooms": []string{"chat.*"}, "read": []string{"news.*"}}, "news.world", true, false, "read-only"},
		{"read claim alone", map[string]any{"read": []string{"*"}}, "lobby", true, false, "read-only"},
		{"empty rooms", map[string]any{"rooms": []string{}}, "lobby", false, false, "does not allow"},
		{"exact name", map[string]any{"rooms": []string{"lobby"}}, "lobby", true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := dialHeader(t, u, bearer(hs(t, claims("alice", tt.extra))))
			if err != nil {
				t.Fatal(err)
			}
			r := c.cmd(map[string]any{"op": "join", "room": tt.room})
			if !tt.join {
				mustErr(t, r, protocol.CodeForbidden)
				if !strings.Contains(r.Error.Message, tt.errorMsg) {
					t.Errorf("join error %q does not say %q", r.Error.Message, tt.errorMsg)
				}
				return
			}
			mustOK(t, r)
			r = c.cmd(map[string]any{"op": "pub", "room": tt.room, "data": "x"})
			if tt.publish {
				mustOK(t, r)
				return
			}
			mustErr(t, r, protocol.CodeForbidden)
			if !strings.Contains(r.Error.Message, tt.errorMsg) {
				t.Errorf("pub error %q does not say %q", r.Error.Message, tt.errorMsg)
			}
		})
	}
}

func TestAuthExpiryWhileConnected(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for tokens to expire; runs without -short")
	}
	t.Parallel()
	cfg := hsConfig()
	cfg.HeartbeatInterval = 100 * time.Millisecond
	_, u := startServer(t, cfg)
	soon := func(uid string) string {
		return hs(t, claims(uid, map[string]any{"exp": time.Now().Add(2 * time.Second).Unix()}))
	}

	t.Run("closed at expiry", func(t *testing.T) {
		t.Parallel()
		c, err := dialHeader(t, u, bearer(soon("alice")))
		if err != nil {
			t.Fatal(err)
		}
		wantClose(t, c.closeErr(5*time.Second), protocol.CloseUnauthorized, "token expired")
	})
	t.Run("refreshed in hello", func(t *testing.T) {
		t.Parallel()
		c, err := dialHeader(t, u, bearer(soon("alice")))
		if err != nil {
			t.Fatal(err)
		}
		mustOK(t, c.cmd(map[string]any{"op": "join", "room": "lobby"}))
		r := mustOK(t, c.cmd(map[string]any{"op": "hello", "token": hs(t, claims("alice", nil))}))
		if r.UID != "alice" {
			t.Fatalf("refresh reply uid %q", r.UID)
		}
		time.Sleep(3 * time.Second) // past the first token's exp
		mustOK(t, c.cmd(map[string]any{"op": "pub", "room": "lobby", "data": 1}))
	})
	t.Run("refresh for another user", func(t *testing.T) {
		t.Parallel()
		c, err := dialHeader(t, u, bearer(hs(t, claims("alice", nil))))
		if err != nil {
			t.Fatal(err)
		}
		r := c.cmd(map[string]any{"op": "hello", "token": hs(t, claims("bob", nil))})
		mustErr(t, r, protocol.CodeUnauthorized)
		wantClose(t, c.closeErr(5*time.Second), protocol.CloseUnauthorized, "reconnect to switch users")
	})
}

// TestAuthExpiredCommand checks a command from a connection whose token
// has expired is refused at once, before the sweep gets to it.
func TestAuthExpiredCommand(t *testing.T) {
	t.Parallel()
	cfg := hsConfig()
	cfg.HeartbeatInterval = time.Hour
	s, u := startServer(t, cfg)
	c, err := dialHeader(t, u, bearer(hs(t, claims("alice", nil))))
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range s.hub.snapshot() {
		sc.expires.Store(time.Now().Add(-time.Second).UnixNano())
	}
	mustErr(t, c.cmd(map[string]any{"op": "join", "room": "lobby"}), protocol.CodeUnauthorized)
	wantClose(t, c.closeErr(5*time.Second), protocol.CloseUnauthorized, "token expired")
}

func TestAuthPublicKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		pub    crypto.PublicKey
		method jwt.SigningMethod
		key    any
	}{
		{"RS256", rsaKey().Public(), jwt.SigningMethodRS256, rsaKey()},
		{"ES256", ecKey1().Public(), jwt.SigningMethodES256, ecKey1()},
		{"EdDSA", edKey().Public(), jwt.SigningMethodEdDSA, edKey()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, u := startServer(t, Config{JWTPublicKeyFile: writePublicPEM(t, tt.pub)})
			if got := s.AuthAlgorithms(); len(got) != 1 || got[0] != tt.name {
				t.Errorf("AuthAlgorithms() = %v, want [%s]", got, tt.name)
			}
			c, err := dialHeader(t, u, bearer(sign(t, tt.method, tt.key, claims("alice", nil), "")))
			if err != nil {
				t.Fatal(err)
			}
			if c.welcome.UID != "alice" {
				t.Fatalf("welcome uid %q", c.welcome.UID)
			}
		})
	}
}

func TestAuthJWKS(t *testing.T) {
	t.Parallel()
	file := writeJWKS(t, map[string]crypto.PublicKey{"k1": ecKey1().Public(), "k2": ecKey2().Public(), "r1": rsaKey().Public()})
	s, u := startServer(t, Config{JWKSFile: file, JWTSecret: testSecret})
	if got := strings.Join(s.AuthAlgorithms(), ","); !strings.Contains(got, "ES256") || !strings.Contains(got, "RS256") || !strings.HasPrefix(got, "HS256") {
		t.Errorf("AuthAlgorithms() = %s", got)
	}
	ok := []struct{ name, token string }{
		{"k1", sign(t, jwt.SigningMethodES256, ecKey1(), claims("alice", nil), "k1")},
		{"k2", sign(t, jwt.SigningMethodES256, ecKey2(), claims("bob", nil), "k2")},
		{"rsa", sign(t, jwt.SigningMethodRS256, rsaKey(), claims("carol", nil), "r1")},
		{"no kid tries every key of the alg", sign(t, jwt.SigningMethodES256, ecKey2(), claims("dave", nil), "")},
		{"secret beside the set", hs(t, claims("erin", nil))},
	}
	for _, tt := range ok {
		c, err := dialHeader(t, u, bearer(tt.token))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		c.ws.Close()
	}
	bad := []struct{ name, token, reason string }{
		{"k1 key, k2 kid", sign(t, jwt.SigningMethodES256, ecKey1(), claims("alice", nil), "k2"), "bad signature"},
		{"unknown kid", sign(t, jwt.SigningMethodES256, ecKey1(), claims("alice", nil), "k9"), `no key has kid "k9"`},
		{"kid of another alg", sign(t, jwt.SigningMethodES256, ecKey1(), claims("alice", nil), "r1"), "bad signature"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			wantClose(t, refused(t, u, tt.token), protocol.CloseUnauthorized, tt.reason)
		})
	}
}

func TestAuthConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		writeTestFile(t, p, content)
		return p
	}
	ecDER := must(x509.MarshalECPrivateKey(ecKey1()))
	privPEM := file("priv.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})))
	smallPEM := writePublicPEM(t, smallRS().Public())
	privJWK, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ecKey1(), KeyID: "p"}}})
	octJWK, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: []byte("secret"), KeyID: "s"}}})
	encJWK, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ecKey1().Public(), KeyID: "e", Use: "enc"}}})
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing key file", Config{JWTPublicKeyFile: filepath.Join(dir, "nope.pem")}, "JWT public key file: open " + filepath.Join(dir, "nope.pem") + ": no such file"},
		{"not PEM", Config{JWTPublicKeyFile: file("junk.pem", "hello")}, "junk.pem: no PEM block found"},
		{"private key", Config{JWTPublicKeyFile: privPEM}, "holds a private key (EC PRIVATE KEY)"},
		{"small RSA", Config{JWTPublicKeyFile: smallPEM}, "RSA key has 1024 bits; at least 2048"},
		{"JWKS not JSON", Config{JWKSFile: file("bad.json", "{")}, "bad.json: not a JSON Web Key Set"},
		{"JWKS no keys", Config{JWKSFile: file("empty.json", "{}")}, `no "keys" array`},
		{"JWKS private", Config{JWKSFile: file("priv.json", string(privJWK))}, `key 0 (kid "p") holds a private key`},
		{"JWKS symmetric", Config{JWKSFile: file("oct.json", string(octJWK))}, "symmetric (oct) key"},
		{"JWKS no usable key", Config{JWKSFile: file("enc.json", string(encJWK))}, "no usable signature key among 1"},
		{"anonymous without auth", Config{AllowAnonymous: true}, "allow anonymous needs token authentication"},
		{"issuer without auth", Config{JWTIssuer: "me"}, "a JWT issuer or audience is set but no token authentication"},
		{"audience without auth", Config{JWTAudience: []string{"chat"}}, "a JWT issuer or audience is set but no token authentication"},
		{"anonymous rooms without anonymous", Config{JWTSecret: testSecret, AnonymousRooms: []string{"news"}}, "anonymous clients are not allowed"},
		{"bad anonymous pattern", Config{JWTSecret: testSecret, AllowAnonymous: true, AnonymousRooms: []string{"a b"}}, `anonymous rooms: pattern "a b"`},
		{"bad origin", Config{AllowedOrigins: []string{"example.com"}}, `allowed origin "example.com": want scheme://host[:port]`},
		{"origin with path", Config{AllowedOrigins: []string{"https://example.com/app"}}, "want scheme://host[:port]"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New error %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestAuthJWKSSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	set := `{"keys":[
		{"kty":"OKP","crv":"X25519","kid":"x","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"},
		` + string(must(json.Marshal(jose.JSONWebKey{Key: ecKey1().Public(), KeyID: "enc", Use: "enc"}))) + `,
		` + string(must(json.Marshal(jose.JSONWebKey{Key: ecKey1().Public(), KeyID: "k1", Algorithm: "ES256"}))) + `]}`
	name := filepath.Join(t.TempDir(), "jwks.json")
	writeTestFile(t, name, set)
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	keys, err := readJWKSFile(name, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].kid != "k1" || keys[0].alg != "ES256" {
		t.Fatalf("keys %+v, want only k1 (ES256)", keys)
	}
	for _, want := range []string{"unsupported key type", "not a signature key"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q does not mention %q", logs.String(), want)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ io.Writer = writerFunc(nil)

func TestMatchRoom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, room string
		want          bool
	}{
		{"*", "anything", true},
		{"lobby", "lobby", true},
		{"lobby", "lobby2", false},
		{"chat.*", "chat.general", true},
		{"chat.*", "chat.", true},
		{"chat.*", "chat", false},
		{"chat.*", "chatx", false},
		{"chat.*", "chat.a.b", true},
		{"dm:alice:*", "dm:alice:bob", true},
		{"dm:alice:*", "dm:alicex:bob", false},
		{"dm:*:bob", "dm:alice:bob", true},
		{"dm:*:bob", "dm:alice:bobby", false},
		{"*.log", "a.b.log", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"**", "", true},
		{"a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	}
	for _, tt := range tests {
		if got := matchRoom(tt.pattern, tt.room); got != tt.want {
			t.Errorf("matchRoom(%q, %q) = %v, want %v", tt.pattern, tt.room, got, tt.want)
		}
	}
}

func TestOriginCheck(t *testing.T) {
	t.Parallel()
	cfg := Config{AllowedOrigins: []string{"https://app.example.com", "http://localhost:3000", "https://other.example.com:443"}}
	_, u := startServer(t, cfg)
	_, anyURL := startServer(t, Config{AllowedOrigins: []string{"*"}})
	_, defURL := startServer(t, Config{})
	own := "http://" + strings.TrimSuffix(strings.TrimPrefix(defURL, "ws://"), "/ws")
	tests := []struct {
		name, url, origin string
		ok                bool
	}{
		{"listed", u, "https://app.example.com", true},
		{"case does not matter", u, "https://APP.example.com", true},
		{"with port", u, "http://localhost:3000", true},
		{"default port dropped", u, "https://other.example.com", true},
		{"no origin: not a browser", u, "", true},
		{"other host", u, "https://evil.example.com", false},
		{"other scheme", u, "http://app.example.com", false},
		{"other port", u, "http://localhost:3001", false},
		{"star", anyURL, "https://evil.example.com", true},
		{"default: own page", defURL, own, true},
		{"default: no origin", defURL, "", true},
		{"default: another site", defURL, "https://evil.example.com", false},
		{"default: another port on this machine", defURL, "http://127.0.0.1:1", false},
		{"default: localhost for 127.0.0.1", defURL, strings.Replace(own, "127.0.0.1", "localhost", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			ws, resp, err := websocket.DefaultDialer.Dial(tt.url, h)
			if tt.ok {
				if err != nil {
					t.Fatalf("origin %q refused: %v", tt.origin, err)
				}
				ws.Close()
				return
			}
			if err == nil {
				ws.Close()
				t.Fatalf("origin %q accepted", tt.origin)
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("origin %q: %v, want HTTP 403", tt.origin, err)
			}
			body, _ := io.ReadAll(resp.Body)
			if want := fmt.Sprintf("origin %q may not open a WebSocket", tt.origin); !strings.Contains(string(body), want) {
				t.Errorf("403 body %q does not say %q", body, want)
			}
		})
	}
}

// TestAuthOpenMode checks a server without authentication ignores tokens
// and lets hello set the uid, as before authentication existed.
func TestAuthOpenMode(t *testing.T) {
	t.Parallel()
	s, u := startServer(t, Config{})
	if s.AuthAlgorithms() != nil {
		t.Errorf("open server lists algorithms %v", s.AuthAlgorithms())
	}
	c, err := dialHeader(t, withQuery(u, "garbage"), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := mustOK(t, c.cmd(map[string]any{"op": "hello", "uid": "ann", "name": "Ann", "token": "garbage"}))
	if r.UID != "ann" || r.Name != "Ann" {
		t.Fatalf("open hello: uid %q name %q", r.UID, r.Name)
	}
	mustOK(t, c.cmd(map[string]any{"op": "join", "room": "anything"}))
	mustOK(t, c.cmd(map[string]any{"op": "send", "to_uid": "ann", "data": 1}))
}

func TestTokenFrom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, auth, want string
	}{
		{"/ws?token=abc", "", "abc"},
		{"/ws?token=abc", "Bearer def", "abc"},
		{"/ws", "Bearer def", "def"},
		{"/ws", "bearer def", "def"},
		{"/ws", "Basic def", ""},
		{"/ws", "Bearer ", ""},
		{"/ws", "", ""},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("GET", tt.url, nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		if got := tokenFrom(r); got != tt.want {
			t.Errorf("tokenFrom(%s, %q) = %q, want %q", tt.url, tt.auth, got, tt.want)
		}
	}
}
