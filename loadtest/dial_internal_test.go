package loadtest

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestQuickEvent: the events quickEvent reads come out as encoding/json
// reads them; the rest it leaves to encoding/json.
func TestQuickEvent(t *testing.T) {
	for _, tc := range []struct {
		line  string
		quick bool
	}{
		{`{"type":"reply","id":1,"ok":true,"client":"abc","uid":"","name":"bench-1"}`, true},
		{`{"type":"reply","id":2,"ok":true,"room":"bench-x-0","seq":0,"epoch":"e"}`, true},
		{`{"type":"reply","id":12,"ok":true}`, true},
		{`{"type":"join","room":"r","client":"c","uid":"","name":"n"}`, true},
		{`{"type":"message","room":"r","seq":3,"data":{"a":1}}`, true},
		{`{"type":"reply","id":2,"ok":false,"error":{"code":"bad_room","message":"no"}}`, false},
		{`{"type":"reply","id":"s","ok":true}`, false},
		{`{"type":"reply","ok":true,"id":1}`, false},
		{`{"type":"reply","id":1,"ok":truex}`, true}, // what rtsync never writes; json rejects the line, quick reads ok
		{`{"type":"welcome","client":"c","node":"n","server":"dev","heartbeat":25000}`, false},
		{`{"type":"error","code":"bad_json","message":"m"}`, false},
		{`{ "type":"reply","id":1,"ok":true}`, false},
		{`{"type":"reply`, false},
		{``, false},
	} {
		var q wireEvent
		if got := quickEvent([]byte(tc.line), &q); got != tc.quick {
			t.Errorf("quickEvent(%s) = %v, want %v", tc.line, got, tc.quick)
			continue
		}
		if !tc.quick {
			continue
		}
		var j wireEvent
		if json.Unmarshal([]byte(tc.line), &j) != nil {
			continue
		}
		if q.Type != j.Type || string(q.ID) != string(j.ID) && q.Type == "reply" || q.OK != j.OK {
			t.Errorf("%s: quick %+v, json %+v", tc.line, q, j)
		}
	}
}

// TestSetupCommands: the hello and join built by hand are the objects
// encoding/json would write.
func TestSetupCommands(t *testing.T) {
	for _, scenario := range []string{ScenarioBroadcast, ScenarioDirect, ScenarioConnect, ScenarioIdle} {
		cfg := Config{Scenario: scenario, Conns: 10, Rooms: 3, Publishers: 1, Rate: 1, URLs: []string{"ws://127.0.0.1:1/ws"}}
		if err := cfg.Normalize(); err != nil {
			t.Fatal(err)
		}
		s := &shard{cfg: &cfg, l: newLayout(&cfg, "0a1b2c3d")}
		c := &benchConn{s: s.l.slot(7)}
		hello, join := s.setupCommands(c)
		wantHello := map[string]any{"op": "hello", "id": 1.0, "name": "bench-7"}
		if scenario == ScenarioDirect {
			wantHello["uid"] = s.l.uid(7)
		}
		var got map[string]any
		if err := json.Unmarshal(hello, &got); err != nil || !reflect.DeepEqual(got, wantHello) {
			t.Errorf("%s: hello %s (%v), want %v", scenario, hello, err, wantHello)
		}
		var wantJoin map[string]any
		switch scenario {
		case ScenarioBroadcast:
			wantJoin = map[string]any{"op": "join", "id": 2.0, "room": s.l.roomName(c.s.room)}
		case ScenarioConnect:
			wantJoin = map[string]any{"op": "join", "id": 2.0, "room": s.l.roomName(7)}
		}
		if wantJoin == nil {
			if join != nil {
				t.Errorf("%s: join %s, want none", scenario, join)
			}
			continue
		}
		got = nil
		if err := json.Unmarshal(join, &got); err != nil || !reflect.DeepEqual(got, wantJoin) {
			t.Errorf("%s: join %s (%v), want %v", scenario, join, err, wantJoin)
		}
	}
	for _, s := range []string{"plain-1", `quo"te`, "back\\slash", "tab\t", "é", "<&>"} {
		want, _ := json.Marshal(s)
		if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("appendJSONString(%q) = %s, want x%s", s, got, want)
		}
	}
}
