package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/internal/termtext"
	"github.com/rtsync/rtsync/tui/style"
	tuitop "github.com/rtsync/rtsync/tui/top"
)

// apiKeyEnv is where `rtsync top` finds the API key without --api-key,
// which would show it in the process list. `rtsync serve` reads its
// --api-key from the same variable, so one setting serves both.
const apiKeyEnv = envPrefix + "API_KEY"

// Bounds of top's flags.
const (
	// minTopInterval keeps a monitor from polling a server hard: stats
	// take a lock per room, and a person cannot read faster anyway.
	minTopInterval = 100 * time.Millisecond
	// maxTopRooms is the most rooms the server lists in top_rooms.
	maxTopRooms = 100
	// onceRooms is how many rooms --once asks for by default: a screen's
	// worth in a log.
	onceRooms = 10
	// onceTimeout bounds --once: a script must not hang on a server that
	// accepts and never answers.
	onceTimeout = 10 * time.Second
	// probeTimeout bounds the question to one of several --url servers
	// that picks the first that answers.
	probeTimeout = 3 * time.Second
)

// topOptions is what `rtsync top` needs.
type topOptions struct {
	IO *iostreams.IOStreams

	// URLs are the --url values as given: a server, or the nodes of a
	// cluster (each value may be a comma list).
	URLs     []string
	APIKey   string
	Interval time.Duration
	Once     bool
	JSON     bool
	Rooms    int

	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

const topLong = `Watch an rtsync server, or a cluster, live: connections, rooms, users,
memory, CPU and goroutines; charts of connections, messages in, deliveries
and drops per second over the last minutes; the busiest rooms, or every
connected client, sortable and filterable; and a key to kick a client. In a
cluster each node gets a row, with the totals.

Keys: tab or 1/2 switch between rooms and clients, up/down select, s/S sort
by the next column / reverse, / filters (esc clears), k kicks the selected
client after a y/n, ? shows every key, q quits.

It reads the server's HTTP API (GET /api/v1/stats and /api/v1/clients), so
it needs the server's API key: pass --api-key or set $` + apiKeyEnv + `. For a
server on this machine started without --api-key, top reads the key that
server keeps for itself (~/.config/rtsync/api-key, or $RTSYNC_API_KEY_FILE).

When the server goes away, top says so, keeps the last figures greyed and
retries every --interval until it is back. Given several --url (repeated, or
a comma list: the nodes of a cluster, whose stats every node serves), top
watches the first that answers at start.

--once prints one snapshot as plain text and exits (--json: the server's
answer as indented JSON), for scripts and CI; it exits 1 when the server
cannot be reached. Without a terminal, --once is required.`

const topExample = `  # the local server started with plain 'rtsync serve'
  rtsync top

  # a server elsewhere, with its API key, twice a second
  RTSYNC_API_KEY=s3cret rtsync top --url https://rt.example.com --interval 500ms

  # one snapshot for a log, or JSON for jq
  rtsync top --once
  rtsync top --once --json | jq .connections`

func newTopCmd(ios *iostreams.IOStreams) *cobra.Command {
	opts := &topOptions{IO: ios}
	c := &cobra.Command{
		Use:     "top",
		Short:   "Watch a server or a cluster live: connections, rates, rooms, clients",
		Long:    topLong,
		Example: topExample,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runTop(c.Context(), opts)
		},
	}
	f := c.Flags()
	f.SortFlags = false
	f.StringArrayVar(&opts.URLs, "url", []string{tuitop.DefaultURL}, "server `URL` (http://host:port; a ws:// URL or a bare host:port work too); repeat it, or give a comma list, for the nodes of a cluster: top uses the first that answers")
	f.StringVar(&opts.APIKey, "api-key", "", "the server's API key (default $"+apiKeyEnv+")")
	f.DurationVar(&opts.Interval, "interval", tuitop.DefaultInterval, "time between snapshots")
	f.BoolVar(&opts.Once, "once", false, "print one snapshot and exit")
	f.BoolVar(&opts.JSON, "json", false, "with --once: print the server's stats as JSON")
	f.IntVar(&opts.Rooms, "rooms", 0, fmt.Sprintf("busiest rooms to list, at most %d (default %d with --once, %d live)", maxTopRooms, onceRooms, tuitop.DefaultRooms))
	return c
}

func runTop(ctx context.Context, o *topOptions) error {
	var errs []error
	if o.Interval < minTopInterval {
		errs = append(errs, fmt.Errorf("--interval must be at least %s, got %s", minTopInterval, o.Interval))
	}
	if o.Rooms < 0 || o.Rooms > maxTopRooms {
		errs = append(errs, fmt.Errorf("--rooms must be from 1 to %d (0: the default), got %d", maxTopRooms, o.Rooms))
	}
	if o.JSON && !o.Once {
		errs = append(errs, errors.New("--json goes with --once: the live view has no JSON form"))
	}
	if len(errs) > 0 {
		return &usageError{err: errors.Join(errs...), hint: true}
	}
	urls, err := urlList(o.URLs, tuitop.DefaultURL)
	if err != nil {
		return err
	}
	lookup := o.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	apis := make([]*client.API, len(urls))
	for i, u := range urls {
		key := o.APIKey
		if key == "" {
			key, _ = lookup(apiKeyEnv)
		}
		if key == "" {
			key = localAPIKey(u, lookup)
		}
		if apis[i], err = client.NewAPI(u, key, nil); err != nil {
			return flagError("--url: %v", err)
		}
	}
	api, err := firstAnswering(ctx, apis)
	if err != nil && o.Once {
		return err
	}
	// The live view starts on the first URL when none answers: it says
	// so and retries, as with one server.

	if o.Once {
		return runTopOnce(ctx, o, api)
	}
	if !iostreams.IsTerminal(o.IO.Out) {
		return &usageError{err: errors.New("the live view needs a terminal, and stdout is not one; use --once for one snapshot as text (add --json for JSON)")}
	}
	in := o.IO.In
	if !iostreams.IsTerminal(in) {
		in = nil // no keys, but the view still runs; ctrl+c is a signal then
	}
	return tuitop.Run(ctx, in, o.IO.Out, tuitop.Options{
		URL:      api.URL(),
		Interval: o.Interval,
		Rooms:    o.Rooms,
		Styles:   style.Default(),
		API:      api,
	})
}

// firstAnswering returns the first of apis whose server answers a stats
// request, be it with an error of its own (a key refused): that is the
// server to show, and its answer the error to report. With one API it
// asks nothing. When none answers it returns the first, and an error
// that lists why each failed.
func firstAnswering(ctx context.Context, apis []*client.API) (*client.API, error) {
	if len(apis) == 1 {
		return apis[0], nil
	}
	var errs []string
	for _, api := range apis {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		_, err := api.Stats(pctx, 1)
		cancel()
		var ae *client.APIError
		if err == nil || errors.As(err, &ae) {
			return api, nil
		}
		if ctx.Err() != nil {
			return apis[0], ctx.Err()
		}
		errs = append(errs, err.Error())
	}
	return apis[0], fmt.Errorf("none of the %d servers answered: %s", len(apis), strings.Join(errs, "; then "))
}

// runTopOnce prints one snapshot, as text or as the server's JSON.
func runTopOnce(ctx context.Context, o *topOptions, api *client.API) error {
	rooms := o.Rooms
	if rooms == 0 {
		rooms = onceRooms
	}
	ctx, cancel := context.WithTimeout(ctx, onceTimeout)
	defer cancel()
	st, err := api.Stats(ctx, rooms)
	if err != nil {
		return err
	}
	if o.JSON {
		var b bytes.Buffer
		if err := json.Indent(&b, st.Raw, "", "  "); err != nil {
			return fmt.Errorf("indent the stats from %s: %w", api.URL(), err)
		}
		b.WriteByte('\n')
		// The values as the server sent them, with what a terminal would
		// obey (bidi controls, C1) written as \u escapes.
		if _, err := o.IO.Out.Write(termtext.JSON(b.Bytes())); err != nil {
			return fmt.Errorf("write stats: %w", err)
		}
		return nil
	}
	if err := tuitop.Summary(o.IO.Out, api.URL(), st); err != nil {
		return fmt.Errorf("write stats: %w", err)
	}
	return nil
}
