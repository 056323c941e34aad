package middleware

import (
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
