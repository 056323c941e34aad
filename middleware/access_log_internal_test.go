package middleware

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pagihq/pagi"
)

// A pooled recorder that logged a response header for one request must log
// "-" for the next request when that one never started a response.
func TestRecorderReusedWithoutResponse(t *testing.T) {
	atoms, want, err := compileLogPattern("%{X-Out}o %t")
	if err != nil {
		t.Fatal(err)
	}
	format := func(r *recorder) string {
		var b []byte
		for _, atom := range atoms {
			b = atom(b, &pagi.Scope{}, r)
		}
		return string(b)
	}
	w := &lineWriter{}
	r := recorderPool.Get().(*recorder)
	r.want, r.w, r.start = want, w, time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	r.keepHeaders(pagi.Headers{{Name: "x-out", Value: "v1"}})
	if got := format(r); got != "v1 [27/Nov/2026:10:00:00 +0000]" {
		t.Errorf("first request: %q", got)
	}
	r.reset()
	r.want, r.w, r.start = want, w, time.Date(2026, 11, 27, 10, 0, 1, 0, time.UTC)
	if got := format(r); got != "- [27/Nov/2026:10:00:01 +0000]" {
		t.Errorf("reused recorder, no response: %q", got)
	}
}

func TestAppendQuoted(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "",
		"plain text":         "plain text",
		`say "hi"`:           `say \"hi\"`,
		`back\slash`:         `back\\slash`,
		"line\nbreak\x7f":    `line\x0abreak\x7f`,
		"\x00lead and end\"": `\x00lead and end\"`,
		"ünïcode ok":         "ünïcode ok",
	} {
		if got := string(appendQuoted([]byte("x:"), in)); got != "x:"+want {
			t.Errorf("appendQuoted(%q) = %q, want %q", in, got, "x:"+want)
		}
	}
}

// TestAppendQuotedMatchesByteRule compares appendQuoted, which skips eight
// safe bytes at a time, with the rule applied one byte at a time, on random
// strings of every length up to 40 drawn from bytes that sit at the edges
// of the word tricks (controls, DEL, the quote, the backslash, their
// neighbours and bytes above 0x7f).
func TestAppendQuotedMatchesByteRule(t *testing.T) {
	alphabet := []byte{0x00, 0x01, 0x09, 0x0a, 0x1f, 0x20, 0x21, '"', 0x23, '[', '\\', ']', 'a', 0x7e, 0x7f, 0x80, 0xa2, 0xdc, 0xff}
	byByte := func(s string) string {
		var b []byte
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, fmt.Sprintf(`\x%02x`, c)...)
			default:
				b = append(b, c)
			}
		}
		return string(b)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n <= 40; n++ {
		for round := 0; round < 200; round++ {
			in := make([]byte, n)
			for i := range in {
				in[i] = alphabet[rng.IntN(len(alphabet))]
				if rng.IntN(3) > 0 {
					in[i] = 'a' + byte(rng.IntN(26)) // mostly safe runs, as in real agents
				}
			}
			if got, want := string(appendQuoted(nil, string(in))), byByte(string(in)); got != want {
				t.Fatalf("appendQuoted(%q) = %q, want %q", in, got, want)
			}
		}
	}
}
