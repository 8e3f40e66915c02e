package server

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// epollSys is the poller's queue on Linux: epoll, level-triggered and
// one-shot (EPOLLONESHOT), so a re-armed socket that already holds bytes
// fires at once. An eventfd wakes the wait for stop.
type epollSys struct {
	ep, ev int
	events [128]unix.EpollEvent
}

// pollerAvailable reports whether this system has a poller.
const pollerAvailable = true

const epollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

func openPollSys() (pollSys, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	ev, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(ep)
		return nil, err
	}
	// The eventfd stays registered, level-triggered: once written it
	// reads as ready until the queue closes.
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, ev, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(ev)}); err != nil {
		_ = unix.Close(ep)
		_ = unix.Close(ev)
		return nil, err
	}
	return &epollSys{ep: ep, ev: ev}, nil
}

func (e *epollSys) add(fd int) error {
	return unix.EpollCtl(e.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: epollEvents, Fd: int32(fd)})
}

func (e *epollSys) rearm(fd int) error {
	return unix.EpollCtl(e.ep, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: epollEvents, Fd: int32(fd)})
}

func (e *epollSys) remove(fd int) error {
	return unix.EpollCtl(e.ep, unix.EPOLL_CTL_DEL, fd, nil)
}

func (e *epollSys) wait(fds []int) ([]int, bool, error) {
	for {
		n, err := unix.EpollWait(e.ep, e.events[:], -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fds, false, err
		}
		for _, ev := range e.events[:n] {
			if int(ev.Fd) == e.ev {
				return fds, true, nil
			}
			fds = append(fds, int(ev.Fd))
		}
		return fds, false, nil
	}
}

func (e *epollSys) wake() {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], 1)
	_, _ = unix.Write(e.ev, b[:])
}

func (e *epollSys) close() {
	_ = unix.Close(e.ep)
	_ = unix.Close(e.ev)
}
