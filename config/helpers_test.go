package config

import (
	"bytes"
	"github.com/pagihq/pagi/internal/certtest"
	"os"
	"path/filepath"
	"testing"
)

// parseIn writes nothing but parses src as dir/site.hcl.
func parseIn(dir, src string) *Result {
	return Parse(filepath.Join(dir, "site.hcl"), []byte(src))
}

// diagText renders r's diagnostics for failure messages.
func diagText(r *Result) string {
	var b bytes.Buffer
	_ = r.WriteText(&b, false)
	return b.String()
}

// mustParse parses src in dir and fails t unless it is valid.
func mustParse(t *testing.T, dir, src string) *Config {
	t.Helper()
	r := parseIn(dir, src)
	if r.Config == nil || r.Diags.HasErrors() {
		t.Fatalf("config should be valid, got:\n%s", diagText(r))
	}
	return r.Config
}

// writeFile writes content to dir/name.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeCert writes a self-signed certificate and its key as PEM files
// certName and keyName in dir.
func writeCert(t *testing.T, dir, certName, keyName string) {
	t.Helper()
	certtest.New(t, "localhost").Write(t, dir, certName, keyName)
}

// tlsFiles writes cert.pem/key.pem (a pair), other.pem/other-key.pem
// (another pair), garbage.pem and noca.pem (no certificate) into dir.
func tlsFiles(t *testing.T, dir string) {
	writeCert(t, dir, "cert.pem", "key.pem")
	writeCert(t, dir, "other.pem", "other-key.pem")
	writeFile(t, dir, "garbage.pem", "this is not a certificate\n")
	writeFile(t, dir, "noca.pem", "# no certificates here\n")
}
