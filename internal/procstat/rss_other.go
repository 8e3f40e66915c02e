//go:build !linux

package procstat

// RSS is the Go runtime's mapped memory: outside Linux there is no cheap
// and portable way to read the resident set (getrusage gives only its
// peak). docs/api.md says so.
func RSS() uint64 { return runtimeMemory() }

// RSSOf is not available outside Linux.
func RSSOf(int) (uint64, error) { return 0, ErrUnsupported }
