package cliconf

import (
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// settings is what the test command's flags are bound to.
type settings struct {
	Addr      string
	MaxConns  int
	History   int
	Timeout   time.Duration
	MaxMsg    int
	LogFormat string
	Tags      []string
	Config    string
}

func defaults() settings {
	return settings{Addr: "127.0.0.1:7000", MaxConns: 100, History: 1000, Timeout: 10 * time.Second, MaxMsg: 64 << 10, LogFormat: "text", Tags: []string{}}
}

func newFlags(s *settings) *pflag.FlagSet {
	d := defaults()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.StringVar(&s.Addr, "addr", d.Addr, "listen address")
	fs.IntVar(&s.MaxConns, "max-conns", d.MaxConns, "connection limit")
	fs.IntVar(&s.History, "history-size", d.History, "history per room")
	fs.DurationVar(&s.Timeout, "write-timeout", d.Timeout, "write timeout")
	ByteSizeVar(fs, &s.MaxMsg, "max-message-size", d.MaxMsg, "largest frame")
	ChoiceVar(fs, &s.LogFormat, "log-format", d.LogFormat, "log format", "text", "json")
	fs.StringSliceVar(&s.Tags, "tag", nil, "tags")
	fs.StringVar(&s.Config, "config", "", "config file")
	fs.BoolP("help", "h", false, "help")
	return fs
}

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		files   map[string]string
		want    func(*settings)
		wantErr []string // substrings the error must contain; nil means no error
	}{
		{
			name: "defaults when nothing is set",
			want: func(*settings) {},
		},
		{
			name:  "file beats default",
			args:  []string{"--config", "rtsync.yaml"},
			files: map[string]string{"rtsync.yaml": "addr: 127.0.0.1:7100\nhistory-size: 500\nwrite-timeout: 3s\nmax-message-size: 128KiB\nlog-format: json\n"},
			want: func(s *settings) {
				s.Addr, s.History, s.Timeout, s.MaxMsg, s.LogFormat = "127.0.0.1:7100", 500, 3*time.Second, 128<<10, "json"
				s.Config = "rtsync.yaml"
			},
		},
		{
			name:  "env beats file",
			args:  []string{"--config", "rtsync.yaml"},
			env:   map[string]string{"RTSYNC_ADDR": "127.0.0.1:7200", "RTSYNC_MAX_MESSAGE_SIZE": "1MB"},
			files: map[string]string{"rtsync.yaml": "addr: 127.0.0.1:7100\nmax-message-size: 128KiB\nhistory-size: 5\n"},
			want: func(s *settings) {
				s.Addr, s.MaxMsg, s.History, s.Config = "127.0.0.1:7200", 1_000_000, 5, "rtsync.yaml"
			},
		},
		{
			name:  "flag beats env and file",
			args:  []string{"--config", "rtsync.yaml", "--addr", "127.0.0.1:7300", "--max-conns=7"},
			env:   map[string]string{"RTSYNC_ADDR": "127.0.0.1:7200", "RTSYNC_MAX_CONNS": "8"},
			files: map[string]string{"rtsync.yaml": "addr: 127.0.0.1:7100\nmax-conns: 9\n"},
			want: func(s *settings) {
				s.Addr, s.MaxConns, s.Config = "127.0.0.1:7300", 7, "rtsync.yaml"
			},
		},
		{
			name:  "config path from env",
			env:   map[string]string{"RTSYNC_CONFIG": "from-env.yaml"},
			files: map[string]string{"from-env.yaml": "max-conns: 42\n"},
			want:  func(s *settings) { s.MaxConns, s.Config = 42, "from-env.yaml" },
		},
		{
			name:  "config flag beats config env",
			args:  []string{"--config", "a.yaml"},
			env:   map[string]string{"RTSYNC_CONFIG": "b.yaml"},
			files: map[string]string{"a.yaml": "max-conns: 1\n", "b.yaml": "max-conns: 2\n"},
			want:  func(s *settings) { s.MaxConns, s.Config = 1, "a.yaml" },
		},
		{
			name: "empty env var counts as unset",
			env:  map[string]string{"RTSYNC_ADDR": ""},
			want: func(*settings) {},
		},
		{
			name: "env for every kind of flag",
			env: map[string]string{
				"RTSYNC_MAX_CONNS": "0x10", "RTSYNC_WRITE_TIMEOUT": "1m", "RTSYNC_LOG_FORMAT": "JSON",
				"RTSYNC_TAG": "a,b",
			},
			want: func(s *settings) {
				s.MaxConns, s.Timeout, s.LogFormat, s.Tags = 16, time.Minute, "json", []string{"a", "b"}
			},
		},
		{
			name:  "list in file for a list flag",
			args:  []string{"--config", "c.yaml"},
			files: map[string]string{"c.yaml": "tag: [x, y]\n"},
			want:  func(s *settings) { s.Tags, s.Config = []string{"x", "y"}, "c.yaml" },
		},
		{
			name:  "empty file is fine",
			args:  []string{"--config", "c.yaml"},
			files: map[string]string{"c.yaml": "# nothing yet\n"},
			want:  func(s *settings) { s.Config = "c.yaml" },
		},
		{
			name:    "bad env value names the variable",
			env:     map[string]string{"RTSYNC_MAX_CONNS": "lots"},
			wantErr: []string{"environment variable RTSYNC_MAX_CONNS", `invalid value "lots" for --max-conns: want a whole number`, "fix or unset RTSYNC_MAX_CONNS"},
		},
		{
			name:    "bad env size",
			env:     map[string]string{"RTSYNC_MAX_MESSAGE_SIZE": "12XB"},
			wantErr: []string{"RTSYNC_MAX_MESSAGE_SIZE", `unknown unit "XB"`},
		},
		{
			name:    "bad env choice",
			env:     map[string]string{"RTSYNC_LOG_FORMAT": "xml"},
			wantErr: []string{"RTSYNC_LOG_FORMAT", "want one of text, json"},
		},
		{
			name:    "every bad env value is reported",
			env:     map[string]string{"RTSYNC_MAX_CONNS": "x", "RTSYNC_WRITE_TIMEOUT": "soon"},
			wantErr: []string{"RTSYNC_MAX_CONNS", "RTSYNC_WRITE_TIMEOUT", "want a duration"},
		},
		{
			name:    "bad file value names file, key and line",
			args:    []string{"--config", "c.yaml"},
			files:   map[string]string{"c.yaml": "addr: 127.0.0.1:1\nhistory-size: many\n"},
			wantErr: []string{`config file c.yaml, key "history-size" (line 2)`, `invalid value "many" for --history-size`},
		},
		{
			name:  "bad file value is not checked when env overrides it",
			args:  []string{"--config", "c.yaml"},
			env:   map[string]string{"RTSYNC_HISTORY_SIZE": "3"},
			files: map[string]string{"c.yaml": "history-size: many\n"},
			want:  func(s *settings) { s.History, s.Config = 3, "c.yaml" },
		},
		{
			name:    "unknown file key names key and file, with a suggestion",
			args:    []string{"--config", "c.yaml"},
			files:   map[string]string{"c.yaml": "addr: 127.0.0.1:1\nhistroy-size: 5\n"},
			wantErr: []string{`config file c.yaml: unknown key "histroy-size" on line 2`, `did you mean "history-size"?`},
		},
		{
			name:    "env-style key suggests the flag name",
			args:    []string{"--config", "c.yaml"},
			files:   map[string]string{"c.yaml": "MAX_CONNS: 5\n"},
			wantErr: []string{`unknown key "MAX_CONNS"`, `did you mean "max-conns"?`},
		},
		{
			name:    "config and help are not file keys",
			args:    []string{"--config", "c.yaml"},
			files:   map[string]string{"c.yaml": "config: other.yaml\nhelp: true\n"},
			wantErr: []string{`unknown key "config"`, `unknown key "help"`},
		},
		{
			name:    "missing config file from flag",
			args:    []string{"--config", "nope.yaml"},
			wantErr: []string{"config file nope.yaml (given by --config) does not exist"},
		},
		{
			name:    "missing config file from env",
			env:     map[string]string{"RTSYNC_CONFIG": "nope.yaml"},
			wantErr: []string{"config file nope.yaml (given by RTSYNC_CONFIG) does not exist"},
		},
		{
			name:    "file that is not a mapping",
			args:    []string{"--config", "c.yaml"},
			files:   map[string]string{"c.yaml": "- addr\n- 1\n"},
			wantErr: []string{"config file c.yaml: line 1", "mapping of flag names to values"},
		},
		{
			name:    "broken yaml",
			args:    []string{"--config", "c.yaml"},
			files:   map[string]string{"c.yaml": "addr: [1\n"},
			wantErr: []string{"parse config file c.yaml"},
		},
		{
			name:    "key without a value",
			args:    []string{"--config", "c.yaml"},
			files:   map[string]string{"c.yaml": "addr:\n"},
			wantErr: []string{`key "addr" (line 1)`, "has no value"},
		},
		{
			name:    "list for a single-value flag",
			args:    []string{"--config", "c.yaml"},
			files:   map[string]string{"c.yaml": "addr: [a, b]\n"},
			wantErr: []string{`key "addr"`, "want a single value, got a list"},
		},
		{
			name:    "mapping value",
			args:    []string{"--config", "c.yaml"},
			files:   map[string]string{"c.yaml": "addr:\n  host: x\n"},
			wantErr: []string{"want a single value, got a mapping"},
		},
		{
			name:    "repeated key",
			args:    []string{"--config", "c.yaml"},
			files:   map[string]string{"c.yaml": "addr: a:1\naddr: b:2\n"},
			wantErr: []string{`key "addr" on line 2 repeats line 1`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got settings
			fs := newFlags(&got)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatalf("parse %v: %v", tt.args, err)
			}
			err := Apply(fs, Options{
				EnvPrefix:  "RTSYNC_",
				ConfigFlag: "config",
				LookupEnv: func(k string) (string, bool) {
					v, ok := tt.env[k]
					return v, ok
				},
				ReadFile: func(name string) ([]byte, error) {
					if s, ok := tt.files[name]; ok {
						return []byte(s), nil
					}
					return nil, &os.PathError{Op: "open", Path: name, Err: errNotExist}
				},
			})
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Apply succeeded with %+v; want an error containing %q", got, tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if got.Addr != want.Addr || got.MaxConns != want.MaxConns || got.History != want.History ||
				got.Timeout != want.Timeout || got.MaxMsg != want.MaxMsg || got.LogFormat != want.LogFormat ||
				strings.Join(got.Tags, ",") != strings.Join(want.Tags, ",") || got.Config != want.Config {
				t.Errorf("settings:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

var errNotExist = fs.ErrNotExist // what a missing file reports

func TestApplyWithoutConfigFlag(t *testing.T) {
	t.Parallel()
	var s settings
	flags := newFlags(&s)
	err := Apply(flags, Options{EnvPrefix: "X_", LookupEnv: func(k string) (string, bool) {
		if k == "X_CONFIG" {
			return "ignored-as-a-plain-flag", true
		}
		return "", false
	}})
	if err != nil {
		t.Fatal(err)
	}
	// With no ConfigFlag, --config is just another flag.
	if s.Config != "ignored-as-a-plain-flag" {
		t.Errorf("config = %q", s.Config)
	}
}

func TestApplyUsesProcessEnvByDefault(t *testing.T) {
	t.Setenv("RTSYNCTEST_MAX_CONNS", "5")
	var s settings
	flags := newFlags(&s)
	if err := Apply(flags, Options{EnvPrefix: "RTSYNCTEST_"}); err != nil {
		t.Fatal(err)
	}
	if s.MaxConns != 5 {
		t.Errorf("max-conns = %d, want 5", s.MaxConns)
	}
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"addr":             "RTSYNC_ADDR",
		"max-conns":        "RTSYNC_MAX_CONNS",
		"max-message-size": "RTSYNC_MAX_MESSAGE_SIZE",
	} {
		if got := EnvName("RTSYNC_", in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExplainFlagError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--max-conns", "x"}, `invalid value "x" for --max-conns: want a whole number`},
		{[]string{"--max-conns", "99999999999999999999"}, `for --max-conns: out of range`},
		{[]string{"--write-timeout", "5"}, `invalid value "5" for --write-timeout: want a duration such as 500ms`},
		{[]string{"--log-format", "xml"}, `invalid value "xml" for --log-format: want one of text, json`},
		{[]string{"--max-message-size", "-1"}, `invalid value "-1" for --max-message-size: want a size`},
		{[]string{"--nope"}, `unknown flag: --nope`},
	}
	for _, tt := range tests {
		var s settings
		err := newFlags(&s).Parse(tt.args)
		if err == nil {
			t.Fatalf("parse %v succeeded", tt.args)
		}
		if got := ExplainFlagError(err).Error(); !strings.Contains(got, tt.want) {
			t.Errorf("parse %v: got %q, want it to contain %q", tt.args, got, tt.want)
		}
	}
}
