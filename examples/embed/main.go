package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/rtsync/rtsync/protocol"
	"github.com/rtsync/rtsync/server"
)

// userName is what ?user= may hold: it becomes part of a room name, so
// it keeps to characters every room name may have.
var userName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Events is this program's business logic: a server.EventHandler. It is
// called concurrently for different clients and keeps no state of its own.
type Events struct {
	// Log receives a line per connection that ends.
	Log *slog.Logger
	// Censored words are replaced by stars in messages (whole words, any
	// case).
	Censored []string
}

// Connect refuses connections without ?user=NAME and sets the identity,
// session and rooms of the others.
func (e *Events) Connect(_ context.Context, ev *server.ConnectEvent) (*server.ConnectResult, error) {
	user := ev.Query.Get("user")
	if !userName.MatchString(user) {
		return &server.ConnectResult{Refuse: true, Reason: "connect with ?user=NAME (letters, digits, - and _, at most 32)"}, nil
	}
	session, err := json.Marshal(map[string]any{"since": time.Now().UnixMilli(), "remote": ev.RemoteAddr})
	if err != nil {
		return nil, err
	}
	return &server.ConnectResult{
		UID:     user,
		Name:    user,
		Session: session,
		Rooms:   []string{"lobby", "user:" + user},
	}, nil
}

// Message lets {"text": ...} objects through, censored.
func (e *Events) Message(_ context.Context, ev *server.MessageEvent) (*server.MessageResult, error) {
	var msg map[string]any
	text, ok := "", false
	if json.Unmarshal(ev.Data, &msg) == nil {
		text, ok = msg["text"].(string)
	}
	if !ok {
		return &server.MessageResult{Refuse: true, Reason: `messages here are objects with a "text" string, like {"text":"hi"}`}, nil
	}
	clean := e.censor(text)
	if clean == text {
		return nil, nil // unchanged
	}
	msg["text"] = clean
	data, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return &server.MessageResult{Data: data}, nil
}

func (e *Events) censor(text string) string {
	if len(e.Censored) == 0 {
		return text
	}
	words := make([]string, len(e.Censored))
	for i, w := range e.Censored {
		words[i] = regexp.QuoteMeta(w)
	}
	re := regexp.MustCompile(`(?i)\b(` + strings.Join(words, "|") + `)\b`)
	return re.ReplaceAllStringFunc(text, func(m string) string { return strings.Repeat("*", len(m)) })
}

// RPC answers "time" and "whoami".
func (e *Events) RPC(_ context.Context, ev *server.RPCEvent) (*server.RPCResult, error) {
	var answer any
	switch ev.Method {
	case "time":
		now := time.Now()
		answer = map[string]any{"unix_ms": now.UnixMilli(), "rfc3339": now.UTC().Format(time.RFC3339Nano)}
	case "whoami":
		answer = map[string]any{"client": ev.Client, "uid": ev.UID, "name": ev.Name, "session": ev.Session}
	default:
		return &server.RPCResult{Error: &protocol.Error{Code: "unknown_method", Message: fmt.Sprintf("no method %q; try time or whoami", ev.Method)}}, nil
	}
	data, err := json.Marshal(answer)
	if err != nil {
		return nil, err
	}
	return &server.RPCResult{Data: data}, nil
}

// Close logs who left and why.
func (e *Events) Close(_ context.Context, ev *server.CloseEvent) {
	e.Log.Info("left", "client", ev.Client, "uid", ev.UID, "code", ev.Code, "reason", ev.Reason)
}

// Serve runs the chat server on ln until ctx ends.
func Serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	srv, err := server.New(server.Config{
		Logger: log,
		Events: &Events{Log: log, Censored: []string{"darn", "heck"}},
	})
	if err != nil {
		return err
	}
	log.Info("chat server listening", "url", "ws://"+ln.Addr().String()+"/ws?user=NAME")
	return srv.Run(ctx, ln)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7001", "`host:port` to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return Serve(ctx, ln, slog.New(slog.NewTextHandler(os.Stderr, nil)))
}
