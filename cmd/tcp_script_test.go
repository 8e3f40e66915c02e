package cmd

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// scriptTCP holds each running script's TCP connections by name.
var scriptTCP sync.Map // *testscript.TestScript → map[string]*scriptConn

// scriptConn is a TCP connection a script opened; its lines arrive on
// lines, which is closed when the server ends the connection.
type scriptConn struct {
	nc    net.Conn
	lines chan string
}

// cmdTCP talks to the TCP transport the way a person with nc would, one
// line at a time:
//
//	tcp dial NAME HOST:PORT        connect; lines are collected from now on
//	tcp send NAME LINE...          send each LINE, '\n'-terminated
//	tcp expect NAME REGEXP [TIMEOUT]
//	                               read lines until one matches (default 10s);
//	                               every line read goes to stdout
//	tcp eof NAME [TIMEOUT]         the server ends the connection with no
//	                               further line
func cmdTCP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: tcp dial|send|expect|eof NAME ...")
	}
	v, _ := scriptTCP.LoadOrStore(ts, map[string]*scriptConn{})
	conns := v.(map[string]*scriptConn)
	op, name, rest := args[0], args[1], args[2:]
	if op == "dial" {
		if len(rest) != 1 {
			ts.Fatalf("usage: tcp dial NAME HOST:PORT")
		}
		nc, err := net.DialTimeout("tcp", rest[0], 5*time.Second)
		ts.Check(err)
		c := &scriptConn{nc: nc, lines: make(chan string, 1024)}
		go func() {
			sc := bufio.NewScanner(nc)
			for sc.Scan() {
				c.lines <- sc.Text()
			}
			close(c.lines)
		}()
		if len(conns) == 0 {
			ts.Defer(func() {
				for _, c := range conns {
					c.nc.Close()
				}
				scriptTCP.Delete(ts)
			})
		}
		conns[name] = c
		return
	}
	c := conns[name]
	if c == nil {
		ts.Fatalf("tcp %s: no connection %q; open it with tcp dial", op, name)
	}
	timeout := func(i int) time.Duration {
		if len(rest) <= i {
			return 10 * time.Second
		}
		d, err := time.ParseDuration(rest[i])
		ts.Check(err)
		return d
	}
	switch op {
	case "send":
		for _, l := range rest {
			_, err := fmt.Fprintf(c.nc, "%s\n", l)
			ts.Check(err)
		}
	case "expect":
		if len(rest) < 1 || len(rest) > 2 {
			ts.Fatalf("usage: tcp expect NAME REGEXP [TIMEOUT]")
		}
		re, err := regexp.Compile(rest[0])
		ts.Check(err)
		deadline := time.After(timeout(1))
		for {
			select {
			case l, ok := <-c.lines:
				if !ok {
					ts.Fatalf("tcp %s: connection ended before a line matched %q", name, rest[0])
				}
				fmt.Fprintln(ts.Stdout(), l)
				if re.MatchString(l) {
					return
				}
			case <-deadline:
				ts.Fatalf("tcp %s: no line matched %q in time", name, rest[0])
			}
		}
	case "eof":
		select {
		case l, ok := <-c.lines:
			if ok {
				ts.Fatalf("tcp %s: got line %q, want the end of the connection", name, l)
			}
		case <-time.After(timeout(0)):
			ts.Fatalf("tcp %s: connection still open", name)
		}
	default:
		ts.Fatalf("usage: tcp dial|send|expect|eof NAME ...")
	}
}
