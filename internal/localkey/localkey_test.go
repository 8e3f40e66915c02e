package localkey_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rtsync/rtsync/internal/localkey"
)

func TestLoadOrCreate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cfg", "rtsync", "api-key")
	key, created, err := localkey.LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("first call = %q, %v, %v; want a new key", key, created, err)
	}
	if len(key) < 40 {
		t.Fatalf("key %q is short", key)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("key folder mode %04o, want 0700", di.Mode().Perm())
	}
	again, created, err := localkey.LoadOrCreate(path)
	if err != nil || created || again != key {
		t.Fatalf("second call = %q, %v, %v; want the same key", again, created, err)
	}
	if got, err := localkey.Load(path); err != nil || got != key {
		t.Fatalf("Load = %q, %v", got, err)
	}
}

// Several servers starting at once agree on one key.
func TestLoadOrCreateRace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "api-key")
	keys := make([]string, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, _, err := localkey.LoadOrCreate(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys {
		if k != keys[0] || k == "" {
			t.Fatalf("keys differ: %q", keys)
		}
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".api-key-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestRefusesReadableFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(path, []byte("k\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := localkey.LoadOrCreate(path)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err = %v, want a refusal that says chmod 600", err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	if p, err := localkey.DefaultPath(env(map[string]string{localkey.EnvFile: "/x/key"})); err != nil || p != "/x/key" {
		t.Fatalf("with %s: %q, %v", localkey.EnvFile, p, err)
	}
	p, err := localkey.DefaultPath(env(nil))
	if err == nil && !strings.HasSuffix(p, filepath.Join("rtsync", "api-key")) {
		t.Fatalf("default = %q", p)
	}
}
