package cmd

import (
	"context"
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
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/internal/testserver"
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server"
)

const tokenTestSecret = "token-test-secret-0123456789abcdef"

// cmdWSWelcome dials a WebSocket URL with the token in FILE (as
// Authorization: Bearer) and checks the server's welcome names UID. Negated,
// it checks the server closes with 4001 and a reason containing the third
// argument instead.
//
//	wswelcome URL TOKENFILE UID
//	! wswelcome URL TOKENFILE REASON
func cmdWSWelcome(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: wswelcome URL TOKENFILE UID|REASON")
	}
	tok, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	ev, err := dialWelcome(args[0], http.Header{"Authorization": {"Bearer " + strings.TrimSpace(string(tok))}})
	var ce *websocket.CloseError
	switch {
	case neg && errors.As(err, &ce):
		if ce.Code != protocol.CloseUnauthorized || !strings.Contains(ce.Text, args[2]) {
			ts.Fatalf("closed with %d %q, want 4001 with %q", ce.Code, ce.Text, args[2])
		}
	case neg && err == nil:
		ts.Fatalf("token accepted: welcome for uid %q", ev.UID)
	case err != nil:
		ts.Fatalf("%v", err)
	case ev.UID != args[2]:
		ts.Fatalf("welcome for uid %q, want %q", ev.UID, args[2])
	}
}

// dialWelcome connects and returns the first event, which should be the
// welcome; a close before it comes back as a *websocket.CloseError.
func dialWelcome(url string, h http.Header) (protocol.Event, error) {
	return dialWelcomeWith(websocket.DefaultDialer, url, h)
}

func dialWelcomeWith(d *websocket.Dialer, url string, h http.Header) (protocol.Event, error) {
	ws, _, err := d.Dial(url, h)
	if err != nil {
		return protocol.Event{}, err
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := ws.ReadMessage()
	if err != nil {
		return protocol.Event{}, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	ev, err := protocol.DecodeEvent([]byte(first))
	if err == nil && ev.Type != protocol.TypeWelcome {
		err = errors.New("first event is " + ev.Type + ", not welcome")
	}
	return ev, err
}

func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "key.pem")
	writeFile(t, name, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
	return name
}

func pkcs8(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func runTokenOK(t *testing.T, opts *tokenOptions) string {
	t.Helper()
	ios, _, out, _ := iostreams.Test()
	opts.IO = ios
	if opts.LookupEnv == nil {
		opts.LookupEnv = func(string) (string, bool) { return "", false }
	}
	if opts.TTL == 0 {
		opts.TTL = time.Hour
	}
	if err := runToken(context.Background(), opts); err != nil {
		t.Fatalf("runToken: %v", err)
	}
	s := out.String()
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Fatalf("output %q is not one line", s)
	}
	return strings.TrimSpace(s)
}

func TestTokenClaims(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	tok := runTokenOK(t, &tokenOptions{
		Secret: tokenTestSecret, UID: "alice", Name: "Alice", KID: "dev",
		Rooms: []string{"chat.*", "dm:alice:*"}, RoomsSet: true, ReadSet: true,
		Issuer: "https://auth.example.com", Audience: []string{"chat", "ops"},
		TTL: 90 * time.Minute, Now: func() time.Time { return now },
	})
	p := jwt.NewParser(jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithValidMethods([]string{"HS256"}))
	got, err := p.Parse(tok, func(*jwt.Token) (any, error) { return []byte(tokenTestSecret), nil })
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got.Claims)
	want := `{"aud":["chat","ops"],"exp":1800005400,"iat":1800000000,"iss":"https://auth.example.com","name":"Alice","read":[],"rooms":["chat.*","dm:alice:*"],"sub":"alice"}`
	if string(b) != want {
		t.Errorf("claims %s\nwant   %s", b, want)
	}
	if got.Header["kid"] != "dev" {
		t.Errorf("header %v has no kid dev", got.Header)
	}

	// Without --rooms and --read the claims are left out: every room.
	tok = runTokenOK(t, &tokenOptions{Secret: tokenTestSecret, UID: "bob"})
	got, err = jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(tokenTestSecret), nil })
	if err != nil {
		t.Fatal(err)
	}
	c := got.Claims.(jwt.MapClaims)
	for _, k := range []string{"rooms", "read", "name", "iss", "aud"} {
		if _, ok := c[k]; ok {
			t.Errorf("claim %s present without its flag: %v", k, c)
		}
	}
}

func TestTokenSecretFromEnv(t *testing.T) {
	t.Parallel()
	tok := runTokenOK(t, &tokenOptions{UID: "alice", LookupEnv: func(k string) (string, bool) {
		if k == "RTSYNC_JWT_SECRET" {
			return tokenTestSecret, true
		}
		return "", false
	}})
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(tokenTestSecret), nil }); err != nil {
		t.Fatalf("token signed with RTSYNC_JWT_SECRET does not verify: %v", err)
	}
}

// TestTokenKeyFiles signs with each kind of private key and checks the
// server, given the public key, accepts the token.
func TestTokenKeyFiles(t *testing.T) {
	t.Parallel()
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ek384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ek)
	tests := []struct {
		name, alg string
		file      string
		pub       crypto.PublicKey
	}{
		{"RSA PKCS#8", "RS256", writePEM(t, "PRIVATE KEY", pkcs8(t, rk)), rk.Public()},
		{"RSA PKCS#1", "RS256", writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)), rk.Public()},
		{"EC SEC1", "ES256", writePEM(t, "EC PRIVATE KEY", ecDER), ek.Public()},
		{"EC P-384", "ES384", writePEM(t, "PRIVATE KEY", pkcs8(t, ek384)), ek384.Public()},
		{"Ed25519", "EdDSA", writePEM(t, "PRIVATE KEY", pkcs8(t, edk)), edk.Public()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok := runTokenOK(t, &tokenOptions{KeyFile: tt.file, UID: "alice"})
			parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
			if err != nil || parsed.Method.Alg() != tt.alg {
				t.Fatalf("token alg %v (err %v), want %s", parsed.Header["alg"], err, tt.alg)
			}
			der, err := x509.MarshalPKIXPublicKey(tt.pub)
			if err != nil {
				t.Fatal(err)
			}
			u := startTestServer(t, server.Config{JWTPublicKeyFile: writePEM(t, "PUBLIC KEY", der)})
			ev, err := dialWelcome(u, http.Header{"Authorization": {"Bearer " + tok}})
			if err != nil || ev.UID != "alice" {
				t.Fatalf("server's welcome %+v, err %v; want uid alice", ev, err)
			}
		})
	}
}

// TestTokenAcceptedByServer checks an HS256 token's permissions, as the
// server reads them.
func TestTokenAcceptedByServer(t *testing.T) {
	t.Parallel()
	u := startTestServer(t, server.Config{JWTSecret: tokenTestSecret})
	tok := runTokenOK(t, &tokenOptions{Secret: tokenTestSecret, UID: "alice", Name: "Alice", Read: []string{"news.*"}, ReadSet: true})
	ws, _, err := websocket.DefaultDialer.Dial(u+"?token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	send := func(cmd string) protocol.Event {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(cmd)); err != nil {
			t.Fatal(err)
		}
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(b), "\n") {
				ev, err := protocol.DecodeEvent([]byte(line))
				if err == nil && ev.Type == protocol.TypeReply {
					return ev
				}
			}
		}
	}
	if r := send(`{"op":"join","room":"news.today","id":1}`); !r.OK {
		t.Fatalf("join news.today: %+v", r.Error)
	}
	if r := send(`{"op":"pub","room":"news.today","data":1,"id":2}`); r.OK || r.Error.Code != protocol.CodeForbidden {
		t.Fatalf("pub to a read-only room: ok=%v error %+v, want forbidden", r.OK, r.Error)
	}
	if r := send(`{"op":"join","room":"chat","id":3}`); r.OK || r.Error.Code != protocol.CodeForbidden {
		t.Fatalf("join chat: ok=%v error %+v, want forbidden", r.OK, r.Error)
	}
}

// startTestServer runs a server until the test ends and returns its ws://
// URL.
func startTestServer(t *testing.T, cfg server.Config) string {
	t.Helper()
	return testserver.Start(t, cfg).URL()
}

func TestTokenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(ek.Public())
	junk := filepath.Join(dir, "junk.pem")
	writeFile(t, junk, "not pem")
	tests := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"no uid", []string{"--secret", "s"}, 2, []string{"--uid is required"}},
		{"nothing to sign with", []string{"--uid", "alice"}, 2, []string{"nothing to sign with: give --secret (or set RTSYNC_JWT_SECRET)"}},
		{"both", []string{"--uid", "alice", "--secret", "s", "--key", junk}, 2, []string{"--secret and --key exclude each other"}},
		{"bad ttl", []string{"--uid", "alice", "--secret", "s", "--ttl", "0s"}, 2, []string{"--ttl must be more than 0"}},
		{"ttl not a duration", []string{"--uid", "alice", "--secret", "s", "--ttl", "1"}, 2, []string{"--ttl"}},
		{"bad pattern", []string{"--uid", "alice", "--secret", "s", "--rooms", "chat room"}, 2, []string{`--rooms: pattern "chat room": character ' ' is not allowed`}},
		{"bad uid", []string{"--uid", "al ice", "--secret", "s"}, 2, []string{"--uid: uid \"al ice\" holds a space"}},
		{"several at once", []string{"--ttl", "-1h"}, 2, []string{"--uid is required", "--ttl must be more than 0", "nothing to sign with"}},
		{"missing key file", []string{"--uid", "alice", "--key", filepath.Join(dir, "nope.pem")}, 1, []string{"--key: open " + filepath.Join(dir, "nope.pem")}},
		{"not PEM", []string{"--uid", "alice", "--key", junk}, 1, []string{"junk.pem: no PEM block found"}},
		{"public key", []string{"--uid", "alice", "--key", writePEM(t, "PUBLIC KEY", pubDER)}, 1, []string{"holds a public key; signing needs the private key"}},
		{"small RSA", []string{"--uid", "alice", "--key", writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small))}, 1, []string{"RSA key has 1024 bits"}},
		{"arguments", []string{"alice"}, 2, []string{`"rtsync token" takes no arguments`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, out, errOut := iostreams.Test()
			err := execute(context.Background(), ios, append([]string{"token"}, tt.args...))
			if ExitCode(err) != tt.code {
				t.Errorf("exit code %d, want %d (err %v)", ExitCode(err), tt.code, err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr %q does not contain %q", errOut, w)
				}
			}
			if out.String() != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}
