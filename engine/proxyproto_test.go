package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"github.com/pagihq/pagi"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pagihq/pagi/config"
)

func TestProxyProtocol(t *testing.T) {
	var sr scopeRecorder
	cfg := testConfig(sr.app, "/")
	cfg.Listeners[0].ProxyProtocol = &config.ProxyProtocol{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	ts := startConfig(t, cfg)
	addr := ts.Addr("web").String()

	send := func(header []byte) (*http.Response, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(append(header, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"...))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}

	if resp, err := send([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("v1: %v %v", resp, err)
	}
	if s := sr.get(); s.Client.Host != "203.0.113.7" || s.Client.Port != 40000 || s.Server.Port != 443 {
		t.Errorf("v1 scope client %+v server %+v", s.Client, s.Server)
	}

	v2 := append([]byte{}, proxyV2Signature...)
	v2 = append(v2, 0x21, 0x21, 0, 36)
	v2 = append(v2, netip.MustParseAddr("2001:db8::5").AsSlice()...)
	v2 = append(v2, netip.MustParseAddr("2001:db8::1").AsSlice()...)
	v2 = binary.BigEndian.AppendUint16(v2, 5555)
	v2 = binary.BigEndian.AppendUint16(v2, 8443)
	if resp, err := send(v2); err != nil || resp.StatusCode != 200 {
		t.Fatalf("v2: %v %v", resp, err)
	}
	if s := sr.get(); s.Client.Host != "2001:db8::5" || s.Client.Port != 5555 {
		t.Errorf("v2 scope client %+v", s.Client)
	}

	if _, err := send([]byte("PROXY TCP4 nonsense\r\n")); err == nil {
		t.Error("a malformed PROXY header got a response")
	}
	if _, err := send(nil); err == nil {
		t.Error("a trusted peer without a PROXY header got a response")
	}
}

func TestProxyProtocolIgnoredForUntrustedPeers(t *testing.T) {
	var sr scopeRecorder
	cfg := testConfig(sr.app, "/")
	cfg.Listeners[0].ProxyProtocol = &config.ProxyProtocol{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	ts := startConfig(t, cfg)
	resp, _ := rawRequest(t, ts.Addr("web").String(), "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 400 {
		t.Errorf("spoofed PROXY header from an untrusted peer: status %d, want 400", resp.StatusCode)
	}
	resp, _ = rawRequest(t, ts.Addr("web").String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 || sr.get().Client.Host != "127.0.0.1" {
		t.Errorf("plain request from an untrusted peer: %d %+v", resp.StatusCode, sr.get().Client)
	}
}

// File bodies on a PROXY protocol listener go out whole, with sendfile on
// the TCP connection under the PROXY wrapper (never under TLS).
func TestProxyProtocolFileBody(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 8000) // 128,000 bytes: past the in-memory limit
	file := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	app := func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP {
			return pagi.ErrUnsupportedScope
		}
		_ = send(ctx, &pagi.HTTPResponseStart{Status: 200})
		return send(ctx, &pagi.HTTPResponseBody{File: file, Length: int64(len(content))})
	}
	cfg := testConfig(app, "/")
	cfg.Listeners[0].ProxyProtocol = &config.ProxyProtocol{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	ts := startConfig(t, cfg)
	c, err := net.Dial("tcp", ts.Addr("web").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(body, content) {
		t.Fatalf("body: %d bytes, %v; want the %d bytes of the file", len(body), err, len(content))
	}

	tc := c.(*net.TCPConn)
	if tcpConnOf(&proxiedConn{Conn: tc}) != tc || tcpConnOf(tc) != tc {
		t.Error("tcpConnOf does not see the TCP connection under a PROXY wrapper")
	}
	if tcpConnOf(tls.Client(tc, &tls.Config{})) != nil {
		t.Error("tcpConnOf unwrapped a TLS connection")
	}
}
