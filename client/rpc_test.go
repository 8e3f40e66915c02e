package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rtsync/rtsync/client"
	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server"
)

// rpcApp answers rpc commands the way an application behind the server
// would: echo returns its argument, who the caller's uid, deny refuses
// with a code of its own, nocode refuses without one, slow outlasts the
// hook timeout.
type rpcApp struct{}

func (rpcApp) Connect(context.Context, *server.ConnectEvent) (*server.ConnectResult, error) {
	return nil, nil
}

func (rpcApp) Message(context.Context, *server.MessageEvent) (*server.MessageResult, error) {
	return nil, nil
}

func (rpcApp) Close(context.Context, *server.CloseEvent) {}

func (rpcApp) RPC(ctx context.Context, ev *server.RPCEvent) (*server.RPCResult, error) {
	switch ev.Method {
	case "echo":
		return &server.RPCResult{Data: ev.Data}, nil
	case "who":
		b, _ := json.Marshal(map[string]string{"uid": ev.UID, "had_data": string(ev.Data)})
		return &server.RPCResult{Data: b}, nil
	case "deny":
		return &server.RPCResult{Error: &protocol.Error{Code: "not_allowed", Message: "admins only"}}, nil
	case "nocode":
		return &server.RPCResult{Error: &protocol.Error{Message: "no"}}, nil
	case "slow":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &server.RPCResult{}, nil
}

func TestRPC(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, func(c *server.Config) {
		c.Events = rpcApp{}
		c.HookTimeout = 300 * time.Millisecond
	})
	c := dial(t, url, client.Options{UID: "ann"})
	expect(t, c, "connected", kind(client.KindConnected))
	ctx := testCtx(t)

	got, err := c.RPC(ctx, "echo", map[string]int{"n": 7})
	if err != nil || string(got) != `{"n":7}` {
		t.Errorf("echo = %s, %v", got, err)
	}
	got, err = c.RPC(ctx, "who", nil)
	if err != nil || string(got) != `{"had_data":"","uid":"ann"}` {
		t.Errorf("who = %s, %v", got, err)
	}
	if got, err = c.RPC(ctx, "nothing", "x"); err != nil || got != nil {
		t.Errorf("nothing = %s, %v; want no data", got, err)
	}
	if _, err = c.RPC(ctx, "echo", json.RawMessage(`{broken`)); err == nil {
		t.Error("rpc with invalid JSON data was sent")
	}
	for method, code := range map[string]string{
		"deny":   "not_allowed",
		"nocode": protocol.CodeRPCError,
		"slow":   protocol.CodeUnavailable,
		"":       protocol.CodeBadRequest,
	} {
		_, err := c.RPC(ctx, method, nil)
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != code {
			t.Errorf("rpc %q: err %v, want code %s", method, err, code)
		}
	}
	// The connection is still usable after every refusal.
	if _, err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRPCNoApplication: a server with no application behind it refuses rpc
// as an unknown op.
func TestRPCNoApplication(t *testing.T) {
	t.Parallel()
	url, _ := startServer(t, nil)
	c := dial(t, url, client.Options{})
	expect(t, c, "connected", kind(client.KindConnected))
	_, err := c.RPC(testCtx(t), "echo", 1)
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeUnknownOp {
		t.Fatalf("err %v, want code %s", err, protocol.CodeUnknownOp)
	}
}
