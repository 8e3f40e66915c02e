package client_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server"
)

// rawPublish joins room over a bare WebSocket and publishes n messages of
// about size bytes, perFrame commands to a frame, without waiting for
// replies; it returns once every reply has come back ok.
func rawPublish(url, room string, n, perFrame, size int) error {
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return err
	}
	defer ws.Close()
	if _, _, err := ws.ReadMessage(); err != nil { // welcome
		return err
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"join","room":"`+room+`"}`)); err != nil {
		return err
	}
	replies := make(chan error, 1)
	go func() {
		want := n + 1 // the join's reply too
		for want > 0 {
			_, frame, err := ws.ReadMessage()
			if err != nil {
				replies <- err
				return
			}
			err = protocol.Split(frame, func(obj []byte) error {
				ev, err := protocol.DecodeEvent(obj)
				if err != nil || ev.Type != protocol.TypeReply {
					return err
				}
				if ev.Error != nil {
					return ev.Error
				}
				want--
				return nil
			})
			if err != nil {
				replies <- err
				return
			}
		}
		replies <- nil
	}()
	pad := strings.Repeat("x", size)
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"op":"pub","room":"%s","noecho":true,"data":"%s"}`, room, pad)
		if i%perFrame != 0 && i != n {
			b.WriteByte('\n')
			continue
		}
		if err := ws.WriteMessage(websocket.TextMessage, []byte(b.String())); err != nil {
			select {
			case rerr := <-replies:
				return fmt.Errorf("write after %d: %w (reader: %v)", i, err, rerr)
			case <-time.After(time.Second):
			}
			return err
		}
		b.Reset()
	}
	select {
	case err := <-replies:
		return err
	case <-time.After(waitTimeout):
		return fmt.Errorf("replies missing")
	}
}

// TestSlowConsumer: a subscriber that stops reading while 10 MB is
// published is closed with 4008 (slow consumer), reconnects and recovers.
// The replay streams from the server's store as the client reads, so the
// whole backlog comes back: seqs only ever go up by one, none is seen
// twice, every recovery is complete, and there is no reconnect storm.
func TestSlowConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("slow; runs without -short")
	}
	t.Parallel()
	const room, total, size = "firehose", 10000, 1000
	url, _ := startServer(t, func(c *server.Config) {
		c.HistorySize = total
		c.SendQueueBytes = 256 << 10
	})
	sub := dial(t, url, client.Options{EventBuffer: 1, Backoff: fastBackoff})
	if _, err := sub.Join(testCtx(t), room); err != nil {
		t.Fatal(err)
	}
	// The consumer reads nothing until all is published: 10 MB, more than
	// socket buffers and the server's queue hold.
	if err := rawPublish(url, room, total, 50, size); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	next := uint64(1)
	var disconnects, partial int
	for next <= total {
		ev := expect(t, sub, fmt.Sprintf("seq %d", next), func(client.Event) bool { return true })
		switch ev.Kind {
		case client.KindMessage:
			switch seq := ev.Wire.Seq; {
			case seq < next:
				t.Fatalf("seq %d again or out of order; want %d", seq, next)
			case seq > next:
				t.Fatalf("gap: got seq %d, want %d", seq, next)
			default:
				next = seq + 1
			}
		case client.KindDisconnected:
			disconnects++
		case client.KindRecovered:
			if !ev.Recovered.Recovered {
				partial++
			}
		}
	}
	if disconnects == 0 || disconnects > 3 {
		t.Errorf("%d disconnects; want a slow-consumer close or two, not a storm", disconnects)
	}
	if partial > 0 {
		t.Errorf("%d incomplete recoveries, though history held the whole backlog", partial)
	}
}
