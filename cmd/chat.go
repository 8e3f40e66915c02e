package cmd

import (
	"context"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/protocol"
	tuichat "github.com/rtsync/rtsync/tui/chat"
	"github.com/rtsync/rtsync/tui/style"
)

// chatOptions is what `rtsync chat` needs.
type chatOptions struct {
	IO *iostreams.IOStreams

	// URLs are the --url values as given: one server, or the nodes of
	// a cluster (each value may be a comma list).
	URLs    []string
	Name    string
	UID     string
	Rooms   []string
	Token   string
	Format  string
	History int
	Follow  bool
	Mode    string
}

const chatLong = `Chat on an rtsync server from the terminal: rooms with unread counts, the
room's members, history on join, direct messages, and a reconnect that fills
in exactly what was missed.

In the chat, type to send to the current room, or a command:
  /join ROOM   /leave   /nick NAME   /msg USER TEXT   /who   /rooms
  /history N   /clear   /help   /quit
Tab and Ctrl+N / Ctrl+P switch rooms (Alt+1..9 jump), PgUp/PgDn or the mouse
wheel scroll, Up/Down recall what you typed, Ctrl+C quits.

Without a terminal (stdin or stdout is not a TTY) it runs in line mode: each
line of stdin is sent to the first --room, and each message received is
printed as one line (--format text or json). It exits when stdin ends, unless
--follow keeps it listening until interrupted.

What others send is cleaned before it reaches the terminal: escape sequences,
other control characters, bidi overrides and invisible characters show as �,
and in line mode a message's own line breaks show as \n. The JSON lines keep
every value exact and escape those characters.

The defaults reach 'rtsync serve' on this machine. On a server that checks
tokens, pass --token (make one with 'rtsync token').

For a cluster (several 'rtsync serve --redis' nodes), give each node's URL:
repeat --url or separate them with commas. The chat connects to the first
that answers; when its node goes away it moves on to the next, round robin,
and recovers there what it missed. The status bar (line mode: stderr) says
which node it is on.`

const chatExample = `  # chat in lobby on the local server
  rtsync chat

  # as ann, in two rooms
  rtsync chat --name ann --room lobby --room ops

  # from a script: send a line and exit
  echo "deploy done" | rtsync chat --room ops

  # log a room as JSON lines
  rtsync chat --room ops --follow --format json < /dev/null > ops.log

  # on a cluster of three nodes: whichever answers, and the others if it dies
  rtsync chat --url ws://10.0.0.1:7000/ws,ws://10.0.0.2:7000/ws --url ws://10.0.0.3:7000/ws`

func newChatCmd(ios *iostreams.IOStreams) *cobra.Command {
	opts := &chatOptions{IO: ios}
	c := &cobra.Command{
		Use:     "chat",
		Short:   "Chat from the terminal (and from scripts)",
		Long:    chatLong,
		Example: chatExample,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runChat(c.Context(), opts)
		},
	}
	f := c.Flags()
	f.SortFlags = false
	f.StringArrayVar(&opts.URLs, "url", []string{tuichat.DefaultURL}, "server WebSocket `URL`; repeat it, or give a comma list, for the nodes of a cluster (the others are used when one fails)")
	f.StringVar(&opts.Name, "name", "", "your display name (default: your login name)")
	f.StringVar(&opts.UID, "uid", "", "your user id on a server without tokens, where /msg finds you (default: the name)")
	f.StringArrayVar(&opts.Rooms, "room", []string{"lobby"}, "room to join (repeat for several; the first is where line mode sends)")
	f.StringVar(&opts.Token, "token", "", "JWT for a server that checks tokens")
	f.StringVar(&opts.Format, "format", "text", "line mode output: text or json")
	f.IntVar(&opts.History, "history", 0, "line mode: print this many recent messages of each room first")
	f.BoolVar(&opts.Follow, "follow", false, "line mode: keep printing messages after stdin ends, until interrupted")
	f.StringVar(&opts.Mode, "mode", "auto", "auto (the terminal UI on a terminal, else line mode), tui or lines")
	return c
}

func runChat(ctx context.Context, o *chatOptions) error {
	switch o.Format {
	case "text", "json":
	default:
		return flagError("--format %q: use text or json", o.Format)
	}
	switch o.Mode {
	case "auto", "tui", "lines":
	default:
		return flagError("--mode %q: use auto, tui or lines", o.Mode)
	}
	if o.History < 0 {
		return flagError("--history cannot be negative")
	}
	urls, err := chatURLs(o.URLs)
	if err != nil {
		return err
	}
	if len(o.Rooms) == 0 {
		return flagError("--room: give at least one room")
	}
	for _, r := range o.Rooms {
		if e := protocol.ValidRoom(r); e != nil {
			return flagError("--room %q: %s", r, e.Message)
		}
	}
	if o.Name == "" {
		o.Name = loginName()
	}
	mode := o.Mode
	if mode == "auto" {
		mode = "lines"
		if iostreams.IsTerminal(o.IO.In) && iostreams.IsTerminal(o.IO.Out) {
			mode = "tui"
		}
	}
	if mode == "lines" {
		if o.UID == "" {
			// As the terminal UI and the browser page do: a uid from
			// the name, so /msg finds people by the name they show.
			o.UID = strings.ReplaceAll(o.Name, " ", "_")
		}
		return runChatLines(ctx, o, urls)
	}
	return tuichat.Run(ctx, o.IO.In, o.IO.Out, tuichat.Options{
		URL:    urls[0],
		Name:   o.Name,
		UID:    o.UID,
		Rooms:  o.Rooms,
		Token:  o.Token,
		Styles: style.Default(),
		Client: client.Options{FallbackURLs: urls[1:]},
	})
}

// chatURLs splits the --url values at commas and checks each: the first
// is dialled, the others are its cluster's fallbacks.
func chatURLs(values []string) ([]string, error) {
	urls, err := urlList(values, tuichat.DefaultURL)
	if err != nil {
		return nil, err
	}
	for _, u := range urls {
		if _, err := client.NormalizeURL(u); err != nil {
			return nil, flagError("--url: %v", err)
		}
	}
	return urls, nil
}

// urlList splits the values of a repeatable --url flag at commas: each
// value is one URL or a comma list of them. example is a URL for the
// error messages.
func urlList(values []string, example string) ([]string, error) {
	var urls []string
	for _, v := range values {
		for u := range strings.SplitSeq(v, ",") {
			u = strings.TrimSpace(u)
			if u == "" {
				return nil, flagError("--url %q: an empty URL; give one like %s, several separated by commas", v, example)
			}
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return nil, flagError("--url: give the server's URL, like %s", example)
	}
	return urls, nil
}

// dialChat connects for line mode to the first of urls that answers,
// with the others as fallbacks. The client's dial error names each URL
// and says what to do (is the server running, check the token, ...).
func dialChat(ctx context.Context, o *chatOptions, urls []string) (*client.Client, error) {
	return client.Dial(ctx, urls[0], client.Options{Name: o.Name, UID: o.UID, Token: o.Token, FallbackURLs: urls[1:]})
}

// loginName is the user's login name, for a default display name.
func loginName() string {
	for _, k := range []string{"USER", "USERNAME", "LOGNAME"} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	return "guest"
}
