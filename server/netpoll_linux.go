package server

import "github.com/rtsync/rtsync/internal/epoll"

// epollSys is the poller's queue on Linux: epoll, edge-triggered (a
// socket that holds bytes when it is added fires at once), waited on in
// Go's own poller (internal/epoll): no thread sits in epoll_wait, and a
// wake-up costs about what Go's wake-up of a blocked reader costs.
type epollSys struct{ q *epoll.Queue }

// pollerAvailable reports whether this system has a poller.
const pollerAvailable = true

func openPollSys() (pollSys, error) {
	q, err := epoll.Open(128)
	if err != nil {
		return nil, err
	}
	return &epollSys{q: q}, nil
}

func (e *epollSys) add(fd int) error    { return e.q.Add(fd, int32(fd)) }
func (e *epollSys) remove(fd int) error { return e.q.Remove(fd) }

func (e *epollSys) wait(evs []pollEvent) ([]pollEvent, bool, error) {
	got, stopped, err := e.q.Wait()
	if stopped || err != nil {
		return evs, stopped, err
	}
	for _, ev := range got {
		evs = append(evs, pollEvent{fd: int(ev.Key), hup: ev.Hup})
	}
	return evs, false, nil
}

// wake ends the wait.
func (e *epollSys) wake() { e.q.Wake() }

func (e *epollSys) close() { e.q.Close() }
