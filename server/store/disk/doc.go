// Package disk is the embedded store: room history, epochs and offline
// inboxes kept under a data directory, so that they survive a restart.
package disk
