package server

import "time"

// refusalWindow is how long refusals are counted before a flooding client
// is closed with 4009.
const refusalWindow = 10 * time.Second

// limiter is a token bucket with a count of recent refusals. It is owned by
// the connection's reader goroutine and needs no lock.
type limiter struct {
	rate, burst float64
	tokens      float64
	last        time.Time

	refusals    int
	windowStart time.Time
	maxRefusals int
}

func newLimiter(rate float64, burst int) limiter {
	return limiter{rate: rate, burst: float64(burst), tokens: float64(burst), maxRefusals: burst}
}

// allow takes one token. When there is none it counts a refusal and reports
// flood=true once the refusals in the current window pass the limit.
func (l *limiter) allow(now time.Time) (ok, flood bool) {
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true, false
	}
	if now.Sub(l.windowStart) > refusalWindow {
		l.windowStart, l.refusals = now, 0
	}
	l.refusals++
	return false, l.refusals > l.maxRefusals
}
