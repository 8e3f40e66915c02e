package store

import "sync"

// Commit reports when appended data is durable. Appends that share a
// group commit share one Commit. A nil *Commit is durable already.
type Commit struct {
	done chan struct{}
	once sync.Once
	err  error
}

// NewCommit returns a Commit that reports when Finish is called.
func NewCommit() *Commit { return &Commit{done: make(chan struct{})} }

// Finish reports the commit done, with err when it failed. Only the
// first call counts.
func (c *Commit) Finish(err error) {
	c.once.Do(func() {
		c.err = err
		close(c.done)
	})
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
	if !c.Finished() {
		return nil
	}
	return c.err
}

var closed = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()
