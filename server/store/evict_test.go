package store

import (
	"slices"
	"testing"
)

func TestNamesPage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		after string
		limit int
		want  []string
	}{
		{"", 0, []string{"a", "b", "c", "d"}},
		{"b", 0, []string{"c", "d"}},
		{"bb", 1, []string{"c"}},
		{"d", 0, []string{}},
	} {
		if got := NamesPage([]string{"d", "b", "a", "c"}, tt.after, tt.limit); !slices.Equal(got, tt.want) {
			t.Errorf("NamesPage(after %q, limit %d) = %v, want %v", tt.after, tt.limit, got, tt.want)
		}
	}
}

// TestEvictOldest: three rooms of messages at interleaved times lose
// their messages oldest first across rooms until the bound is met.
func TestEvictOldest(t *testing.T) {
	t.Parallel()
	rooms := map[string][]int64{"a": {1, 4, 7}, "b": {2, 5, 8}, "c": {3, 6, 9}}
	left := 9
	var order []int64
	n := EvictOldest([]string{"a", "b", "c"}, func(r string) (int64, bool) {
		if len(rooms[r]) == 0 {
			return 0, false
		}
		return rooms[r][0], true
	}, func(r string, next int64) (int, bool) {
		k := 0
		for len(rooms[r]) > 0 && rooms[r][0] <= next && left > 4 {
			order = append(order, rooms[r][0])
			rooms[r] = rooms[r][1:]
			left--
			k++
		}
		return k, left <= 4
	})
	if n != 5 || !slices.Equal(order, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("evicted %d in order %v, want 5: 1 to 5", n, order)
	}
}
