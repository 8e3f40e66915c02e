package server

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// epollSys is the poller's queue on Linux: epoll, edge-triggered
// (EPOLLET; a socket that holds bytes when it is added fires at once).
//
// The epoll descriptor is itself waited on in Go's own poller (an epoll
// descriptor is readable while it has events): the loop parks like any
// goroutine blocked on a socket and collects events with a wait that does
// not block. No thread sits in epoll_wait, and a wake-up costs about what
// Go's wake-up of a blocked reader costs.
type epollSys struct {
	ep     int
	f      *os.File
	rc     syscall.RawConn
	events [128]unix.EpollEvent
}

// pollerAvailable reports whether this system has a poller.
const pollerAvailable = true

const epollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET

func openPollSys() (pollSys, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		_ = unix.Close(ep)
		return nil, err
	}
	// A non-blocking descriptor: os.NewFile registers it with Go's poller.
	f := os.NewFile(uintptr(ep), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &epollSys{ep: ep, f: f, rc: rc}, nil
}

func (e *epollSys) add(fd int) error {
	return unix.EpollCtl(e.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: epollEvents, Fd: int32(fd)})
}

func (e *epollSys) remove(fd int) error {
	return unix.EpollCtl(e.ep, unix.EPOLL_CTL_DEL, fd, nil)
}

func (e *epollSys) wait(evs []pollEvent) ([]pollEvent, bool, error) {
	var n int
	var werr error
	err := e.rc.Read(func(fd uintptr) bool {
		n, werr = unix.EpollWait(int(fd), e.events[:], 0)
		if werr == unix.EINTR {
			n, werr = 0, nil
		}
		return n > 0 || werr != nil
	})
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
		return evs, true, nil
	}
	if err == nil {
		err = werr
	}
	if err != nil {
		return evs, false, err
	}
	for _, ev := range e.events[:n] {
		evs = append(evs, pollEvent{fd: int(ev.Fd), hup: ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0})
	}
	return evs, false, nil
}

// wake ends the wait: a deadline in the past.
func (e *epollSys) wake() { _ = e.f.SetReadDeadline(time.Unix(1, 0)) }

func (e *epollSys) close() { _ = e.f.Close() }
