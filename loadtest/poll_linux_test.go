package loadtest

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/testserver"
	"github.com/rtsync/rtsync/server"
)

// TestReadModesAgree runs the same broadcast on both read paths against a
// real server: every subscriber on the poll path when it is asked for (the
// publishers write, and keep their goroutine) and none otherwise, and the
// same complete results.
func TestReadModesAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: two bench runs; runs without -short")
	}
	// Pings every 200 ms: a connection whose pongs the server does not
	// understand is closed (4013) after two silent heartbeats.
	url := testserver.Start(t, server.Config{PublishRate: 1e6, PublishBurst: 1e6, HeartbeatInterval: 200 * time.Millisecond}).URL()
	for _, mode := range []string{ReadModePoll, ReadModeGoroutine} {
		cfg := Config{
			URLs: []string{url}, Conns: 60, Rooms: 2, Publishers: 2, Rate: 300, Payload: 2000,
			Warmup: Duration(300 * time.Millisecond), Duration: Duration(time.Second),
			Ramp: Duration(100 * time.Millisecond), Drain: Duration(3 * time.Second), ReadMode: mode,
		}
		before := connsPolled.Load()
		res, err := Run(context.Background(), cfg, Options{})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		polled := connsPolled.Load() - before
		m := res.Messages
		t.Logf("%s: %d polled; %s", mode, polled, m)
		if want := int64(60); mode == ReadModePoll && polled != want || mode == ReadModeGoroutine && polled != 0 {
			t.Errorf("%s: %d connections on the poll path", mode, polled)
		}
		if res.Config.ReadMode != mode {
			t.Errorf("%s: the result says %q", mode, res.Config.ReadMode)
		}
		if res.Connect.Dropped != 0 {
			t.Errorf("%s: %d connections dropped: %v", mode, res.Connect.Dropped, res.Connect.Drops)
		}
		if res.Connect.Connected != 64 || m.Lost != 0 || m.Duplicated != 0 || m.OutOfOrder != 0 || m.Delivered != m.Expected ||
			m.Latency.Count != m.Delivered || m.FanOut.Count != m.Published || m.Published < 280 {
			t.Errorf("%s: connected %d, %s", mode, res.Connect.Connected, m)
		}
		// Every delivery in the window is counted: 2000 bytes and more each.
		if m.BytesPerSec < 2000*float64(m.Delivered)*0.9 {
			t.Errorf("%s: %.0f bytes/s for %d deliveries in 1 s", mode, m.BytesPerSec, m.Delivered)
		}
	}
}

// TestHandoffHoldsWhatFollowsSetup: a server that sends its set-up replies
// and the first messages in one write. gorilla reads the set-up; what
// follows it, to the byte, is left for the poll path.
func TestHandoffHoldsWhatFollowsSetup(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	after := append(frame(true, opText, []byte(`{"type":"message","data":"early"}`)), frame(true, opPing, []byte("hb"))...)
	after = append(after, 0x81, 126, 0x01) // the start of the next frame
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		req, err := http.ReadRequest(bufio.NewReader(nc))
		if err != nil {
			return
		}
		h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		out := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			base64.StdEncoding.EncodeToString(h[:]) + "\r\n\r\n")
		out = append(out, frame(true, opText, []byte(`{"type":"welcome","server":"fake","heartbeat":25000}`))...)
		// The reply comes in two fragments, a ping between them.
		out = append(out, frame(false, opText, []byte(`{"type":"reply",`))...)
		out = append(out, frame(true, opPing, nil)...)
		out = append(out, frame(true, opContinuation, []byte(`"id":1,"ok":true}`))...)
		out = append(out, after...)
		if _, err := nc.Write(out); err != nil {
			return
		}
		time.Sleep(2 * time.Second) // keep it open while the client sets up
	}()
	d := newDialer(netipAddr())
	ctx := wantHandoff(context.Background())
	ws, resp, err := d.DialContext(ctx, "ws://"+ln.Addr().String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer ws.Close()
	hs, err := rtsyncSetup(ws, []byte(`{"op":"hello","id":1}`), nil)
	if err != nil || hs.server != "fake" {
		t.Fatalf("set-up: %+v, %v", hs, err)
	}
	h, ok := ws.NetConn().(*handoffConn)
	if !ok {
		t.Fatalf("the connection is a %T", ws.NetConn())
	}
	if got := h.held(); string(got) != string(after) {
		t.Errorf("held %q, want %q", got, after)
	}
}

func netipAddr() netip.Addr { return netip.Addr{} }
