package epoll

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestQueue: a registered socket that receives bytes comes back with its
// key; one whose peer closes comes back with Hup; Wake ends a parked Wait.
func TestQueue(t *testing.T) {
	q, err := Open(8)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	if err := q.Add(fds[0], 42); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(fds[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	evs, stopped, err := q.Wait()
	if err != nil || stopped || len(evs) != 1 || evs[0].Key != 42 || evs[0].Hup {
		t.Fatalf("Wait = %+v, %v, %v; want key 42, readable", evs, stopped, err)
	}
	_ = unix.Close(fds[1])
	evs, _, err = q.Wait()
	if err != nil || len(evs) != 1 || !evs[0].Hup {
		t.Fatalf("after the peer closed: %+v, %v; want a hang-up", evs, err)
	}
	if err := q.Remove(fds[0]); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool, 1)
	go func() { _, stopped, _ := q.Wait(); done <- stopped }()
	time.Sleep(20 * time.Millisecond)
	q.Wake()
	select {
	case stopped := <-done:
		if !stopped {
			t.Fatal("Wait after Wake did not report stopped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wake did not end the Wait")
	}
}
