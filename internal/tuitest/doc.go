// Package tuitest holds what the terminal UIs' tests share: running a
// view under teatest with the ASCII colour profile forced, the check that
// it then wrote no colour whatever its styles carry, and running a
// command with a deadline.
//
// # Concurrency contract
//
// Colours and IsQuit are pure; the others take the test's *testing.T and
// belong on its goroutine.
package tuitest
