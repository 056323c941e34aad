package middleware

import (
	"encoding/hex"
	"testing"
)

// TestRequestIDHexTable checks the digit table against encoding/hex for
// every byte value, and that ids are distinct 32-digit hex strings.
func TestRequestIDHexTable(t *testing.T) {
	for c := range 256 {
		if got, want := string(reqIDHex[c][:]), hex.EncodeToString([]byte{byte(c)}); got != want {
			t.Fatalf("byte %#02x: %q, want %q", c, got, want)
		}
	}
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		if _, err := hex.DecodeString(id); err != nil || len(id) != 32 || seen[id] {
			t.Fatalf("id %q: not 32 fresh hex digits (%v)", id, err)
		}
		seen[id] = true
	}
}
