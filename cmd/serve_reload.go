package cmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/rtsync/rtsync/internal/cliconf"
	"github.com/rtsync/rtsync/internal/localkey"
	"github.com/rtsync/rtsync/server"
)

// Reloading the HTTP API keys on SIGHUP: keys can be rotated without a
// restart, so without dropping every client.

// logAPIKeys says at start how the HTTP API is protected.
func logAPIKeys(log *slog.Logger, opts *serveOptions, keys []string, apiURL string) {
	if opts.localKey != "" && countKeys(keys) == 1 && keys[0] == opts.localKey {
		log.Info("HTTP API key is this server's own, kept in a file only you can read; rtsync top and bench read it by themselves, "+
			"curl with -H \"Authorization: Bearer $(cat FILE)\"; set --api-key for your application", "api", apiURL, "file", opts.localKeyFile)
		return
	}
	log.Info("HTTP API needs an API key", "api", apiURL, "keys", countKeys(keys))
}

// loadLocalKey reads serve's own API key from --api-key-file (or the
// default path), making it on first start.
func (opts *serveOptions) loadLocalKey() error {
	path := opts.APIKeyFile
	if path == "" {
		var err error
		if path, err = localkey.DefaultPath(opts.LookupEnv); err != nil {
			return err
		}
	}
	key, _, err := localkey.LoadOrCreate(path)
	if err != nil {
		return fmt.Errorf("no --api-key given, and serve's own key: %w", err)
	}
	opts.localKey, opts.localKeyFile = key, path
	return nil
}

func countKeys(keys []string) int {
	n := 0
	for _, k := range keys {
		if strings.TrimSpace(k) != "" {
			n++
		}
	}
	return n
}

// watchAPIKeys reloads the API keys into srv on every SIGHUP (or, in tests,
// every value on opts.hup) until ctx ends. The returned func stops it.
func watchAPIKeys(ctx context.Context, srv *server.Server, opts *serveOptions, log *slog.Logger) (stop func()) {
	hup := opts.hup
	unnotify := func() {}
	if hup == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGHUP)
		hup, unnotify = ch, func() { signal.Stop(ch) }
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reloadAPIKeys(srv, opts, log)
			}
		}
	}()
	return func() {
		unnotify()
		cancel()
		<-done
	}
}

// reloadAPIKeys reads the keys again and hands them to srv, logging how
// many (never the keys). On failure the old keys stay.
func reloadAPIKeys(srv *server.Server, opts *serveOptions, log *slog.Logger) {
	if opts.fromCommandLine("api-key") {
		log.Warn("SIGHUP: API keys not reloaded: --api-key is on the command line, which wins over the environment and the config file; keep the keys in the config file to rotate them")
		return
	}
	keys, err := readAPIKeys(opts)
	if err != nil {
		log.Error("SIGHUP: API keys not reloaded; the old keys stay", "err", err)
		return
	}
	if countKeys(keys) == 0 {
		if opts.localKey == "" {
			if err := opts.loadLocalKey(); err != nil {
				log.Error("SIGHUP: API keys not reloaded: none configured, and serve's own key could not be read; the old keys stay", "err", err)
				return
			}
		}
		srv.SetAPIKeys([]string{opts.localKey})
		log.Info("SIGHUP: API keys reloaded: none configured, so the API takes serve's own key again", "file", opts.localKeyFile)
		return
	}
	srv.SetAPIKeys(keys)
	log.Info("SIGHUP: API keys reloaded", "keys", countKeys(keys))
}

// readAPIKeys reads --api-key again as serve did at start: from the
// RTSYNC_* environment and the config file, through a fresh set of serve's
// flags, so the file is checked exactly as at start. Flags given on the
// command line are marked set, so their environment variables and keys are
// skipped as they were then.
func readAPIKeys(opts *serveOptions) ([]string, error) {
	fs := newServeCmd(opts.IO, nil).Flags()
	fs.SetOutput(io.Discard)
	for _, name := range opts.cmdLine {
		if f := fs.Lookup(name); f != nil {
			f.Changed = true
		}
	}
	if opts.ConfigFile != "" {
		// The path as found at start, whether from --config or
		// RTSYNC_CONFIG.
		if err := fs.Set("config", opts.ConfigFile); err != nil {
			return nil, err
		}
	}
	err := cliconf.Apply(fs, cliconf.Options{
		EnvPrefix:  envPrefix,
		ConfigFlag: "config",
		LookupEnv:  opts.LookupEnv,
		ReadFile:   opts.ReadFile,
	})
	if err != nil {
		return nil, err
	}
	keys, err := fs.GetStringSlice("api-key")
	if err != nil {
		return nil, fmt.Errorf("read --api-key: %w", err)
	}
	return keys, nil
}

// recordCommandLine remembers which flags were given on the command line,
// before cliconf.Apply marks those it sets from elsewhere as changed too.
func (o *serveOptions) recordCommandLine(fs *pflag.FlagSet) {
	o.cmdLine = o.cmdLine[:0]
	fs.Visit(func(f *pflag.Flag) { o.cmdLine = append(o.cmdLine, f.Name) })
}

func (o *serveOptions) fromCommandLine(name string) bool {
	for _, n := range o.cmdLine {
		if n == name {
			return true
		}
	}
	return false
}
