package report

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/rtsync/rtsync/loadtest"
)

// Func is a reporter: it writes one run to w. Table, JSON, CSV and HTML
// are Funcs.
type Func func(w io.Writer, r *loadtest.Result) error

// Formats are the report formats ForFormat knows, for a --format flag's
// help.
var Formats = []string{"text", "json", "csv", "html"}

// ForFormat returns the reporter for a format name ("table" is another
// name for text).
func ForFormat(name string) (Func, error) {
	switch strings.ToLower(name) {
	case "text", "table", "txt":
		return Table, nil
	case "json":
		return JSON, nil
	case "csv":
		return CSV, nil
	case "html", "htm":
		return HTML, nil
	}
	return nil, fmt.Errorf("unknown report format %q: use %s", name, strings.Join(Formats, ", "))
}

// FormatOf guesses a report format from a file name's extension (run.json,
// run.csv, run.html, run.txt), or returns "" when it cannot tell, for
// `--out` to pick the format from the name it is given.
func FormatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return "json"
	case ".csv":
		return "csv"
	case ".html", ".htm":
		return "html"
	case ".txt", ".text":
		return "text"
	}
	return ""
}
