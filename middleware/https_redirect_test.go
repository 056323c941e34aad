package middleware_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi/internal/pagitest"
)

// setaTLSServer starts a server with a cleartext listener "web" and a TLS
// listener "tls" serving sites, and returns it with an https client.
func setaTLSServer(t *testing.T, sites string) (*pagitest.Server, *http.Client, *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	cert, key, pool := setaCert(t, dir)
	srv := pagitest.StartIn(t, dir, pagitest.Listener("web")+`
listener "tls" {
  address = "127.0.0.1:0"
  tls {
    cert = "`+cert+`"
    key  = "`+key+`"
  }
}
`+sites)
	tc := &tls.Config{RootCAs: pool}
	tr := &http.Transport{TLSClientConfig: tc}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return srv, c, tc
}

func TestHTTPSRedirectLocation(t *testing.T) {
	srv, _, _ := setaTLSServer(t, `
site "s" {
  listeners = ["web", "tls"]
  route "/" {
    https_redirect {
      exclude = ["/.well-known/acme-challenge/"]
    }
    seta_echo_scope {}
  }
  route "/m/" {
    https_redirect {
      status = 301
      port   = 8443
    }
    seta_echo_scope {}
  }
}
`)
	base := srv.URL("web")
	cases := []struct {
		method, path, host string
		status             int
		location           string
	}{
		{"GET", "/a%20b/c?x=1&y=%2F", "example.com", 308, "https://example.com/a%20b/c?x=1&y=%2F"},
		{"POST", "/form", "example.com:8080", 308, "https://example.com/form"},
		{"GET", "/", "[2001:db8::1]:8080", 308, "https://[2001:db8::1]/"},
		{"GET", "/m/deep/path?q", "shop.example", 301, "https://shop.example:8443/m/deep/path?q"},
		{"GET", "/.well-known/acme-challenge/tok", "example.com", 200, ""},
		{"GET", "/.well-known/other", "example.com", 308, "https://example.com/.well-known/other"},
	}
	for _, c := range cases {
		resp, _ := setaDo(t, nil, c.method, base+c.path, "host", c.host)
		if resp.StatusCode != c.status || resp.Header.Get("Location") != c.location {
			t.Errorf("%s %s (Host %s): %d %q, want %d %q", c.method, c.path, c.host, resp.StatusCode, resp.Header.Get("Location"), c.status, c.location)
		}
		if resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS sent over http", c.path)
		}
	}

	// HTTP/1.0 without a Host header cannot be redirected.
	conn, err := net.Dial("tcp", srv.Addr("web"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("GET /x HTTP/1.0\r\n\r\n"))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if !strings.Contains(line, " 400 ") {
		t.Errorf("no Host: %q", line)
	}
}

func TestHTTPSRedirectHSTS(t *testing.T) {
	srv, c, tc := setaTLSServer(t, `
site "s" {
  listeners = ["web", "tls"]
  route "/" {
    https_redirect {
      hsts                    = true
      hsts_max_age            = "8760h"
      hsts_include_subdomains = true
      hsts_preload            = true
    }
    seta_echo_scope {}
  }
  route "/own" {
    https_redirect { hsts = true }
    seta_echo_scope { headers = { "strict-transport-security" = "max-age=60" } }
  }
}
`)
	resp, body := setaDo(t, c, "GET", "https://"+srv.Addr("tls")+"/x")
	if resp.StatusCode != 200 || !strings.Contains(body, `"scheme":"https"`) {
		t.Fatalf("https request: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains; preload" {
		t.Errorf("HSTS %q", got)
	}
	resp, _ = setaDo(t, c, "GET", "https://"+srv.Addr("tls")+"/own")
	if got := resp.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != "max-age=60" {
		t.Errorf("app's HSTS replaced: %q", got)
	}

	// WebSocket: ws:// is denied with the redirect, wss:// passes.
	_, wsResp, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr("web")+"/chat", nil)
	if err == nil || wsResp == nil || wsResp.StatusCode != 308 || wsResp.Header.Get("Location") != "https://"+srv.Addr("web")[:strings.LastIndexByte(srv.Addr("web"), ':')]+"/chat" {
		t.Errorf("ws: %v %v", err, wsResp)
	}
	d := websocket.Dialer{TLSClientConfig: tc}
	conn, wsResp, err := d.Dial("wss://"+srv.Addr("tls")+"/chat", nil)
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	conn.Close()
	if wsResp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("wss accept without HSTS")
	}
}

func TestHTTPSRedirectValidation(t *testing.T) {
	cfg := pagitest.Listener("web") + `site "s" {
  route "/" {
    https_redirect {
      status       = 303
      port         = 70000
      exclude      = ["/ok", "relative"]
      hsts_preload = true
    }
    seta_echo_scope {}
  }
}
`
	out := setaValidate(t, cfg)
	setaWantDiags(t, out,
		setaPos(t, cfg, "303"), "status must be 301, 302, 307 or 308, got 303",
		setaPos(t, cfg, "70000"), "port must be 1..65535",
		setaPos(t, cfg, `"relative"`), `"relative" must be a path prefix`,
		setaPos(t, cfg, "true\n"), "hsts_preload has no effect unless hsts = true")
}
