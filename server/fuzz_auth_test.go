package server

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtsync/rtsync/protocol"
)

// fuzzIssuer is the issuer the fuzz server's tokens must name.
const fuzzIssuer = "fuzz-iss"

// FuzzToken hands arbitrary strings, and mutations of real tokens, to the
// server's token check (the path of ?token=, Authorization: Bearer and
// hello's token) on a server that accepts HS256 with a secret and ES256
// with a public key, and checks the issuer. The properties:
//   - a token is accepted only if an independent check, written here from
//     RFC 7515/7519 and not using the JWT library, agrees: its signature
//     is right for its alg and key, exp is a number in the future, nbf (if
//     any) is not, iss is the server's, and sub is the uid the server
//     took;
//   - a refusal is an unauthorized error whose message is UTF-8;
//   - nothing panics.
//
// Seeds beyond these are in testdata/fuzz/FuzzToken. Run it with
//
//	go test -run '^$' -fuzz '^FuzzToken$' -fuzztime 60s ./server
func FuzzToken(f *testing.F) {
	ec := ecKey1()
	der, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	pemFile := filepath.Join(f.TempDir(), "pub.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		f.Fatal(err)
	}

	exp := time.Now().Add(24 * time.Hour).Unix()
	good := jwt.MapClaims{"sub": "ada", "iss": fuzzIssuer, "exp": exp, "name": "Ada", "rooms": []string{"chat.*"}}
	signed := func(m jwt.SigningMethod, key any, c jwt.MapClaims, hdr map[string]any) string {
		tok := jwt.NewWithClaims(m, c)
		for k, v := range hdr {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(key)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	with := func(extra map[string]any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range good {
			c[k] = v
		}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	hs := jwt.SigningMethodHS256
	secret := []byte(testSecret)
	for _, s := range []string{
		signed(hs, secret, good, nil),
		signed(jwt.SigningMethodES256, ec, good, map[string]any{"kid": "k1"}),
		signed(hs, secret, with(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), nil),
		signed(hs, secret, with(map[string]any{"exp": nil}), nil),
		signed(hs, secret, with(map[string]any{"exp": "9999999999"}), nil),
		signed(hs, secret, with(map[string]any{"nbf": exp}), nil),
		signed(hs, secret, with(map[string]any{"iss": "other"}), nil),
		signed(hs, secret, with(map[string]any{"sub": "$server"}), nil),
		signed(hs, secret, with(map[string]any{"sub": "a b"}), nil),
		signed(hs, secret, with(map[string]any{"sub": 7}), nil),
		signed(hs, secret, with(map[string]any{"name": "\u202eevil", "rooms": "chat"}), nil),
		signed(hs, secret, with(map[string]any{"read": []any{"a", 1}}), nil),
		signed(jwt.SigningMethodHS384, secret, good, nil),
		signed(hs, []byte("wrong secret of thirty-two bytes!!"), good, nil),
		// Key confusion: HS256 signed with the public key's PEM as secret.
		signed(hs, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), good, nil),
		signed(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good, nil),
		"",
		"a.b.c",
		"....",
	} {
		f.Add(s)
	}

	cfg := fuzzConfig()
	cfg.JWTSecret = testSecret
	cfg.JWTPublicKeyFile = pemFile
	cfg.JWTIssuer = fuzzIssuer
	s, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		ar, e := s.authenticate(token)
		if e != nil {
			if e.Code != protocol.CodeUnauthorized || !utf8.ValidString(e.Message) || e.Message == "" {
				t.Fatalf("token %q: refusal %q %q", token, e.Code, e.Message)
			}
			return
		}
		if token == "" {
			return // no token: the server's pending state, not an acceptance
		}
		if why := independentCheck(token, secret, &ec.PublicKey, ar.UID); why != "" {
			t.Fatalf("token %q accepted (uid %q), but %s", token, ar.UID, why)
		}
	})
}

// independentCheck says why token should not be accepted for uid, or ""
// when it should.
func independentCheck(token string, secret []byte, pub *ecdsa.PublicKey, uid string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "it does not have three parts"
	}
	dec := func(s string) ([]byte, bool) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		return b, err == nil
	}
	hb, ok1 := dec(parts[0])
	pb, ok2 := dec(parts[1])
	sig, ok3 := dec(parts[2])
	if !ok1 || !ok2 || !ok3 {
		return "a part is not base64url"
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &hdr) != nil {
		return "its header is not a JSON object"
	}
	signing := []byte(parts[0] + "." + parts[1])
	digest := sha256.Sum256(signing)
	switch hdr.Alg {
	case "HS256":
		mac := hmac.New(sha256.New, secret)
		mac.Write(signing)
		if !hmac.Equal(mac.Sum(nil), sig) {
			return "its HS256 signature is wrong"
		}
	case "ES256":
		if len(sig) != 64 {
			return "its ES256 signature is not 64 bytes"
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, digest[:], r, s) {
			return "its ES256 signature is wrong"
		}
	default:
		return "its alg " + hdr.Alg + " is not one the server was given a key for"
	}
	var claims map[string]any
	if json.Unmarshal(pb, &claims) != nil {
		return "its payload is not a JSON object"
	}
	now := float64(time.Now().Unix())
	if exp, ok := claims["exp"].(float64); !ok || exp <= now-1 {
		return "exp is missing, not a number or past"
	}
	if nbf, ok := claims["nbf"]; ok {
		if n, isNum := nbf.(float64); !isNum || n > now+1 {
			return "nbf is not a number or in the future"
		}
	}
	if claims["iss"] != fuzzIssuer {
		return "iss is not the server's"
	}
	if sub, _ := claims["sub"].(string); sub != uid || protocol.ValidUID(sub) != nil {
		return "sub is not the uid taken, or not a valid uid"
	}
	return ""
}
