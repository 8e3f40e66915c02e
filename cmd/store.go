package cmd

import (
	"context"
	"errors"

	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rtsync/rtsync/internal/cliconf"
	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/internal/termtext"
	"github.com/rtsync/rtsync/server/store"
	"github.com/rtsync/rtsync/server/store/disk"
)

// defaultDataDir is where 'rtsync serve' keeps its embedded store.
const defaultDataDir = "./rtsync-data"

// storeOptions is what `rtsync store check` and `compact` need.
type storeOptions struct {
	IO      *iostreams.IOStreams
	DataDir string
}

const storeLong = `Look after the embedded store that 'rtsync serve' keeps under --data-dir:
room history, epochs and offline direct messages.

Both subcommands need the directory to themselves: they refuse while a
server uses it. Stop the server first (a server with --store memory has no
directory).`

const storeCheckLong = `Read everything in the store and check it: the format version, the
checksum of every message, every room's seqs (increasing, none past the
room's last seq) and the storage engine's own block checksums. It prints one
line per room and the totals, and exits 1 when anything is wrong, with what
and where.

Seqs missing inside a room ("gaps") are the seqs of writes that failed (a
full disk, say) and are not errors.`

const storeCompactLong = `Rewrite the store so that messages trimmed by retention or size, and
acknowledged direct messages, give their disk space back, and print the
directory's size before and after. The server does this by itself as it
runs; compact is for taking a store's size down before a backup or a copy.`

func newStoreCmd(ios *iostreams.IOStreams) *cobra.Command {
	c := &cobra.Command{
		Use:   "store",
		Short: "Check or compact the embedded store of a stopped server",
		Long:  storeLong,
		Example: `  rtsync store check
  rtsync store compact --data-dir /var/lib/rtsync`,
		Args: rootArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(newStoreCheckCmd(ios), newStoreCompactCmd(ios))
	return c
}

// storeFlags binds --data-dir; like serve's, RTSYNC_DATA_DIR sets it too.
func storeFlags(c *cobra.Command, opts *storeOptions) {
	f := c.Flags()
	f.StringVar(&opts.DataDir, "data-dir", defaultDataDir, "`directory` of the store, as given to 'rtsync serve'")
}

func applyStoreEnv(c *cobra.Command) error {
	if err := cliconf.Apply(c.Flags(), cliconf.Options{EnvPrefix: envPrefix}); err != nil {
		return &usageError{err: err}
	}
	return nil
}

func newStoreCheckCmd(ios *iostreams.IOStreams) *cobra.Command {
	opts := &storeOptions{IO: ios}
	c := &cobra.Command{
		Use:   "check",
		Short: "Read and verify every message of the store",
		Long:  storeCheckLong,
		Example: `  rtsync store check
  rtsync store check --data-dir /var/lib/rtsync && echo sound`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := applyStoreEnv(c); err != nil {
				return err
			}
			return runStoreCheck(c.Context(), opts)
		},
	}
	storeFlags(c, opts)
	return c
}

func newStoreCompactCmd(ios *iostreams.IOStreams) *cobra.Command {
	opts := &storeOptions{IO: ios}
	c := &cobra.Command{
		Use:     "compact",
		Short:   "Give the space of trimmed messages back to the disk",
		Long:    storeCompactLong,
		Example: `  rtsync store compact --data-dir /var/lib/rtsync`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := applyStoreEnv(c); err != nil {
				return err
			}
			return runStoreCompact(c.Context(), opts)
		},
	}
	storeFlags(c, opts)
	return c
}

func runStoreCheck(_ context.Context, o *storeOptions) error {
	rep, err := disk.Check(o.DataDir)
	if err != nil && !errors.Is(err, store.ErrCorrupt) {
		return err
	}
	w := tabwriter.NewWriter(o.IO.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "ROOM\tEPOCH\tMESSAGES\tBYTES\tSEQS\tLAST SEQ\tGAPS\t\n")
	for _, r := range rep.Rooms {
		seqs := "-"
		if r.Messages > 0 {
			seqs = fmt.Sprintf("%d-%d", r.First, r.Last)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%d\t%d\t\n", termtext.Line(r.Name), r.Epoch, r.Messages, r.Bytes, seqs, r.Seq, r.Gaps)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintf(o.IO.Out, "\n%s: format %d, %d rooms, %d messages (%d bytes), %d inboxes with %d messages, %d bytes on disk\n",
		termtext.Line(rep.Dir), rep.Format, len(rep.Rooms), rep.Messages, rep.Bytes, rep.Inboxes, rep.InboxMessages, rep.DiskBytes)
	if err != nil {
		for _, p := range rep.Problems {
			fmt.Fprintf(o.IO.Out, "problem: %s\n", termtext.Line(p))
		}
		return err
	}
	fmt.Fprintln(o.IO.Out, "no problems found")
	return nil
}

func runStoreCompact(_ context.Context, o *storeOptions) error {
	before, after, err := disk.Compact(o.DataDir)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.IO.Out, "%s: %d bytes before, %d bytes after\n", termtext.Line(o.DataDir), before, after)
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
