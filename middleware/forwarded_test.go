package middleware_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi/internal/pagitest"
)

func TestForwardedUntrustedPeerIgnored(t *testing.T) {
	srv := setaStart(t, `
site "s" {
  route "/" {
    forwarded { trusted_proxies = ["10.0.0.0/8"] }
    seta_echo_scope {}
  }
}
`)
	_, v := setaEcho(t, srv.URL("web")+"/x",
		"X-Forwarded-For", "1.2.3.4",
		"X-Forwarded-Proto", "https",
		"X-Forwarded-Host", "evil.example",
		"X-Forwarded-Port", "8443",
		"Forwarded", "for=5.6.7.8;proto=https;host=evil.example")
	if v.Client != "127.0.0.1" || v.Scheme != "http" || v.Host != srv.Addr("web") || v.OriginalClient != "" {
		t.Errorf("spoofed headers from an untrusted peer changed the scope: %+v", v)
	}
	if v.ServerPort == 8443 {
		t.Errorf("server port taken from an untrusted peer")
	}
}

func TestForwardedTrustedChain(t *testing.T) {
	srv := setaStart(t, `
site "s" {
  route "/" {
    forwarded { trusted_proxies = ["127.0.0.1", "10.0.0.0/8"] }
    seta_echo_scope {}
  }
}
`)
	url := srv.URL("web") + "/x"
	cases := []struct {
		name       string
		headers    []string
		client     string
		clientPort int
	}{
		{"proxies skipped", []string{"X-Forwarded-For", "203.0.113.9, 10.0.0.2, 10.0.0.1"}, "203.0.113.9", 0},
		{"spoofed left part ignored", []string{"X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.0.0.1"}, "203.0.113.9", 0},
		{"several fields, port kept", []string{"X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "203.0.113.9:5555, 10.0.0.1"}, "203.0.113.9", 5555},
		{"all trusted: left-most", []string{"X-Forwarded-For", "10.0.0.5, 10.0.0.1"}, "10.0.0.5", 0},
		{"ipv6 in brackets with port", []string{"X-Forwarded-For", "[2001:db8::1]:80"}, "2001:db8::1", 80},
		{"bare ipv6", []string{"X-Forwarded-For", "2001:DB8::2"}, "2001:db8::2", 0},
		{"ipv4-mapped", []string{"X-Forwarded-For", "::ffff:198.51.100.7"}, "198.51.100.7", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, v := setaEcho(t, url, c.headers...)
			if v.Client != c.client || v.ClientPort != c.clientPort || v.OriginalClient != "127.0.0.1" {
				t.Errorf("client %s:%d (original %q), want %s:%d (original 127.0.0.1)", v.Client, v.ClientPort, v.OriginalClient, c.client, c.clientPort)
			}
		})
	}

	_, v := setaEcho(t, url, "X-Forwarded-For", "203.0.113.9", "X-Forwarded-Proto", "https",
		"X-Forwarded-Host", "example.com", "X-Forwarded-Port", "8443")
	if v.Scheme != "https" || v.Host != "example.com" || v.ServerPort != 8443 {
		t.Errorf("proto/host/port not applied: %+v", v)
	}
	// Lists of proto and host are read at the client's distance from the
	// right: the client is two hops away, so the edge proxy's values count.
	_, v = setaEcho(t, url, "X-Forwarded-For", "203.0.113.9, 10.0.0.1", "X-Forwarded-Proto", "https, http",
		"X-Forwarded-Host", "public.example, internal.example")
	if v.Scheme != "https" || v.Host != "public.example" {
		t.Errorf("proto/host lists: %+v", v)
	}
}

func TestForwardedRFC7239(t *testing.T) {
	srv := setaStart(t, `
site "s" {
  route "/" {
    forwarded {
      trusted_proxies = ["127.0.0.1/32", "10.0.0.0/8"]
      headers         = ["forwarded"]
    }
    seta_echo_scope {}
  }
}
`)
	url := srv.URL("web") + "/"
	_, v := setaEcho(t, url, "Forwarded", `for="[2001:db8:cafe::17]:4711";proto=https;host="example.org"`)
	if v.Client != "2001:db8:cafe::17" || v.ClientPort != 4711 || v.Scheme != "https" || v.Host != "example.org" {
		t.Errorf("quoted IPv6 element: %+v", v)
	}
	_, v = setaEcho(t, url, "Forwarded", `for=192.0.2.60;proto=http;by=203.0.113.43, For="10.0.0.1";Proto=https`)
	if v.Client != "192.0.2.60" || v.Scheme != "http" {
		t.Errorf("two elements: client %q scheme %q, want 192.0.2.60 http (the element that named the client)", v.Client, v.Scheme)
	}
	_, v = setaEcho(t, url, "Forwarded", `for=198.51.100.1`, "Forwarded", `for="[2001:db8::9]:_port"`)
	if v.Client != "2001:db8::9" || v.ClientPort != 0 {
		t.Errorf("obfuscated port: %s:%d", v.Client, v.ClientPort)
	}
	// X-Forwarded-For is not trusted with headers = ["forwarded"].
	_, v = setaEcho(t, url, "X-Forwarded-For", "1.2.3.4", "X-Forwarded-Proto", "https")
	if v.Client != "127.0.0.1" || v.Scheme != "http" {
		t.Errorf("X-Forwarded-* used though only forwarded is trusted: %+v", v)
	}
}

func TestForwardedGarbage(t *testing.T) {
	srv := setaStart(t, `
site "s" {
  route "/" {
    forwarded {}
    seta_echo_scope {}
  }
}
`)
	url := srv.URL("web") + "/"
	long := strings.Repeat("10.0.0.1, ", 1000) + "garbage"
	cases := []struct {
		headers []string
		client  string
		scheme  string
	}{
		{[]string{"X-Forwarded-For", "garbage"}, "127.0.0.1", "http"},
		{[]string{"X-Forwarded-For", "1.2.3.4, garbage"}, "127.0.0.1", "http"},
		{[]string{"X-Forwarded-For", "unknown"}, "127.0.0.1", "http"},
		{[]string{"X-Forwarded-For", ",,,,"}, "127.0.0.1", "http"},
		{[]string{"X-Forwarded-For", "[2001:db8::1"}, "127.0.0.1", "http"},
		{[]string{"X-Forwarded-For", "[1.2.3.4]:80"}, "127.0.0.1", "http"},
		{[]string{"X-Forwarded-For", "[::1]x"}, "127.0.0.1", "http"},
		{[]string{"X-Forwarded-For", "1.2.3.4:99999"}, "1.2.3.4", "http"},
		{[]string{"X-Forwarded-For", "999.1.1.1"}, "127.0.0.1", "http"},
		{[]string{"X-Forwarded-For", long}, "127.0.0.1", "http"},
		{[]string{"X-Forwarded-Proto", "javascript"}, "127.0.0.1", "http"},
		{[]string{"X-Forwarded-Proto", "HTTPS"}, "127.0.0.1", "https"},
		{[]string{"Forwarded", "for=_hidden"}, "127.0.0.1", "http"},
		{[]string{"Forwarded", "for=unknown;proto=https"}, "127.0.0.1", "https"},
		{[]string{"Forwarded", `for="[::1`}, "127.0.0.1", "http"},
		{[]string{"Forwarded", `for=1.2.3.4;for=5.6.7.8`}, "127.0.0.1", "http"},
		{[]string{"Forwarded", `;;;,,,===`}, "127.0.0.1", "http"},
		{[]string{"Forwarded", `for="\"quoted\""`}, "127.0.0.1", "http"},
		{[]string{"Forwarded", `for=[2001:db8::1]`}, "127.0.0.1", "http"},
		{[]string{"Forwarded", `for=1.2.3.4 junk`}, "127.0.0.1", "http"},
		{[]string{"Forwarded", `for="1.2.3.4\`}, "127.0.0.1", "http"},
		{[]string{"Forwarded", `for=192.0.2.1, garbage`}, "127.0.0.1", "http"},
		{[]string{"Forwarded", `garbage, for=192.0.2.1`}, "192.0.2.1", "http"},
		{[]string{"Forwarded", strings.Repeat("for=127.0.0.1;proto=https, ", 400)}, "127.0.0.1", "https"},
		{[]string{"Forwarded", strings.Repeat(`for="[`, 1500)}, "127.0.0.1", "http"},
	}
	for _, c := range cases {
		resp, v := setaEcho(t, url, c.headers...)
		if resp.StatusCode != 200 || v.Client != c.client || v.Scheme != c.scheme {
			what := c.headers[0] + ": " + c.headers[1]
			if len(what) > 80 {
				what = what[:80] + "..."
			}
			t.Errorf("%q: status %d client %q scheme %q, want 200 %q %q", what, resp.StatusCode, v.Client, v.Scheme, c.client, c.scheme)
		}
	}
	// Hosts and ports that cannot be trusted into a URL are ignored.
	_, v := setaEcho(t, url, "X-Forwarded-Host", "evil.example/path?x", "X-Forwarded-Port", "abc")
	if v.Host != srv.Addr("web") || v.ServerPort == 0 {
		t.Errorf("bad host/port applied: host %q port %d", v.Host, v.ServerPort)
	}
	_, v = setaEcho(t, url, "Forwarded", `for=192.0.2.1;host="a@b.example"`)
	if v.Host != srv.Addr("web") || v.Client != "192.0.2.1" {
		t.Errorf("bad Forwarded host applied: %+v", v)
	}
}

func TestForwardedSSEAndWebSocket(t *testing.T) {
	srv := setaStart(t, `
site "s" {
  route "/" {
    forwarded {}
    seta_echo_scope {}
  }
}
`)
	resp, v := setaSSE(t, srv.URL("web")+"/events", "X-Forwarded-For", "198.51.100.3", "X-Forwarded-Proto", "https")
	if resp.StatusCode != 200 || v.Type != "sse" || v.Client != "198.51.100.3" || v.Scheme != "https" {
		t.Errorf("sse: %d %+v", resp.StatusCode, v)
	}
	h := http.Header{}
	h.Set("X-Forwarded-For", "198.51.100.4")
	h.Set("X-Forwarded-Proto", "https")
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr("web")+"/ws", h)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, msg, err := conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var wv setaView
	_ = json.Unmarshal(msg, &wv)
	if wv.Type != "websocket" || wv.Client != "198.51.100.4" || wv.Scheme != "wss" {
		t.Errorf("websocket: %+v", wv)
	}
}

func TestForwardedUnixSocket(t *testing.T) {
	dir := t.TempDir()
	if len(dir) > 90 {
		t.Skipf("temporary directory %s is too long for a Unix socket path", dir)
	}
	sock := filepath.Join(dir, "s.sock")
	sockT := filepath.Join(dir, "t.sock")
	pagitest.StartIn(t, dir, `
listener "plain" {
  address = "unix:`+sock+`"
}
listener "trusting" {
  address = "unix:`+sockT+`"
}
site "plain" {
  listeners = ["plain"]
  route "/" {
    forwarded {}
    seta_echo_scope {}
  }
}
site "trusting" {
  listeners = ["trusting"]
  route "/" {
    forwarded { trust_unix = true }
    seta_echo_scope {}
  }
}
`)
	client := func(path string) *http.Client {
		return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}
	}
	get := func(c *http.Client) setaView {
		_, body := setaDo(t, c, "GET", "http://unix/", "X-Forwarded-For", "192.0.2.77", "X-Forwarded-Proto", "https")
		var v setaView
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		return v
	}
	if v := get(client(sock)); v.Client != "" || v.Scheme != "http" {
		t.Errorf("unix peer trusted without trust_unix: %+v", v)
	}
	if v := get(client(sockT)); v.Client != "192.0.2.77" || v.Scheme != "https" || v.OriginalClient != "unix" {
		t.Errorf("trust_unix: %+v", v)
	}
}

func TestForwardedValidation(t *testing.T) {
	cfg := pagitest.Listener("web") + `site "s" {
  route "/" {
    forwarded {
      trusted_proxies = ["10.0.0.0/8", "10.0.0.300/8", "private_ranges", "fe80::zz"]
      headers         = ["x-forwarded-for", "x-real-ip"]
    }
    seta_echo_scope {}
  }
}
`
	out := setaValidate(t, cfg)
	setaWantDiags(t, out,
		setaPos(t, cfg, `"10.0.0.300/8"`), `"10.0.0.300/8" is neither a CIDR, an IP address nor private_ranges`,
		setaPos(t, cfg, `"fe80::zz"`),
		setaPos(t, cfg, `"x-real-ip"`), `"x-real-ip" is not one of forwarded`)
}
