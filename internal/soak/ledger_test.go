package soak

import (
	"reflect"
	"testing"
	"time"
)

func TestSeqSet(t *testing.T) {
	var s seqSet
	for _, seq := range []uint64{1, 64, 63, 200, 1} {
		s.add(seq)
	}
	if s.add(64) {
		t.Error("add(64) again said new")
	}
	if s.has(2) || !s.has(200) || s.has(1000) {
		t.Error("has is wrong")
	}
	got := s.list()
	want := []uint64{1, 63, 64, 200}
	if len(got) != len(want) {
		t.Fatalf("list = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("list = %v, want %v", got, want)
		}
	}
}

func TestLedgerTally(t *testing.T) {
	tests := []struct {
		name string
		// run feeds the books of one room.
		run  func(l *Ledger)
		want Tally
	}{
		{
			name: "a stayer that got everything after its join",
			run: func(l *Ledger) {
				s := l.NewSub(0, true)
				l.Acked(0, 3) // before the join: not owed
				s.Joined(3, "e")
				for seq := uint64(4); seq <= 6; seq++ {
					l.Acked(0, seq)
					s.Message(seq, "e")
				}
			},
			want: Tally{Acked: 4, Owed: 3, Delivered: 3, Received: 3},
		},
		{
			name: "a stayer missing one acknowledged message",
			run: func(l *Ledger) {
				s := l.NewSub(0, true)
				s.Joined(0, "e")
				for seq := uint64(1); seq <= 3; seq++ {
					l.Acked(0, seq)
				}
				s.Message(1, "e")
				s.Message(3, "e")
			},
			want: Tally{Acked: 3, Owed: 3, Delivered: 2, Lost: 1, Received: 2},
		},
		{
			name: "a recovering subscriber is owed what was published while it was away",
			run: func(l *Ledger) {
				s := l.NewSub(0, true)
				s.Joined(0, "e")
				l.Acked(0, 1)
				s.Message(1, "e")
				// away: 2 and 3 published; it re-joins with since=1
				l.Acked(0, 2)
				l.Acked(0, 3)
				s.Joined(3, "e") // a re-join does not move what it is owed
				s.Message(3, "e")
			},
			want: Tally{Acked: 3, Owed: 3, Delivered: 2, Lost: 1, Received: 2},
		},
		{
			name: "a fresh re-join is owed nothing and its gap is not loss",
			run: func(l *Ledger) {
				s := l.NewSub(0, false)
				s.Joined(0, "e")
				l.Acked(0, 1)
				s.Message(1, "e")
				l.Acked(0, 2)
				s.Joined(2, "e")
				l.Acked(0, 3)
				s.Message(3, "e")
			},
			want: Tally{Acked: 3, Received: 2},
		},
		{
			name: "duplicates, disorder, other epochs and unacknowledged messages are counted",
			run: func(l *Ledger) {
				s := l.NewSub(0, true)
				s.Joined(0, "e")
				l.Acked(0, 1)
				l.Acked(0, 2)
				s.Message(2, "e")
				s.Message(1, "e")
				s.Message(2, "e")
				s.Message(5, "other")
				s.Message(9, "e") // its publish got no reply
			},
			want: Tally{Acked: 2, Owed: 2, Delivered: 2, Received: 5, Duplicates: 1, OutOfOrder: 1, Foreign: 1, Unacked: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLedger(1)
			tt.run(l)
			got := l.Tally()
			if (got.Lost > 0) != (len(got.Examples) > 0) {
				t.Errorf("%d lost but %d examples", got.Lost, len(got.Examples))
			}
			got.Examples = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("tally\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLedgerDrain(t *testing.T) {
	l := NewLedger(2)
	a := l.NewSub(0, true)
	b := l.NewSub(1, true)
	fresh := l.NewSub(1, false)
	for _, s := range []*Sub{a, b, fresh} {
		s.Joined(0, "e")
	}
	l.Acked(0, 1)
	l.Acked(1, 1)
	l.Acked(1, 2)
	a.Message(1, "e") // room 0 already caught up
	done := l.Drain()
	if got := l.Waiting(); got != 1 {
		t.Fatalf("waiting for %d subscribers, want 1 (b)", got)
	}
	b.Message(1, "e")
	select {
	case <-done:
		t.Fatal("drained before b received seq 2")
	default:
	}
	b.Message(2, "e")
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("not drained after b received the last acknowledged seq")
	}
}

func TestLedgerDrainNothingOwed(t *testing.T) {
	l := NewLedger(1)
	select {
	case <-l.Drain():
	case <-time.After(time.Second):
		t.Fatal("a drain with nothing owed did not finish")
	}
}
