package store

import "sync"

// Commit reports when appended data is durable. Appends that share a
// group commit share one Commit. A nil *Commit is durable already.
type Commit struct {
	done chan struct{}
	mu   sync.Mutex
	fin  bool
	err  error
	then []func()
}

// NewCommit returns a Commit that reports when Finish is called.
func NewCommit() *Commit { return &Commit{done: make(chan struct{})} }

// Finish reports the commit done, with err when it failed. Only the
// first call counts. Functions registered with Then run after it, on a
// goroutine of their own, so that the committer never waits for them.
func (c *Commit) Finish(err error) {
	c.mu.Lock()
	if c.fin {
		c.mu.Unlock()
		return
	}
	c.fin, c.err = true, err
	then := c.then
	c.then = nil
	close(c.done)
	c.mu.Unlock()
	if len(then) > 0 {
		go func() {
			for _, f := range then {
				f()
			}
		}()
	}
}

// Then runs f once the commit is over: at once, on the caller's
// goroutine, when it is over already (or c is nil).
func (c *Commit) Then(f func()) {
	if c == nil {
		f()
		return
	}
	c.mu.Lock()
	if c.fin {
		c.mu.Unlock()
		f()
		return
	}
	c.then = append(c.then, f)
	c.mu.Unlock()
}

// Done is closed once the commit is over; nil c: a closed channel.
func (c *Commit) Done() <-chan struct{} {
	if c == nil {
		return closed
	}
	return c.done
}

// Finished reports whether the commit is over, without waiting.
func (c *Commit) Finished() bool {
	if c == nil {
		return true
	}
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Wait waits for the commit and returns its error.
func (c *Commit) Wait() error {
	if c == nil {
		return nil
	}
	<-c.done
	return c.err
}

// Err returns the commit's error once it is over (nil before).
func (c *Commit) Err() error {
	if c == nil || !c.Finished() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

var closed = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()
