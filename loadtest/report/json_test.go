package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtsync/rtsync/loadtest"
)

// quantiles are the percentiles the round trip must keep exactly.
var quantiles = []float64{0, 1, 10, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		r    *loadtest.Result
	}{
		{"broadcast", broadcastResult()},
		{"connect", connectResult()},
		{"cluster", clusterResult()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var first bytes.Buffer
			if err := JSON(&first, tc.r); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "run.json")
			if err := os.WriteFile(path, first.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			// Everything survives: written again, the file is the same.
			var second bytes.Buffer
			if err := JSON(&second, got); err != nil {
				t.Fatal(err)
			}
			if first.String() != second.String() {
				t.Errorf("JSON changed over a round trip:\n%s", lineDiff(first.String(), second.String()))
			}
			type histPair struct {
				name      string
				want, got *loadtest.Hist
			}
			pairs := []histPair{{"handshake", tc.r.Connect.Handshake.Hist, got.Connect.Handshake.Hist}}
			if tc.r.Messages != nil {
				pairs = append(pairs,
					histPair{"delivery", tc.r.Messages.Latency.Hist, got.Messages.Latency.Hist},
					histPair{"fan-out", tc.r.Messages.FanOut.Hist, got.Messages.FanOut.Hist})
			}
			for i, n := range tc.r.Nodes {
				if i >= len(got.Nodes) || got.Nodes[i].Latency == nil {
					t.Fatalf("node %d lost: %+v", i, got.Nodes)
				}
				pairs = append(pairs, histPair{"node " + n.URL, n.Latency.Hist, got.Nodes[i].Latency.Hist})
				g, w := got.Nodes[i], n
				g.Latency, w.Latency = nil, nil
				if g != w {
					t.Errorf("node %d after loading: %+v, want %+v", i, g, w)
				}
			}
			if tc.r.Config.Cluster != got.Config.Cluster || tc.r.Config.PublishOn != got.Config.PublishOn {
				t.Errorf("config after loading: cluster %v publish on %q", got.Config.Cluster, got.Config.PublishOn)
			}
			for _, p := range pairs {
				if p.got == nil {
					t.Fatalf("%s histogram lost", p.name)
				}
				if p.got.Count() != p.want.Count() {
					t.Errorf("%s count %d, want %d", p.name, p.got.Count(), p.want.Count())
				}
				for _, q := range quantiles {
					if g, w := p.got.Quantile(q), p.want.Quantile(q); g != w {
						t.Errorf("%s p%v = %d µs after loading, want %d", p.name, q, g, w)
					}
				}
				if g, w := p.got.Latency(), p.want.Latency(); g.P99 != w.P99 || g.Mean != w.Mean || g.Max != w.Max {
					t.Errorf("%s summary %+v, want %+v", p.name, g, w)
				}
			}
		})
	}
}

func TestJSONFillsSchema(t *testing.T) {
	t.Parallel()
	r := broadcastResult()
	r.Schema = 0
	var b bytes.Buffer
	if err := JSON(&b, r); err != nil {
		t.Fatal(err)
	}
	if r.Schema != 0 {
		t.Error("JSON changed its argument")
	}
	got, err := Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Schema != loadtest.Schema {
		t.Errorf("schema %d, want %d", got.Schema, loadtest.Schema)
	}
	if strings.Contains(b.String(), `\u003c`) {
		t.Error("JSON escapes < for HTML")
	}
}

func TestDecodeRefuses(t *testing.T) {
	t.Parallel()
	valid := func(schema any) string {
		var b bytes.Buffer
		if err := JSON(&b, broadcastResult()); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if schema == nil {
			delete(m, "schema")
		} else {
			m["schema"] = schema
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"newer", valid(loadtest.Schema + 1), "newer than this rtsync reads"},
		{"zero", valid(0), `no "schema" version`},
		{"missing", valid(nil), `no "schema" version`},
		{"negative", valid(-3), "not a valid version"},
		{"not json", "time,p99\n1,2\n", "not a bench result"},
		{"empty", "", "not a bench result"},
		{"trailing garbage", valid(loadtest.Schema) + "}", "not a bench result"},
		{"bad histogram", `{"schema":1,"connect":{"handshake":{"hdr":"!!!"}}}`, "histogram"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode: %v, want an error saying %q", err, tc.want)
			}
			path := filepath.Join(t.TempDir(), "old-run.json")
			if err := os.WriteFile(path, []byte(tc.in), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Load(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load: %v, want an error naming %s and saying %q", err, path, tc.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.json")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Load: %v, want an error naming %s", err, path)
	}
}
