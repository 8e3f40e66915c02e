package server

// Client authentication and authorisation: JWT verification (HS256 with a
// shared secret; RS256, ES256/384/512 and EdDSA with a PEM public key or a
// JWKS file), room permissions from token claims, anonymous and
// not-yet-authenticated connections, token expiry, and the browser origin
// check. docs/auth.md is the user's guide to all of it.
//
// Key material is read once, in New. Verification happens on the
// connection's own goroutine (at connect and on hello), so the verifier
// is immutable after New and needs no lock. A connection's permissions
// and expiry are atomics: the reader goroutine replaces them on a hello
// with a token; join and pub read them there too; the heartbeat sweep reads
// the expiry.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rtsync/rtsync/protocol"
)

// Claims rtsync reads from a client token besides the registered ones (sub,
// exp, nbf).
const (
	// claimName is the user's display name. When the token has one, hello
	// cannot change it.
	claimName = "name"
	// claimRooms lists room patterns the user may join and publish to.
	claimRooms = "rooms"
	// claimRead lists room patterns the user may join but not publish to.
	claimRead = "read"
)

const (
	// minRSABits is the smallest RSA key accepted for verification.
	minRSABits = 2048
	// maxPatterns bounds the patterns one claim (or --anonymous-rooms) may
	// list, so a token cannot make every publish scan thousands of them.
	maxPatterns = 256
	// weakSecretBytes: shorter HS256 secrets are accepted with a warning.
	weakSecretBytes = 32
)

// Messages of the unauthorized errors and 4001 close reasons that are not
// built from a token's details. Close reasons must fit a WebSocket close
// frame (123 bytes).
const (
	reasonNoToken = "no token: send one in hello, as ?token= or as Authorization: Bearer"
	reasonExpired = "token expired"
)

// permissions is what a connection may do on a server with authentication.
// A nil *permissions (open server) allows everything. Values are never
// changed after they are stored on a connection, only replaced.
type permissions struct {
	// sub is the verified token's subject; "" when there was no token.
	sub string
	// fixedName: the token set the display name, so hello does not.
	fixedName bool
	// pending: no token yet and anonymous clients are not allowed. Only
	// hello (with a token) and ping are accepted until one comes.
	pending bool
	// anonymous: no token on a server with AllowAnonymous. It may join
	// the rooms read lists, and not publish or send.
	anonymous bool
	// all: a token with neither a rooms nor a read claim, which may join
	// and publish to every room.
	all bool
	// publish and read are room patterns (see matchRoom): publish allows
	// joining and publishing, read joining only.
	publish, read []string
}

// pendingPerms are the permissions of a connection that has not sent a
// token yet.
var pendingPerms = &permissions{pending: true}

// authResult is what authentication established about a connection.
type authResult struct {
	UID, Name string
	Claims    map[string]any
	Perms     *permissions
	// Expires is when the token expires; the zero time for none (open
	// server, anonymous client). For a pending connection it is when it
	// must have sent a token.
	Expires time.Time
}

// auth is the server's authentication state, built once by newAuth.
type auth struct {
	// verifier checks client tokens; nil means the server is open.
	verifier *verifier
	// anonymous are the permissions of clients without a token when
	// Config.AllowAnonymous is set; nil refuses them.
	anonymous *permissions
	// pendingFor is how long a connection without a token has to send one
	// in hello before it is closed.
	pendingFor time.Duration
	// origins are the allowed browser origins, normalised; nil allows any.
	origins map[string]bool
}

// verifier checks JWTs against the configured keys.
type verifier struct {
	secret []byte      // HS256; nil when not configured
	keys   []verifyKey // public keys from the PEM file and the JWKS
	algs   []string    // accepted algorithms, for the parser and messages
	// issuer and audience are Config.JWTIssuer and JWTAudience, for
	// messages; the parser checks them.
	issuer   string
	audience []string
	parser   *jwt.Parser
}

// verifyKey is one public key and the only algorithm it verifies.
type verifyKey struct {
	kid string // "" for the --jwt-public-key key
	alg string
	key crypto.PublicKey
}

// newAuth reads the key files named in cfg and checks its patterns and
// origins. Errors name the file or setting and what is wrong with it.
func newAuth(cfg Config, log *slog.Logger) (*auth, error) {
	a := &auth{pendingFor: cfg.HeartbeatInterval}
	var errs []error
	v := &verifier{}
	if cfg.JWTSecret != "" {
		v.secret = []byte(cfg.JWTSecret)
		v.algs = append(v.algs, "HS256")
		if len(v.secret) < weakSecretBytes {
			log.Warn("JWT secret is short; anyone who guesses it can sign tokens: use 32 random bytes or more", "bytes", len(v.secret))
		}
	}
	if cfg.JWTPublicKeyFile != "" {
		k, err := readPublicKeyFile(cfg.JWTPublicKeyFile)
		if err != nil {
			errs = append(errs, err)
		} else {
			v.keys = append(v.keys, k)
		}
	}
	if cfg.JWKSFile != "" {
		keys, err := readJWKSFile(cfg.JWKSFile, log)
		if err != nil {
			errs = append(errs, err)
		}
		v.keys = append(v.keys, keys...)
	}
	for _, k := range v.keys {
		if !slices.Contains(v.algs, k.alg) {
			v.algs = append(v.algs, k.alg)
		}
	}
	anonRooms, err := checkPatterns(cfg.AnonymousRooms)
	if err != nil {
		errs = append(errs, fmt.Errorf("anonymous rooms: %w", err))
	}
	switch {
	case cfg.JWTSecret != "" || cfg.JWTPublicKeyFile != "" || cfg.JWKSFile != "":
		opts := []jwt.ParserOption{jwt.WithValidMethods(v.algs), jwt.WithExpirationRequired()}
		v.issuer = strings.TrimSpace(cfg.JWTIssuer)
		if v.issuer != "" {
			opts = append(opts, jwt.WithIssuer(v.issuer))
		}
		for _, aud := range cfg.JWTAudience {
			if aud = strings.TrimSpace(aud); aud != "" {
				v.audience = append(v.audience, aud)
			}
		}
		if len(v.audience) > 0 {
			opts = append(opts, jwt.WithAudience(v.audience...))
		}
		v.parser = jwt.NewParser(opts...)
		a.verifier = v
		if cfg.AllowAnonymous {
			a.anonymous = &permissions{anonymous: true, read: anonRooms}
		}
	case cfg.AllowAnonymous:
		errs = append(errs, errors.New("allow anonymous needs token authentication (a JWT secret, public key or JWKS file); without it every client may connect anyway"))
	case cfg.JWTIssuer != "" || len(cfg.JWTAudience) > 0:
		errs = append(errs, errors.New("a JWT issuer or audience is set but no token authentication (a JWT secret, public key or JWKS file) to check it with"))
	}
	if len(cfg.AnonymousRooms) > 0 && !cfg.AllowAnonymous {
		errs = append(errs, errors.New("anonymous rooms are set but anonymous clients are not allowed; set allow anonymous too"))
	}
	a.origins, err = checkOrigins(cfg.AllowedOrigins)
	if err != nil {
		errs = append(errs, err)
	}
	return a, errors.Join(errs...)
}

// readPublicKeyFile reads a PEM public key (PKIX "PUBLIC KEY", PKCS#1 "RSA
// PUBLIC KEY", or a "CERTIFICATE" whose key is used).
func readPublicKeyFile(name string) (verifyKey, error) {
	fail := func(format string, args ...any) (verifyKey, error) {
		return verifyKey{}, fmt.Errorf("JWT public key file %s: %s", name, fmt.Sprintf(format, args...))
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return verifyKey{}, fmt.Errorf("JWT public key file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return fail("no PEM block found; want a -----BEGIN PUBLIC KEY----- block (openssl pkey -pubout writes one)")
	}
	var pub any
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return fail("holds a private key (%s); give the public key only, e.g. from: openssl pkey -in KEY -pubout", block.Type)
		}
		return fail("PEM block is %q; want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return fail("cannot parse the %s block: %v", block.Type, err)
	}
	alg, err := keyAlg(pub)
	if err != nil {
		return fail("%v", err)
	}
	return verifyKey{alg: alg, key: pub}, nil
}

// keyAlg returns the one JWT algorithm a public key verifies. Binding each
// key to one algorithm is what rules out algorithm confusion: a token is
// checked only with keys of the algorithm its header names.
func keyAlg(pub any) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key has %d bits; at least %d are needed", k.N.BitLen(), minRSABits)
		}
		return "RS256", nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
		return "", fmt.Errorf("EC key on curve %s is not supported; use P-256 (ES256), P-384 or P-521", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return "EdDSA", nil
	}
	return "", fmt.Errorf("%T keys are not supported; use an RSA, EC or Ed25519 key", pub)
}

// readJWKSFile reads a JSON Web Key Set. Keys rtsync cannot use for
// signatures (encryption keys, unknown key types, an alg other than the
// key's) are skipped with a warning, as RFC 7517 asks; a file with no
// usable key, or with a private or symmetric key, is an error.
func readJWKSFile(name string, log *slog.Logger) ([]verifyKey, error) {
	fail := func(format string, args ...any) ([]verifyKey, error) {
		return nil, fmt.Errorf("JWKS file %s: %s", name, fmt.Sprintf(format, args...))
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("JWKS file: %w", err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return fail("not a JSON Web Key Set: %v", err)
	}
	if set.Keys == nil {
		return fail(`no "keys" array; want {"keys": [{"kty": ..., "kid": ..., ...}]}`)
	}
	var keys []verifyKey
	for i, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			if errors.Is(err, jose.ErrUnsupportedKeyType) {
				log.Warn("JWKS key skipped: unsupported key type", "file", name, "index", i)
				continue
			}
			return fail("key %d: %v", i, strings.TrimPrefix(err.Error(), "go-jose/go-jose: "))
		}
		id := fmt.Sprintf("key %d (kid %q)", i, jwk.KeyID)
		if _, ok := jwk.Key.([]byte); ok {
			return fail("%s is a symmetric (oct) key; put HS256 secrets in the JWT secret setting, not the JWKS", id)
		}
		if !jwk.IsPublic() {
			return fail("%s holds a private key; publish only public keys", id)
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			log.Warn("JWKS key skipped: not a signature key", "file", name, "index", i, "kid", jwk.KeyID, "use", jwk.Use)
			continue
		}
		alg, err := keyAlg(jwk.Key)
		if err != nil {
			log.Warn("JWKS key skipped", "file", name, "index", i, "kid", jwk.KeyID, "err", err)
			continue
		}
		if jwk.Algorithm != "" && jwk.Algorithm != alg {
			log.Warn("JWKS key skipped: rtsync verifies this kind of key with another algorithm", "file", name, "index", i, "kid", jwk.KeyID, "alg", jwk.Algorithm, "supported", alg)
			continue
		}
		keys = append(keys, verifyKey{kid: jwk.KeyID, alg: alg, key: jwk.Key})
	}
	if len(keys) == 0 {
		return fail("no usable signature key among %d; rtsync verifies RSA (RS256), EC (ES256/384/512) and Ed25519 (EdDSA) keys", len(set.Keys))
	}
	return keys, nil
}

// errUnknownKid is the keyfunc's error for a kid no configured key has.
type errUnknownKid struct{ kid string }

func (e errUnknownKid) Error() string { return fmt.Sprintf("no key has kid %q", e.kid) }

// keyFor returns the keys a token may be verified with: those of its
// algorithm and, when the header names a kid, that kid (the PEM key has
// none, and is tried for any kid).
func (v *verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if alg == "HS256" {
		return v.secret, nil // WithValidMethods let HS256 through only with a secret
	}
	kid, _ := t.Header["kid"].(string)
	var set jwt.VerificationKeySet
	for _, k := range v.keys {
		if k.alg == alg && (kid == "" || k.kid == "" || k.kid == kid) {
			set.Keys = append(set.Keys, k.key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, errUnknownKid{kid}
	}
	return set, nil
}

// verify checks a token and returns what it grants, or an unauthorized
// error that says what was wrong with it.
func (v *verifier) verify(token string) (*authResult, *protocol.Error) {
	bad := func(format string, args ...any) (*authResult, *protocol.Error) {
		return nil, protocol.Errorf(protocol.CodeUnauthorized, format, args...)
	}
	if len(token) > protocol.MaxTokenBytes {
		return bad("malformed token: longer than %d bytes", protocol.MaxTokenBytes)
	}
	claims := jwt.MapClaims{}
	t, err := v.parser.ParseWithClaims(token, claims, v.keyFor)
	if err != nil {
		var kid errUnknownKid
		switch {
		case errors.Is(err, jwt.ErrTokenMalformed):
			return bad("malformed token: %s", malformedDetail(err))
		case t != nil && headerAlg(t) == "":
			return bad(`malformed token: the header has no "alg"`)
		case t != nil && !slices.Contains(v.algs, headerAlg(t)):
			return bad("wrong algorithm: token is %s, this server accepts %s", headerAlg(t), strings.Join(v.algs, ", "))
		case errors.As(err, &kid):
			return bad("bad signature: no key has kid %q", kid.kid)
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			return bad("bad signature")
		case errors.Is(err, jwt.ErrTokenExpired):
			return bad(reasonExpired)
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			return bad("token not valid yet (nbf is in the future)")
		case errors.Is(err, jwt.ErrTokenInvalidIssuer):
			return bad("wrong issuer: the token's iss is %.64q, this server accepts %q", fmt.Sprint(claims["iss"]), v.issuer)
		case errors.Is(err, jwt.ErrTokenInvalidAudience):
			return bad("wrong audience: the token's aud is %.128s, this server accepts %s", jsonText(claims["aud"]), strings.Join(v.audience, ", "))
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			return bad("bad claims: %s", missingClaim(claims, v))
		case errors.Is(err, jwt.ErrTokenInvalidClaims):
			return bad("bad claims: %s", jwtDetail(err))
		}
		return bad("token refused: %s", jwtDetail(err))
	}
	return claimsResult(claims)
}

// missingClaim says which required claim a token lacks: exp, which every
// token needs, or the iss or aud this server was told to check.
func missingClaim(claims jwt.MapClaims, v *verifier) string {
	if _, ok := claims["exp"]; !ok {
		return "no exp; tokens must expire"
	}
	if _, ok := claims["iss"]; !ok && v.issuer != "" {
		return fmt.Sprintf("no iss; this server accepts tokens issued by %q", v.issuer)
	}
	return fmt.Sprintf("no aud; this server accepts tokens for %s", strings.Join(v.audience, ", "))
}

// jsonText is v as JSON, for messages.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// headerAlg is the alg a token's header names, "" when it names none.
func headerAlg(t *jwt.Token) string {
	alg, _ := t.Header["alg"].(string)
	return alg
}

// malformedDetail says which part of a malformed token golang-jwt could
// not decode ("could not base64 decode header"), without the decoder's
// own words after it.
func malformedDetail(err error) string {
	msg := strings.TrimPrefix(err.Error(), jwt.ErrTokenMalformed.Error()+": ")
	if i := strings.Index(msg, ": "); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// jwtDetail is the last part of a golang-jwt error, without the category
// prefix the caller already turned into words.
func jwtDetail(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// claimsResult turns verified claims into an identity and permissions.
func claimsResult(claims jwt.MapClaims) (*authResult, *protocol.Error) {
	bad := func(format string, args ...any) (*authResult, *protocol.Error) {
		return nil, protocol.Errorf(protocol.CodeUnauthorized, "bad claims: "+format, args...)
	}
	sub, err := claims.GetSubject()
	if err != nil {
		return bad("sub must be a string")
	}
	if sub == "" {
		return bad("no sub; it becomes the user id")
	}
	if e := protocol.ValidUID(sub); e != nil {
		return bad("sub: %s", e.Message)
	}
	var name string
	if raw, ok := claims[claimName]; ok {
		if name, ok = raw.(string); !ok {
			return bad("name must be a string")
		}
		if e := protocol.ValidName(name); e != nil {
			return bad("name: %s", e.Message)
		}
	}
	p := &permissions{sub: sub, fixedName: name != ""}
	rw, hasRooms, err := patternClaim(claims, claimRooms)
	if err != nil {
		return bad("%v", err)
	}
	ro, hasRead, err := patternClaim(claims, claimRead)
	if err != nil {
		return bad("%v", err)
	}
	p.publish, p.read, p.all = rw, ro, !hasRooms && !hasRead
	exp, _ := claims.GetExpirationTime() // required and checked by the parser
	return &authResult{UID: sub, Name: name, Claims: claims, Perms: p, Expires: exp.Time}, nil
}

// patternClaim reads a list of room patterns; ok reports whether the claim
// is there at all (an empty list allows nothing, a missing one defaults).
func patternClaim(claims jwt.MapClaims, key string) (patterns []string, ok bool, err error) {
	raw, ok := claims[key]
	if !ok {
		return nil, false, nil
	}
	list, isList := raw.([]any)
	if !isList {
		return nil, true, fmt.Errorf("%s must be a list of room patterns, like [\"chat.*\"]", key)
	}
	patterns = make([]string, 0, len(list))
	for _, v := range list {
		s, isStr := v.(string)
		if !isStr {
			return nil, true, fmt.Errorf("%s must list strings", key)
		}
		patterns = append(patterns, s)
	}
	patterns, err = checkPatterns(patterns)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", key, err)
	}
	return patterns, true, nil
}

// CheckRoomPatterns checks room patterns as token claims (rooms, read) and
// Config.AnonymousRooms use them: room names in which '*' matches any run
// of characters, like "chat.*" or "dm:alice:*".
func CheckRoomPatterns(patterns []string) error {
	_, err := checkPatterns(patterns)
	return err
}

// checkPatterns checks room patterns: room name characters and '*'.
func checkPatterns(patterns []string) ([]string, error) {
	if len(patterns) > maxPatterns {
		return nil, fmt.Errorf("%d patterns, more than %d", len(patterns), maxPatterns)
	}
	for _, p := range patterns {
		if p == "" || len(p) > protocol.MaxRoomLen {
			return nil, fmt.Errorf("pattern %q must be 1 to %d bytes", p, protocol.MaxRoomLen)
		}
		for i := 0; i < len(p); i++ {
			if !patternByte(p[i]) {
				return nil, fmt.Errorf("pattern %q: character %q is not allowed; use letters, digits, - _ . : @ / # and * (any characters)", p, p[i])
			}
		}
	}
	return patterns, nil
}

func patternByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-_.:@/#*", c) >= 0
}

// matchRoom reports whether room matches pattern, where '*' matches any run
// of characters (none included, '.' and ':' included) and every other
// character only itself: "chat.*" matches "chat.general" and "chat.a.b",
// "dm:alice:*" matches "dm:alice:bob", "*" matches every room. Room names
// cannot contain '*', so it needs no escape. Backtracking only to the last
// star keeps it linear in practice.
func matchRoom(pattern, room string) bool {
	p, r := 0, 0
	star, mark := -1, 0
	for r < len(room) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, r
			p++
		case p < len(pattern) && pattern[p] == room[r]:
			p++
			r++
		case star >= 0:
			p = star + 1
			mark++
			r = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func matchAny(patterns []string, room string) bool {
	for _, p := range patterns {
		if matchRoom(p, room) {
			return true
		}
	}
	return false
}

// openMode reports whether the server runs without authentication, where
// hello may set any uid.
func (s *Server) openMode() bool { return s.auth.verifier == nil }

// AuthAlgorithms lists the JWT algorithms client tokens may be signed with,
// in the order configured; nil when the server has no authentication and
// any client may connect.
func (s *Server) AuthAlgorithms() []string {
	if s.auth.verifier == nil {
		return nil
	}
	return slices.Clone(s.auth.verifier.algs)
}

// authenticate checks the token a connection presented on connect (empty
// when none). An error closes the connection with 4001. On an open server
// tokens are ignored. Without a token the connection is anonymous when
// allowed, and otherwise pending: it must send a token in hello before
// anything else, within one heartbeat interval.
func (s *Server) authenticate(token string) (*authResult, *protocol.Error) {
	a := s.auth
	switch {
	case a.verifier == nil:
		return &authResult{}, nil
	case token != "":
		return a.verifier.verify(token)
	case a.anonymous != nil:
		return &authResult{Perms: a.anonymous}, nil
	}
	return &authResult{Perms: pendingPerms, Expires: time.Now().Add(a.pendingFor)}, nil
}

// setAuth stores what authentication established on c. Identity is set
// apart (setIdentity), since a refresh keeps the uid.
func (c *conn) setAuth(ar *authResult) {
	var exp int64
	if !ar.Expires.IsZero() {
		exp = ar.Expires.UnixNano()
	}
	c.expires.Store(exp)
	c.perms.Store(ar.Perms)
}

// helloToken handles a token sent in hello: it authenticates a pending or
// anonymous connection, or refreshes the token of an authenticated one
// (pushing its expiry back and replacing its permissions). A token for
// another user than the connection's is refused: reconnect to switch. In
// open mode tokens are ignored. An error makes hello reply unauthorized
// and close the connection with 4001.
func (c *conn) helloToken(token string) *protocol.Error {
	s := c.srv
	if s.openMode() {
		return nil
	}
	ar, e := s.auth.verifier.verify(token)
	if e != nil {
		s.log.Info("hello token refused", "client", c.id, "remote", c.t.RemoteAddr(), "err", e.Message)
		return e
	}
	old := c.perms.Load()
	if old != nil && old.sub != "" && old.sub != ar.Perms.sub {
		return protocol.Errorf(protocol.CodeUnauthorized, "token is for user %q, this connection for %q; reconnect to switch users", ar.Perms.sub, old.sub)
	}
	c.setAuth(ar)
	if old == nil || old.sub == "" {
		s.setIdentity(c, ar.UID, ar.Name)
	} else {
		// A refresh: keep the uid, which the connect hook may have set.
		s.setIdentity(c, "", ar.Name)
	}
	return nil
}

// nameFixed reports whether the token set the display name, which hello
// then leaves alone.
func (c *conn) nameFixed() bool {
	p := c.perms.Load()
	return p != nil && p.fixedName
}

// checkAuth is run before every command but hello and ping: it refuses
// commands from a connection that has not sent a token yet or whose token
// has expired. The caller replies with the error and closes with 4001.
func (c *conn) checkAuth() *protocol.Error {
	p := c.perms.Load()
	if p == nil {
		return nil
	}
	if p.pending {
		return protocol.Errorf(protocol.CodeUnauthorized, reasonNoToken)
	}
	if exp := c.expires.Load(); exp != 0 && time.Now().UnixNano() >= exp {
		return protocol.Errorf(protocol.CodeUnauthorized, "%s; send a fresh one in hello before it expires", reasonExpired)
	}
	return nil
}

// authExpired reports, for the heartbeat sweep, whether c's token expired
// (or, pending, it sent none in time) by now, and the close reason.
func (c *conn) authExpired(now time.Time) (string, bool) {
	exp := c.expires.Load()
	if exp == 0 || exp > now.UnixNano() {
		return "", false
	}
	if p := c.perms.Load(); p != nil && p.pending {
		return reasonNoToken, true
	}
	return reasonExpired, true
}

// authorize checks that the connection may do action ("join", "publish",
// "send") on room. It answers forbidden with a reason the user can act on.
func (c *conn) authorize(action, room string) *protocol.Error {
	p := c.perms.Load()
	if p == nil || p.all {
		return nil
	}
	forbid := func(format string, args ...any) *protocol.Error {
		return protocol.Errorf(protocol.CodeForbidden, format, args...)
	}
	switch action {
	case "join":
		if matchAny(p.publish, room) || matchAny(p.read, room) {
			return nil
		}
		if p.anonymous {
			return forbid("anonymous clients may not join room %q; log in with a token in hello", room)
		}
		return forbid("your token does not allow room %q", room)
	case "publish":
		if p.anonymous {
			return forbid("anonymous clients may not publish; log in with a token in hello")
		}
		if matchAny(p.publish, room) {
			return nil
		}
		if matchAny(p.read, room) {
			return forbid("room %q is read-only for you", room)
		}
		return forbid("your token does not allow room %q", room)
	case "send":
		if p.anonymous {
			return forbid("anonymous clients may not send direct messages; log in with a token in hello")
		}
		return nil
	}
	return forbid("unknown action %q", action)
}

// checkOrigins normalises the allowed origins: each is "*" or
// scheme://host[:port], compared case-insensitively and with the scheme's
// default port dropped, as browsers send it.
func checkOrigins(list []string) (map[string]bool, error) {
	var out map[string]bool
	var errs []error
	for _, o := range list {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if out == nil {
			out = make(map[string]bool)
		}
		if o == "*" {
			out["*"] = true
			continue
		}
		n, ok := normalOrigin(o)
		if !ok {
			errs = append(errs, fmt.Errorf("allowed origin %q: want scheme://host[:port] like https://app.example.com, or *", o))
			continue
		}
		out[n] = true
	}
	return out, errors.Join(errs...)
}

// normalOrigin lower-cases an origin and drops a default port; ok is false
// when it is not scheme://host[:port].
func normalOrigin(o string) (string, bool) {
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	switch {
	case scheme == "https" && strings.HasSuffix(host, ":443"), scheme == "wss" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	case scheme == "http" && strings.HasSuffix(host, ":80"), scheme == "ws" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme + "://" + host, true
}

// checkOrigin decides whether a browser page may open a WebSocket: any
// request without an Origin header (not from a browser), a page this
// server served (same host and port), any origin when "*" is configured,
// otherwise only the listed ones. With none listed, only pages of this
// server: a page elsewhere must not act with the privileges of a browser
// that can reach this server (in open mode, any uid and its direct
// messages).
func (s *Server) checkOrigin(r *http.Request) bool {
	allowed := s.auth.origins
	origin := r.Header.Get("Origin")
	if origin == "" || allowed["*"] || sameOrigin(origin, r) {
		return true
	}
	n, ok := normalOrigin(origin)
	return ok && allowed[n]
}

// tokenFrom extracts a token from the upgrade request: ?token= or
// Authorization: Bearer.
func tokenFrom(r *http.Request) string {
	// No query, nothing to parse (a connect without ?token= pays nothing).
	if r.URL.RawQuery != "" {
		if t := r.URL.Query().Get("token"); t != "" {
			return t
		}
	}
	const prefix = "bearer "
	if h := r.Header.Get("Authorization"); len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	return ""
}
