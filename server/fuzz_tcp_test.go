package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rtsync/rtsync/protocol"
)

// FuzzTCPLines sends arbitrary bytes to the TCP transport as one client
// would, JSON lines or text mode (nc), then closes its writing end. The
// properties:
//   - the server answers what it can and then closes the connection
//     (EOF) within fuzzWait: no hang, no reset;
//   - in JSON mode every line it writes is a valid JSON event a Go client
//     decodes; in text mode every line is valid UTF-8 with no control
//     characters and is left unchanged by the server's own cleaner (what a
//     terminal shows is what the server meant to show);
//   - a client that sent a non-blank line gets at least one line back (a
//     reply, an error, or text);
//   - a WebSocket member of the rooms the input talks to gets only valid
//     frames, and the server still answers it (ping, history).
//
// Seeds beyond these are in testdata/fuzz/FuzzTCPLines. Run it with
//
//	go test -run '^$' -fuzz '^FuzzTCPLines$' -fuzztime 60s ./server
func FuzzTCPLines(f *testing.F) {
	for _, s := range []string{
		`{"op":"ping","id":1}`,
		"{\"op\":\"join\",\"room\":\"r\",\"id\":1}\n{\"op\":\"pub\",\"room\":\"r\",\"data\":{\"text\":\"hi\"},\"id\":2}\n",
		"{\"op\":\"hello\",\"name\":\"Ada\",\"uid\":\"ada\",\"id\":1}\r\n{\"op\":\"history\",\"room\":\"r\",\"id\":2}\r\n",
		"{\"op\":\"join\",\"room\":\"r\"}\n{\"op\":\"presence\",\"room\":\"r\",\"id\":\"p\"}\n{\"op\":\"leave\",\"room\":\"r\"}",
		"hello there\n/nick Bob\n/who\n/join r\nhi r\n//slash\n/help\n/nosuch\n/quit\n",
		"\n\n   \nhi\n",
		"/join\n/join a b\n/nick\n",
		"/nick \u202eevil\nhi \x1b]0;title\x07 \x1b[2J\n",
		"hi \xff\xfe\n",
		"{\"op\":\"pub\",\"room\":\"r\",\"data\":\"\xff\"}\n",
		"{\"op\":\"pub\",\"room\":\"lobby\",\"data\":" + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "}\n",
		"{\"op\":\"join\",\"room\":\"r\"}\n{\"op\":\"pub\",\"room\":\"r\",\"data\":" + strings.Repeat("[", 64) + strings.Repeat("]", 64) + "}\n",
		"{\"op\":\"pub\",\"room\":\"r\",\"data\":1e999999}\n",
		"{\"op\":\"send\",\"to_uid\":\"$server\",\"data\":1}\n",
		"{\"op\":\"hello\",\"uid\":\"$server\",\"name\":\"$server\"}\n",
		"{\x00}\n\x00\n",
		"{\"op\":\"ping\",\"op\":\"pub\",\"room\":\"r\",\"data\":1,\"room\":\"lobby\"}\n",
		"[1]\n{\"op\":\"ping\"}\n",
		strings.Repeat("x", 70<<10) + "\nhi\n",
		"{\"op\":\"ping\",\"id\":1}", // no newline at the end
	} {
		f.Add([]byte(s))
	}
	fs := startFuzzServer(f, fuzzConfig())
	obs := newFuzzObserver(f, fs.wsURL, textRoom, "r")
	f.Fuzz(func(t *testing.T, in []byte) {
		nc, err := net.Dial("tcp", fs.tcpAddr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(fuzzWait))
		// The server reads until we close our end; write concurrently so
		// a large input cannot deadlock against unread replies.
		wrote := make(chan error, 1)
		go func() {
			_, err := nc.Write(in)
			if err == nil {
				err = nc.(*net.TCPConn).CloseWrite()
			}
			wrote <- err
		}()
		lines, err := readTCPLines(nc)
		if werr := <-wrote; werr != nil && err == nil {
			t.Fatalf("write: %v", werr)
		}
		if err != nil {
			t.Fatalf("connection did not end with a clean close after %d lines: %v\nlines: %q", len(lines), err, lines)
		}
		if len(lines) == 0 {
			t.Fatal("no welcome")
		}
		if e, err := protocol.DecodeEvent([]byte(lines[0])); err != nil || e.Type != protocol.TypeWelcome {
			t.Fatalf("first line %q is not a welcome (%v)", lines[0], err)
		}
		mode := tcpInputMode(in)
		for _, l := range lines[1:] {
			checkTCPLine(t, l, mode)
		}
		if bytes.ContainsFunc(in, func(r rune) bool { return !unicode.IsSpace(r) }) && len(lines) < 2 {
			t.Fatalf("sent %q and got nothing but the welcome", in)
		}
		obs.check(t)
	})
}

// readTCPLines reads the server's lines until EOF.
func readTCPLines(nc net.Conn) ([]string, error) {
	sc := bufio.NewScanner(nc)
	sc.Buffer(make([]byte, 4096), 8<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	err := sc.Err()
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return lines, err
}

// tcpInputMode says how the server should take the input: text mode when
// its first non-blank line does not start with '{', JSON mode when it
// does, modeUnknown when it has no non-blank line within the size limit.
func tcpInputMode(in []byte) int {
	for len(in) > 0 {
		line := in
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			line, in = in[:i], in[i+1:]
		} else {
			in = nil
		}
		if len(bytes.TrimSuffix(line, []byte{'\r'})) > DefaultConfig().MaxMessageSize {
			continue // answered with a too_large error; the mode is still open
		}
		line = bytes.TrimSpace(line)
		switch {
		case len(line) == 0:
		case line[0] == '{':
			return modeJSON
		default:
			return modeText
		}
	}
	return modeUnknown
}

// checkTCPLine checks one line the server wrote after the welcome: JSON
// lines are events (errors about an over-long first line come before the
// mode is known), any other line is text and only allowed in text mode.
func checkTCPLine(t *testing.T, l string, mode int) {
	t.Helper()
	if !utf8.ValidString(l) {
		t.Fatalf("server wrote a line that is not UTF-8: %q", l)
	}
	if !strings.HasPrefix(l, "{") {
		if mode != modeText {
			t.Fatalf("a line that is not JSON in JSON mode: %q", l)
		}
		if strings.IndexFunc(l, unicode.IsControl) >= 0 {
			t.Fatalf("text mode line holds a control character: %q", l)
		}
		if c := clean(l); c != l {
			t.Fatalf("text mode line is not clean:\n got %q\nclean %q", l, c)
		}
		return
	}
	if !json.Valid([]byte(l)) {
		t.Fatalf("JSON mode line is not JSON: %q", l)
	}
	if _, err := protocol.DecodeEvent([]byte(l)); err != nil {
		t.Fatalf("JSON mode line does not decode (%v): %q", err, l)
	}
}
