package client

import "sync/atomic"

// Stats are a client's counters since Dial. They only grow.
type Stats struct {
	// Connects counts connections that completed their handshake, the
	// first one included; Reconnects those after an outage.
	Connects   uint64
	Reconnects uint64
	// FramesIn and BytesIn count WebSocket frames read; EventsIn the
	// objects they carried.
	FramesIn uint64
	BytesIn  uint64
	EventsIn uint64
	// Messages counts room messages delivered; Duplicates the room
	// messages dropped because recovery had already delivered them, and
	// the offline direct messages dropped because they were acked before.
	Messages   uint64
	Duplicates uint64
	// Directs counts direct messages delivered, live and offline; Offline
	// those of them that came from the user's inbox.
	Directs uint64
	Offline uint64
	// Commands counts commands sent, one frame each; BytesOut their size.
	Commands uint64
	BytesOut uint64
}

type counters struct {
	connects, reconnects          atomic.Uint64
	framesIn, bytesIn, events     atomic.Uint64
	messages, duplicates, directs atomic.Uint64
	offline                       atomic.Uint64
	commands, bytesOut            atomic.Uint64
}

// Stats returns a snapshot of the client's counters. It is cheap and safe
// to call from any goroutine.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{
		Connects:   s.connects.Load(),
		Reconnects: s.reconnects.Load(),
		FramesIn:   s.framesIn.Load(),
		BytesIn:    s.bytesIn.Load(),
		EventsIn:   s.events.Load(),
		Messages:   s.messages.Load(),
		Duplicates: s.duplicates.Load(),
		Directs:    s.directs.Load(),
		Offline:    s.offline.Load(),
		Commands:   s.commands.Load(),
		BytesOut:   s.bytesOut.Load(),
	}
}
