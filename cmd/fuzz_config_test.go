package cmd

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/rtsync/rtsync/internal/cliconf"
	"github.com/rtsync/rtsync/internal/iostreams"
)

// fuzzConfigPath is the name the fuzzed config file is read under.
const fuzzConfigPath = "fuzz-rtsync.yaml"

// FuzzConfigFile reads arbitrary bytes as `rtsync serve --config FILE`,
// with serve's real flags. The properties:
//   - nothing panics;
//   - every error names the file, and an error about a key names the key
//     and its line;
//   - a file that is accepted round-trips: writing the values it set back
//     out as YAML (the flags' own String forms, lists as lists) and
//     reading that sets the same values again.
//
// Seeds beyond these are in testdata/fuzz/FuzzConfigFile. Run it with
//
//	go test -run '^$' -fuzz '^FuzzConfigFile$' -fuzztime 60s ./cmd
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"addr: 127.0.0.1:7100\nmax-conns: 10\nhistory-size: 500\nlog-format: json\n",
		"max-message-size: 128KiB\nsend-queue: 2MB\nwrite-timeout: 3s\npublish-rate: 2.5\n",
		"api-key: [a, b]\njwt-audience:\n  - x\n  - y\nweb: false\n",
		"histroy-size: 5\nMAX_CONNS: 3\n",
		"addr: a\naddr: b\n",
		"heartbeat: often\nmax-conns: 1e99\nhistory-size: -1\n",
		"x: &a [1, 2]\napi-key: *a\n",
		"max-conns: {a: 1}\n",
		"- just\n- a list\n",
		"config: other.yaml\n",
		"\xff\xfe: \x00\n",
		"a: !!binary aGk=\n",
		"? [complex, key]\n: v\n",
		"",
		"# only a comment\n",
		"~\n",
		"max-message-size: 1000001\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		flags := serveFlags()
		err := applyConfig(flags, file)
		if err != nil {
			checkConfigErrors(t, file, err)
			return
		}
		// Round trip what was set.
		out := map[string]any{}
		flags.Visit(func(fl *pflag.Flag) {
			if fl.Name == "config" {
				return
			}
			if sv, ok := fl.Value.(pflag.SliceValue); ok {
				out[fl.Name] = sv.GetSlice()
				return
			}
			out[fl.Name] = fl.Value.String()
		})
		again, err := yaml.Marshal(out)
		if err != nil {
			t.Fatalf("config %q: cannot write its values back: %v", file, err)
		}
		flags2 := serveFlags()
		if err := applyConfig(flags2, again); err != nil {
			t.Fatalf("config %q was accepted, but its values written back\n%s\nare not: %v", file, again, err)
		}
		flags.Visit(func(fl *pflag.Flag) {
			if g := flags2.Lookup(fl.Name).Value.String(); g != fl.Value.String() {
				t.Errorf("config %q: %s is %q, but %q after a round trip through\n%s", file, fl.Name, fl.Value.String(), g, again)
			}
		})
	})
}

// serveFlags are a fresh copy of serve's flags.
func serveFlags() *pflag.FlagSet {
	ios, _, _, _ := iostreams.Test()
	return newServeCmd(ios, nil).Flags()
}

// applyConfig sets flags from file as serve does from --config.
func applyConfig(flags *pflag.FlagSet, file []byte) error {
	if err := flags.Set("config", fuzzConfigPath); err != nil {
		return err
	}
	return cliconf.Apply(flags, cliconf.Options{
		EnvPrefix:  envPrefix,
		ConfigFlag: "config",
		LookupEnv:  func(string) (string, bool) { return "", false },
		ReadFile:   func(string) ([]byte, error) { return file, nil },
	})
}

// checkConfigErrors checks that each joined error names the file, and
// that one about a key names the key.
func checkConfigErrors(t *testing.T, file []byte, err error) {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		msg := e.Error()
		if !strings.Contains(msg, fuzzConfigPath) {
			t.Errorf("config %q: error does not name the file: %v", file, e)
		}
		// YAML's own syntax errors ("did not find expected key") come
		// before there are keys.
		if !strings.HasPrefix(msg, "parse config file") && strings.Contains(msg, "key") && !strings.Contains(msg, `key "`) {
			t.Errorf("config %q: error about a key does not name it: %v", file, e)
		}
	}
}
