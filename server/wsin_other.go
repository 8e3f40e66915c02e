//go:build !unix

package server

import "errors"

// rawReads: elsewhere the goroutine path blocks in Read.
const rawReads = false

func sysRead(uintptr, []byte) (int, error) {
	return 0, errors.New("raw socket reads are not supported on this system")
}
