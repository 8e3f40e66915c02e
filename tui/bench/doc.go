// Package bench is the live view of `rtsync bench`: a bubbletea program
// that draws the run's phases, figures and warnings from the stream of
// loadtest.Progress snapshots the load-test engine sends, and Plain, the
// line-per-interval reporter used when the output is not a terminal.
//
// The engine measures and this package only displays: nothing here
// changes a figure, so what the view shows is what the final report will
// say. Aborting (q or ctrl+c) is reported back to the caller as ErrAborted
// rather than acted on here, so the caller can cancel the run and still
// print what it measured.
//
// # Concurrency contract
//
// The caller owns the progress channel: it sends snapshots and closes the
// channel when the run is over. Run and Plain are each meant to be its only
// reader.
//
// Run blocks until the channel closes, the user aborts or ctx ends. Inside
// it the Model belongs to the bubbletea program's goroutine; one command
// goroutine at a time receives from the channel and hands each snapshot to
// the program as a message, then is started again by Update. When Run
// returns, that goroutine is stopped and nothing reads the channel any
// more: the sender must not block on it forever (send under a select with
// the run's context, or through a buffer, and close it when done).
//
// Plain reads the channel and writes to its writer from the calling
// goroutine only, and keeps reading after a write error so the sender
// never stalls on a broken pipe.
//
// Model is a value: Update returns a new one and copies share nothing
// that a later Update mutates.
package bench
