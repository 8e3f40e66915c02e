package cmd

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"

	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server"
)

// secretEnv is where `rtsync token` finds the HS256 secret without
// --secret: the variable `rtsync serve` reads for --jwt-secret, so one
// export serves both.
const secretEnv = envPrefix + "JWT_SECRET"

// tokenOptions is what `rtsync token` needs.
type tokenOptions struct {
	IO *iostreams.IOStreams

	Secret  string
	KeyFile string
	KID     string
	UID     string
	Name    string
	Rooms   []string
	Read    []string
	// RoomsSet and ReadSet tell an empty list given on purpose (no rooms)
	// from no flag (the claim is left out).
	RoomsSet, ReadSet bool
	TTL               time.Duration
	// Issuer and Audience become the iss and aud claims when set.
	Issuer   string
	Audience []string

	// LookupEnv reads the secret's environment variable; nil means the
	// process environment. Now stamps iat and exp; nil means time.Now.
	LookupEnv func(string) (string, bool)
	Now       func() time.Time
}

const tokenLong = `Print a signed JWT that an rtsync server started with --jwt-secret,
--jwt-public-key or --jwks accepts: for development, tests and scripts. In
production your application or identity provider issues the tokens; this
shows what they hold.

The token carries:
  sub    the user id (--uid)
  name   the display name (--name), which the client then cannot change
  rooms  room patterns the user may join and publish to (--rooms)
  read   room patterns the user may join only (--read)
  exp    when it expires (now + --ttl); servers refuse tokens without one
  iat    when it was made
A pattern is a room name in which '*' matches any run of characters:
'chat.*' matches chat.general and chat.a.b. With neither --rooms nor --read
the user may join and publish to every room.

It is signed with HS256 and --secret (or $` + secretEnv + `, the variable
'rtsync serve' reads, which keeps the secret out of the process list), or
with the PEM private key in --key: RS256 for an RSA key, ES256/ES384/ES512
for an EC key on P-256/P-384/P-521, EdDSA for Ed25519. The server then needs
the matching public key (--jwt-public-key) or a JWKS holding it; --kid names
the key in the token's header so a JWKS with several keys finds it.

The token alone goes to stdout, so $(rtsync token ...) captures it. Clients
send it in hello ({"op":"hello","token":"..."}), as ?token= on the
WebSocket URL, or in an Authorization: Bearer header.`

const tokenExample = `  # a server and a token for it sharing one secret
  export RTSYNC_JWT_SECRET=$(head -c 32 /dev/urandom | base64)
  rtsync serve &
  rtsync token --uid alice --name Alice --ttl 8h

  # alice may publish in chat.* and her direct rooms, and read news.*
  rtsync token --uid alice --rooms 'chat.*,dm:alice:*' --read 'news.*'

  # RS256/ES256: sign with a private key, verify with its public key
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem
  openssl pkey -in key.pem -pubout -out pub.pem
  rtsync serve --jwt-public-key pub.pem &
  rtsync token --key key.pem --uid alice

  # connect with it
  wscat -c "ws://127.0.0.1:7000/ws?token=$(rtsync token --uid alice)"`

func newTokenCmd(ios *iostreams.IOStreams) *cobra.Command {
	opts := &tokenOptions{IO: ios}
	c := &cobra.Command{
		Use:     "token --uid UID (--secret SECRET | --key FILE) [flags]",
		Short:   "Print a signed client token (JWT) for development",
		Long:    tokenLong,
		Example: tokenExample,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts.RoomsSet = c.Flags().Changed("rooms")
			opts.ReadSet = c.Flags().Changed("read")
			return runToken(c.Context(), opts)
		},
	}
	fs := c.Flags()
	fs.SortFlags = false
	fs.StringVar(&opts.UID, "uid", "", "user id the token is for (its sub claim; required)")
	fs.StringVar(&opts.Name, "name", "", "display `name` (the name claim)")
	fs.StringSliceVar(&opts.Rooms, "rooms", nil, "room `patterns` the user may join and publish to, comma-separated (default: every room, unless --read is given)")
	fs.StringSliceVar(&opts.Read, "read", nil, "room `patterns` the user may join but not publish to, comma-separated")
	fs.DurationVar(&opts.TTL, "ttl", time.Hour, "how long the token is valid")
	fs.StringVar(&opts.Issuer, "iss", "", "the token's `issuer` (iss claim), for a server started with --jwt-issuer")
	fs.StringSliceVar(&opts.Audience, "aud", nil, "the token's `audiences` (aud claim), comma-separated, for a server started with --jwt-audience")
	fs.StringVar(&opts.Secret, "secret", "", "sign with HS256 and this `secret` (default $"+secretEnv+")")
	fs.StringVar(&opts.KeyFile, "key", "", "sign with this PEM private key `FILE` instead (RS256, ES256/384/512 or EdDSA)")
	fs.StringVar(&opts.KID, "kid", "", "key id to put in the token's header, for servers with a JWKS")
	_ = c.MarkFlagFilename("key", "pem", "key")
	return c
}

// runToken checks the options, builds the claims, signs them and prints
// the token.
func runToken(_ context.Context, opts *tokenOptions) error {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	secret := opts.Secret
	if secret == "" && opts.KeyFile == "" {
		secret, _ = lookup(secretEnv)
	}
	var errs []error
	switch {
	case opts.UID == "":
		errs = append(errs, errors.New("--uid is required: the user id the token is for"))
	default:
		if e := protocol.ValidUID(opts.UID); e != nil {
			errs = append(errs, fmt.Errorf("--uid: %s", e.Message))
		}
	}
	if e := protocol.ValidName(opts.Name); e != nil {
		errs = append(errs, fmt.Errorf("--name: %s", e.Message))
	}
	if err := server.CheckRoomPatterns(opts.Rooms); err != nil {
		errs = append(errs, fmt.Errorf("--rooms: %w", err))
	}
	if err := server.CheckRoomPatterns(opts.Read); err != nil {
		errs = append(errs, fmt.Errorf("--read: %w", err))
	}
	if opts.TTL <= 0 {
		errs = append(errs, fmt.Errorf("--ttl must be more than 0, got %s; servers refuse tokens without an expiry", opts.TTL))
	}
	switch {
	case opts.Secret != "" && opts.KeyFile != "":
		errs = append(errs, errors.New("--secret and --key exclude each other: HS256 with a secret, or RS256/ES256 with a key file"))
	case secret == "" && opts.KeyFile == "":
		errs = append(errs, fmt.Errorf("nothing to sign with: give --secret (or set %s) for HS256, or --key FILE with a PEM private key", secretEnv))
	}
	if len(errs) > 0 {
		return &usageError{err: errors.Join(errs...), hint: true}
	}

	method, key := jwt.SigningMethod(jwt.SigningMethodHS256), any([]byte(secret))
	if opts.KeyFile != "" {
		var err error
		if method, key, err = readPrivateKey(opts.KeyFile); err != nil {
			return err
		}
	}
	t := now()
	claims := jwt.MapClaims{
		"sub": opts.UID,
		"iat": t.Unix(),
		"exp": t.Add(opts.TTL).Unix(),
	}
	if opts.Name != "" {
		claims["name"] = opts.Name
	}
	if opts.RoomsSet {
		claims["rooms"] = nonNil(opts.Rooms)
	}
	if opts.ReadSet {
		claims["read"] = nonNil(opts.Read)
	}
	if opts.Issuer != "" {
		claims["iss"] = opts.Issuer
	}
	switch len(opts.Audience) {
	case 0:
	case 1:
		claims["aud"] = opts.Audience[0]
	default:
		claims["aud"] = opts.Audience
	}
	tok := jwt.NewWithClaims(method, claims)
	if opts.KID != "" {
		tok.Header["kid"] = opts.KID
	}
	s, err := tok.SignedString(key)
	if err != nil {
		return fmt.Errorf("sign token with %s: %w", method.Alg(), err)
	}
	if _, err := fmt.Fprintln(opts.IO.Out, s); err != nil {
		return fmt.Errorf("write token: %w", err)
	}
	return nil
}

// nonNil makes an empty list encode as [] (no rooms) rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// readPrivateKey reads a PEM private key and picks the algorithm its type
// calls for.
func readPrivateKey(name string) (jwt.SigningMethod, crypto.Signer, error) {
	fail := func(format string, args ...any) (jwt.SigningMethod, crypto.Signer, error) {
		return nil, nil, fmt.Errorf("--key %s: %s", name, fmt.Sprintf(format, args...))
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, nil, fmt.Errorf("--key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return fail("no PEM block found; want a -----BEGIN PRIVATE KEY----- block (openssl genpkey writes one)")
	}
	if strings.Contains(block.Type, "ENCRYPTED") || block.Headers["Proc-Type"] != "" {
		return fail("the key is encrypted; write an unencrypted copy with: openssl pkey -in %s -out plain.pem", name)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		if strings.Contains(block.Type, "PUBLIC KEY") || block.Type == "CERTIFICATE" {
			return fail("holds a %s; signing needs the private key (the server gets the public one)", strings.ToLower(block.Type))
		}
		return fail("PEM block is %q; want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY", block.Type)
	}
	if err != nil {
		return fail("cannot parse the %s block: %v", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return fail("RSA key has %d bits; servers need at least 2048", k.N.BitLen())
		}
		return jwt.SigningMethodRS256, k, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jwt.SigningMethodES256, k, nil
		case elliptic.P384():
			return jwt.SigningMethodES384, k, nil
		case elliptic.P521():
			return jwt.SigningMethodES512, k, nil
		}
		return fail("EC curve %s is not supported; use P-256, P-384 or P-521", k.Curve.Params().Name)
	case ed25519.PrivateKey:
		return jwt.SigningMethodEdDSA, k, nil
	}
	return fail("%T keys are not supported; use an RSA, EC or Ed25519 key", key)
}
