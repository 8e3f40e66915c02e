package client_test

import (
	"strings"
	"testing"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/server"
)

// A server cuts history and presence replies to fit its send queue;
// History and Presence ask for the rest and return what was asked for.
func TestPagesFollowTruncatedReplies(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, func(c *server.Config) {
		c.SendQueueBytes = 32 << 10
		c.MaxMessageSize = 8 << 10
	})
	ctx := testCtx(t)
	c := dial(t, url, client.Options{})
	if _, err := c.Join(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 4000)
	for range 30 {
		if _, err := c.Publish(ctx, "big", body); err != nil {
			t.Fatal(err)
		}
	}
	since := uint64(0)
	for _, o := range []client.HistoryOptions{{Limit: 25}, {Since: &since, Limit: 25}} {
		h, err := c.History(ctx, "big", o)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Messages) != 25 || !h.More {
			t.Fatalf("History(%+v) = %d messages, more %v; want 25 and more", o, len(h.Messages), h.More)
		}
		first := uint64(6)
		if o.Since != nil {
			first = 1
		}
		for i, m := range h.Messages {
			if m.Seq != first+uint64(i) {
				t.Fatalf("History(%+v): message %d has seq %d, want %d", o, i, m.Seq, first+uint64(i))
			}
		}
	}

	meta := map[string]string{"bio": strings.Repeat("m", 1900)}
	for range 20 {
		m := dial(t, url, client.Options{})
		if _, err := m.Hello(ctx, client.HelloOptions{Meta: meta}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Join(ctx, "big"); err != nil {
			t.Fatal(err)
		}
	}
	members, err := c.Presence(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range members {
		seen[m.Client] = true
	}
	if len(members) != 21 || len(seen) != 21 {
		t.Fatalf("Presence = %d members (%d distinct), want 21", len(members), len(seen))
	}
}
