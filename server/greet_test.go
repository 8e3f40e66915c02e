package server

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// guardPair returns a guardConn over a real loopback socket and its peer.
func guardPair(t *testing.T) (*guardConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	gc := &guardConn{TCPConn: nc.(*net.TCPConn)}
	t.Cleanup(func() { gc.Close(); peer.Close() })
	return gc, peer
}

// readWithin reads what arrives within d; nil when nothing does.
func readWithin(t *testing.T, c net.Conn, d time.Duration) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestGuardConnHoldsUpgradeResponse: once armed, the handshake response
// is not sent on its own but with the next write, in one segment, ahead of
// it.
func TestGuardConnHoldsUpgradeResponse(t *testing.T) {
	gc, peer := guardPair(t)
	gc.armHold()
	resp := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
	if n, err := gc.Write(resp); n != len(resp) || err != nil {
		t.Fatalf("write response: %d, %v", n, err)
	}
	if got := readWithin(t, peer, 50*time.Millisecond); got != nil {
		t.Fatalf("the held response went out on its own: %q", got)
	}
	frame := []byte("\x81\x05hello")
	if n, err := gc.Write(frame); n != len(frame) || err != nil {
		t.Fatalf("write frame: %d, %v (want %d written)", n, err, len(frame))
	}
	want := append(append([]byte(nil), resp...), frame...)
	if got := readWithin(t, peer, 2*time.Second); !bytes.Equal(got, want) {
		t.Fatalf("one read got %q, want the response and the frame together: %q", got, want)
	}
	// Later writes go straight out.
	if _, err := gc.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	if got := readWithin(t, peer, 2*time.Second); string(got) != "more" {
		t.Fatalf("got %q after the held response went", got)
	}
}

// TestGuardConnHoldsOnlyUpgrade: an armed connection whose first write is
// not a 101 (an upgrade that failed and is answered with an HTTP error)
// writes it at once.
func TestGuardConnHoldsOnlyUpgrade(t *testing.T) {
	gc, peer := guardPair(t)
	gc.armHold()
	resp := "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
	if _, err := gc.Write([]byte(resp)); err != nil {
		t.Fatal(err)
	}
	if got := readWithin(t, peer, 2*time.Second); string(got) != resp {
		t.Fatalf("got %q, want the error response at once", got)
	}
}

// TestGuardConnFlushHeld: flushHeld sends a response still held, once.
func TestGuardConnFlushHeld(t *testing.T) {
	gc, peer := guardPair(t)
	if err := gc.flushHeld(); err != nil {
		t.Fatal(err) // nothing held: nothing to do
	}
	gc.armHold()
	resp := "HTTP/1.1 101 Switching Protocols\r\n\r\n"
	_, _ = gc.Write([]byte(resp))
	if err := gc.flushHeld(); err != nil {
		t.Fatal(err)
	}
	if got := readWithin(t, peer, 2*time.Second); string(got) != resp {
		t.Fatalf("got %q, want the held response", got)
	}
	if err := gc.flushHeld(); err != nil {
		t.Fatal(err)
	}
	if got := readWithin(t, peer, 50*time.Millisecond); got != nil {
		t.Fatalf("flushHeld sent %q again", got)
	}
}

// TestWelcomeFollowsHandshake: over a real server, a raw client's first
// read brings the handshake response and the whole welcome frame behind
// it, as one write put them on the wire.
func TestWelcomeFollowsHandshake(t *testing.T) {
	_, url := startServer(t, Config{})
	nc, err := net.Dial("tcp", hostOf(t, url))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rc := newRawConnector(hostOf(t, url))
	if _, err := nc.Write(rc.req); err != nil {
		t.Fatal(err)
	}
	// Wait for the first bytes, then take whatever else has arrived by
	// now: had the welcome been a write of its own, it would come later
	// than the response, not in the same read.
	got := readWithin(t, nc, 5*time.Second)
	head, rest, ok := bytes.Cut(got, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")) {
		t.Fatalf("first read %q: want a 101 response", got)
	}
	br := bufio.NewReader(bytes.NewReader(rest))
	rc.br = br
	f, err := rc.frame()
	if err != nil {
		t.Fatalf("first read %q: the welcome frame is not complete in it (%v)", got, err)
	}
	if !bytes.Contains(f, []byte(`"type":"welcome"`)) || br.Buffered() != 0 {
		t.Fatalf("frame %q (%d bytes more), want the welcome alone", f, br.Buffered())
	}
}
