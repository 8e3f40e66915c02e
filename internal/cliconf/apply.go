package cliconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/rtsync/rtsync/internal/fuzzy"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Options says where Apply looks for values of flags not given on the
// command line.
type Options struct {
	// EnvPrefix is put before a flag's upper-cased name to form its
	// environment variable, e.g. "RTSYNC_" makes --max-conns read
	// RTSYNC_MAX_CONNS.
	EnvPrefix string
	// ConfigFlag names the flag that holds the config file's path, e.g.
	// "config". When that flag is not given, the path is taken from its
	// environment variable (EnvPrefix + "CONFIG"). Empty means the command
	// has no config file.
	ConfigFlag string
	// LookupEnv reads the environment; nil means os.LookupEnv. Tests pass
	// a map's lookup so they need not touch the process environment.
	LookupEnv func(key string) (string, bool)
	// ReadFile reads the config file; nil means os.ReadFile.
	ReadFile func(name string) ([]byte, error)
}

// EnvName returns the environment variable that sets the flag called name:
// prefix plus the name upper-cased, with '-' and '.' turned into '_'.
func EnvName(prefix, name string) string {
	return prefix + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// Apply fills every flag of fs that was not set on the command line from
// its environment variable or, failing that, from the config file, and
// leaves the rest at their defaults. Call it after fs has parsed the command
// line. An empty environment variable counts as unset.
//
// Unknown keys in the config file are an error, as are values a flag
// rejects; every such problem is reported, each naming where the value came
// from, joined into one error.
func Apply(flags *pflag.FlagSet, o Options) error {
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	skip := func(f *pflag.Flag) bool {
		// help is not a setting, and the config path cannot come from
		// the file it names.
		return f.Name == "help" || (o.ConfigFlag != "" && f.Name == o.ConfigFlag)
	}

	var file *configFile
	if o.ConfigFlag != "" {
		path, origin, err := configPath(flags, o)
		if err != nil {
			return err
		}
		if path != "" {
			file, err = loadConfigFile(path, origin, o.ReadFile, flags, skip)
			if err != nil {
				return err
			}
		}
	}

	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed || skip(f) {
			return
		}
		env := EnvName(o.EnvPrefix, f.Name)
		if v, ok := o.LookupEnv(env); ok && v != "" {
			if err := flags.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s: %w; fix or unset %s", env, ExplainFlagError(err), env))
			}
			return
		}
		if file == nil {
			return
		}
		if e, ok := file.values[f.Name]; ok {
			if err := flags.Set(f.Name, e.value); err != nil {
				errs = append(errs, fmt.Errorf("config file %s, key %q (line %d): %w; fix the value in %s", file.path, f.Name, e.line, ExplainFlagError(err), file.path))
			}
		}
	})
	return errors.Join(errs...)
}

// configPath returns the config file's path and what named it (the flag or
// its environment variable), or "" when no config file was asked for.
func configPath(flags *pflag.FlagSet, o Options) (path, origin string, err error) {
	f := flags.Lookup(o.ConfigFlag)
	if f == nil {
		return "", "", fmt.Errorf("cliconf: config flag --%s is not defined", o.ConfigFlag)
	}
	if f.Changed {
		return f.Value.String(), "--" + f.Name, nil
	}
	env := EnvName(o.EnvPrefix, f.Name)
	if v, ok := o.LookupEnv(env); ok && v != "" {
		// Record it on the flag so the command sees which file it ran with.
		if err := flags.Set(f.Name, v); err != nil {
			return "", "", fmt.Errorf("environment variable %s: %w", env, ExplainFlagError(err))
		}
		return v, env, nil
	}
	return "", "", nil
}

// configFile is a parsed config file: flag name to raw value.
type configFile struct {
	path   string
	values map[string]fileEntry
}

type fileEntry struct {
	value string
	line  int
}

// loadConfigFile reads and checks the YAML file at path: it must be a
// mapping whose keys are names of flags in flags and whose values are
// scalars (or, for list flags, lists of scalars).
func loadConfigFile(path, origin string, read func(string) ([]byte, error), flags *pflag.FlagSet, skip func(*pflag.Flag) bool) (*configFile, error) {
	data, err := read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config file %s (given by %s) does not exist; check the path, or drop %s to run without one", path, origin, origin)
	}
	if err != nil {
		return nil, fmt.Errorf("read config file %s (given by %s): %w", path, origin, err)
	}
	const shape = `it must be a YAML mapping of flag names to values, such as "addr: 127.0.0.1:7000"`
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse config file %s: %w; %s", path, err, shape)
	}
	cf := &configFile{path: path, values: map[string]fileEntry{}}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return cf, nil // empty, or comments only
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return cf, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config file %s: line %d: %s", path, root.Line, shape)
	}

	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := k.Value
		f := flags.Lookup(name)
		if f == nil || skip(f) {
			msg := fmt.Sprintf("config file %s: unknown key %q on line %d", path, name, k.Line)
			if s := suggest(name, flags, skip); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, errors.New(msg+"; keys are the flag names listed by --help"))
			continue
		}
		if prev, dup := cf.values[name]; dup {
			errs = append(errs, fmt.Errorf("config file %s: key %q on line %d repeats line %d; keep one", path, name, k.Line, prev.line))
			continue
		}
		value, err := scalarValue(v, f)
		if err != nil {
			errs = append(errs, fmt.Errorf("config file %s, key %q (line %d): %w", path, name, v.Line, err))
			continue
		}
		cf.values[name] = fileEntry{value: value, line: v.Line}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cf, nil
}

// scalarValue turns a YAML value into the string the flag's Set parses.
func scalarValue(v *yaml.Node, f *pflag.Flag) (string, error) {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return "", errors.New("has no value; give one or remove the key")
		}
		return v.Value, nil
	case yaml.SequenceNode:
		t := f.Value.Type()
		if !strings.HasSuffix(t, "Slice") && !strings.HasSuffix(t, "Array") {
			return "", fmt.Errorf("want a single value, got a list")
		}
		items := make([]string, 0, len(v.Content))
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode {
				return "", errors.New("want a list of plain values")
			}
			items = append(items, item.Value)
		}
		return strings.Join(items, ","), nil
	default:
		return "", errors.New("want a single value, got a mapping")
	}
}

// suggest returns the flag name closest to an unknown key, if one is close
// enough to be a likely typo.
func suggest(key string, flags *pflag.FlagSet, skip func(*pflag.Flag) bool) string {
	best, bestDist := "", 3 // suggest only within two edits
	flags.VisitAll(func(f *pflag.Flag) {
		if skip(f) {
			return
		}
		d := fuzzy.Distance(strings.ToLower(key), f.Name)
		if d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	if best == "" {
		// A key spelled like an environment variable or with underscores.
		norm := strings.ReplaceAll(strings.ToLower(key), "_", "-")
		if f := flags.Lookup(norm); f != nil && !skip(f) {
			best = norm
		}
	}
	return best
}

// ExplainFlagError rewrites pflag's "invalid argument" errors, whose cause
// is often a bare strconv message, into one that says what the flag wants.
// Other errors are returned unchanged.
func ExplainFlagError(err error) error {
	var ive *pflag.InvalidValueError
	if !errors.As(err, &ive) {
		return err
	}
	f := ive.GetFlag()
	return fmt.Errorf("invalid value %q for --%s: %s", ive.GetValue(), f.Name, wants(f, ive.Unwrap()))
}

// wants describes what a flag of f's type accepts, given the error its
// parser returned.
func wants(f *pflag.Flag, cause error) string {
	outOfRange := errors.Is(cause, strconv.ErrRange)
	switch t := f.Value.Type(); {
	case slices.Contains([]string{"int", "int8", "int16", "int32", "int64"}, t):
		if outOfRange {
			return "out of range"
		}
		return "want a whole number"
	case slices.Contains([]string{"uint", "uint8", "uint16", "uint32", "uint64"}, t):
		if outOfRange {
			return "out of range"
		}
		return "want a whole number, 0 or more"
	case t == "float32" || t == "float64":
		return "want a number"
	case t == "bool":
		return "want true or false"
	case t == "duration":
		return "want a duration such as 500ms, 10s or 1h30m"
	}
	return cause.Error()
}
