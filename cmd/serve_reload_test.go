package cmd

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/server"
)

func TestReadAPIKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		file    string // "" for no config file
		cmdLine []string
		want    []string
		wantErr string
	}{
		{name: "nothing anywhere", want: []string{}},
		{name: "config file list", file: "api-key: [k1, k2]\n", want: []string{"k1", "k2"}},
		{name: "config file scalar", file: "api-key: k1,k2\n", want: []string{"k1", "k2"}},
		{name: "environment wins over the file", env: map[string]string{"RTSYNC_API_KEY": "e1"}, file: "api-key: [k1]\n", want: []string{"e1"}},
		{name: "other settings in the file", file: "addr: 0.0.0.0:1\nmax-conns: 5\napi-key: [k1]\n", want: []string{"k1"}},
		{name: "broken file", file: "api-key: [k1\n", wantErr: "parse config file"},
		{name: "unknown key", file: "api-keys: [k1]\n", wantErr: `unknown key "api-keys"`},
		{name: "bad value of another flag", env: map[string]string{"RTSYNC_MAX_CONNS": "many"}, wantErr: "RTSYNC_MAX_CONNS"},
		{
			name: "flags from the command line are skipped", cmdLine: []string{"max-conns"},
			env: map[string]string{"RTSYNC_MAX_CONNS": "many", "RTSYNC_API_KEY": "e1"}, want: []string{"e1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := iostreams.Test()
			opts := testServeOptions(ios)
			opts.cmdLine = tt.cmdLine
			opts.LookupEnv = func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			opts.ReadFile = func(name string) ([]byte, error) {
				if name != "rtsync.yaml" || tt.file == "" {
					return nil, fs.ErrNotExist
				}
				return []byte(tt.file), nil
			}
			if tt.file != "" {
				opts.ConfigFile = "rtsync.yaml"
			}
			keys, err := readAPIKeys(opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys, tt.want) && !(len(keys) == 0 && len(tt.want) == 0) {
				t.Fatalf("keys = %q, want %q", keys, tt.want)
			}
		})
	}
}

// apiStatus returns the status of GET /api/v1/stats with key.
func apiStatus(t *testing.T, addr, key string) int {
	t.Helper()
	return get(t, "http://"+addr+"/api/v1/stats", map[string]string{"Authorization": "Bearer " + key})
}

// TestServeReloadsAPIKeys rotates the API key in the config file and checks
// a reload (SIGHUP, here through opts.hup) puts the new one in force, and
// that a broken file keeps the old one.
func TestServeReloadsAPIKeys(t *testing.T) {
	t.Parallel()
	ios, _, _, errOut := iostreams.Test()
	opts := testServeOptions(ios)
	opts.Server.ShutdownTimeout = 2 * time.Second
	opts.ConfigFile = filepath.Join(t.TempDir(), "rtsync.yaml")
	writeFile(t, opts.ConfigFile, "api-key: [old-key]\n")
	opts.Server.APIKeys = []string{"old-key"}
	opts.LookupEnv = func(string) (string, bool) { return "", false }
	opts.hup = make(chan os.Signal)
	addr, stop := startServe(t, opts)
	if err := waitHTTP("http://"+addr+"/healthz", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if s := apiStatus(t, addr, "old-key"); s != 200 {
		t.Fatalf("old key before the reload: %d", s)
	}

	writeFile(t, opts.ConfigFile, "api-key: [new-key, second-key]\n")
	opts.hup <- os.Interrupt // the value does not matter
	opts.hup <- os.Interrupt // returns once the first reload is done
	for key, want := range map[string]int{"old-key": 401, "new-key": 200, "second-key": 200} {
		if s := apiStatus(t, addr, key); s != want {
			t.Errorf("%s after the reload: %d, want %d", key, s, want)
		}
	}

	writeFile(t, opts.ConfigFile, "api-key: [broken\n")
	opts.hup <- os.Interrupt
	opts.hup <- os.Interrupt
	if s := apiStatus(t, addr, "new-key"); s != 200 {
		t.Errorf("new-key after a failed reload: %d, want 200", s)
	}

	if err := stop(); err != nil {
		t.Fatalf("runServe: %v", err)
	}
	logs := errOut.String()
	for _, want := range []string{
		`msg="HTTP API needs an API key" api=http://` + addr + `/api/v1 keys=1`,
		`msg="SIGHUP: API keys reloaded" keys=2`,
		`msg="SIGHUP: API keys not reloaded; the old keys stay"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{"old-key", "new-key", "second-key"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log shows the key %q:\n%s", secret, logs)
		}
	}
}

// TestServeReloadKeepsCommandLineKeys: --api-key on the command line wins
// over the file, so a reload leaves it alone and says why.
func TestServeReloadKeepsCommandLineKeys(t *testing.T) {
	t.Parallel()
	ios, _, _, errOut := iostreams.Test()
	opts := testServeOptions(ios)
	opts.cmdLine = []string{"api-key"}
	opts.Server.APIKeys = []string{"flag-key"}
	opts.ReadFile = func(string) ([]byte, error) { return nil, errors.New("must not be read") }
	srv, err := server.New(opts.Server)
	if err != nil {
		t.Fatal(err)
	}
	log := newLogger(errOut, "text", "info")
	reloadAPIKeys(srv, opts, log)
	if !strings.Contains(errOut.String(), "--api-key is on the command line") {
		t.Fatalf("log = %s", errOut.String())
	}
}
