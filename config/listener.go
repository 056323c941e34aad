package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// listenerSpec is the HCL shape of a listener block.
type listenerSpec struct {
	Address string      `hcl:"address"`
	Mode    os.FileMode `hcl:"mode,optional"`
	HTTP2   bool        `hcl:"http2,optional"`
	TLS     *tlsSpec    `hcl:"tls,block"`
	Proxy   *proxySpec  `hcl:"proxy_protocol,block"`
	Limits
}

// proxySpec is the HCL shape of a proxy_protocol block.
type proxySpec struct {
	Trusted []string `hcl:"trusted"`
}

// tlsSpec is the HCL shape of a tls block.
type tlsSpec struct {
	Cert       string `hcl:"cert"`
	Key        string `hcl:"key"`
	MinVersion string `hcl:"min_version,optional"`
	ClientCA   string `hcl:"client_ca,optional"`
}

// addressHint is the detail of every bad-address error.
const addressHint = "write host:port, [v6]:port or unix:/path/to/socket"

// listener decodes and checks one listener block.
func (l *loader) listener(b *hclsyntax.Block) {
	l.enter(b)
	name := b.Labels[0]
	if first, dup := l.listeners[name]; dup {
		l.duplicate(b, first.DefRange)
		return
	}
	spec := listenerSpec{Limits: l.cfg.Server.Limits}
	attrs, diags := decodeBlockBody(b, l.ctx, &spec)
	l.diags = append(l.diags, diags...)
	ln := &Listener{Name: name, Address: spec.Address, Mode: spec.Mode, HTTP2: spec.HTTP2, Limits: spec.Limits, DefRange: b.DefRange()}
	l.listeners[name] = ln
	l.cfg.Listeners = append(l.cfg.Listeners, ln)
	c := checker{l: l, attrs: attrs}
	c.limits(&ln.Limits)
	if rng, ok := c.at("address"); ok && !l.diagsAt(rng) {
		l.address(ln, rng)
	}
	if rng, ok := c.at("mode"); ok && ln.Network == "tcp" {
		l.errorAt(rng, "mode applies only to unix sockets", fmt.Sprintf("listener %q listens on TCP address %q", name, ln.Address))
	}
	if spec.Proxy != nil {
		for _, pb := range b.Body.Blocks {
			if pb.Type != "proxy_protocol" {
				continue
			}
			prefixes, err := ParsePrefixes(spec.Proxy.Trusted)
			if err != nil {
				rng := pb.DefRange()
				if a, ok := pb.Body.Attributes["trusted"]; ok {
					rng = a.Expr.Range()
				}
				l.errorAt(rng, "invalid proxy_protocol trusted address", err.Error())
				break
			}
			ln.ProxyProtocol = &ProxyProtocol{Trusted: prefixes}
		}
	}
	if spec.TLS != nil {
		for _, tb := range b.Body.Blocks {
			if tb.Type == "tls" {
				ln.TLS = l.tls(spec.TLS, tb)
				break
			}
		}
	}
}

// address parses ln.Address into Network and Addr, reporting problems at
// rng, and checks that no earlier listener has the same address.
func (l *loader) address(ln *Listener, rng hcl.Range) {
	network, addr, err := l.parseAddress(ln.Address)
	if err != nil {
		l.errorAt(rng, fmt.Sprintf("invalid address %q: %v", ln.Address, err), addressHint)
		return
	}
	ln.Network, ln.Addr = network, addr
	for _, other := range l.cfg.Listeners {
		if other == ln || other.Network != network || other.Addr == "" {
			continue
		}
		if sameAddress(network, addr, other.Addr) {
			l.errorAt(rng, fmt.Sprintf("listener %q has the same address as listener %q", ln.Name, other.Name),
				fmt.Sprintf("listener %q is defined at %s", other.Name, posString(other.DefRange)))
			return
		}
	}
}

// sameAddress reports whether two addresses of network are the same one.
// TCP port 0 (any free port) never clashes.
func sameAddress(network, a, b string) bool {
	if network == "unix" {
		return a == b
	}
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	if ia, err := netip.ParseAddr(ha); err == nil {
		if ib, err := netip.ParseAddr(hb); err == nil {
			return ia == ib
		}
	}
	return strings.EqualFold(ha, hb)
}

// maxSocketPath is the longest Unix socket path the kernel accepts.
func maxSocketPath() int {
	if runtime.GOOS == "linux" {
		return 107
	}
	return 103
}

// parseAddress parses a listener address: host:port, [v6]:port or
// unix:path (relative to the config directory; @name is a Linux abstract
// socket).
func (l *loader) parseAddress(s string) (network, addr string, err error) {
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return "", "", fmt.Errorf("missing socket path after unix:")
		}
		if strings.HasPrefix(path, "@") {
			if runtime.GOOS != "linux" {
				return "", "", fmt.Errorf("abstract sockets (@name) exist only on Linux")
			}
			return "unix", path, nil
		}
		path = l.resolve(path)
		if len(path) > maxSocketPath() {
			return "", "", fmt.Errorf("socket path %s is longer than %d bytes", path, maxSocketPath())
		}
		dir := filepath.Dir(path)
		if st, err := os.Stat(dir); err != nil {
			return "", "", fmt.Errorf("socket directory %s: %w", dir, unwrapPathError(err))
		} else if !st.IsDir() {
			return "", "", fmt.Errorf("%s is not a directory", dir)
		}
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			return "", "", fmt.Errorf("%s is a directory", path)
		}
		return "unix", path, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if ae, ok := err.(*net.AddrError); ok {
			return "", "", fmt.Errorf("%s", ae.Err)
		}
		return "", "", err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || port == "" {
		return "", "", fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	switch {
	case host == "":
	case strings.HasPrefix(s, "["):
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return "", "", fmt.Errorf("%q is not an IPv6 address", host)
		}
	case strings.Contains(host, ":"):
		return "", "", fmt.Errorf("an IPv6 address must be in brackets: [%s]:%s", host, port)
	default:
		if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
			return "", "", fmt.Errorf("%q is not an IP address or a host name", host)
		}
	}
	return "tcp", s, nil
}

// validHostname reports whether h is a syntactically valid DNS host name.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// tls checks a decoded tls block: files readable, certificate and key
// parseable and matching, the client CA file holding certificates.
func (l *loader) tls(spec *tlsSpec, b *hclsyntax.Block) *TLS {
	at := func(name string) hcl.Range {
		if a, ok := b.Body.Attributes[name]; ok {
			return a.Expr.Range()
		}
		return b.DefRange()
	}
	t := &TLS{DefRange: b.DefRange()}
	switch spec.MinVersion {
	case "", "1.2":
		t.MinVersion = tls.VersionTLS12
	case "1.3":
		t.MinVersion = tls.VersionTLS13
	default:
		l.errorAt(at("min_version"), fmt.Sprintf("invalid min_version %q", spec.MinVersion), `expected "1.2" or "1.3"`)
	}
	var certPEM, keyPEM []byte
	if spec.Cert != "" || !l.diagsAt(at("cert")) {
		t.Cert = l.resolve(spec.Cert)
		certPEM = l.readTLSFile(t.Cert, "certificate", at("cert"))
		if certPEM != nil {
			if err := checkCertificates(certPEM); err != nil {
				l.errorAt(at("cert"), fmt.Sprintf("invalid TLS certificate %s: %v", t.Cert, err), "expected a PEM file with the certificate chain, leaf first")
				certPEM = nil
			}
		}
	}
	if spec.Key != "" || !l.diagsAt(at("key")) {
		t.Key = l.resolve(spec.Key)
		keyPEM = l.readTLSFile(t.Key, "key", at("key"))
	}
	if certPEM != nil && keyPEM != nil {
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			l.errorAt(at("key"), fmt.Sprintf("invalid TLS key %s: %v", t.Key, strings.TrimPrefix(err.Error(), "tls: ")),
				fmt.Sprintf("the key must be the PEM private key of the certificate %s", t.Cert))
		}
	}
	if _, ok := b.Body.Attributes["client_ca"]; ok && (spec.ClientCA != "" || !l.diagsAt(at("client_ca"))) {
		t.ClientCA = l.resolve(spec.ClientCA)
		if data := l.readTLSFile(t.ClientCA, "client CA", at("client_ca")); data != nil {
			if !x509.NewCertPool().AppendCertsFromPEM(data) {
				l.errorAt(at("client_ca"), fmt.Sprintf("no certificate in client CA file %s", t.ClientCA), "expected a PEM file with one or more CA certificates")
			}
		}
	}
	return t
}

// readTLSFile reads a TLS file, reporting a failure at rng.
func (l *loader) readTLSFile(path, what string, rng hcl.Range) []byte {
	data, err := l.readFile(path)
	if err != nil {
		l.errorAt(rng, fmt.Sprintf("TLS %s file: %v", what, err), "")
		return nil
	}
	return data
}

// checkCertificates checks that data holds at least one PEM certificate and
// that every certificate in it parses.
func checkCertificates(data []byte) error {
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no PEM certificate found")
	}
	return nil
}
