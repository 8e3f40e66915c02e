package protocol_test

import (
	"strings"
	"testing"

	"github.com/rtsync/rtsync/protocol"
)

func TestDepth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{`1`, 0},
		{`"[[[{{{"`, 0},
		{`{}`, 1},
		{`[1,2,3]`, 1},
		{`{"a":[]}`, 2},
		{`{"a":"\"[[["}`, 1},
		{`{"a":"\\"}`, 1},
		{`[[1],[2],[[3]]]`, 3},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), 100},
		{`[[[`, 3}, // unbalanced: counted as far as it goes
	}
	for _, tt := range tests {
		if got := protocol.Depth([]byte(tt.in)); got != tt.want {
			t.Errorf("Depth(%.40s) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestCheckValue(t *testing.T) {
	t.Parallel()
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name, in, wantErr string
	}{
		{"text", `{"text":"héllo 👋"}`, ""},
		{"at the limit", deep(protocol.MaxDepth), ""},
		{"one past", deep(protocol.MaxDepth + 1), "more than 64 levels"},
		{"invalid utf-8 in a string", "{\"text\":\"a\xffb\"}", "not valid UTF-8"},
		{"surrogate half in utf-8", "\"\xed\xa0\x80\"", "not valid UTF-8"},
		{"escaped surrogate is ASCII", `"\ud800"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := protocol.CheckValue("data", []byte(tt.in))
			switch {
			case tt.wantErr == "" && e != nil:
				t.Fatalf("CheckValue(%.40q) = %v, want ok", tt.in, e)
			case tt.wantErr != "" && e == nil:
				t.Fatalf("CheckValue(%.40q) = ok, want %q", tt.in, tt.wantErr)
			case e != nil && (!strings.Contains(e.Message, tt.wantErr) || !strings.HasPrefix(e.Message, "data ")):
				t.Fatalf("CheckValue(%.40q) = %q, want it to name data and say %q", tt.in, e.Message, tt.wantErr)
			}
		})
	}
}

// TestRelayedDepthDecodes: a value at the limit, wrapped as the server
// wraps history (reply, messages list, msg event), still decodes with Go's
// decoder, which is what made a room unreadable before the limit.
func TestRelayedDepthDecodes(t *testing.T) {
	t.Parallel()
	data := strings.Repeat("[", protocol.MaxDepth) + strings.Repeat("]", protocol.MaxDepth)
	cmd, e := protocol.Decode([]byte(`{"op":"pub","room":"r","data":` + data + `}`))
	if e != nil {
		t.Fatalf("Decode at the limit: %v", e)
	}
	reply := `{"type":"reply","ok":true,"messages":[{"type":"msg","room":"r","seq":1,"data":` + string(cmd.Data) + `}]}`
	if _, err := protocol.DecodeEvent([]byte(reply)); err != nil {
		t.Fatalf("a history reply carrying data at the depth limit does not decode: %v", err)
	}
}

func TestReservedIdentity(t *testing.T) {
	t.Parallel()
	for _, uid := range []string{"$server", "$", "$admin"} {
		if e := protocol.ValidUID(uid); e == nil || !strings.Contains(e.Message, "reserved") {
			t.Errorf("ValidUID(%q) = %v, want reserved", uid, e)
		}
	}
	for _, name := range []string{"$server", "$bot"} {
		if e := protocol.ValidName(name); e == nil || !strings.Contains(e.Message, "reserved") {
			t.Errorf("ValidName(%q) = %v, want reserved", name, e)
		}
	}
	for _, ok := range []string{"ann", "a$b", "ünï"} {
		if e := protocol.ValidUID(ok); e != nil {
			t.Errorf("ValidUID(%q) = %v, want ok", ok, e)
		}
		if e := protocol.ValidName(ok); e != nil {
			t.Errorf("ValidName(%q) = %v, want ok", ok, e)
		}
	}
	if e := protocol.ValidUID("a\xffb"); e == nil {
		t.Error("ValidUID accepts invalid UTF-8")
	}
	if e := protocol.ValidName("a\xffb"); e == nil {
		t.Error("ValidName accepts invalid UTF-8")
	}
}
