package main_test

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func runPagi(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t, "pagi"), args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	// The listener's port is taken: validate must not try to bind it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	good := writeTemp(t, "good.hcl", `listener "web" {
  address = "`+l.Addr().String()+`"
}
site "s" {
  route "/" {
    respond { body = "hi" }
  }
}
`)
	if out, errOut, code := runPagi(t, "validate", good); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("good config: code %d\n%s%s", code, out, errOut)
	}
	bad := writeTemp(t, "bad.hcl", `server {
  workerz = 2
}
listener "web" {
  address = "127.0.0.1:99999"
}
`)
	_, errOut, code := runPagi(t, "validate", bad)
	if code != 1 {
		t.Errorf("bad config: exit %d, want 1", code)
	}
	for _, want := range []string{"bad.hcl:2:3", `"workers"`, "bad.hcl:5:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("validate output lacks %q:\n%s", want, errOut)
		}
	}
	out, _, code := runPagi(t, "validate", "--format", "json", bad)
	var diags []map[string]any
	if err := json.Unmarshal([]byte(out), &diags); err != nil || code != 1 || len(diags) < 2 {
		t.Fatalf("json output (code %d): %v\n%s", code, err, out)
	}
	if diags[0]["line"] != float64(2) || diags[0]["severity"] != "error" {
		t.Errorf("first json diagnostic %v", diags[0])
	}
	if _, _, code := runPagi(t, "validate"); code != 2 {
		t.Errorf("validate without files: exit %d, want 2", code)
	}
	if _, _, code := runPagi(t, "nonsense"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if out, _, code := runPagi(t, "run", "--help"); code != 0 && !strings.Contains(out, "Usage") {
		t.Errorf("run --help: exit %d", code)
	}
}

func TestFmt(t *testing.T) {
	ugly := "site \"s\" {\nroute \"/\" {\nrespond {\nbody=\"x\"\n}\n}\n}\n"
	p := writeTemp(t, "ugly.hcl", ugly)
	if out, _, code := runPagi(t, "fmt", "--check", p); code != 1 || !strings.Contains(out, "ugly.hcl") {
		t.Errorf("fmt --check on an unformatted file: exit %d out %q", code, out)
	}
	if _, _, code := runPagi(t, "fmt", "-w", p); code != 0 {
		t.Fatalf("fmt -w: exit %d", code)
	}
	b, _ := os.ReadFile(p)
	if !strings.Contains(string(b), "    respond {\n      body = \"x\"") {
		t.Errorf("formatted:\n%s", b)
	}
	if _, _, code := runPagi(t, "fmt", "--check", p); code != 0 {
		t.Errorf("fmt --check after -w: exit %d", code)
	}
	if _, errOut, code := runPagi(t, "fmt", writeTemp(t, "broken.hcl", "site {\n")); code != 1 || !strings.Contains(errOut, "broken.hcl:") {
		t.Errorf("fmt on a syntax error: exit %d\n%s", code, errOut)
	}
}

// TestExamplesAreValidAndFormatted keeps examples/*.hcl true to the code.
func TestExamplesAreValidAndFormatted(t *testing.T) {
	examples, err := filepath.Glob("../../examples/*.hcl")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, ex := range examples {
		if out, errOut, code := runPagi(t, "validate", ex); code != 0 {
			t.Errorf("pagi validate %s: exit %d\n%s%s", ex, code, out, errOut)
		}
		if out, _, code := runPagi(t, "fmt", "--check", ex); code != 0 {
			t.Errorf("pagi fmt --check %s: not formatted (%s)", ex, out)
		}
	}
}
