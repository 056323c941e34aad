package config

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// FuzzParse checks that Parse survives any input: no panic (Parse turns a
// panic into an "internal error" diagnostic, which counts as a failure
// here), a Config exactly when there is no error, and diagnostics that
// render.
func FuzzParse(f *testing.F) {
	f.Add([]byte(designExample))
	for _, tc := range brokenCases {
		f.Add([]byte(tc.src))
	}
	name := filepath.Join(f.TempDir(), "fuzz.hcl")
	f.Fuzz(func(t *testing.T, src []byte) {
		r := Parse(name, src)
		for _, d := range r.Diags {
			// testpanics panics on purpose; any other panic is a bug.
			if strings.HasPrefix(d.Summary, "internal error") && !strings.Contains(d.Summary, "testpanics") {
				t.Fatalf("%s\n%s", d.Summary, d.Detail)
			}
		}
		if (r.Config == nil) != r.Diags.HasErrors() {
			t.Fatalf("Config %v with errors %v", r.Config != nil, r.Diags.HasErrors())
		}
		if err := r.WriteText(io.Discard, true); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteJSON(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzFormat checks that Format never panics and, for syntactically valid
// input (pagi fmt formats nothing else), is idempotent and keeps the tokens.
func FuzzFormat(f *testing.F) {
	f.Add([]byte(designExample))
	for _, tc := range brokenCases {
		f.Add([]byte(tc.src))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		out := Format(src)
		if _, diags := hclsyntax.ParseConfig(src, "f.hcl", hcl.InitialPos); diags.HasErrors() {
			return
		}
		if again := Format(out); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
		if !sameTokens(t, src, out) {
			t.Fatalf("tokens changed:\n%q\n%q", src, out)
		}
	})
}
