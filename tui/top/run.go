package top

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/tui/style"
)

// Defaults for the zero fields of Options.
const (
	// DefaultURL is where `rtsync serve` listens with no flags.
	DefaultURL = "http://127.0.0.1:7000"
	// DefaultInterval paces the snapshots: once a second, as top does.
	DefaultInterval = time.Second
	// DefaultRooms is how many of the busiest rooms the live view asks
	// for: the server's maximum, so that sorting and filtering see as
	// many rooms as the server will tell.
	DefaultRooms = 100
	// DefaultClients is the clients view's page: the server's maximum.
	// A server with more connections shows the first page, and says so.
	DefaultClients = 1000
)

// requestTimeout bounds one round of requests. A server that takes
// longer is as good as unreachable for a monitor, and saying so beats a
// screen that silently stops moving.
const requestTimeout = 5 * time.Second

// kickReason is sent with a kick, so the client (and its user) knows
// where it came from.
const kickReason = "kicked by an operator (rtsync top)"

// API is what top needs of a server. *client.API implements it; tests
// pass canned snapshots.
type API interface {
	Stats(ctx context.Context, rooms int) (client.ServerStats, error)
	Clients(ctx context.Context, q client.ClientsQuery) (client.ClientsPage, error)
	Kick(ctx context.Context, clientID, reason string) error
}

var _ API = (*client.API)(nil)

// Options configures Run. The zero value watches the local default
// server once a second.
type Options struct {
	// URL is the server's address: http(s)://host:port, its ws:// URL or
	// a bare host:port (see client.NewAPI). Default DefaultURL.
	URL string
	// APIKey is sent as Authorization: Bearer, for a server started with
	// --api-key.
	APIKey string
	// Interval is the time between snapshots. Default DefaultInterval.
	Interval time.Duration
	// Rooms is how many of the busiest rooms to ask for. Default
	// DefaultRooms.
	Rooms int
	// Styles is the look; the zero value means style.Default().
	Styles style.Styles
	// API talks to the server; nil means client.NewAPI(URL, APIKey).
	API API
	// Environ is the environment bubbletea detects the terminal's colour
	// support from (NO_COLOR, TERM, COLORTERM…). Default os.Environ().
	Environ []string
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() (Options, error) {
	if strings.TrimSpace(o.URL) == "" {
		o.URL = DefaultURL
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Rooms <= 0 {
		o.Rooms = DefaultRooms
	}
	if reflect.ValueOf(o.Styles).IsZero() {
		o.Styles = style.Default()
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.API == nil {
		a, err := client.NewAPI(o.URL, o.APIKey, nil)
		if err != nil {
			return o, err
		}
		o.API = a
		o.URL = a.URL()
	}
	return o, nil
}

// Run shows the live monitor on the terminal given by in and out until
// the user quits (q or ctrl+c) or ctx ends. A server that cannot be
// reached is not an error: the monitor says so and keeps trying, as a
// monitor left running across a restart should. Run returns an error only
// for bad options or a failing terminal.
//
// out should be a terminal; for other outputs use Summary. A nil in reads
// no keys.
func Run(ctx context.Context, in io.Reader, out io.Writer, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := newModel(runCtx, opts)
	popts := []tea.ProgramOption{
		tea.WithContext(runCtx),
		tea.WithInput(in),
		tea.WithOutput(out),
		tea.WithEnvironment(opts.Environ),
	}
	if !isTerminal(out) {
		// No size to ask for: draw the size the layout is made for.
		popts = append(popts, tea.WithWindowSize(80, 24))
	}
	_, err = tea.NewProgram(m, popts...).Run()
	switch {
	case err == nil, errors.Is(err, tea.ErrInterrupted):
		return nil
	case ctx.Err() != nil:
		// Cancelled from outside (a signal): the user is leaving.
		return nil
	default:
		return fmt.Errorf("top: %w", err)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(f.Fd())
}
