package procstat

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestCPUTimeGrows(t *testing.T) {
	before := CPUTime()
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for CPUTime() <= before && time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
	}
	if CPUTime() <= before {
		t.Fatalf("CPU time did not grow after spinning (%d)", x)
	}
}

func TestRSS(t *testing.T) {
	if RSS() < 1<<20 {
		t.Fatalf("RSS %d bytes: a Go test binary holds more than 1 MiB", RSS())
	}
	n, err := RSSOf(os.Getpid())
	if runtime.GOOS != "linux" {
		if err == nil {
			t.Fatal("RSSOf worked where it should say it cannot")
		}
		return
	}
	if err != nil || n < 1<<20 {
		t.Fatalf("RSSOf(self) = %d, %v", n, err)
	}
	if _, err := RSSOf(1 << 30); err == nil {
		t.Fatal("RSSOf of no such process did not fail")
	}
}
