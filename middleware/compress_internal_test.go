package middleware

import (
	"testing"

	"github.com/pagihq/pagi"
)

// TestCompressCommonAcceptAgreesWithParsing checks the table of common
// Accept-Encoding values against the parser, for several offers, and that
// requests outside the table (other values, repeated fields, no field) are
// still parsed.
func TestCompressCommonAcceptAgreesWithParsing(t *testing.T) {
	offers := [][]string{{"zstd", "br", "gzip"}, {"gzip"}, {"br", "gzip"}, {"gzip", "zstd"}}
	extra := []string{"", "GZIP", "gzip;q=0", "identity;q=0", "*;q=0", "x-gzip", "br;q=0.5, gzip;q=0.9", "deflate, identity;q=0"}
	for _, offer := range offers {
		m, err := (&Compress{Encodings: offer, Level: "default"}).build()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.common) != len(compressCommonAccept) {
			t.Fatalf("offer %v: %d common values, want %d", offer, len(m.common), len(compressCommonAccept))
		}
		check := func(h pagi.Headers) {
			t.Helper()
			idx, refused := m.negotiate(h)
			wantIdx, wantRefused := m.negotiateFields(h)
			if idx != wantIdx || refused != wantRefused {
				t.Errorf("offer %v, %v: negotiate = %d, %v; parsing gives %d, %v", offer, h, idx, refused, wantIdx, wantRefused)
			}
		}
		for _, v := range append(append([]string(nil), compressCommonAccept...), extra...) {
			check(pagi.Headers{{Name: "host", Value: "h"}, {Name: "accept-encoding", Value: v}})
		}
		check(pagi.Headers{{Name: "accept-encoding", Value: "gzip"}, {Name: "accept-encoding", Value: "gzip;q=0, br"}})
		if idx, refused := m.negotiate(pagi.Headers{{Name: "host", Value: "h"}}); idx != -1 || refused {
			t.Errorf("offer %v, no accept-encoding: %d, %v", offer, idx, refused)
		}
	}
	// The table is built by the parser, so it cannot disagree with it by
	// construction; what it must not do is answer for a value it does not
	// hold. Spot-check known outcomes too.
	m, _ := (&Compress{Encodings: []string{"zstd", "br", "gzip"}, Level: "default"}).build()
	for v, want := range map[string]int{"gzip": 2, "gzip, deflate, br": 1, "gzip, deflate, br, zstd": 0, "identity": -1, "*": 0} {
		if idx, _ := m.negotiate(pagi.Headers{{Name: "accept-encoding", Value: v}}); idx != want {
			t.Errorf("%q: coding %d, want %d", v, idx, want)
		}
	}
	if _, refused := m.negotiate(pagi.Headers{{Name: "accept-encoding", Value: "identity;q=0"}, {Name: "accept-encoding", Value: "gzip"}}); !refused {
		t.Error("identity;q=0 in a first field of two: not seen as refused")
	}
}
