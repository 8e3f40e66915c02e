package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set by release builds, e.g.
//
//	go build -ldflags "-X github.com/rtsync/rtsync/internal/buildinfo.version=v1.2.3"
//
// Makefile and goreleaser.yaml do this; a test checks that the names they
// use still exist here, because -X on a missing name is silently ignored.
var (
	version string
	commit  string
	date    string
)

// Info describes one build of the binary.
type Info struct {
	// Version is a release tag such as v1.2.3, a module pseudo-version
	// for `go install`ed builds, or "dev" for a local build.
	Version string
	// Commit is the VCS revision the binary was built from, if known.
	Commit string
	// Date is when the binary (or, failing that, its commit) was made,
	// if known.
	Date string
	// GoVersion is the toolchain that built the binary.
	GoVersion string
	// Platform is GOOS/GOARCH.
	Platform string
}

// Get returns the linker-stamped values, filling whatever was not stamped
// from the build information the Go toolchain embeds (module version,
// vcs.revision, vcs.time).
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(version, commit, date, bi)
}

func get(version, commit, date string, bi *debug.BuildInfo) Info {
	info := Info{
		Version:   version,
		Commit:    commit,
		Date:      date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.Date == "" {
					info.Date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit == "" && info.Commit != "" {
			info.Commit += "-dirty"
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	return info
}
