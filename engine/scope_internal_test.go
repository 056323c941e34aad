package engine

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/pagihq/pagi"
)

// TestSortByNameIsAStableSortByName checks sortByName against the
// library's stable sort on random header lists, short ones (the insertion
// sort) and long ones, with repeated names whose values must keep their
// arrival order.
func TestSortByNameIsAStableSortByName(t *testing.T) {
	names := []string{"accept", "host", "cookie", "user-agent", "x-a", "x-b", "accept-encoding", "a", "origin"}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 40; n++ {
		for round := 0; round < 50; round++ {
			h := make(pagi.Headers, n)
			for i := range h {
				h[i] = pagi.Header{Name: names[rng.IntN(len(names))], Value: strings.Repeat("v", i+1)}
			}
			want := slices.Clone(h)
			slices.SortStableFunc(want, func(a, b pagi.Header) int { return strings.Compare(a.Name, b.Name) })
			sortByName(h)
			if !slices.Equal(h, want) {
				t.Fatalf("n=%d: sortByName gave %v, want %v", n, h, want)
			}
		}
	}
}
