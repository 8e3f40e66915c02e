package soak

import (
	"strings"
	"testing"
	"time"
)

// steadyRun makes n steady samples one second apart with rss(i).
func steadyRun(n int, rss func(i int) uint64) []Sample {
	ss := []Sample{{Phase: PhaseRamp, RSS: 10 << 20}}
	for i := range n {
		ss = append(ss, Sample{At: time.Duration(i+1) * time.Second, Phase: PhaseSteady, RSS: rss(i)})
	}
	return ss
}

func TestCheckRSS(t *testing.T) {
	const base = 200 << 20
	tests := []struct {
		name    string
		samples []Sample
		wantErr string
		wantDev float64
	}{
		{
			name:    "flat",
			samples: steadyRun(40, func(int) uint64 { return base }),
		},
		{
			name: "noise within 10%",
			samples: steadyRun(40, func(i int) uint64 {
				return base + uint64(i%3)*(5<<20)
			}),
		},
		{
			name: "warm-up growth in the first quarter does not count",
			samples: steadyRun(40, func(i int) uint64 {
				return base / 2 * uint64(min(i+1, 10)) / 5
			}),
		},
		{
			name: "a steady leak of 30% over the run",
			samples: steadyRun(40, func(i int) uint64 {
				return base + base*3/10*uint64(i)/40
			}),
			wantErr: "above its plateau",
		},
		{
			name:    "too few samples",
			samples: steadyRun(8, func(int) uint64 { return base }),
			wantErr: "too few",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CheckRSS(tt.samples, 0.10)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckRSS: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckRSS error %v, want one with %q (figures %+v)", err, tt.wantErr, c)
			}
		})
	}
}

func TestCheckRSSFigures(t *testing.T) {
	// Plateau window (second quarter) at 100 MiB, second half up to 105.
	ss := steadyRun(8, func(i int) uint64 {
		return []uint64{90, 95, 100, 100, 100, 105, 102, 101}[i] << 20
	})
	c, err := CheckRSS(steadyRunPad(ss), 0.10)
	if err != nil {
		t.Fatal(err)
	}
	if c.Plateau != 100<<20 || c.Max != 105<<20 || c.Min != 100<<20 {
		t.Errorf("plateau %d max %d min %d, want 100, 105, 100 MiB", c.Plateau>>20, c.Max>>20, c.Min>>20)
	}
	if c.Deviation < 0.0499 || c.Deviation > 0.0501 {
		t.Errorf("deviation %f, want 0.05", c.Deviation)
	}
	if c.Peak != 105<<20 {
		t.Errorf("peak %d MiB, want 105", c.Peak>>20)
	}
}

// steadyRunPad repeats each steady sample thrice so the windows hold
// enough samples while keeping their values.
func steadyRunPad(ss []Sample) []Sample {
	var out []Sample
	for _, s := range ss {
		n := 1
		if s.Phase == PhaseSteady {
			n = 3
		}
		for range n {
			out = append(out, s)
		}
	}
	return out
}

func TestSettledCheck(t *testing.T) {
	ok := Settled{BaseGoroutines: 20, EndGoroutines: 22, BaseFDs: 12, EndFDs: 12}
	if err := ok.Check(5, 2); err != nil {
		t.Errorf("back within slack: %v", err)
	}
	leak := Settled{BaseGoroutines: 20, EndGoroutines: 520, BaseFDs: 12, EndFDs: 300, EndConns: 3}
	err := leak.Check(5, 2)
	if err == nil {
		t.Fatal("a leak of goroutines, files and connections passed")
	}
	for _, want := range []string{"goroutines: 520", "open files: 300", "3 connections"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	f := Figures{Conns: 10, Rooms: 2, Publishers: 1, PublishErrors: map[string]int64{"timeout": 2, "x": 0}}
	if err := f.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"RSS plateau", "errors timeout=2\n", "delivered / lost", "open files"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
