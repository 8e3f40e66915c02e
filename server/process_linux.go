package server

import (
	"bytes"
	"os"
	"strconv"
)

// pageSize is the unit of /proc/self/statm.
var pageSize = uint64(os.Getpagesize())

// rssBytes returns the process's resident memory from /proc/self/statm (its
// second field, in pages), or the Go runtime's mapped memory if that
// cannot be read.
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err == nil {
		if f := bytes.Fields(b); len(f) >= 2 {
			if pages, err := strconv.ParseUint(string(f[1]), 10, 64); err == nil {
				return pages * pageSize
			}
		}
	}
	return runtimeMemory()
}
