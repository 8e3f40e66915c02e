package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/rtsync/rtsync/loadtest"
)

// maxFile bounds what Decode reads: a result with every room listed and
// its histograms is a few MB, so anything far bigger is not one.
const maxFile = 256 << 20

// JSON writes the result as indented JSON, histograms included (as
// base64 HdrHistogram encodings), which Load reads back exactly. A result
// with no Schema is written with the current one.
func JSON(w io.Writer, r *loadtest.Result) error {
	if r == nil {
		return errors.New("json: no result")
	}
	c := *r
	if c.Schema == 0 {
		c.Schema = loadtest.Schema
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// The file is read by people and jq, not embedded in HTML: keep
	// "<" and "&" readable.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return fmt.Errorf("write result json: %w", err)
	}
	return nil
}

// Load reads a result that JSON wrote (`rtsync bench --out run.json`).
// Its errors name the file.
func Load(path string) (*loadtest.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read bench result: %w", err)
	}
	defer f.Close()
	r, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("read bench result %s: %w", path, err)
	}
	return r, nil
}

// Decode reads a result that JSON wrote. It refuses one with no schema
// version (not a bench result) or a newer one than this build knows,
// rather than misreading fields whose meaning changed.
func Decode(rd io.Reader) (*loadtest.Result, error) {
	b, err := io.ReadAll(io.LimitReader(rd, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("over %d MB: not a bench result", maxFile>>20)
	}
	var probe struct {
		Schema *int `json:"schema"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("not a bench result (want the JSON `rtsync bench --out` writes): %w", err)
	}
	switch {
	case probe.Schema == nil || *probe.Schema == 0:
		return nil, errors.New(`no "schema" version: not a result written by rtsync bench --out`)
	case *probe.Schema < 0:
		return nil, fmt.Errorf("schema %d is not a valid version: not a result written by rtsync bench --out", *probe.Schema)
	case *probe.Schema > loadtest.Schema:
		return nil, fmt.Errorf("schema %d is newer than this rtsync reads (%d): read it with the rtsync that wrote it, or upgrade", *probe.Schema, loadtest.Schema)
	}
	var r loadtest.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("bad bench result: %w", err)
	}
	return &r, nil
}
