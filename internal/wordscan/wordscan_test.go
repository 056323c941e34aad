package wordscan

import (
	"math/rand/v2"
	"testing"
)

// TestWordTestsAgreeWithBytes checks HasZero, HasLess and Load against the
// eight bytes they stand for, on random words biased towards the values
// at the edges: a word with a matching byte must be reported, and a word
// reported must hold one.
func TestWordTestsAgreeWithBytes(t *testing.T) {
	edges := []byte{0x00, 0x01, 0x0d, 0x0e, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0x81, 0xff}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 200000 {
		var b [8]byte
		for i := range b {
			b[i] = byte(rng.IntN(256))
			if rng.IntN(2) == 0 {
				b[i] = edges[rng.IntN(len(edges))]
			}
		}
		w := Load(string(b[:]), 0)
		for i := range b {
			if byte(w>>(8*i)) != b[i] {
				t.Fatalf("Load(%x) = %#x", b, w)
			}
		}
		for _, n := range []uint64{0x0e, 0x20, 0x21, 0x80} {
			want := false
			for _, c := range b {
				want = want || uint64(c) < n
			}
			if got := HasLess(w, n) != 0; got != want {
				t.Fatalf("HasLess(%x, %#x) = %v, want %v", b, n, got, want)
			}
		}
		for _, c := range []byte{0, ':', 0x7f, '"'} {
			want := false
			for _, x := range b {
				want = want || x == c
			}
			if got := HasZero(w^(Ones*uint64(c))) != 0; got != want {
				t.Fatalf("HasZero(%x ^ %#x) = %v, want %v", b, c, got, want)
			}
		}
	}
}
