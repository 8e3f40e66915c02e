package cmd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rtsync/rtsync/internal/buildinfo"
	"github.com/rtsync/rtsync/internal/iostreams"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, 0},
		{"plain error", errors.New("boom"), 1},
		{"usage error", &usageError{err: errors.New("bad flag")}, 2},
		{"wrapped usage error", wrap(&usageError{err: errors.New("bad flag")}), 2},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("%s: ExitCode = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func wrap(err error) error { return errors.Join(errors.New("context"), err) }

// TestExecute checks exit codes and messages of whole command lines that
// fail (or finish) before anything is served.
func TestExecute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    []string
		wantErrOut []string
		notErrOut  []string
	}{
		{
			name:     "no args shows help",
			args:     nil,
			wantCode: 0,
			wantOut:  []string{"Usage:", "serve", "version", "completion"},
		},
		{
			name:     "help",
			args:     []string{"--help"},
			wantCode: 0,
			wantOut:  []string{"rtsync serve", "Available Commands:"},
		},
		{
			name:       "unknown command suggests",
			args:       []string{"serv"},
			wantCode:   2,
			wantErrOut: []string{`Error: unknown command "serv" for "rtsync"; did you mean "serve"?`, "Run 'rtsync --help' for more."},
		},
		{
			name:       "unknown flag",
			args:       []string{"serve", "--bogus"},
			wantCode:   2,
			wantErrOut: []string{"Error: unknown flag: --bogus", "Usage: rtsync serve [flags]", "Run 'rtsync serve --help'"},
		},
		{
			name:       "bad int flag",
			args:       []string{"serve", "--max-conns", "lots"},
			wantCode:   2,
			wantErrOut: []string{`invalid value "lots" for --max-conns: want a whole number`},
		},
		{
			name:       "bad size flag",
			args:       []string{"serve", "--max-message-size", "12XB"},
			wantCode:   2,
			wantErrOut: []string{`invalid value "12XB" for --max-message-size: unknown unit "XB"`},
		},
		{
			name:       "bad choice flag",
			args:       []string{"serve", "--log-format", "xml"},
			wantCode:   2,
			wantErrOut: []string{`invalid value "xml" for --log-format: want one of text, json`},
		},
		{
			name:       "zero that would silently become a default",
			args:       []string{"serve", "--max-conns", "0", "--heartbeat", "0s"},
			wantCode:   2,
			wantErrOut: []string{"--max-conns must be at least 1, got 0", "--heartbeat must be more than 0, got 0s"},
			notErrOut:  []string{"Usage:"},
		},
		{
			name:       "send queue smaller than a message",
			args:       []string{"serve", "--send-queue", "1KiB"},
			wantCode:   2,
			wantErrOut: []string{"--send-queue (1KiB) must hold at least one message of --max-message-size (64KiB)"},
		},
		{
			name:       "arguments to serve",
			args:       []string{"serve", "now"},
			wantCode:   2,
			wantErrOut: []string{`"rtsync serve" takes no arguments, got "now"`},
		},
		{
			name:       "missing config file",
			args:       []string{"serve", "--config", "/nonexistent/rtsync.yaml"},
			wantCode:   2,
			wantErrOut: []string{"config file /nonexistent/rtsync.yaml (given by --config) does not exist"},
			notErrOut:  []string{"Usage:"},
		},
		{
			name:       "bad address",
			args:       []string{"serve", "--addr", "nowhere"},
			wantCode:   1,
			wantErrOut: []string{"listen on nowhere: address nowhere: missing port in address; give --addr as host:port"},
			notErrOut:  []string{"Usage:"},
		},
		{
			name:     "version",
			args:     []string{"version"},
			wantCode: 0,
			wantOut:  []string{"rtsync ", "commit: ", "go:     go"},
		},
		{
			name:     "version flag",
			args:     []string{"--version"},
			wantCode: 0,
			wantOut:  []string{"rtsync " + buildinfo.Get().Version + "\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, out, errOut := iostreams.Test()
			err := execute(context.Background(), ios, tt.args)
			if got := ExitCode(err); got != tt.wantCode {
				t.Errorf("exit code %d, want %d (err %v)", got, tt.wantCode, err)
			}
			for _, s := range tt.wantOut {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout %q does not contain %q", out, s)
				}
			}
			for _, s := range tt.wantErrOut {
				if !strings.Contains(errOut.String(), s) {
					t.Errorf("stderr %q does not contain %q", errOut, s)
				}
			}
			for _, s := range tt.notErrOut {
				if strings.Contains(errOut.String(), s) {
					t.Errorf("stderr %q contains %q", errOut, s)
				}
			}
		})
	}
}

func TestRunVersion(t *testing.T) {
	t.Parallel()
	ios, _, out, _ := iostreams.Test()
	err := runVersion(context.Background(), &versionOptions{IO: ios, Info: buildinfo.Info{
		Version: "v1.2.3", Commit: "abc123", GoVersion: "go1.26.8", Platform: "linux/amd64",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := "rtsync v1.2.3\ncommit: abc123\nbuilt:  unknown\ngo:     go1.26.8 linux/amd64\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}
