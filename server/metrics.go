package server

import (
	"sync"
	"sync/atomic"
)

// metrics are the server's counters. They only ever grow; stats and
// /metrics read them.
type metrics struct {
	accepted      atomic.Uint64
	rejected      atomic.Uint64
	commands      atomic.Uint64
	published     atomic.Uint64
	deliveries    atomic.Uint64 // room messages queued for members
	directs       atomic.Uint64
	frames        atomic.Uint64 // frames written
	objects       atomic.Uint64 // objects written
	slowConsumers atomic.Uint64
	timeouts      atomic.Uint64
	errors        atomic.Uint64

	mu     sync.Mutex
	byCode map[string]uint64
}

func (m *metrics) countError(code string) {
	m.errors.Add(1)
	m.mu.Lock()
	if m.byCode == nil {
		m.byCode = make(map[string]uint64)
	}
	m.byCode[code]++
	m.mu.Unlock()
}

// Stats is a snapshot of a server's counters and sizes.
type Stats struct {
	Node          string            `json:"node"`
	Connections   int64             `json:"connections"`
	Rooms         int               `json:"rooms"`
	UIDs          int               `json:"uids"`
	Accepted      uint64            `json:"accepted"`
	Rejected      uint64            `json:"rejected"`
	Commands      uint64            `json:"commands"`
	Published     uint64            `json:"published"`
	Deliveries    uint64            `json:"deliveries"`
	Directs       uint64            `json:"directs"`
	Frames        uint64            `json:"frames"`
	Objects       uint64            `json:"objects"`
	SlowConsumers uint64            `json:"slow_consumers"`
	Timeouts      uint64            `json:"heartbeat_timeouts"`
	Errors        map[string]uint64 `json:"errors"`
	// Hooks counts the calls to the application's event handler.
	Hooks HookStats `json:"hooks"`
}

// Stats returns the server's current counters.
func (s *Server) Stats() Stats {
	m := &s.metrics
	st := Stats{
		Node: s.cfg.Node, Connections: s.hub.count.Load(),
		Accepted: m.accepted.Load(), Rejected: m.rejected.Load(), Commands: m.commands.Load(),
		Published: m.published.Load(), Deliveries: m.deliveries.Load(), Directs: m.directs.Load(),
		Frames: m.frames.Load(), Objects: m.objects.Load(), SlowConsumers: m.slowConsumers.Load(),
		Timeouts: m.timeouts.Load(), Errors: map[string]uint64{}, Hooks: s.hookStats(),
	}
	s.hub.mu.RLock()
	st.Rooms, st.UIDs = len(s.hub.rooms), len(s.hub.uids)
	s.hub.mu.RUnlock()
	m.mu.Lock()
	for k, v := range m.byCode {
		st.Errors[k] = v
	}
	m.mu.Unlock()
	return st
}
