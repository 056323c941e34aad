package engine

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pagihq/pagi/config"
)

// TestHTTP11Compliance runs the reference server's HTTP/1.1 compliance
// matrix and its request-smuggling cases against a real pagi listener over
// raw sockets. Every refusal must also close the connection.
func TestHTTP11Compliance(t *testing.T) {
	ts := serveApp(t, okApp, "/")
	runCompliance(t, func() (net.Conn, error) { return net.Dial("tcp", ts.Addr("web").String()) })
}

// TestHTTP11ComplianceOverTLS runs the same cases on a TLS listener: the
// request-head guard sits behind the TLS handshake too.
func TestHTTP11ComplianceOverTLS(t *testing.T) {
	cert, key, pool := writeCert(t, t.TempDir(), "server")
	cfg := testConfig(okApp, "/")
	cfg.Listeners[0].TLS = &config.TLS{Cert: cert, Key: key}
	cfg.Listeners[0].HTTP2 = true
	ts := startConfig(t, cfg)
	runCompliance(t, func() (net.Conn, error) {
		return tls.Dial("tcp", ts.Addr("web").String(), &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	})
}

func runCompliance(t *testing.T, dial func() (net.Conn, error)) {
	long := strings.Repeat("a", 9000)
	cases := []struct {
		name   string
		req    string
		status int
	}{
		// The ten cases of the reference compliance matrix.
		{"normal request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 200},
		{"Content-Length abc", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400},
		{"Content-Length -1", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"Content-Length overflow", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
		{"Content-Length with spaces", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\nab", 400},
		{"URI over 8 KiB", "GET /" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"header block over the limit", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat(long, 2) + "\r\n\r\n", 431},
		{"Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		// Smuggling defences.
		{"duplicate Content-Length, same value", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 400},
		{"duplicate Content-Length, different", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", 400},
		{"Content-Length with plus", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\nab", 400},
		{"leading zeros accepted", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 002\r\n\r\nab", 200},
		{"chunked not last", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"CHUNKED upper-case", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n\r\n2\r\nab\r\n0\r\n\r\n", 200},
		{"Transfer-Encoding on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"NUL in header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
		{"vertical tab in header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\vb\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"header without colon", "GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", 400},
		{"more than 100 headers", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-H: v\r\n", 101) + "\r\n", 431},
		{"chunk size too long", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000000\r\n", 413},
		{"chunk size not hex", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(conn, c.req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if c.status >= 400 {
				// The connection must be closed after a refusal.
				if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err == nil {
					if r2, err := http.ReadResponse(br, nil); err == nil {
						r2.Body.Close()
						t.Fatalf("connection still served requests after a %d", c.status)
					}
				}
			}
		})
	}
}
