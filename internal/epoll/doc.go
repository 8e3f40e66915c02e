// Package epoll is a Linux epoll queue waited on inside Go's own poller:
// the epoll descriptor is registered like a socket (it is readable while
// it holds events), so the waiting goroutine parks as any blocked reader
// does, no thread sits in epoll_wait, and Wake ends the wait through a
// read deadline. The server's poll read path and the bench's share it.
package epoll
