package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The server answers, keeps an appendonly write across Restart, and is
// gone after Kill.
func TestStartRestartKill(t *testing.T) {
	s := StartWith(t, Options{AppendOnly: true})
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("after Restart with appendonly: %q, %v; want v", v, err)
	}
	s.Kill()
	if s.Running() {
		t.Error("Running after Kill")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Error("Ping after Kill succeeded")
	}
}
