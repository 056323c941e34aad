package pagi

import (
	"fmt"

	"github.com/pagihq/pagi/internal/wordscan"
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
	bad := func(w uint64) uint64 {
		return wordscan.HasLess(w, 0x21) | wordscan.HasZero(w^(wordscan.Ones*':')) | wordscan.HasZero(w^(wordscan.Ones*0x7f))
	}
	var acc uint64
	for i := 0; i+8 < len(s); i += 8 {
		acc |= bad(wordscan.Load(s, i))
	}
	return acc|bad(wordscan.Load(s, len(s)-8)) == 0
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
		acc |= wordscan.HasLess(wordscan.Load(s, i), 0x0e)
	}
	return acc|wordscan.HasLess(wordscan.Load(s, len(s)-8), 0x0e) == 0
}

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
