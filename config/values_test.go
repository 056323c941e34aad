package config

import (
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	good := map[string]Size{
		"0": 0, "512": 512, "512B": 512, "64KiB": 64 << 10, "64kib": 64 << 10, "10MB": 10_000_000,
		"10 MB": 10_000_000, "1GiB": 1 << 30, "1GB": 1e9, "2TiB": 2 << 40, "1.5KiB": 1536, " 7 ": 7,
	}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "10XB", "-1", "1.5", "1e3", "99999999999TiB", "1 2", "0x10"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"30s": 30 * time.Second, "1m30s": 90 * time.Second, "250ms": 250 * time.Millisecond, "0": 0, "2": 2 * time.Second, "0.5": 500 * time.Millisecond,
	}
	for in, want := range good {
		if got, err := ParseDuration(in); err != nil || got.D() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got.D(), err, want)
		}
	}
	for _, in := range []string{"", "x", "-1s", "-2", "1e300", "30 seconds"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got.D())
		}
	}
}

func TestParseFileMode(t *testing.T) {
	for in, want := range map[string]uint32{"0660": 0o660, "660": 0o660, "0o700": 0o700, "0": 0} {
		if got, err := ParseFileMode(in); err != nil || uint32(got) != want {
			t.Errorf("ParseFileMode(%q) = %o, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0999", "1777", "rw-r--r--", "-1"} {
		if _, err := ParseFileMode(in); err == nil {
			t.Errorf("ParseFileMode(%q): no error", in)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"static", "respond", "websocket", "access_log", "request_id"}
	cases := map[string]string{
		"statik": "static", "Static": "static", "respnod": "respond", "websockets": "websocket",
		"acess_log": "access_log", "request-id": "request_id", "proxy": "", "x": "", "": "", "static": "",
	}
	for in, want := range cases {
		if got := suggest(in, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := editDistance("ab", "ba"); d != 1 {
		t.Errorf("transposition distance %d", d)
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("kitten/sitting distance %d", d)
	}
}
