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
	// room is the global room key (target*Rooms + room) for broadcast.
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
type layout struct {
	cfg     *Config
	run     string
	targets int
	total   int
	streams int
}

func newLayout(cfg *Config, run string) *layout {
	l := &layout{cfg: cfg, run: run, targets: len(cfg.URLs), total: cfg.totalConns()}
	switch cfg.Scenario {
	case ScenarioBroadcast:
		l.streams = l.targets * cfg.Rooms * cfg.Publishers
	case ScenarioDirect:
		l.streams = cfg.Conns
	}
	return l
}

func (l *layout) slot(g int) slot {
	c := l.cfg
	switch {
	case c.Scenario == ScenarioDirect:
		// Pairs (2k, 2k+1) stay on one target: independent servers cannot
		// pass direct messages to each other.
		return slot{g: g, role: roleSub, target: (g / 2) % l.targets, stream: g, peer: g ^ 1, room: (g / 2) % l.targets}
	case g < c.Conns:
		t := g % l.targets
		j := g / l.targets
		s := slot{g: g, role: roleSub, target: t, stream: -1}
		if c.Scenario == ScenarioBroadcast {
			s.room = t*c.Rooms + j%c.Rooms
		}
		return s
	default:
		st := g - c.Conns
		room := st / c.Publishers
		return slot{g: g, role: rolePub, target: room / c.Rooms, room: room, stream: st}
	}
}

// roomKeys is how many rooms there are in all (one per target for
// direct, where the counts are summed per target).
func (l *layout) roomKeys() int {
	if l.cfg.Scenario == ScenarioBroadcast {
		return l.targets * l.cfg.Rooms
	}
	return l.targets
}

// roomName is the room's name on the server: fresh per run, so its seq
// starts at 1 and no earlier run's subscriber is in it.
func (l *layout) roomName(key int) string {
	return fmt.Sprintf("bench-%s-%d", l.run, key%max(l.cfg.Rooms, 1))
}

// streamRoom is the room key a stream publishes to.
func (l *layout) streamRoom(s int) int {
	if l.cfg.Scenario == ScenarioDirect {
		return (s / 2) % l.targets
	}
	return s / l.cfg.Publishers
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
