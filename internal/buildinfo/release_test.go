package buildinfo

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The release is described twice: goreleaser.yaml builds it, and the
// Makefile's release-check cross-compiles the same platforms with the same
// -X flags so CI catches a platform that stops building before a tag does.
// These tests keep the two in step, and check that every -X names a
// variable that exists here (the linker ignores -X for a missing name).

const (
	goreleaserFile = "../../goreleaser.yaml"
	makefile       = "../../Makefile"
	pkgPath        = "github.com/rtsync/rtsync/internal/buildinfo"
)

// platformRule is a goreleaser ignore entry; an empty field matches any.
type platformRule struct {
	Goos   string `yaml:"goos"`
	Goarch string `yaml:"goarch"`
}

// goreleaserConfig is the part of goreleaser.yaml these tests read.
type goreleaserConfig struct {
	Version int `yaml:"version"`
	Builds  []struct {
		ID      string         `yaml:"id"`
		Env     []string       `yaml:"env"`
		Goos    []string       `yaml:"goos"`
		Goarch  []string       `yaml:"goarch"`
		Ldflags []string       `yaml:"ldflags"`
		Ignore  []platformRule `yaml:"ignore"`
	} `yaml:"builds"`
}

func readGoreleaser(t *testing.T) goreleaserConfig {
	t.Helper()
	data, err := os.ReadFile(goreleaserFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg goreleaserConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("parse %s: %v", goreleaserFile, err)
	}
	if cfg.Version != 2 {
		t.Errorf("%s: version %d, want 2", goreleaserFile, cfg.Version)
	}
	if len(cfg.Builds) == 0 {
		t.Fatalf("%s has no builds", goreleaserFile)
	}
	return cfg
}

func readMakefile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(makefile)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// makeVar returns the value of a simple `NAME := ...` Makefile variable,
// joining backslash-continued lines.
func makeVar(t *testing.T, mk, name string) string {
	t.Helper()
	mk = strings.ReplaceAll(mk, "\\\n", " ")
	m := regexp.MustCompile(`(?m)^` + name + `\s*[:?]?=\s*(.*)$`).FindStringSubmatch(mk)
	if m == nil {
		t.Fatalf("%s: no %s variable", makefile, name)
	}
	return m[1]
}

func TestReleasePlatformsMatch(t *testing.T) {
	t.Parallel()
	cfg := readGoreleaser(t)
	var want []string
	for _, b := range cfg.Builds {
		if !slices.Contains(b.Env, "CGO_ENABLED=0") {
			t.Errorf("%s: build %q lacks CGO_ENABLED=0; releases must be static", goreleaserFile, b.ID)
		}
		for _, goos := range b.Goos {
			for _, arch := range b.Goarch {
				skip := slices.ContainsFunc(b.Ignore, func(ig platformRule) bool {
					return (ig.Goos == "" || ig.Goos == goos) && (ig.Goarch == "" || ig.Goarch == arch)
				})
				if !skip {
					want = append(want, goos+"/"+arch)
				}
			}
		}
	}
	got := strings.Fields(makeVar(t, readMakefile(t), "PLATFORMS"))
	slices.Sort(want)
	want = slices.Compact(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Makefile PLATFORMS %v, goreleaser.yaml builds %v; make them list the same platforms", got, want)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64", "windows/arm64"} {
		if !slices.Contains(want, p) {
			t.Errorf("goreleaser.yaml does not build %s", p)
		}
	}
}

// stampable returns the names of the package-level string variables in
// buildinfo.go, the ones -X can set.
func stampable(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "buildinfo.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "string" {
				for _, n := range vs.Names {
					names = append(names, n.Name)
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

// xTargets returns the variable names that -X flags in s set in this
// package.
func xTargets(s string) []string {
	var names []string
	for _, m := range regexp.MustCompile(`-X\s+`+regexp.QuoteMeta(pkgPath)+`\.(\w+)=`).FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	slices.Sort(names)
	return names
}

func TestReleaseLdflagsStampEveryVariable(t *testing.T) {
	t.Parallel()
	vars := stampable(t)
	if !slices.Equal(vars, []string{"commit", "date", "version"}) {
		t.Fatalf("stampable variables %v; update this test with them", vars)
	}
	cfg := readGoreleaser(t)
	for _, b := range cfg.Builds {
		ld := strings.Join(b.Ldflags, " ")
		if got := xTargets(ld); !slices.Equal(got, vars) {
			t.Errorf("%s build %q: -X sets %v, want %v", goreleaserFile, b.ID, got, vars)
		}
		if !strings.Contains(ld, "-s -w") {
			t.Errorf("%s build %q: ldflags lack -s -w", goreleaserFile, b.ID)
		}
	}
	ld := makeVar(t, readMakefile(t), "LDFLAGS")
	if got := xTargets(strings.ReplaceAll(ld, "$(PKG)", "github.com/rtsync/rtsync")); !slices.Equal(got, vars) {
		t.Errorf("Makefile LDFLAGS -X sets %v, want %v", got, vars)
	}
}
