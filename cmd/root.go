package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rtsync/rtsync/internal/buildinfo"
	"github.com/rtsync/rtsync/internal/cliconf"
	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/internal/termtext"
)

// envPrefix starts every environment variable rtsync reads for a flag.
const envPrefix = "RTSYNC_"

// Exit codes ExitCode returns.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Execute runs rtsync with args (the command line without the program
// name), reading and writing ios. SIGINT or SIGTERM cancels the command's
// context, which long-running commands treat as "stop gracefully"; after
// that first signal the default handling is restored, so a second one ends
// the process at once. Execute prints any error to ios.ErrOut before
// returning it; pass the result to ExitCode.
func Execute(ios *iostreams.IOStreams, args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	return execute(ctx, ios, args)
}

// ExitCode maps an error returned by Execute to a process exit status: 0
// for nil, 2 when rtsync was invoked wrongly, 1 otherwise.
func ExitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	default:
		return exitError
	}
}

// execute is Execute without the signal handling, for tests.
func execute(ctx context.Context, ios *iostreams.IOStreams, args []string) error {
	root := newRootCmd(ios)
	root.SetArgs(args)
	c, err := root.ExecuteContextC(ctx)
	if err != nil {
		printError(ios.ErrOut, c, err)
	}
	return err
}

// usageError is a mistake in how rtsync was invoked: an unknown command or
// flag, a flag value that does not parse, a bad environment variable or
// config file. It exits with status 2. Errors from the command line itself
// also get a pointer to the command's help.
type usageError struct {
	err  error
	hint bool
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// printError writes err for a person, with a usage hint for command-line
// mistakes (and only for those: a server that fails to start does not need
// its flags listed). The message is cleaned for the terminal, since errors
// quote what a server said (close reasons, API error messages), and its
// later lines are indented, so no line of it passes for other output.
func printError(w io.Writer, c *cobra.Command, err error) {
	msg := strings.ReplaceAll(termtext.Text(err.Error()), "\n", "\n  ")
	fmt.Fprintf(w, "Error: %s\n", msg)
	var ue *usageError
	if errors.As(err, &ue) && ue.hint && c != nil {
		use := c.UseLine()
		if c.HasAvailableSubCommands() {
			use = c.CommandPath() + " [command]"
		}
		fmt.Fprintf(w, "Usage: %s\nRun '%s --help' for more.\n", use, c.CommandPath())
	}
}

// newRootCmd builds the whole command tree writing to ios.
func newRootCmd(ios *iostreams.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "rtsync",
		Short: "Real-time messaging server and tools in one binary",
		Long: `rtsync is a real-time messaging server (rooms, presence, history, direct
messages over WebSocket) and the tools to use and measure it, in one binary.

Start a server on 127.0.0.1:7000 with:

  rtsync serve

Every flag can also be set by an environment variable (RTSYNC_ and the flag
name, e.g. RTSYNC_ADDR) or a config file; see 'rtsync serve --help'.`,
		Version:       buildinfo.Get().Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          rootArgs,
		// With no subcommand, say what there is rather than fail.
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	root.SuggestionsMinimumDistance = 2
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.SetVersionTemplate("rtsync {{.Version}}\n")
	// Subcommands inherit this: every flag parse error exits 2 with a hint.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err: cliconf.ExplainFlagError(err), hint: true}
	})
	root.AddCommand(
		newServeCmd(ios, nil),
		newTokenCmd(ios),
		newChatCmd(ios),
		newTopCmd(ios),
		newBenchCmd(ios),
		newStoreCmd(ios),
		newVersionCmd(ios),
	)
	return root
}

// rootArgs rejects an unknown subcommand. Setting it (rather than leaving
// Args nil) also stops cobra from reporting unknown commands itself as a
// plain error, which would exit 1 instead of 2.
func rootArgs(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return &usageError{err: errors.New(msg), hint: true}
}

// noArgs is cobra.NoArgs reported as a usage error.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{err: fmt.Errorf("%q takes no arguments, got %q", c.CommandPath(), args[0]), hint: true}
	}
	return nil
}
