package pagi

import (
	"fmt"
)

// Header is one header field: a lower-case name and an opaque value.
type Header struct {
	Name  string
	Value string
}

// Headers is an ordered list of header fields. Duplicates are allowed
// (Set-Cookie); names are lower-case.
type Headers []Header

// Get returns the value of the first field named name (lower-case), and
// whether there was one.
func (h Headers) Get(name string) (string, bool) {
	for i := range h {
		if h[i].Name == name {
			return h[i].Value, true
		}
	}
	return "", false
}

// Values returns the values of every field named name (lower-case), in order.
func (h Headers) Values(name string) []string {
	var vs []string
	for i := range h {
		if h[i].Name == name {
			vs = append(vs, h[i].Value)
		}
	}
	return vs
}

// Has reports whether a field named name (lower-case) is present.
func (h Headers) Has(name string) bool {
	_, ok := h.Get(name)
	return ok
}

// Set returns h with every field named name removed and one field name=value
// appended. It modifies h's backing array; clone first when h is shared.
func (h Headers) Set(name, value string) Headers {
	h = h.Del(name)
	return append(h, Header{Name: name, Value: value})
}

// Del returns h without the fields named name, reusing h's backing array.
func (h Headers) Del(name string) Headers {
	out := h[:0]
	for _, f := range h {
		if f.Name != name {
			out = append(out, f)
		}
	}
	return out
}

// Clone returns a copy of h that shares no backing array with it.
func (h Headers) Clone() Headers {
	if h == nil {
		return nil
	}
	return append(Headers(nil), h...)
}

// Validate checks every field for response splitting: a name must be a
// non-empty string with no control characters, space or colon, and a value
// must hold no CR, LF or NUL. The error wraps ErrInvalidHeader and names the
// offending field.
func (h Headers) Validate() error {
	for i := range h {
		if !headerFieldOK(h[i].Name, h[i].Value) {
			return ValidateHeader(h[i].Name, h[i].Value)
		}
	}
	return nil
}

// headerBad marks the bytes a header name may not hold (bit 0: controls,
// space, colon, DEL) and those a value may not hold (bit 1: CR, LF, NUL),
// so checking a field is one table load per byte.
var headerBad = func() (t [256]uint8) {
	for c := 0; c <= ' '; c++ {
		t[c] |= 1
	}
	t[':'] |= 1
	t[0x7f] |= 1
	t['\r'] |= 2
	t['\n'] |= 2
	t[0] |= 2
	return t
}()

// headerFieldOK reports whether a field passes ValidateHeader, without
// building an error. A name or value of eight bytes or more is looked at
// eight bytes at a time, its last word overlapping the one before, so no
// byte is looked at alone; only a word that may hold a bad byte, or a
// string shorter than a word, is checked byte by byte.
func headerFieldOK(name, value string) bool {
	if name == "" {
		return false
	}
	if !nameWordsClean(name) {
		for i := 0; i < len(name); i++ {
			if headerBad[name[i]]&1 != 0 {
				return false
			}
		}
	}
	if !valueWordsClean(value) {
		for i := 0; i < len(value); i++ {
			if headerBad[value[i]]&2 != 0 {
				return false
			}
		}
	}
	return true
}

// nameWordsClean reports whether name is at least a word long and none of
// its words (the last one ending at its end) may hold a byte a name may
// not: one at or below ' ', ':' or DEL. False says only that the name must
// be checked byte by byte.
func nameWordsClean(s string) bool {
	if len(s) < 8 {
		return false
	}
	bad := func(w uint64) uint64 { return hasLess(w, 0x21) | hasZero(w^(lsb*':')) | hasZero(w^(lsb*0x7f)) }
	var acc uint64
	for i := 0; i+8 < len(s); i += 8 {
		acc |= bad(load64(s, i))
	}
	return acc|bad(load64(s, len(s)-8)) == 0
}

// valueWordsClean is nameWordsClean for values: CR, LF and NUL are all
// below 0x0e (so is TAB, which is allowed: a value with one is checked
// byte by byte).
func valueWordsClean(s string) bool {
	if len(s) < 8 {
		return false
	}
	var acc uint64
	for i := 0; i+8 < len(s); i += 8 {
		acc |= hasLess(load64(s, i), 0x0e)
	}
	return acc|hasLess(load64(s, len(s)-8), 0x0e) == 0
}

// lsb has the low bit of every byte of a word set; lsb*c repeats byte c.
const lsb = 0x0101010101010101

// load64 reads s[i:i+8] as a little-endian word. Written on a slice of
// exactly eight bytes with constant indexes, it compiles to one load (with
// s[i], s[i+1], ... it compiled to eight loads and shifts).
func load64(s string, i int) uint64 {
	b := s[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// hasZero is non-zero when some byte of w is zero.
func hasZero(w uint64) uint64 { return (w - lsb) & ^w & (lsb * 0x80) }

// hasLess is non-zero when some byte of w is below n (n <= 128).
func hasLess(w uint64, n uint64) uint64 { return (w - lsb*n) & ^w & (lsb * 0x80) }

// ValidateHeader checks one header field as Headers.Validate does.
func ValidateHeader(name, value string) error {
	if name == "" {
		return fmt.Errorf("%w: empty header name", ErrInvalidHeader)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; headerBad[c]&1 != 0 {
			return fmt.Errorf("%w: header name %q contains byte %#02x", ErrInvalidHeader, name, c)
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; headerBad[c]&2 != 0 {
			return fmt.Errorf("%w: value of header %q contains byte %#02x", ErrInvalidHeader, name, c)
		}
	}
	return nil
}
