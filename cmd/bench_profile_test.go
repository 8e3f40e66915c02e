package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtsync/rtsync/internal/iostreams"
	"github.com/rtsync/rtsync/internal/testserver"
	"github.com/rtsync/rtsync/server"
)

// TestBenchCPUProfile: --cpuprofile writes the bench's CPU profile (a
// gzipped protobuf, what go tool pprof reads); a path that cannot be
// written is refused before the run, naming the flag.
func TestBenchCPUProfile(t *testing.T) {
	t.Parallel()
	url := testserver.Start(t, server.Config{}).URL()
	path := filepath.Join(t.TempDir(), "bench.pprof")
	ios, _, out, _ := iostreams.Test()
	err := execute(t.Context(), ios, []string{"bench", "--url", url, "--scenario", "connect", "--conns", "20",
		"--ramp", "0s", "--warmup", "0s", "--duration", "100ms", "--progress", "none", "--cpuprofile", path})
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Errorf("the profile is not gzipped protobuf: % x", b[:min(len(b), 8)])
	}

	ios, _, out, _ = iostreams.Test()
	bad := filepath.Join(t.TempDir(), "missing", "bench.pprof")
	err = execute(t.Context(), ios, []string{"bench", "--url", url, "--scenario", "connect", "--conns", "2",
		"--ramp", "0s", "--warmup", "0s", "--duration", "100ms", "--progress", "none", "--cpuprofile", bad})
	if err == nil || !strings.Contains(err.Error(), "--cpuprofile") || !strings.Contains(err.Error(), "writable") {
		t.Errorf("bench with an unwritable --cpuprofile: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "Connect") {
		t.Errorf("the run went ahead with an unwritable --cpuprofile:\n%s", out.String())
	}
}
