package soak

import (
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	c, err := configFromEnv(env())
	if err != nil {
		t.Fatal(err)
	}
	if c.Conns != 10000 || c.Steady != 10*time.Minute || c.Rooms != 200 || c.publishers() != 4 || c.Interval != 5*time.Second || c.History != 50 {
		t.Errorf("defaults: %+v", c)
	}
	c, err = configFromEnv(env("RTSYNC_SOAK_CONNS", "2000", "RTSYNC_SOAK_DURATION", "90s", "RTSYNC_SOAK_SERVER_ARGS", "--write-coalesce 0"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Conns != 2000 || c.Rooms != 40 || c.Steady != 90*time.Second || c.Interval != 1500*time.Millisecond || c.Ramp != 8*time.Second || len(c.ServerArgs) != 2 {
		t.Errorf("short run: %+v", c)
	}
	c, err = configFromEnv(env("RTSYNC_SOAK_CONNS", "400"))
	if err != nil {
		t.Fatal(err)
	}
	if c.History != 125 { // 8 rooms at 12.5 msg/s, away up to 5 s, twice over
		t.Errorf("history for 8 busy rooms: %d, want 125", c.History)
	}
	for _, bad := range [][]string{
		{"RTSYNC_SOAK_CONNS", "30000"},
		{"RTSYNC_SOAK_CONNS", "many"},
		{"RTSYNC_SOAK_DURATION", "10"},
		{"RTSYNC_SOAK_ROOMS", "5000"},
		{"RTSYNC_SOAK_CHURN", "0.9"},
		{"RTSYNC_SOAK_HISTORY", "3"},
	} {
		if _, err := configFromEnv(env(bad...)); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%s=%s: error %v, want one naming the variable", bad[0], bad[1], err)
		}
	}
}
