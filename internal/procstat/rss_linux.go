package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// pageSize is the unit of /proc/PID/statm.
var pageSize = uint64(os.Getpagesize())

// RSS is this process's resident memory in bytes, from /proc/self/statm,
// or the Go runtime's mapped memory if that cannot be read.
func RSS() uint64 {
	if n, err := rssOf("self"); err == nil {
		return n
	}
	return runtimeMemory()
}

// RSSOf is another process's resident memory in bytes, from
// /proc/PID/statm (its second field, in pages).
func RSSOf(pid int) (uint64, error) { return rssOf(strconv.Itoa(pid)) }

func rssOf(proc string) (uint64, error) {
	b, err := os.ReadFile("/proc/" + proc + "/statm")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%s/statm: %q has no resident field", proc, b)
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%s/statm: %w", proc, err)
	}
	return pages * pageSize, nil
}
