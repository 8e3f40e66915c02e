package epoll

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Event is a registered descriptor that turned readable: Key is what Add
// was given for it; Hup says its peer closed or reset it, or it has an
// error.
type Event struct {
	Key int32
	Hup bool
}

// Queue is one epoll instance.
type Queue struct {
	f    *os.File
	fd   int
	rc   syscall.RawConn
	raw  []unix.EpollEvent
	evts []Event
}

// Open makes a queue that returns at most size events per Wait.
func Open(size int) (*Queue, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	// A non-blocking descriptor: os.NewFile registers it with Go's poller.
	f := os.NewFile(uintptr(fd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &Queue{f: f, fd: fd, rc: rc, raw: make([]unix.EpollEvent, size), evts: make([]Event, 0, size)}, nil
}

// Add registers fd, edge-triggered, for readability and hang-up; its
// events carry key.
func (q *Queue) Add(fd int, key int32) error {
	return unix.EpollCtl(q.fd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: key})
}

// Remove deregisters fd.
func (q *Queue) Remove(fd int) error {
	return unix.EpollCtl(q.fd, unix.EPOLL_CTL_DEL, fd, nil)
}

// Wait parks until events come and returns them (valid until the next
// Wait), or stopped once Wake or Close was called.
func (q *Queue) Wait() (evs []Event, stopped bool, err error) {
	var n int
	var werr error
	err = q.rc.Read(func(fd uintptr) bool {
		n, werr = unix.EpollWait(int(fd), q.raw, 0)
		if werr == unix.EINTR {
			n, werr = 0, nil
		}
		return n > 0 || werr != nil
	})
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
		return nil, true, nil
	}
	if err == nil {
		err = werr
	}
	if err != nil {
		return nil, false, err
	}
	q.evts = q.evts[:0]
	for _, ev := range q.raw[:n] {
		q.evts = append(q.evts, Event{Key: ev.Fd, Hup: ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0})
	}
	return q.evts, false, nil
}

// Wake ends the current and every later Wait.
func (q *Queue) Wake() { _ = q.f.SetReadDeadline(time.Unix(1, 0)) }

// Close releases the queue.
func (q *Queue) Close() { _ = q.f.Close() }
