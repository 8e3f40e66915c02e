package cliconf

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// unitSize returns the size of a lower-cased unit suffix ParseByteSize
// accepts. KB/MB/GB are decimal as in SI; KiB/MiB/GiB and the bare K/M/G
// are binary, the way memory is usually meant.
func unitSize(unit string) (int64, bool) {
	switch unit {
	case "", "b":
		return 1, true
	case "k", "ki", "kib":
		return 1 << 10, true
	case "kb":
		return 1e3, true
	case "m", "mi", "mib":
		return 1 << 20, true
	case "mb":
		return 1e6, true
	case "g", "gi", "gib":
		return 1 << 30, true
	case "gb":
		return 1e9, true
	case "t", "ti", "tib":
		return 1 << 40, true
	case "tb":
		return 1e12, true
	}
	return 0, false
}

const sizeHelp = "want a size such as 512, 64KiB or 1MiB (KiB/MiB/GiB are 1024-based, KB/MB/GB 1000-based)"

// ParseByteSize parses a size such as 512, 64KiB, 1.5MB or 2g into bytes.
// Units are case-insensitive; see unitSize for their values. Errors do not
// repeat s: callers name the input and where it came from.
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, errors.New(sizeHelp)
	}
	mult, ok := unitSize(unit)
	if !ok {
		return 0, fmt.Errorf("unknown unit %q; %s", t[i:], sizeHelp)
	}
	if strings.Contains(num, ".") {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, errors.New(sizeHelp)
		}
		bytes := f * float64(mult)
		if bytes != math.Trunc(bytes) {
			return 0, errors.New("not a whole number of bytes")
		}
		if bytes > math.MaxInt64/2 {
			return 0, errors.New("too large")
		}
		return int64(bytes), nil
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		if errors.Is(err, strconv.ErrSyntax) {
			return 0, errors.New(sizeHelp)
		}
		return 0, errors.New("too large")
	}
	return n * mult, nil
}

// FormatByteSize writes n in the largest unit that divides it exactly,
// binary units first: 65536 is "64KiB", 1000000 is "1MB", 1500 is "1500".
func FormatByteSize(n int64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// byteSize is a pflag.Value for an int counted in bytes.
type byteSize struct{ p *int }

// Set parses s with ParseByteSize.
func (b byteSize) Set(s string) error {
	n, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	if n > math.MaxInt {
		return errors.New("too large")
	}
	*b.p = int(n)
	return nil
}

// String formats the size with FormatByteSize, as help shows defaults.
func (b byteSize) String() string {
	if b.p == nil {
		return "0"
	}
	return FormatByteSize(int64(*b.p))
}

// Type names the value in help: "--max-message-size size".
func (b byteSize) Type() string { return "size" }

// ByteSizeVar defines a flag holding a size in bytes, written as a plain
// count or with a unit (64KiB, 1MB); see ParseByteSize. Help shows the
// default in the same form.
func ByteSizeVar(fs *pflag.FlagSet, p *int, name string, value int, usage string) {
	*p = value
	fs.Var(byteSize{p}, name, usage)
}

// choice is a pflag.Value for a string limited to a fixed set.
type choice struct {
	p       *string
	choices []string
}

// Set accepts one of the choices, in any case.
func (c choice) Set(s string) error {
	for _, v := range c.choices {
		if strings.EqualFold(s, v) {
			*c.p = v
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(c.choices, ", "))
}

// String returns the current choice.
func (c choice) String() string {
	if c.p == nil {
		return ""
	}
	return *c.p
}

// Type names the choices, so help reads "--log-format text|json".
func (c choice) Type() string { return strings.Join(c.choices, "|") }

// ChoiceVar defines a string flag that accepts only one of choices
// (case-insensitively, stored as spelled in choices).
func ChoiceVar(fs *pflag.FlagSet, p *string, name, value, usage string, choices ...string) {
	*p = value
	fs.Var(choice{p: p, choices: choices}, name, usage)
}
