//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package server

import (
	"golang.org/x/sys/unix"
)

// kqueueSys is the poller's queue on macOS and the BSDs: kqueue, with
// edge-triggered read filters (EV_CLEAR); a socket that holds bytes when
// it is added fires at once. A thread blocks in kevent; a pipe wakes it
// for stop.
type kqueueSys struct {
	kq     int
	pr, pw int
	events [128]unix.Kevent_t
}

// pollerAvailable reports whether this system has a poller.
const pollerAvailable = true

func openPollSys() (pollSys, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(kq)
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		_ = unix.Close(kq)
		return nil, err
	}
	unix.CloseOnExec(p[0])
	unix.CloseOnExec(p[1])
	k := &kqueueSys{kq: kq, pr: p[0], pw: p[1]}
	if err := k.ctl(k.pr, unix.EV_ADD); err != nil {
		k.close()
		return nil, err
	}
	return k, nil
}

func (k *kqueueSys) ctl(fd, flags int) error {
	var ch [1]unix.Kevent_t
	unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, flags)
	_, err := unix.Kevent(k.kq, ch[:], nil, nil)
	return err
}

func (k *kqueueSys) add(fd int) error { return k.ctl(fd, unix.EV_ADD|unix.EV_CLEAR) }

func (k *kqueueSys) remove(fd int) error {
	if err := k.ctl(fd, unix.EV_DELETE); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

func (k *kqueueSys) wait(evs []pollEvent) ([]pollEvent, bool, error) {
	for {
		n, err := unix.Kevent(k.kq, nil, k.events[:], nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return evs, false, err
		}
		for _, ev := range k.events[:n] {
			if int(ev.Ident) == k.pr {
				return evs, true, nil
			}
			evs = append(evs, pollEvent{fd: int(ev.Ident), hup: ev.Flags&(unix.EV_EOF|unix.EV_ERROR) != 0})
		}
		return evs, false, nil
	}
}

func (k *kqueueSys) wake() { _, _ = unix.Write(k.pw, []byte{1}) }

func (k *kqueueSys) close() {
	_ = unix.Close(k.kq)
	_ = unix.Close(k.pr)
	_ = unix.Close(k.pw)
}
