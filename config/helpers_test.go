package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, certName, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, dir, keyName, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})))
}

// tlsFiles writes cert.pem/key.pem (a pair), other.pem/other-key.pem
// (another pair), garbage.pem and noca.pem (no certificate) into dir.
func tlsFiles(t *testing.T, dir string) {
	writeCert(t, dir, "cert.pem", "key.pem")
	writeCert(t, dir, "other.pem", "other-key.pem")
	writeFile(t, dir, "garbage.pem", "this is not a certificate\n")
	writeFile(t, dir, "noca.pem", "# no certificates here\n")
}
