package cmd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rtsync/rtsync/internal/iostreams"
)

func TestFDLimitAdvice(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		maxConns int
		limit    uint64
		want     string // "" when no advice
	}{
		{100_000, 20_000, "--max-conns 100000 is more than this process may open (20000 files): past about 19936 connections accept fails and clients time out instead of getting close 4011; set --max-conns 19936 or raise the limit (ulimit -n)"},
		{20_000 - fdReserve + 1, 20_000, "set --max-conns 19936"},
		{20_000 - fdReserve, 20_000, ""},
		{10, 1 << 20, ""},
		{10, fdReserve, "this process may open only 64 files; raise the limit (ulimit -n) to serve clients"},
	} {
		got := fdLimitAdvice(tt.maxConns, tt.limit)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("fdLimitAdvice(%d, %d) = %q, want %q", tt.maxConns, tt.limit, got, tt.want)
		}
	}
}

// TestServeFitsFileLimit: a max-conns above this process's open-file limit
// is lowered to fit when it is the default, and kept with a warning when
// the user set it.
func TestServeFitsFileLimit(t *testing.T) {
	t.Parallel()
	limit, ok := openFileLimit()
	if !ok {
		t.Skip("no open-file limit on this machine")
	}
	fit := int(limit) - fdReserve
	for _, tt := range []struct {
		name     string
		maxConns int
		userSet  bool
		want     string // in the log
		serving  int    // the max-conns in force
	}{
		{"default above", int(limit), false, fmt.Sprintf(`level=INFO msg="max connections lowered to fit the open-file limit; raise the limit (ulimit -n) to serve more" max_conns=%d open_file_limit=%d`, fit, limit), fit},
		{"set above", int(limit), true, fmt.Sprintf(`level=WARN msg="--max-conns %d is more than this process may open (%d files): past about %d connections`, limit, limit, fit), int(limit)},
		{"set within", fit, true, "", fit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, errOut := iostreams.Test()
			opts := testServeOptions(ios)
			opts.LogLevel = "debug"
			opts.Server.MaxConnections = tt.maxConns
			opts.maxConnsSet = tt.userSet
			_, stop := startServe(t, opts)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			logs := errOut.String()
			if tt.want != "" && !strings.Contains(logs, tt.want) {
				t.Errorf("log lacks %q:\n%s", tt.want, logs)
			}
			if tt.want == "" && strings.Contains(logs, "open_file_limit") {
				t.Errorf("log speaks of the open-file limit:\n%s", logs)
			}
			if in := fmt.Sprintf(`msg=settings max_conns=%d `, tt.serving); !strings.Contains(logs, in) {
				t.Errorf("log lacks %q:\n%s", in, logs)
			}
		})
	}
}
