package client_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
)

var fastBackoff = client.Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}

// TestReconnectRecovers severs the subscriber's TCP connections twice
// while another client keeps publishing, and checks that the subscriber
// sees every seq exactly once, in order.
func TestReconnectRecovers(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	ctx := testCtx(t)
	const room, total = "live", 400

	pub := dial(t, url, client.Options{Name: "pub"})
	if _, err := pub.Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, url[len("ws://"):len(url)-len("/ws")])
	sub := dial(t, "ws://"+px.addr()+"/ws", client.Options{Name: "sub", Backoff: fastBackoff})
	expect(t, sub, "first connection", kind(client.KindConnected))
	j, err := sub.Join(ctx, room)
	if err != nil {
		t.Fatal(err)
	}

	// One publisher, paced so that the stream outlasts both outages
	// however fast the server is.
	var published atomic.Uint64
	pubDone := make(chan error, 1)
	go func() {
		for range total {
			if _, err := pub.Publish(ctx, room, "m", client.NoEcho()); err != nil {
				pubDone <- err
				return
			}
			published.Add(1)
			time.Sleep(time.Millisecond)
		}
		pubDone <- nil
	}()

	var (
		next                   = uint64(1)
		severed, disconnects   int
		reconnects, recoveries int
		replayed               int
		severAt                = map[uint64]bool{60: true, 220: true}
		timeout                = time.After(waitTimeout)
		epoch                  = j.Epoch
	)
	for next <= total {
		select {
		case ev := <-sub.Events():
			switch ev.Kind {
			case client.KindMessage:
				if epoch == "" {
					// The room's first message gives it its epoch.
					epoch = ev.Wire.Epoch
				}
				if ev.Wire.Seq != next || ev.Wire.Epoch != epoch {
					t.Fatalf("got seq %d (epoch %s); want %d (epoch %s): a gap or a duplicate", ev.Wire.Seq, ev.Wire.Epoch, next, epoch)
				}
				if severAt[next] {
					px.sever()
					severed++
				}
				next++
			case client.KindDisconnected:
				disconnects++
				if !ev.Disconnected.Reconnect {
					t.Fatalf("Disconnected = %+v; want a reconnect", ev.Disconnected)
				}
			case client.KindConnected:
				if !ev.Connected.Reconnect || ev.Connected.Name != "sub" {
					t.Errorf("Connected = %+v; want a reconnection as sub", ev.Connected)
				}
				reconnects++
			case client.KindRecovered:
				r := ev.Recovered
				if r.Room != room || !r.Recovered || r.EpochChanged || r.Err != nil {
					t.Errorf("Recovered = %+v; want a complete recovery of %s", r, room)
				}
				recoveries++
				replayed += r.Replayed
			}
		case err := <-pubDone:
			if err != nil {
				t.Fatalf("publisher: %v", err)
			}
			pubDone = nil
		case <-timeout:
			t.Fatalf("timed out at seq %d of %d (published %d)", next, total, published.Load())
		}
	}
	if severed != 2 || disconnects != 2 || reconnects != 2 || recoveries != 2 {
		t.Errorf("severed %d, disconnects %d, reconnects %d, recoveries %d; want 2 of each", severed, disconnects, reconnects, recoveries)
	}
	if replayed == 0 {
		t.Error("no message was replayed: the outages missed the stream")
	}
	if st := sub.Stats(); st.Reconnects != 2 || st.Messages != total {
		t.Errorf("Stats = %+v; want 2 reconnects, %d messages", st, total)
	}
	// Requests work on the new connection, and the room is still joined.
	if _, err := sub.Publish(ctx, room, "back"); err != nil {
		t.Fatalf("Publish after reconnect: %v", err)
	}
}

// TestRequestsWhileDisconnected: requests fail fast with ErrNotConnected
// while the client waits to reconnect, and Leave just forgets the room.
func TestRequestsWhileDisconnected(t *testing.T) {
	t.Parallel()
	url, stop := startServer(t, nil)
	ctx := testCtx(t)
	c := dial(t, url, client.Options{Backoff: client.Backoff{Min: time.Hour}})
	if _, err := c.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	stop()
	expect(t, c, "reconnecting", kind(client.KindReconnecting))
	start := time.Now()
	if _, err := c.Publish(ctx, "r", 1); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("Publish while disconnected: %v; want ErrNotConnected", err)
	}
	if time.Since(start) > time.Second {
		t.Error("Publish while disconnected did not fail fast")
	}
	if err := c.Leave(ctx, "r"); err != nil {
		t.Fatalf("Leave while disconnected: %v; want nil", err)
	}
	if len(c.Rooms()) != 0 {
		t.Errorf("Rooms() = %v; want none after Leave", c.Rooms())
	}
	// Close interrupts the hour-long backoff at once.
	start = time.Now()
	_ = c.Close()
	if time.Since(start) > time.Second {
		t.Errorf("Close took %v during backoff", time.Since(start))
	}
}

// TestServerShutdown: a server going away closes with 4012, which the
// client answers by reconnecting (or, with NoReconnect, by stopping).
func TestServerShutdown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		noReconnect bool
	}{
		{"reconnects", false},
		{"NoReconnect stops", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, stop := startServer(t, nil)
			c := dial(t, url, client.Options{NoReconnect: tc.noReconnect, Backoff: fastBackoff})
			expect(t, c, "connected", kind(client.KindConnected))
			go stop()
			d := expect(t, c, "disconnected", kind(client.KindDisconnected)).Disconnected
			if d.Code != protocol.CloseGoingAway || d.Reconnect == tc.noReconnect {
				t.Fatalf("Disconnected = %+v; want code %d, reconnect %t", d, protocol.CloseGoingAway, !tc.noReconnect)
			}
			if tc.noReconnect {
				for ev := range c.Events() {
					t.Errorf("event %v after the final disconnect", ev)
				}
				var ce *client.CloseError
				if !errors.As(c.Err(), &ce) || ce.Code != protocol.CloseGoingAway {
					t.Errorf("Err() = %v; want close code 4012", c.Err())
				}
				return
			}
			r := expect(t, c, "reconnecting", kind(client.KindReconnecting)).Reconnecting
			if r.Attempt != 1 {
				t.Errorf("Reconnecting.Attempt = %d; want 1", r.Attempt)
			}
			// The server is gone: attempts go on, each saying why the last failed.
			r = expect(t, c, "second attempt", kind(client.KindReconnecting)).Reconnecting
			if r.Attempt != 2 || r.Err == nil {
				t.Errorf("Reconnecting = %+v; want attempt 2 with the failed dial's error", r)
			}
		})
	}
}

// TestStalledConsumer: while the consumer does not read, the reader waits
// (replies wait with it, as documented); nothing is lost once it reads
// again, and Close does not hang on a full channel.
func TestStalledConsumer(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	ctx := testCtx(t)
	pub := dial(t, url, client.Options{})
	// The Connected event alone fills a buffer of one.
	sub := dial(t, url, client.Options{EventBuffer: 1})
	for _, c := range []*client.Client{pub, sub} {
		if _, err := c.Join(ctx, "stall"); err != nil {
			t.Fatal(err)
		}
	}
	const total = 200
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range total / 10 {
				if _, err := pub.Publish(ctx, "stall", "m", client.NoEcho()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// The reader is stuck behind the full channel, so no reply is read.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := sub.Ping(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping while stalled: %v; want a timeout", err)
	}
	expect(t, sub, "connected", kind(client.KindConnected))
	for want := uint64(1); want <= total; want++ {
		if ev := expect(t, sub, "message", kind(client.KindMessage)); ev.Wire.Seq != want {
			t.Fatalf("got seq %d; want %d", ev.Wire.Seq, want)
		}
	}
	if _, err := sub.Ping(ctx); err != nil {
		t.Fatalf("Ping after catching up: %v", err)
	}
	// Stall again, then Close: it must not wait for the consumer.
	for range 5 {
		if _, err := pub.Publish(ctx, "stall", "m", client.NoEcho()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	_ = sub.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with a stalled consumer", d)
	}
}

// TestReconnectKeepsIdentity: after a reconnect the client is the same
// user under its latest name, and its rooms are joined again.
func TestReconnectKeepsIdentity(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	ctx := testCtx(t)
	px := newProxy(t, url[len("ws://"):len(url)-len("/ws")])
	c := dial(t, "ws://"+px.addr()+"/ws", client.Options{Name: "ann", UID: "u-ann", Meta: map[string]int{"v": 1}, Backoff: fastBackoff})
	first := expect(t, c, "connected", kind(client.KindConnected)).Connected
	if _, err := c.Join(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// With history the room outlives its last member; without, the server
	// forgets it and the re-join finds a new epoch.
	if _, err := c.Publish(ctx, "a", "keep"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Hello(ctx, client.HelloOptions{Name: "annie"}); err != nil {
		t.Fatal(err)
	}
	px.sever()
	again := expect(t, c, "reconnected", kind(client.KindConnected)).Connected
	if !again.Reconnect || again.Client == first.Client || again.Name != "annie" || again.UID != "u-ann" {
		t.Fatalf("Connected = %+v; want a new client id as annie, uid u-ann", again)
	}
	if r := expect(t, c, "recovered", kind(client.KindRecovered)).Recovered; r.Room != "a" || !r.Recovered {
		t.Fatalf("Recovered = %+v; want room a recovered", r)
	}
	members, err := c.Presence(ctx, "a")
	if err != nil || len(members) != 1 || members[0].UID != "u-ann" || string(members[0].Meta) != `{"v":1}` {
		t.Fatalf("Presence = %+v, %v; want annie with her uid and meta", members, err)
	}
}
