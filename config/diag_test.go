package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

const statikSrc = `listener "web" {
  address = "127.0.0.1:0"
}

site "app" {
  route "/" {
	statik {
      root = "."
    }
  }
}
`

func TestWriteText(t *testing.T) {
	r := Parse("site.hcl", []byte(strings.Replace(statikSrc, "\tstatik", "    statik", 1)))
	// Keep one diagnostic, with a short detail, for an exact comparison.
	r.Diags[0].Detail = "handlers: static"
	var b bytes.Buffer
	if err := r.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	want := `site.hcl:7:5: error: unknown handler "statik"; did you mean "static"?
    7 |     statik {
      |     ^^^^^^
      handlers: static
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteTextShapes(t *testing.T) {
	r := Parse("site.hcl", []byte(statikSrc))
	r.Diags = append(r.Diags,
		&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "no subject", Detail: "short"},
		&hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "multi", Detail: "line one\nline two", Subject: &hcl.Range{Filename: "site.hcl", Start: hcl.Pos{Line: 2, Column: 3, Byte: 19}, End: hcl.Pos{Line: 3, Column: 2, Byte: 47}}},
		&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "bad range", Subject: &hcl.Range{Filename: "site.hcl", Start: hcl.Pos{Line: 99, Column: 1, Byte: 9999}}},
		&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "other file", Subject: &hcl.Range{Filename: "elsewhere.hcl", Start: hcl.Pos{Line: 1, Column: 1}}},
	)
	var b bytes.Buffer
	if err := r.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		// A tab before the subject is kept under the caret.
		"    7 | \tstatik {\n      | \t^^^^^^\n",
		"error: no subject; short\n",
		"site.hcl:2:3: warning: multi\n    2 |   address = \"127.0.0.1:0\"\n      |   ^^^^^^^^^^^^^^^^^^^^^^^\n      line one\n      line two\n",
		"site.hcl:99:1: error: bad range\n",
		"elsewhere.hcl:1:1: error: other file\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	b.Reset()
	if err := r.WriteText(&b, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\x1b[1msite.hcl:7:2:\x1b[0m \x1b[1;31merror:\x1b[0m") || !strings.Contains(b.String(), "\x1b[1;33mwarning:\x1b[0m") {
		t.Errorf("colour output:\n%q", b.String())
	}
}

func TestWriteJSON(t *testing.T) {
	r := Parse("site.hcl", []byte(statikSrc))
	r.Diags = append(r.Diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "no position"})
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %s", b.String())
	}
	want := map[string]any{
		"severity": "error", "summary": `unknown handler "statik"; did you mean "static"?`, "detail": got[0]["detail"],
		"filename": "site.hcl", "line": 7.0, "column": 2.0, "end_line": 7.0, "end_column": 8.0,
	}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("%s = %v, want %v", k, got[0][k], v)
		}
	}
	if got[1]["severity"] != "warning" || got[1]["line"] != nil {
		t.Errorf("second = %v", got[1])
	}
	b.Reset()
	if err := (&Result{}).WriteJSON(&b); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("empty result = %q, %v", b.String(), err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

var errFail = &json.UnsupportedValueError{Str: "fail"}

func TestWriteErrors(t *testing.T) {
	r := Parse("site.hcl", []byte("x = 1\n"))
	if err := r.WriteText(failWriter{}, false); err == nil {
		t.Error("WriteText: no error")
	}
	if err := r.WriteJSON(failWriter{}); err == nil {
		t.Error("WriteJSON: no error")
	}
}

func TestHasErrors(t *testing.T) {
	if r := Parse("a.hcl", []byte("server {\n  workers = -1\n}\n")); !r.HasErrors() || r.Config != nil {
		t.Error("error not reported")
	}
	if r := Parse("a.hcl", []byte("listener \"a\" {\n  address = \":0\"\n}\nsite \"s\" {}\n")); r.HasErrors() || r.Config == nil || len(r.Diags) != 1 {
		t.Errorf("a warning alone must not fail:\n%s", diagText(r))
	}
}

func TestDiagnosticsInSourceOrder(t *testing.T) {
	r := Parse("site.hcl", []byte(statikSrc+"\nbogus {}\nserver {\n  workers = -1\n}\n"))
	last := 0
	for _, d := range r.Diags {
		if d.Subject.Start.Byte < last {
			t.Errorf("out of order:\n%s", diagText(r))
		}
		last = d.Subject.Start.Byte
	}
	if len(r.Diags) != 3 {
		t.Errorf("got:\n%s", diagText(r))
	}
}
