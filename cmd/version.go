package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rtsync/rtsync/internal/buildinfo"
	"github.com/rtsync/rtsync/internal/iostreams"
)

// versionOptions is what `rtsync version` needs.
type versionOptions struct {
	IO   *iostreams.IOStreams
	Info buildinfo.Info
}

func newVersionCmd(ios *iostreams.IOStreams) *cobra.Command {
	opts := &versionOptions{IO: ios}
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Long: `Print which build of rtsync this is: its version, the commit it was built
from, when, and with which Go toolchain. Release builds carry all of these;
a local 'go build' shows what the Go toolchain recorded.`,
		Example: `  rtsync version
  rtsync --version   # the version alone`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts.Info = buildinfo.Get()
			return runVersion(c.Context(), opts)
		},
	}
}

func runVersion(_ context.Context, opts *versionOptions) error {
	or := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	i := opts.Info
	_, err := fmt.Fprintf(opts.IO.Out, "rtsync %s\ncommit: %s\nbuilt:  %s\ngo:     %s %s\n",
		or(i.Version), or(i.Commit), or(i.Date), or(i.GoVersion), or(i.Platform))
	if err != nil {
		return fmt.Errorf("write version: %w", err)
	}
	return nil
}
