// Package soak holds the soak test (`make soak`): the real rtsync binary
// as the server, thousands of Go clients in the test process churning
// and recovering while publishers publish with acknowledgements, and the
// server's memory, goroutines and open files sampled from outside.
//
// The test itself runs only with RTSYNC_SOAK=1 (docs/soak.md has the
// knobs); the books it keeps (Ledger) and the verdicts on its samples
// (CheckRSS, Settled) are plain code with unit tests of their own.
//
// # Concurrency contract
//
// A Ledger is safe for concurrent use: each room's books are under one
// lock, taken by that room's subscribers' reader goroutines and by the
// publishers. Tally and the checks are called after the load stopped.
package soak
