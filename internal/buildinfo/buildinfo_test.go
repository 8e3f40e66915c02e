package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestGet(t *testing.T) {
	t.Parallel()
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/rtsync/rtsync", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc123"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		{
			name: "nothing known",
			want: Info{Version: "dev", GoVersion: runtime.Version()},
		},
		{
			name:    "stamped by the linker wins",
			version: "v1.2.3", commit: "fff", date: "2026-02-02T00:00:00Z",
			bi:   vcs,
			want: Info{Version: "v1.2.3", Commit: "fff", Date: "2026-02-02T00:00:00Z", GoVersion: "go1.26.8"},
		},
		{
			name: "falls back to vcs settings",
			bi:   vcs,
			want: Info{Version: "dev", Commit: "abc123-dirty", Date: "2026-01-02T03:04:05Z", GoVersion: "go1.26.8"},
		},
		{
			name: "go install records the module version",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"}},
			want: Info{Version: "v0.3.0", GoVersion: "go1.26.8"},
		},
	}
	for _, tt := range tests {
		got := get(tt.version, tt.commit, tt.date, tt.bi)
		tt.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
		if got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

func TestGetInThisBinary(t *testing.T) {
	t.Parallel()
	if got := Get(); got.Version == "" || got.GoVersion == "" || got.Platform == "" {
		t.Errorf("Get() = %+v; want version, Go version and platform filled", got)
	}
}
