package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"
	"unicode"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/tui/style"
)

// Defaults for the zero fields of Options.
const (
	// DefaultURL is where `rtsync serve` listens with no flags.
	DefaultURL = "ws://127.0.0.1:7000/ws"
	// DefaultRoom is joined when Options.Rooms is empty; the server's TCP
	// text mode and the web page start there too.
	DefaultRoom = "lobby"
	// DefaultHistory is how many recent messages a join shows: a screenful
	// or two, enough to see what a conversation is about.
	DefaultHistory = 50
	// DefaultPingInterval paces the round-trip measurement in the status
	// bar: often enough to notice a slow link, rare enough to cost nothing.
	DefaultPingInterval = 5 * time.Second
)

// Client is what the chat needs of a connection. *client.Client implements
// it; the interface keeps the UI independent of the transport, and lets a
// test wrap the real client.
type Client interface {
	Events() <-chan client.Event
	Identity() client.Identity
	URL() string
	Err() error
	Hello(ctx context.Context, h client.HelloOptions) (client.Identity, error)
	Join(ctx context.Context, room string, opts ...client.JoinOption) (client.JoinResult, error)
	Leave(ctx context.Context, room string) error
	Publish(ctx context.Context, room string, data any, opts ...client.PublishOption) (uint64, error)
	SendToUID(ctx context.Context, uid string, data any) (client.SendResult, error)
	SendToClient(ctx context.Context, clientID string, data any) (int, error)
	Presence(ctx context.Context, room string) ([]protocol.Member, error)
	History(ctx context.Context, room string, o client.HistoryOptions) (client.HistoryResult, error)
	Ping(ctx context.Context) (time.Duration, error)
	Close() error
}

var _ Client = (*client.Client)(nil)

// DialFunc connects a Client; Options.Dial defaults to client.Dial.
type DialFunc func(ctx context.Context, url string, opts client.Options) (Client, error)

// Options configures Run. The zero value chats anonymously in lobby on the
// local default server.
type Options struct {
	// URL of the server's WebSocket endpoint. Default DefaultURL; a bare
	// host:port or an http(s):// URL works too (see client.Dial).
	URL string
	// Name is the display name. Empty is anonymous: others see the first
	// characters of the connection's client id.
	Name string
	// UID is the user id, which others address with /msg. Empty with no
	// Token means one derived from Name (white space turned into "_"), so
	// that people on an open server can message each other by name. A
	// server with authentication takes the uid from the token instead.
	UID string
	// Token is a JWT for a server with authentication (see docs/auth.md).
	Token string
	// Rooms are joined at start, in this order. Default [DefaultRoom].
	Rooms []string
	// Styles is the look; the zero value means style.Default(). Styles
	// without colour (style.Plain) also turn off the per-user name colours.
	Styles style.Styles

	// History is how many recent messages a join shows. Default
	// DefaultHistory; negative shows none. At most 1000 (the protocol's
	// limit for one history page).
	History int
	// PingInterval paces the round-trip measurement shown in the status
	// bar. Default DefaultPingInterval; negative turns it off.
	PingInterval time.Duration
	// TimeFormat formats a message's time. Default: local time as HH:MM.
	// Tests pass a constant to get stable frames.
	TimeFormat func(time.Time) string
	// DayFormat names a message's day. A line whose day differs from the
	// line above it gets a row of its own first, as weechat's "day
	// changed" line. Default: the local date, "Monday, 2 January 2006".
	// Tests pass a constant, which never changes the day.
	DayFormat func(time.Time) string

	// Client carries further client settings (backoff, headers, dialer,
	// timeouts, FallbackURLs: the other nodes of URL's cluster). Its Name,
	// UID and Token are replaced by the fields above.
	Client client.Options
	// Dial connects; default client.Dial. Tests use it to wrap the client.
	Dial DialFunc
	// Environ is the environment bubbletea detects the terminal's colour
	// support from (NO_COLOR, TERM, COLORTERM…). Default os.Environ().
	Environ []string
	// NoMouse leaves the mouse to the terminal (text selection without
	// shift) at the cost of wheel scrolling and clicking on rooms.
	NoMouse bool
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if strings.TrimSpace(o.URL) == "" {
		o.URL = DefaultURL
	}
	if len(o.Rooms) == 0 {
		o.Rooms = []string{DefaultRoom}
	}
	if reflect.ValueOf(o.Styles).IsZero() {
		o.Styles = style.Default()
	}
	switch {
	case o.History == 0:
		o.History = DefaultHistory
	case o.History > 1000:
		o.History = 1000
	}
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.TimeFormat == nil {
		o.TimeFormat = func(t time.Time) string { return t.Local().Format("15:04") }
	}
	if o.DayFormat == nil {
		o.DayFormat = func(t time.Time) string { return t.Local().Format("Monday, 2 January 2006") }
	}
	if o.Dial == nil {
		o.Dial = func(ctx context.Context, url string, opts client.Options) (Client, error) {
			c, err := client.Dial(ctx, url, opts)
			if err != nil {
				return nil, err
			}
			return c, nil
		}
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.UID == "" && o.Token == "" {
		o.UID = uidFromName(o.Name)
	}
	return o
}

// uidFromName makes a uid (printable, no white space) out of a display
// name; "" for an anonymous one.
func uidFromName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return '_'
		case !unicode.IsPrint(r):
			return -1
		}
		return r
	}, strings.TrimSpace(name))
}

// clientOptions are the options the client is dialled with.
func (o Options) clientOptions() client.Options {
	co := o.Client
	co.Name, co.UID, co.Token = o.Name, o.UID, o.Token
	// The chat reads events itself; OnEvent would bypass the channel.
	co.OnEvent = nil
	return co
}

// Run connects to the server, joins opts.Rooms and runs the chat on the
// terminal given by in and out until the user quits (/quit or ctrl+c) or
// ctx ends; then it closes the connection. It returns an error when the
// server cannot be reached (naming the URL and what to do), when the
// terminal fails, or when the connection had ended for good before the
// user quit (kicked, token refused), so that the exit status says so.
//
// out should be a terminal; for other outputs the caller uses a line
// mode instead. A nil in reads no keys.
func Run(ctx context.Context, in io.Reader, out io.Writer, opts Options) error {
	opts = opts.withDefaults()
	c, err := opts.Dial(ctx, opts.URL, opts.clientOptions())
	if err != nil {
		return dialError(opts.URL, err)
	}
	defer c.Close()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := newModel(runCtx, c, opts)
	popts := []tea.ProgramOption{
		tea.WithContext(runCtx),
		tea.WithOutput(out),
		tea.WithEnvironment(opts.Environ),
	}
	// A nil in turns input off (no keys, no terminal queries).
	popts = append(popts, tea.WithInput(in))
	if !isTerminal(out) {
		// No size to ask for: draw the size the layout is made for
		// rather than nothing.
		popts = append(popts, tea.WithWindowSize(80, 24))
	}
	_, err = tea.NewProgram(m, popts...).Run()
	switch {
	case err == nil, errors.Is(err, tea.ErrInterrupted):
	case ctx.Err() != nil:
		// Cancelled from outside (a signal): the user is leaving.
		return nil
	default:
		return fmt.Errorf("chat: %w", err)
	}
	if err := c.Err(); err != nil {
		return fmt.Errorf("chat: connection to %s ended: %w", c.URL(), err)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(f.Fd())
}

// dialError says which server could not be reached and what to do.
func dialError(url string, err error) error {
	msg := err.Error()
	var b strings.Builder
	b.WriteString("chat: ")
	if !strings.Contains(msg, url) && !strings.Contains(msg, "://") {
		fmt.Fprintf(&b, "connect to %s: ", url)
	}
	b.WriteString("%w")
	if !strings.Contains(msg, "rtsync serve") {
		b.WriteString("; is the server running? start one with `rtsync serve`, or give the URL of another")
	}
	return fmt.Errorf(b.String(), err)
}
