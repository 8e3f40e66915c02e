package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
)

// TestBrowserOffline: direct messages sent to Ada while she had no page
// open show up, marked, when she logs in: one handed out before without
// an ack (to her phone, say) says it was redelivered. The page acks them,
// so the server's inbox empties. A message the page sends to someone
// offline is kept for them, and the page says so.
func TestBrowserOffline(t *testing.T) {
	srv := startServer(t)
	gopher, _ := dialGo(t, srv.addr, "Gopher", "gopher")
	send := func(text string) {
		t.Helper()
		r, err := gopher.SendToUID(bounded(t), "Ada", map[string]string{"text": text})
		if err != nil || !r.Stored {
			t.Fatalf("SendToUID(Ada) = %+v, %v; want stored", r, err)
		}
	}
	send("the build is green again")

	// Ada's phone gets the first message and never acks it.
	phone, err := client.Dial(bounded(t), "ws://"+srv.addr+"/ws", client.Options{Name: "Ada", UID: "Ada", NoAutoAck: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-phone.Events():
		for ev.Kind != client.KindDirect {
			ev = <-phone.Events()
		}
		if ev.Offline == nil || ev.Offline.Redelivered {
			t.Fatalf("the phone got %v; want a first offline delivery", ev)
		}
	case <-time.After(wait):
		t.Fatal("the phone got nothing")
	}
	_ = phone.Close()
	// The server learns of the close when it reads the close frame; a
	// message sent before that goes to the closing connection.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for srv.srv.IsUIDOnline("Ada") {
		select {
		case <-ctx.Done():
			t.Fatal("the server still has Ada online after her phone closed")
		case <-time.After(10 * time.Millisecond):
		}
	}
	send("and the release notes are up")

	ada := openTab(t, startBrowser(t), "Ada", "http://"+srv.addr+"/")
	ada.waitFor("the count", `sysLines("Direct messages").includes("2 messages arrived while you were away")`)
	ada.waitMessage("Direct messages", "Gopher", "offline, redelivered the build is green again")
	ada.waitMessage("Direct messages", "Gopher", "offline and the release notes are up")
	ada.waitFor("the unread badge", `badge("Direct messages") === "2"`)
	waitInbox(t, srv, 0)

	ada.send("/msg Nobody are you there?")
	ada.waitFor("the note", `sysLines("Direct messages").includes("Nobody is offline: the server keeps the message and delivers it when they next connect")`)
	waitInbox(t, srv, 1)
}

// waitInbox waits until the server holds want offline messages.
func waitInbox(t *testing.T, srv *testServer, want int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for srv.srv.Stats().Store.InboxMessages != want {
		select {
		case <-ctx.Done():
			t.Fatalf("the server holds %d offline messages; want %d", srv.srv.Stats().Store.InboxMessages, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
