// Package storetest is the contract every store.Store keeps: seqs and
// epochs, paging, retention, size and room bounds, inboxes, commits,
// close, concurrency, and for durable stores what survives a reopen.
// Each implementation runs it from its own tests:
//
//	storetest.Run(t, storetest.Factory{Open: ..., Reopen: ...})
//
// Nothing in it knows where a store keeps its data. Run's subtests run
// one after another; each opens its own stores.
package storetest
