package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/termtext"
	"github.com/rtsync/rtsync/protocol"
)

// Line mode is `rtsync chat` without a terminal: every stdin line is
// published to the room (the first --room), every message received is
// printed as one line, so the chat can be scripted:
//
//	echo "deploy done" | rtsync chat --room ops
//	rtsync chat --room ops --follow --format json > ops.log
//
// What others send is printed cleaned (internal/termtext), as text and
// as JSON, since a log file ends up on a terminal too (cat, tail -f).

// lineSendTimeout bounds one publish in line mode.
const lineSendTimeout = 10 * time.Second

// chatText is the data a line becomes: the {"text": ...} object every rtsync
// chat client (terminal, browser) sends and shows.
type chatText struct {
	Text string `json:"text"`
}

func runChatLines(ctx context.Context, o *chatOptions, urls []string) error {
	c, err := dialChat(ctx, o, urls)
	if err != nil {
		return err
	}
	defer c.Close()
	room := o.Rooms[0]
	var mu sync.Mutex // one line at a time on Out
	print := func(line string) {
		mu.Lock()
		fmt.Fprintln(o.IO.Out, line)
		mu.Unlock()
	}

	for _, r := range o.Rooms {
		if _, err := c.Join(ctx, r); err != nil {
			return fmt.Errorf("join %s: %w", r, err)
		}
		if o.History > 0 {
			h, err := c.History(ctx, r, client.HistoryOptions{Limit: o.History})
			if err != nil {
				return fmt.Errorf("history of %s: %w", r, err)
			}
			for _, m := range h.Messages {
				m.Type = protocol.TypeMsg
				print(formatLine(o.Format, protocol.Event{Type: protocol.TypeMsg, Room: m.Room, Seq: m.Seq, Epoch: m.Epoch, TS: m.TS, From: &m.From, Data: m.Data}))
			}
		}
	}

	events := make(chan struct{})
	go func() {
		defer close(events)
		away := false // this connection's offline messages were announced
		for ev := range c.Events() {
			switch ev.Kind {
			case client.KindConnected:
				away = false
				if ev.Connected.Reconnect {
					fmt.Fprintf(o.IO.ErrOut, "chat: %s\n", connectedLine(ev.Connected))
				}
			case client.KindMessage:
				print(formatLine(o.Format, ev.Wire))
			case client.KindDirect:
				if ev.Offline != nil && !away {
					away = true
					fmt.Fprintln(o.IO.ErrOut, "chat: direct messages sent to you while you were away follow, marked offline")
				}
				print(formatLine(o.Format, ev.Wire))
			case client.KindJoin, client.KindLeave:
				if o.Format == "json" {
					print(formatLine(o.Format, ev.Wire))
				}
			case client.KindDisconnected:
				// The error quotes the server's close reason.
				fmt.Fprintf(o.IO.ErrOut, "chat: disconnected: %s\n", errLine(ev.Disconnected.Err))
			case client.KindReconnecting:
				to := ""
				if len(urls) > 1 {
					// Which node: each failed attempt moves to the next.
					to = " to " + termtext.Line(ev.Reconnecting.URL)
				}
				fmt.Fprintf(o.IO.ErrOut, "chat: reconnecting%s (attempt %d)…\n", to, ev.Reconnecting.Attempt)
			case client.KindRecovered:
				fmt.Fprintf(o.IO.ErrOut, "chat: %s: %s\n", termtext.Line(ev.Recovered.Room), recoveryLine(ev.Recovered))
			}
		}
	}()

	var sendErr error
	sc := bufio.NewScanner(o.IO.In)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, lineSendTimeout)
		_, err := c.Publish(pctx, room, chatText{Text: line})
		cancel()
		if err != nil {
			fmt.Fprintf(o.IO.ErrOut, "chat: not sent: %s\n", errLine(err))
			sendErr = fmt.Errorf("some lines were not sent (the first: %w)", err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read stdin: %w", err)
	}
	if o.Follow {
		<-ctx.Done()
	} else {
		// Our own lines come back as messages; give them a moment so a
		// script sees what it sent, as others did.
		drain := time.NewTimer(200 * time.Millisecond)
		select {
		case <-drain.C:
		case <-ctx.Done():
		}
	}
	c.Close()
	<-events
	return sendErr
}

// connectedLine says where a reconnection landed: the URL, and the node
// name the server gave (remote text, cleaned).
func connectedLine(c *client.Connected) string {
	line := "reconnected to " + termtext.Line(c.URL)
	if c.Node != "" {
		line += " (node " + termtext.Line(c.Node) + ")"
	}
	return line
}

// recoveryLine says what a room's recovery after a reconnect brought.
func recoveryLine(r *client.Recovered) string {
	n := fmt.Sprintf("%d messages", r.Replayed)
	if r.Replayed == 1 {
		n = "1 message"
	}
	switch {
	case r.Err != nil:
		return "could not re-join: " + errLine(r.Err)
	case r.Recovered && r.Replayed == 0:
		return "reconnected; nothing was missed"
	case r.Recovered:
		return "reconnected; recovered " + n
	case r.EpochChanged:
		return "reconnected, but the server's history of the room was lost or reset (a new epoch); messages sent while disconnected may be missing"
	case r.MissedTo > 0:
		return fmt.Sprintf("reconnected, but the server's history no longer reaches back: seqs %d to %d were missed for good; recovered %s after them", r.MissedFrom, r.MissedTo, n)
	}
	return "reconnected; recovered " + n + ", but messages sent while disconnected may be missing"
}

// formatLine renders a msg or direct event as one line. Everything in it
// that another member or the server chose is cleaned: the text form
// replaces what could drive the terminal and shows the text's own line
// breaks as \n, so one message is one line and cannot forge another;
// the JSON form escapes the same characters, so its values stay exact.
func formatLine(format string, ev protocol.Event) string {
	if format == "json" {
		b, err := protocol.Marshal(ev)
		if err != nil {
			b, _ = json.Marshal(map[string]string{"type": "error", "message": err.Error()})
		}
		return strings.TrimRight(string(termtext.JSON(b)), "\n")
	}
	who := "?"
	if ev.From != nil {
		who = ev.From.Name
		if who == "" {
			who = ev.From.UID
		}
		if who == "" {
			who = ev.From.Client
		}
	}
	who = termtext.Line(who)
	ts := time.UnixMilli(ev.TS).Format("15:04:05")
	text := termtext.Clean(dataText(ev.Data), termtext.EscapedNewline)
	if ev.Type == protocol.TypeDirect {
		tag := "direct"
		switch {
		case ev.Inbox > 0 && ev.Redelivered:
			// Kept while we were offline, and handed out before: an
			// earlier run may have printed it.
			tag = "direct, offline, redelivered"
		case ev.Inbox > 0:
			tag = "direct, offline"
		}
		return fmt.Sprintf("%s [%s] %s: %s", ts, tag, who, text)
	}
	return fmt.Sprintf("%s [%s] %s: %s", ts, termtext.Line(ev.Room), who, text)
}

// dataText is what a message says: its text field, or its JSON when it
// has none.
func dataText(data json.RawMessage) string {
	var t chatText
	s := string(data)
	if json.Unmarshal(data, &t) == nil && t.Text != "" {
		s = t.Text
	}
	return s
}

// errLine is an error as one clean line: errors quote what a server
// said (close reasons, error replies).
func errLine(err error) string {
	if err == nil {
		return "<nil>"
	}
	return termtext.Line(err.Error())
}
