package childproc

import (
	"os/exec"
	"runtime"
)

// Start starts cmd on a locked OS thread and waits for it there. done
// receives cmd.Wait's result once the child exits; err is Start's.
func Start(cmd *exec.Cmd) (done <-chan error, err error) {
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}
