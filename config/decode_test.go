package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// parseBody parses src as a body for Decode tests.
func parseBody(t *testing.T, src string) hcl.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return f.Body
}

func TestDecodeAllTypes(t *testing.T) {
	body := parseBody(t, `
name    = 42
on      = true
big     = 9007199254740993
small   = 255
ratio   = 0.25
tags    = ["a", "b"]
labels  = { x = "1", y = 2 }
timeout = "1m30s"
limit   = "10 MB"
mode    = "0640"
extra   = { list = [1, 2.5, "s"], ok = false }
maybe   = 3
rule "first" {
  path = "/a"
}
rule "second" {
  path  = "/b"
  allow = true
}
only "x" {
  path = "/o"
}
`)
	m := &testMW{Name: "default", Count: 7, Tags: []string{"old"}}
	attrs, diags := Decode(body, nil, m)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	two := 3
	want := &testMW{
		Name: "42", On: true, Count: 7, Big: 9007199254740993, Small: 255, Ratio: 0.25,
		Tags: []string{"a", "b"}, Labels: map[string]string{"x": "1", "y": "2"},
		Timeout: Duration(90 * time.Second), Limit: 10_000_000, Mode: 0o640,
		Extra:    map[string]any{"list": []any{1, 2.5, "s"}, "ok": false},
		Optional: &two,
		Rules:    []*testRule{{Name: "first", Path: "/a"}, {Name: "second", Path: "/b", Allow: true}},
		Only:     &testRule{Name: "x", Path: "/o"},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got  %+v\nwant %+v", m, want)
	}
	if len(attrs) != 12 || attrs["timeout"] == nil || attrs["rule"] != nil {
		t.Errorf("attrs = %v", attrs)
	}
}

func TestDecodeKeepsDefaults(t *testing.T) {
	m := &testMW{Name: "default", Count: 7}
	if _, diags := Decode(parseBody(t, "on = true\n"), nil, m); diags.HasErrors() {
		t.Fatal(diags)
	}
	if m.Name != "default" || m.Count != 7 || !m.On || m.Optional != nil {
		t.Errorf("got %+v", m)
	}
}

func TestDecodeExpressionAndCtyFields(t *testing.T) {
	var target struct {
		Raw hcl.Expression `hcl:"raw"`
		Val cty.Value      `hcl:"val,optional"`
		D   time.Duration  `hcl:"d,optional"`
	}
	_, diags := Decode(parseBody(t, "raw = upper(x)\nval = [1]\nd = 0.5\n"), nil, &target)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if target.Raw == nil || target.Raw.Range().Start.Line != 1 || !target.Val.Type().IsTupleType() || target.D != 500*time.Millisecond {
		t.Errorf("got %+v", target)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct{ src, pos, want string }{
		{"nmae = 1\n", "1:1", `unknown attribute "nmae"; did you mean "name"?`},
		{"rule = 1\n", "1:1", `"rule" is a block, not an attribute`},
		{"name {}\n", "1:1", `"name" is an attribute, not a block`},
		{"rulez \"a\" {}\n", "1:1", `unknown block type "rulez"; did you mean "rule"?`},
		{"rule {\n  path = \"/\"\n}\n", "1:1", `a rule block needs a name label`},
		{"rule \"a\" \"b\" {\n  path = \"/\"\n}\n", "1:10", `a rule block takes 1 label(s): name`},
		{"rule \"a\" {}\n", "1:1", `missing required attribute "path" in the rule block`},
		{"only \"a\" {\n  path = \"/\"\n}\nonly \"b\" {\n  path = \"/\"\n}\n", "4:1", `only one only block is allowed here`},
		{"labels = [\"a\"]\n", "1:10", `expected a map of strings, got a list`},
		{"tags = \"a\"\n", "1:8", `expected a list of strings, got a string`},
		{"limit = true\n", "1:9", `expected a size`},
		{"timeout = [1]\n", "1:11", `expected a duration`},
		{"big = 1e40\n", "1:7", `is out of range`},
		{"small = -1\n", "1:9", `-1 is negative`},
		{"ratio = \"x\"\n", "1:9", `expected a number, got a string`},
		{"on = null\n", "", ""}, // null leaves the default
		{"name = x\n", "1:8", `Variables not allowed`},
	}
	for _, tc := range cases {
		_, diags := Decode(parseBody(t, tc.src), nil, &testMW{})
		if tc.want == "" {
			if diags.HasErrors() {
				t.Errorf("%q: %v", tc.src, diags)
			}
			continue
		}
		found := false
		for _, d := range diags {
			if d.Subject != nil && posOf(d) == tc.pos && strings.Contains(summaryAndDetail(d), tc.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: want %s %q, got %v", tc.src, tc.pos, tc.want, diags)
		}
	}
}

func posOf(d *hcl.Diagnostic) string {
	return strings.TrimPrefix(posString(*d.Subject), d.Subject.Filename+":")
}

func TestDecodeRequiredNull(t *testing.T) {
	_, diags := Decode(parseBody(t, "path = null\n"), nil, &testRule{})
	if !diags.HasErrors() || !strings.Contains(diags[0].Summary, `"path" must not be null`) {
		t.Errorf("got %v", diags)
	}
}

func TestDecodeBadTargets(t *testing.T) {
	body := parseBody(t, "a = 1\n")
	var s struct{}
	for _, target := range []any{nil, s, &[]int{}, (*testMW)(nil)} {
		if _, diags := Decode(body, nil, target); !diags.HasErrors() || !strings.Contains(diags[0].Summary, "internal error") {
			t.Errorf("%T: %v", target, diags)
		}
	}
	if _, diags := Decode(nil, nil, &s); !diags.HasErrors() {
		t.Error("nil body accepted")
	}
	var bad struct {
		C chan int `hcl:"c"`
	}
	if _, diags := Decode(parseBody(t, "c = 1\n"), nil, &bad); !diags.HasErrors() || !strings.Contains(diags[0].Summary, "unsupported field type") {
		t.Errorf("chan field: %v", diags)
	}
	var badTag struct {
		A string `hcl:"a,weird"`
	}
	if _, diags := Decode(body, nil, &badTag); !diags.HasErrors() || !strings.Contains(diags[0].Summary, "unknown hcl tag option") {
		t.Errorf("bad tag: %v", diags)
	}
}

func TestDecodeOtherBodies(t *testing.T) {
	// Bodies that are not hclsyntax bodies go through hcl's own schema
	// checks.
	merged := hcl.MergeBodies([]hcl.Body{parseBody(t, "name = \"x\"\n"), parseBody(t, "count = 2\nbogus = 1\n")})
	m := &testMW{}
	_, diags := Decode(merged, nil, m)
	if m.Name != "x" || m.Count != 2 {
		t.Errorf("got %+v", m)
	}
	if !diags.HasErrors() || !strings.Contains(diags[0].Summary, "Unsupported argument") {
		t.Errorf("diags = %v", diags)
	}
}

func TestDecodeEmbedded(t *testing.T) {
	var s Server
	_, diags := Decode(parseBody(t, "workers = 2\nmax_connections = 5\n"), nil, &s)
	if diags.HasErrors() || s.Workers != 2 || s.MaxConnections != 5 {
		t.Errorf("got %+v, %v", s, diags)
	}
}

func TestDecodeFileMode(t *testing.T) {
	var s struct {
		M os.FileMode `hcl:"m"`
	}
	if _, diags := Decode(parseBody(t, "m = \"0o755\"\n"), nil, &s); diags.HasErrors() || s.M != 0o755 {
		t.Errorf("got %v, %v", s.M, diags)
	}
}
