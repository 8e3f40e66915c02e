// Package protocol defines rtsync's wire protocol v1: the commands clients
// send, the events the server sends, their error codes and close codes, and
// the codec that splits batched frames and decodes commands.
//
// It is shared by the server and by every Go client, and imports nothing
// else of rtsync. Every function here is pure and safe for concurrent use;
// the types carry no hidden state.
//
// docs/protocol.md is the human-readable specification; when the two
// disagree, this package is the contract and the document is the bug.
package protocol
