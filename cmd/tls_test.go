package cmd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/internal/iostreams"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their files and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rtsync test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServeTLS runs serve with --tls-cert and --tls-key and connects over
// wss:// trusting the test certificate, with a token on top.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	ios, _, _, errOut := iostreams.Test()
	opts := testServeOptions(ios)
	opts.TLSCert, opts.TLSKey = certFile, keyFile
	opts.Server.JWTSecret = tokenTestSecret
	opts.Server.ShutdownTimeout = 2 * time.Second
	addr, stop := startServe(t, opts)

	tok := runTokenOK(t, &tokenOptions{Secret: tokenTestSecret, UID: "alice"})
	d := &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 10 * time.Second}
	ev, err := dialWelcomeWith(d, "wss://"+addr+"/ws", http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	if ev.UID != "alice" {
		t.Fatalf("welcome uid %q, want alice", ev.UID)
	}
	// Without the certificate trusted the handshake fails; plain ws too.
	if _, err := dialWelcomeWith(&websocket.Dialer{HandshakeTimeout: 5 * time.Second}, "wss://"+addr+"/ws", nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("wss dial without trusting the certificate: %v, want a certificate error", err)
	}
	if _, err := dialWelcomeWith(&websocket.Dialer{HandshakeTimeout: 5 * time.Second}, "ws://"+addr+"/ws", nil); err == nil {
		t.Error("plain ws:// dial to a TLS server succeeded")
	}

	if err := stop(); err != nil {
		t.Fatalf("runServe: %v", err)
	}
	logs := errOut.String()
	for _, want := range []string{
		`msg="rtsync listening" url=wss://` + addr + "/ws health=https://" + addr + "/healthz",
		`level=INFO msg="client authentication: JWT required" algorithms=HS256`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log does not contain %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "no authentication configured") {
		t.Errorf("log warns of no authentication although a secret is set:\n%s", logs)
	}
}

func TestServeTLSBadFiles(t *testing.T) {
	t.Parallel()
	certFile, _, _ := selfSigned(t)
	ios, _, _, _ := iostreams.Test()
	opts := testServeOptions(ios)
	opts.TLSCert, opts.TLSKey = certFile, certFile
	err := runServe(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "load TLS certificate "+certFile+" and key "+certFile) {
		t.Fatalf("runServe with a certificate as key: %v", err)
	}
}
