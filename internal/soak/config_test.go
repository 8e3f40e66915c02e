package soak

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// config is one soak run's shape, from RTSYNC_SOAK_* variables.
type config struct {
	// Conns subscribers over Rooms rooms; one publisher per
	// roomsPerPublisher rooms publishes Rate messages/s in total.
	Conns, Rooms int
	Rate         float64
	Payload      int
	// History is the server's --history-size: messages a room keeps.
	History int
	// Churn is the share of subscribers closed and reopened each second
	// of the steady phase; each stays away up to Downtime.
	Churn    float64
	Downtime time.Duration
	// Ramp spreads the connects; Steady is the churn-and-publish phase;
	// Drain bounds the wait for messages in flight; Settle the wait for
	// goroutines and files to come back after every client closed.
	Ramp, Steady, Drain, Settle time.Duration
	// Interval is how often the server is sampled.
	Interval time.Duration
	// RSSTolerance is the allowed rise above the plateau (0.10: 10%);
	// GoroutineSlack and FDSlack what the end may exceed the baseline by.
	RSSTolerance   float64
	GoroutineSlack int
	FDSlack        int
	// Out, when set, is a directory for summary.txt and samples.csv.
	Out string
	// ServerArgs are added to `rtsync serve`'s command line.
	ServerArgs []string
}

// roomsPerPublisher keeps each publisher well inside the server's
// default --max-rooms (100 per connection).
const roomsPerPublisher = 50

// minHistory is the smallest history the soak gives a room.
const minHistory = 50

// maxConns keeps the test process inside 20,000 open files: one socket
// per subscriber, plus publishers, churn overlap and its own files.
const maxConns = 18000

func (c config) publishers() int { return (c.Rooms + roomsPerPublisher - 1) / roomsPerPublisher }

// configFromEnv reads the run's shape; lookup is os.LookupEnv in the test.
// The defaults are the full soak: 10,000 connections for 10 minutes.
func configFromEnv(lookup func(string) (string, bool)) (config, error) {
	c := config{
		Conns:          10000,
		Rate:           100,
		Payload:        128,
		Churn:          0.005,
		Downtime:       5 * time.Second,
		Steady:         10 * time.Minute,
		Drain:          30 * time.Second,
		Settle:         60 * time.Second,
		RSSTolerance:   0.10,
		GoroutineSlack: 5,
		FDSlack:        2,
	}
	get := func(name string) (string, bool) {
		v, ok := lookup("RTSYNC_SOAK_" + name)
		return strings.TrimSpace(v), ok && strings.TrimSpace(v) != ""
	}
	var errs []string
	intVar := func(name string, p *int) {
		if v, ok := get(name); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Sprintf("RTSYNC_SOAK_%s=%q: want a whole number", name, v))
				return
			}
			*p = n
		}
	}
	floatVar := func(name string, p *float64) {
		if v, ok := get(name); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				errs = append(errs, fmt.Sprintf("RTSYNC_SOAK_%s=%q: want a number", name, v))
				return
			}
			*p = f
		}
	}
	durVar := func(name string, p *time.Duration) {
		if v, ok := get(name); ok {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				errs = append(errs, fmt.Sprintf("RTSYNC_SOAK_%s=%q: want a duration such as 90s or 10m", name, v))
				return
			}
			*p = d
		}
	}
	intVar("CONNS", &c.Conns)
	intVar("ROOMS", &c.Rooms)
	floatVar("RATE", &c.Rate)
	intVar("PAYLOAD", &c.Payload)
	intVar("HISTORY", &c.History)
	floatVar("CHURN", &c.Churn)
	durVar("DOWNTIME", &c.Downtime)
	durVar("RAMP", &c.Ramp)
	durVar("DURATION", &c.Steady)
	durVar("DRAIN", &c.Drain)
	durVar("SETTLE", &c.Settle)
	durVar("INTERVAL", &c.Interval)
	floatVar("RSS_TOLERANCE", &c.RSSTolerance)
	if v, ok := get("OUT"); ok {
		c.Out = v
	}
	if v, ok := get("SERVER_ARGS"); ok {
		c.ServerArgs = strings.Fields(v)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	if c.Conns < 4 || c.Conns > maxConns {
		return c, fmt.Errorf("RTSYNC_SOAK_CONNS=%d: use 4 to %d (one process holds at most 20,000 open files)", c.Conns, maxConns)
	}
	if c.Rooms == 0 {
		// About 50 subscribers a room: presence events stay on (the
		// server's default --presence-max is 1,000), as in a real chat.
		c.Rooms = max(c.Conns/50, 1)
	}
	if c.Rooms*4 > c.Conns {
		return c, fmt.Errorf("RTSYNC_SOAK_ROOMS=%d: each room needs at least 4 subscribers (one of each kind); use at most %d", c.Rooms, c.Conns/4)
	}
	if c.Rate <= 0 || c.Steady <= 0 {
		return c, fmt.Errorf("RTSYNC_SOAK_RATE and RTSYNC_SOAK_DURATION must be above 0")
	}
	// The history must hold what a room gets while a subscriber is away,
	// twice over, or recoveries come back incomplete by design.
	need := int(math.Ceil(2 * c.Rate / float64(c.Rooms) * c.Downtime.Seconds()))
	if c.History == 0 {
		// Small enough that every room's history is full, and drops one
		// message per new one, before the plateau is measured: with the
		// server's default of 1,000 it would still be filling at the end
		// of 10 minutes, and that growth, by design, would read as a
		// leak.
		c.History = max(minHistory, need)
	}
	if c.History < need {
		return c, fmt.Errorf("RTSYNC_SOAK_HISTORY=%d: a room gets %.1f messages/s and a subscriber stays away up to %s, so recovery needs a history of %d or more", c.History, c.Rate/float64(c.Rooms), c.Downtime, need)
	}
	if c.Churn > 0.5 {
		return c, fmt.Errorf("RTSYNC_SOAK_CHURN=%g: a share of subscribers per second, at most 0.5", c.Churn)
	}
	if c.Ramp == 0 {
		// About 250 connects a second: quick, and gentle on a shared
		// machine.
		c.Ramp = time.Duration(c.Conns) * 4 * time.Millisecond
	}
	if c.Interval == 0 {
		// About 60 samples over a short run, one every 5 s over a long one.
		c.Interval = min(max(c.Steady/60, time.Second), 5*time.Second)
	}
	return c, nil
}
