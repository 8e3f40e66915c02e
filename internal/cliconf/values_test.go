package cliconf

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "512", want: 512},
		{in: "512B", want: 512},
		{in: "64KiB", want: 64 << 10},
		{in: "64kib", want: 64 << 10},
		{in: "64K", want: 64 << 10},
		{in: "64Ki", want: 64 << 10},
		{in: "64KB", want: 64_000},
		{in: "64kB", want: 64_000},
		{in: "1MB", want: 1_000_000},
		{in: "1MiB", want: 1 << 20},
		{in: "1m", want: 1 << 20},
		{in: "2GiB", want: 2 << 30},
		{in: "1.5KiB", want: 1536},
		{in: ".5MiB", want: 512 << 10},
		{in: " 8 KiB ", want: 8 << 10},
		{in: "1TiB", want: 1 << 40},
		{in: "", wantErr: "want a size"},
		{in: "KiB", wantErr: "want a size"},
		{in: "-1", wantErr: "want a size"},
		{in: "12XB", wantErr: `unknown unit "XB"`},
		{in: "1.2.3", wantErr: "want a size"},
		{in: "0.3B", wantErr: "not a whole number of bytes"},
		{in: "99999999999999999999", wantErr: "too large"},
		{in: "9999999999TiB", wantErr: "too large"},
		{in: "1e30GB", wantErr: `unknown unit`},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseByteSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatByteSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0: "0", 1: "1", 1500: "1500", 1000: "1KB", 1024: "1KiB", 65536: "64KiB",
		1 << 20: "1MiB", 1_000_000: "1MB", 3 << 30: "3GiB", 1536: "1536",
	} {
		if got := FormatByteSize(n); got != want {
			t.Errorf("FormatByteSize(%d) = %q, want %q", n, got, want)
		}
		back, err := ParseByteSize(want)
		if err != nil || back != n {
			t.Errorf("ParseByteSize(FormatByteSize(%d)) = %d, %v", n, back, err)
		}
	}
}

func TestValuesInHelp(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	var size int
	var format string
	ByteSizeVar(fs, &size, "max-message-size", 64<<10, "largest frame")
	ChoiceVar(fs, &format, "log-format", "text", "log format", "text", "json")
	help := fs.FlagUsages()
	for _, want := range []string{"--max-message-size size", "(default 64KiB)", "--log-format text|json", "(default text)"} {
		if !strings.Contains(help, want) {
			t.Errorf("help %q does not contain %q", help, want)
		}
	}
	if size != 64<<10 || format != "text" {
		t.Errorf("defaults not stored: %d %q", size, format)
	}
}
