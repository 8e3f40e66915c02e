//go:build !unix

package disk

import "os"

// lockDir relies on the engine's own lock where flock is not there.
func lockDir(string) (*os.File, error) { return nil, nil }

func unlockDir(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// Unused reports false: without flock, a store in use cannot be told
// from one left behind.
func Unused(string) bool { return false }
