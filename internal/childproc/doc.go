// Package childproc starts child processes that must die with their
// parent: the bench's own servers and the soak's server.
//
// On Linux the parent-death signal (Pdeathsig) is sent when the thread
// that started the child exits, and Go may end a thread under other
// goroutines; Start therefore starts and waits on one locked OS thread
// that lives as long as the child. The returned channel is the only way
// to learn that the child exited; read it once.
package childproc
