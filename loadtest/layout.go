package loadtest

import (
	"fmt"
	"time"
)

// role is what one connection does in the run.
type role uint8

const (
	roleSub role = iota // receives (broadcast subscriber, direct peer, connect/idle)
	rolePub             // publishes to its room and reads only replies
)

// slot is one connection of the run, from the global layout every shard
// and the coordinator compute alike from the Config.
type slot struct {
	g      int // global index
	role   role
	target int // index into Config.URLs
	// room is the room key: target*Rooms + room for broadcast to
	// independent servers, the room itself for a cluster (its rooms span
	// the nodes), and the receiver's target for direct.
	room int
	// stream is the message stream this connection sends (a publisher in
	// broadcast, every peer in direct); -1 when it sends nothing.
	stream int
	// peer is the direct scenario's partner (g^1).
	peer int
}

// layout maps global connection indexes to slots. Subscribers come first
// (0..Conns-1), then publishers, so that every subscriber is in place
// before anyone publishes.
//
// Subscriber g is on target g mod T and in room (g div T) mod Rooms of it,
// so with a cluster every room's subscribers are dealt round-robin over
// the nodes. The streams of a room key k are k*perRoom ... k*perRoom +
// perRoom - 1.
type layout struct {
	cfg     *Config
	run     string
	targets int
	total   int
	streams int
	perRoom int // streams per room key (broadcast)
}

func newLayout(cfg *Config, run string) *layout {
	l := &layout{cfg: cfg, run: run, targets: len(cfg.URLs), total: cfg.totalConns()}
	switch cfg.Scenario {
	case ScenarioBroadcast:
		l.perRoom = cfg.Publishers
		if cfg.Cluster {
			l.perRoom = cfg.Publishers * cfg.pubTargets()
		}
		l.streams = l.roomKeys() * l.perRoom
	case ScenarioDirect:
		l.streams = cfg.Conns
	}
	return l
}

func (l *layout) slot(g int) slot {
	c := l.cfg
	switch {
	case c.Scenario == ScenarioDirect && c.Cluster:
		// Partners sit on different nodes (g and g^1 differ by one), so
		// every direct message crosses the cluster.
		t := g % l.targets
		return slot{g: g, role: roleSub, target: t, stream: g, peer: g ^ 1, room: t}
	case c.Scenario == ScenarioDirect:
		// Pairs (2k, 2k+1) stay on one target: independent servers cannot
		// pass direct messages to each other.
		return slot{g: g, role: roleSub, target: (g / 2) % l.targets, stream: g, peer: g ^ 1, room: (g / 2) % l.targets}
	case g < c.Conns:
		t := g % l.targets
		j := g / l.targets
		s := slot{g: g, role: roleSub, target: t, stream: -1}
		if c.Scenario == ScenarioBroadcast {
			s.room = j % c.Rooms
			if !c.Cluster {
				s.room += t * c.Rooms
			}
		}
		return s
	default:
		st := g - c.Conns
		room := st / l.perRoom
		s := slot{g: g, role: rolePub, room: room, stream: st}
		switch {
		case !c.Cluster:
			s.target = room / c.Rooms
		case c.PublishOn != PublishFirst:
			// The room's publishers, dealt over the nodes.
			s.target = (st % l.perRoom) % l.targets
		}
		return s
	}
}

// roomKeys is how many rooms there are in all (one per target for
// direct, where the counts are summed per receiving target).
func (l *layout) roomKeys() int {
	switch {
	case l.cfg.Scenario != ScenarioBroadcast:
		return l.targets
	case l.cfg.Cluster:
		return l.cfg.Rooms
	}
	return l.targets * l.cfg.Rooms
}

// streamTarget is the target a stream's sender is connected to.
func (l *layout) streamTarget(s int) int {
	if l.cfg.Scenario == ScenarioDirect {
		return l.slot(s).target
	}
	return l.slot(l.cfg.Conns + s).target
}

// roomName is the room's name on the server: fresh per run, so its seq
// starts at 1 and no earlier run's subscriber is in it.
func (l *layout) roomName(key int) string {
	return fmt.Sprintf("bench-%s-%d", l.run, key%max(l.cfg.Rooms, 1))
}

// streamRoom is the room key a stream publishes to (for direct, the key
// of its receiver).
func (l *layout) streamRoom(s int) int {
	if l.cfg.Scenario == ScenarioDirect {
		return l.slot(s ^ 1).room
	}
	return s / l.perRoom
}

// uid is a direct-scenario peer's user id.
func (l *layout) uid(g int) string { return fmt.Sprintf("bench-%s-%d", l.run, g) }

// interval is the time between two messages of one stream; all streams
// together send Rate messages a second, interleaved evenly: stream s sends
// its message n at intended(s, n).
func (l *layout) interval() time.Duration {
	if l.streams == 0 {
		return 0
	}
	return time.Duration(float64(time.Second) * float64(l.streams) / l.cfg.Rate)
}

// intended is when stream s should send message n, relative to the start
// of the warm-up.
func (l *layout) intended(s, n int) time.Duration {
	iv := l.interval()
	return time.Duration(n)*iv + time.Duration(s)*iv/time.Duration(l.streams)
}

// window returns the message numbers [lo, hi) of stream s whose intended
// time falls in the measuring window.
func (l *layout) window(s int) (lo, hi int) {
	from := time.Duration(l.cfg.Warmup)
	to := from + time.Duration(l.cfg.Duration)
	return l.firstAtOrAfter(s, from), l.firstAtOrAfter(s, to)
}

// firstAtOrAfter is the first n with intended(s, n) >= t.
func (l *layout) firstAtOrAfter(s int, t time.Duration) int {
	iv := l.interval()
	if iv <= 0 {
		return 0
	}
	off := time.Duration(s) * iv / time.Duration(l.streams)
	if t <= off {
		return 0
	}
	n := int((t - off) / iv)
	for l.intended(s, n) < t {
		n++
	}
	for n > 0 && l.intended(s, n-1) >= t {
		n--
	}
	return n
}
