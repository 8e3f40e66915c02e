//go:build !unix

package cmd

// openFileLimit: no per-process open-file limit to check here.
func openFileLimit() (uint64, bool) { return 0, false }
