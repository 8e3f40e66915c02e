// Package report turns a loadtest.Result into what people and scripts read:
// a plain-text table and a terminal latency chart for the end of `rtsync
// bench`, JSON for `--out` (and Load/Decode to read it back), a CSV row
// for spreadsheets, one self-contained HTML page with SVG charts, a
// side-by-side comparison of two runs, and the pass/fail thresholds
// (--max-p99, --max-loss, --min-rate).
//
// Reporters are plain functions that write to an io.Writer, in the manner
// of vegeta's lib/reporters.go, so the caller picks the stream (a file, a
// buffer in tests, the command's IOStreams) and this package never opens
// one itself, apart from Load reading the file it is given.
//
// The text reporters never hide a bad figure: lost deliveries are printed
// even when zero, a threshold on a figure the run did not measure fails,
// and a run the bench itself may have limited says so at the top. Text
// taken from a Result (room names, warnings, URLs) may come from a server
// under test, so it is escaped before it reaches a terminal or a page.
//
// # Concurrency contract
//
// Nothing here has state: every function only reads the Result or Hist it
// is given and keeps no reference to it once it returns, so any number of
// goroutines may call them at once, provided nobody mutates the Result
// meanwhile. A loadtest.Hist is not safe for concurrent use, so a caller
// still recording into one must pass a snapshot.
package report
