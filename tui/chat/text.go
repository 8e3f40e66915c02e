package chat

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rtsync/rtsync/internal/termtext"
	"github.com/rtsync/rtsync/protocol"
)

// textData is the shape of a chat message's data. rtsync's data is any
// JSON; its own clients (this one, the web page, nc text mode) send an
// object with a "text" string, and show any other value as compact JSON,
// so that a dashboard's or a game's messages are still visible.
type textData struct {
	Text string `json:"text"`
}

// messageText is what a message's data shows as: data.text when data is
// an object with a string text, else the compact JSON of data (as the
// server's TCP text mode does, docs/protocol.md).
func messageText(data json.RawMessage) string {
	d := bytes.TrimSpace(data)
	if len(d) > 0 && d[0] == '{' {
		var probe map[string]json.RawMessage
		if json.Unmarshal(d, &probe) == nil {
			if raw, ok := probe["text"]; ok {
				var s string
				if json.Unmarshal(raw, &s) == nil {
					return s
				}
			}
		}
	}
	if len(d) == 0 {
		return "null"
	}
	var b bytes.Buffer
	if json.Compact(&b, d) != nil {
		return string(d)
	}
	return b.String()
}

// sanitize makes text safe to draw with the cleaner every rtsync
// terminal shares (internal/termtext): escape sequences, other control
// characters, bidi controls and invisible format characters show as
// U+FFFD, so a message cannot move the cursor, recolour the terminal,
// reorder a line or break the layout. Tabs become four spaces. Line
// breaks (CR, CRLF, U+2028 too) become '\n' when keepNewlines is set
// (the message view draws them as line breaks) and spaces otherwise
// (names, one-line fields). Invalid UTF-8 is replaced.
func sanitize(s string, keepNewlines bool) string {
	s = strings.ReplaceAll(s, "\t", "    ")
	if keepNewlines {
		return termtext.Text(s)
	}
	return termtext.Line(s)
}

// displayName is how a sender is shown: its name, else its uid, else the
// first characters of its client id (as the server's TCP text mode does).
func displayName(f protocol.From) string {
	switch {
	case f.Name != "":
		return sanitize(f.Name, false)
	case f.UID != "":
		return sanitize(f.UID, false)
	case f.Client == "":
		return "?"
	case strings.HasPrefix(f.Client, "$"):
		// The application, publishing through the server API.
		return "server"
	}
	return shortID(f.Client)
}

func memberName(m protocol.Member) string {
	return displayName(protocol.From{Client: m.Client, UID: m.UID, Name: m.Name})
}

// shortID cuts a client id to what a person can compare at a glance.
func shortID(id string) string {
	if len(id) > 6 {
		return id[:6]
	}
	return id
}

// colourKey is what a sender's colour is derived from: the most stable
// identity it has, so a person keeps a colour across reconnects.
func colourKey(f protocol.From) string {
	switch {
	case f.UID != "":
		return "u:" + f.UID
	case f.Name != "":
		return "n:" + f.Name
	}
	return "c:" + f.Client
}

// mentions reports whether text names name as a whole word, ignoring case:
// "ann:" and "@ann" mention ann, "annette" does not.
func mentions(text, name string) bool {
	if name == "" {
		return false
	}
	lt, ln := strings.ToLower(text), strings.ToLower(name)
	for i := 0; ; {
		j := strings.Index(lt[i:], ln)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(ln)
		before, _ := utf8.DecodeLastRuneInString(lt[:start])
		after, _ := utf8.DecodeRuneInString(lt[end:])
		if (start == 0 || !isWordRune(before)) && (end == len(lt) || !isWordRune(after)) {
			return true
		}
		i = start + 1
	}
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-'
}
