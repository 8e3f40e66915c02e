// Package cmd is rtsync's command line: one cobra command per file
// (root.go, serve.go, version.go, ...), each with an options struct its
// flags are bound to, a RunE that only gathers options, and a runX(ctx,
// opts) function that does the work and that tests call directly.
//
// main.go calls Execute, which runs the command tree under a context that
// SIGINT and SIGTERM cancel, prints any error, and returns it; ExitCode turns
// it into the process status: 0 on success, 2 for a mistake in how rtsync
// was invoked (unknown command or flag, bad flag, environment or
// config-file value), 1 for everything else.
//
// Commands write only to the IOStreams they are given, never to os.Stdout
// or os.Stderr, and nothing here calls os.Exit.
//
// Concurrency: a command tree is built per Execute call and run on the
// calling goroutine; long-running commands (serve) start their own
// goroutines and stop them before runX returns.
package cmd
