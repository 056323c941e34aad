// Package wordscan holds the word-at-a-time byte tests shared by the
// header validation of package pagi, the request-head guard of the engine
// and the access log's quoting: eight bytes are loaded as one word and
// tested for a byte value, or for a byte below a bound, in a few
// arithmetic steps.
//
// HasZero and HasLess may report a byte next to a real match as matching
// too (a borrow runs on into the following byte), never a match where
// there is none: a caller that sees a match checks the word's bytes one by
// one.
package wordscan

// Ones has the low bit of every byte of a word set: Ones*c repeats byte c
// eight times.
const Ones = 0x0101010101010101

// highs has the high bit of every byte set.
const highs = Ones * 0x80

// Load reads s[i:i+8] as a little-endian word. Written on a slice of
// exactly eight bytes with constant indexes, it compiles to one load (with
// s[i], s[i+1], ... it compiles to eight loads and shifts).
func Load(s string, i int) uint64 {
	b := s[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// HasZero is non-zero when some byte of w is zero. HasZero(w ^ Ones*c)
// tests for byte c.
func HasZero(w uint64) uint64 { return (w - Ones) & ^w & highs }

// HasLess is non-zero when some byte of w is below n (n <= 128). Bytes of
// 0x80 and above never count as below.
func HasLess(w, n uint64) uint64 { return (w - Ones*n) & ^w & highs }
