package store

import (
	"cmp"
	"container/heap"
	"slices"
)

// Helpers the stores share for their bounds. Each takes the rooms as a
// list and functions that lock a room for as long as they look at it, so
// that no store lock is held across rooms.

// EvictOldest drops the oldest messages across rooms, whichever room holds
// them: it always takes from the room whose oldest message is the oldest,
// down to the next room's oldest, until drop says the bound is met.
// oldest returns the time of a room's oldest message (false when it holds
// none); drop removes a room's messages published at or before next while
// the store is past its bound, and returns how many went and whether the
// bound is met. EvictOldest returns how many went in all.
func EvictOldest[R any](rooms []R, oldest func(R) (int64, bool), drop func(r R, next int64) (n int, met bool)) int {
	ages := make(ageHeap[R], 0, len(rooms))
	for _, r := range rooms {
		if ts, ok := oldest(r); ok {
			ages = append(ages, roomAge[R]{r, ts})
		}
	}
	heap.Init(&ages)
	total := 0
	for ages.Len() > 0 {
		a := heap.Pop(&ages).(roomAge[R])
		next := int64(1<<63 - 1)
		if ages.Len() > 0 {
			next = ages[0].oldest
		}
		n, met := drop(a.r, next)
		total += n
		if met {
			break
		}
		if ts, ok := oldest(a.r); ok {
			heap.Push(&ages, roomAge[R]{a.r, ts})
		}
	}
	return total
}

type roomAge[R any] struct {
	r      R
	oldest int64
}

type ageHeap[R any] []roomAge[R]

func (h ageHeap[R]) Len() int           { return len(h) }
func (h ageHeap[R]) Less(i, j int) bool { return h[i].oldest < h[j].oldest }
func (h ageHeap[R]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *ageHeap[R]) Push(x any)        { *h = append(*h, x.(roomAge[R])) }
func (h *ageHeap[R]) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// IdlestRooms returns the k rooms whose newest message is the oldest
// (newest returns 0 for a room with none, which goes first): those a
// store forgets to make way for new rooms.
func IdlestRooms[R any](rooms []R, newest func(R) int64, k int) []R {
	type cand struct {
		r    R
		last int64
	}
	cands := make([]cand, len(rooms))
	for i, r := range rooms {
		cands[i] = cand{r, newest(r)}
	}
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(a.last, b.last) })
	out := make([]R, 0, min(k, len(cands)))
	for _, c := range cands[:min(k, len(cands))] {
		out = append(out, c.r)
	}
	return out
}

// NamesPage sorts names and returns those after after, at most limit (0:
// all): the Rooms listing of a store.
func NamesPage(names []string, after string, limit int) []string {
	slices.Sort(names)
	i, _ := slices.BinarySearch(names, after)
	for i < len(names) && names[i] <= after {
		i++
	}
	names = names[i:]
	if limit > 0 && len(names) > limit {
		names = names[:limit]
	}
	return names
}
