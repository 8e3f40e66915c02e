package loadtest

import (
	"bytes"
	"testing"
	"time"
)

func TestMarkerRoundTrip(t *testing.T) {
	b := appendMarker(nil, "ab12", 7, 12345, 1700000000123456789, 128)
	if len(b) != 128 {
		t.Fatalf("marker is %d bytes, want 128: %q", len(b), b)
	}
	// As a JSON string inside an rtsync msg, several to a frame, next to
	// another run's marker.
	other := appendMarker(nil, "zz99", 1, 1, 1, 64)
	frame := []byte(`{"type":"msg","data":"` + string(other) + `"}` + "\n" + `{"type":"msg","data":"` + string(b) + `"}`)
	m, rest, ok := nextMark(frame, "ab12")
	if !ok || m != (mark{stream: 7, n: 12345, intended: 1700000000123456789}) {
		t.Fatalf("got %+v ok=%v", m, ok)
	}
	if _, _, ok := nextMark(rest, "ab12"); ok {
		t.Error("found a second marker")
	}
}

func TestMarkerRejectsGarbage(t *testing.T) {
	for _, s := range []string{
		"", "rtb1 ", "rtb1 ab12", "rtb1 ab12 1 2", "rtb1 ab12 x 2 3 ", "rtb1 ab12 -1 2 3 ",
		"rtb1 ab123 1 2 3 ", "rtb1 ab12 1 2 99999999999999999999999 ",
	} {
		if m, _, ok := nextMark([]byte(s), "ab12"); ok {
			t.Errorf("%q parsed as %+v", s, m)
		}
	}
}

func FuzzNextMark(f *testing.F) {
	f.Add(appendMarker(nil, "ab12", 3, 4, 5, 64))
	f.Add([]byte("rtb1 ab12 1 2 3 rtb1 ab12 4 5 6 "))
	f.Add([]byte(`{"data":"rtb1 ab12 0 0 0 xx"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rest := b
		for range len(b) + 1 {
			m, r, ok := nextMark(rest, "ab12")
			if !ok {
				return
			}
			if m.stream < 0 || m.n < 0 || len(r) >= len(rest) {
				t.Fatalf("bad parse %+v, rest %d of %d", m, len(r), len(rest))
			}
			rest = r
		}
		t.Fatal("nextMark did not make progress")
	})
}

func TestLayoutSchedule(t *testing.T) {
	cfg := Defaults()
	cfg.URLs = []string{"ws://127.0.0.1:1/ws"}
	cfg.Rooms, cfg.Publishers, cfg.Rate = 2, 2, 400 // 4 streams at 100/s
	cfg.Warmup, cfg.Duration = Duration(time.Second), Duration(2*time.Second)
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	l := newLayout(&cfg, "r")
	if l.streams != 4 || l.interval() != 10*time.Millisecond {
		t.Fatalf("streams %d interval %v", l.streams, l.interval())
	}
	// Streams interleave evenly: stream 1 goes 2.5 ms after stream 0.
	if got := l.intended(1, 0); got != 2500*time.Microsecond {
		t.Errorf("intended(1, 0) = %v", got)
	}
	total := 0
	for s := range l.streams {
		lo, hi := l.window(s)
		if l.intended(s, lo) < time.Second || l.intended(s, lo-1) >= time.Second || l.intended(s, hi) < 3*time.Second || l.intended(s, hi-1) >= 3*time.Second {
			t.Errorf("stream %d window [%d,%d) is off", s, lo, hi)
		}
		total += hi - lo
	}
	if total != 800 {
		t.Errorf("%d messages in a 2 s window at 400/s", total)
	}
	// Subscribers first, spread over the rooms; then 2 publishers a room.
	if s := l.slot(3); s.role != roleSub || s.room != 1 {
		t.Errorf("slot 3: %+v", s)
	}
	if s := l.slot(cfg.Conns + 3); s.role != rolePub || s.room != 1 || s.stream != 3 || l.streamRoom(3) != 1 {
		t.Errorf("publisher slot: %+v", s)
	}
}

func TestNormalize(t *testing.T) {
	base := func() Config {
		c := Defaults()
		c.URLs = []string{"127.0.0.1:7000"}
		return c
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" for none
	}{
		{"defaults", func(*Config) {}, ""},
		{"unknown scenario", func(c *Config) { c.Scenario = "storm" }, `unknown scenario "storm"`},
		{"unknown protocol", func(c *Config) { c.Protocol = "mqtt" }, `unknown protocol "mqtt"`},
		{"raw rooms", func(c *Config) { c.Protocol = ProtocolRaw; c.Rooms = 3 }, "raw has no rooms"},
		{"raw direct", func(c *Config) { c.Protocol = ProtocolRaw; c.Scenario = ScenarioDirect }, "cannot run the direct"},
		{"negative", func(c *Config) { c.Conns = -1 }, "cannot be negative"},
		{"odd direct", func(c *Config) { c.Scenario = ScenarioDirect; c.Conns = 3 }, "even number"},
		{"remote", func(c *Config) { c.URLs = []string{"ws://example.com/ws"} }, "not a loopback address"},
		{"remote allowed", func(c *Config) { c.URLs = []string{"ws://example.com/ws"}; c.AllowRemote = true }, ""},
		{"scheme", func(c *Config) { c.URLs = []string{"ftp://127.0.0.1/"} }, `scheme "ftp" is not ws, wss, http or https`},
		{"too few procs", func(c *Config) { c.Conns = 40000; c.Procs = 1; c.SourceIPs = []string{"127.0.0.1-127.0.0.2"} }, "--procs 1 is too few"},
		{"ports", func(c *Config) { c.Conns = 40000 }, "--source-ips"},
		{"bad source", func(c *Config) { c.SourceIPs = []string{"127.0.0.9-127.0.0.1"} }, "range must go up"},
		{"churn", func(c *Config) { c.Churn = 2 }, "--churn"},
		{"payload", func(c *Config) { c.Payload = 2 << 20 }, "--payload"},
		{"rooms", func(c *Config) { c.Rooms = 2000 }, "every room needs a subscriber"},
		{"timeout", func(c *Config) { c.Timeout = Duration(time.Second) }, "--timeout 1s is shorter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mod(&c)
			err := c.Normalize()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.want))):
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	c := base()
	c.Conns = 40000
	c.SourceIPs = []string{"127.0.0.1-127.0.0.3"}
	if err := c.Normalize(); err != nil || c.Procs != 3 || len(c.SourceIPs) != 3 || c.URLs[0] != "ws://127.0.0.1:7000/ws" {
		t.Errorf("40k conns: err %v procs %d sources %v url %v", err, c.Procs, c.SourceIPs, c.URLs)
	}
}

// BenchmarkNextMark is the receive path's parse cost per delivery: a frame
// of four batched rtsync msg events, as the server sends under load.
func BenchmarkNextMark(b *testing.B) {
	var frame []byte
	for n := range 4 {
		frame = append(frame, `{"type":"msg","room":"bench-ab12-0","seq":12,"epoch":"e","ts":1,"from":{"client":"c"},"data":"`...)
		frame = appendMarker(frame, "ab12", 0, n, time.Now().UnixNano(), 128)
		frame = append(frame, "\"}\n"...)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		rest := frame
		for {
			_, r, ok := nextMark(rest, "ab12")
			if !ok {
				break
			}
			rest = r
		}
	}
}
