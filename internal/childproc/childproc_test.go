package childproc_test

import (
	"os/exec"
	"testing"
	"time"

	"github.com/rtsync/rtsync/internal/childproc"
)

func TestStart(t *testing.T) {
	t.Parallel()
	done, err := childproc.Start(exec.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
			t.Fatalf("done = %v, want exit status 3", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10s")
	}
	if _, err := childproc.Start(exec.Command("/nonexistent/program")); err == nil {
		t.Fatal("starting a missing program did not fail")
	}
}
