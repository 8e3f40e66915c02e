// Package broker defines how messages travel between the nodes of a
// cluster (centrifuge's Broker is the model): room messages in seq order,
// direct messages to uids and clients, and control operations (kick,
// join or leave for a client, uid and session changes). InProcess is the
// broker of one node; a Redis broker joins nodes into a cluster.
package broker
