package middleware_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi/internal/pagitest"
)

const setaCORSSite = `
site "s" {
  route "/api" {
    cors {
      origins        = ["https://example.com", "https://*.example.org"]
      methods        = ["GET", "put"]
      headers        = ["Content-Type", "x-token"]
      expose_headers = ["X-Request-Id"]
      max_age        = "5m"
    }
    seta_echo_scope {}
  }
  route "/star" {
    cors { origins = ["*"] }
    seta_echo_scope {}
  }
  route "/cred" {
    cors {
      origins     = ["https://example.com"]
      credentials = true
    }
    seta_echo_scope {}
  }
  route "/anyheader" {
    cors {
      origins = ["*"]
      headers = ["*"]
    }
    seta_echo_scope {}
  }
  route "/ws" {
    cors { origins = ["https://example.com"] }
    websocket { echo = true }
  }
}
`

func setaVaryHasOrigin(h http.Header) bool {
	for _, v := range h.Values("Vary") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "origin") {
				return true
			}
		}
	}
	return false
}

func TestCORSPreflight(t *testing.T) {
	srv := setaStart(t, setaCORSSite)
	url := srv.URL("web") + "/api"
	preflight := func(origin, method, headers string) (*http.Response, string) {
		h := []string{"Origin", origin, "Access-Control-Request-Method", method}
		if headers != "" {
			h = append(h, "Access-Control-Request-Headers", headers)
		}
		return setaDo(t, nil, "OPTIONS", url, h...)
	}
	resp, body := preflight("https://example.com", "PUT", "Content-Type, X-Token")
	h := resp.Header
	if resp.StatusCode != 204 || body != "" {
		t.Fatalf("allowed preflight: %d %q", resp.StatusCode, body)
	}
	if h.Get("Access-Control-Allow-Origin") != "https://example.com" || h.Get("Access-Control-Allow-Methods") != "GET, PUT" ||
		h.Get("Access-Control-Allow-Headers") != "content-type, x-token" || h.Get("Access-Control-Max-Age") != "300" ||
		!setaVaryHasOrigin(h) || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("allowed preflight headers: %v", h)
	}
	// POST is CORS-safelisted: allowed though not listed.
	if resp, _ := preflight("https://EXAMPLE.com", "POST", ""); resp.StatusCode != 204 {
		t.Errorf("safelisted method: %d", resp.StatusCode)
	}
	for _, c := range []struct{ origin, method, headers string }{
		{"https://evil.example", "PUT", ""},
		{"https://example.com", "DELETE", ""},
		{"https://example.com", "PUT", "content-type, x-evil"},
		{"https://example.com", "P UT", ""},
		{"null", "GET", ""},
		{"https://example.org", "GET", ""},  // the apex is not *.example.org
		{"http://a.example.org", "GET", ""}, // scheme differs
		{"https://a.example.org.evil.example", "GET", ""},
		{"https://evil-example.org", "GET", ""},
		{"https://.example.org", "GET", ""},
		{"https://a.example.org:8443", "GET", ""}, // port differs
	} {
		resp, _ := preflight(c.origin, c.method, c.headers)
		if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("denied preflight %+v: %d %v", c, resp.StatusCode, resp.Header)
		}
	}
	// Wildcard subdomains, one level or more.
	for _, o := range []string{"https://a.example.org", "https://a.b-c.example.org"} {
		if resp, _ := preflight(o, "GET", ""); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != o {
			t.Errorf("wildcard origin %s: %d %q", o, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	// OPTIONS without Access-Control-Request-Method is an ordinary request.
	resp, body = setaDo(t, nil, "OPTIONS", url, "Origin", "https://example.com")
	if resp.StatusCode != 200 || !strings.Contains(body, `"type":"http"`) {
		t.Errorf("plain OPTIONS: %d %q", resp.StatusCode, body)
	}
}

func TestCORSActualRequests(t *testing.T) {
	srv := setaStart(t, setaCORSSite)
	base := srv.URL("web")
	resp, _ := setaDo(t, nil, "GET", base+"/api", "Origin", "https://x.example.org")
	h := resp.Header
	if resp.StatusCode != 200 || h.Get("Access-Control-Allow-Origin") != "https://x.example.org" || !setaVaryHasOrigin(h) ||
		h.Get("Access-Control-Expose-Headers") != "x-request-id" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("allowed origin: %d %v", resp.StatusCode, h)
	}
	resp, _ = setaDo(t, nil, "GET", base+"/api", "Origin", "https://evil.example")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" || !setaVaryHasOrigin(resp.Header) {
		t.Errorf("disallowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = setaDo(t, nil, "GET", base+"/api")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" || !setaVaryHasOrigin(resp.Header) {
		t.Errorf("no origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = setaDo(t, nil, "GET", base+"/star", "Origin", "https://anything.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || setaVaryHasOrigin(resp.Header) {
		t.Errorf("star: %v", resp.Header)
	}
	resp, _ = setaDo(t, nil, "GET", base+"/cred", "Origin", "https://example.com")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://example.com" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" || !setaVaryHasOrigin(resp.Header) {
		t.Errorf("credentials: %v", resp.Header)
	}
	resp, _ = setaDo(t, nil, "OPTIONS", base+"/cred", "Origin", "https://example.com", "Access-Control-Request-Method", "GET")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Credentials") != "true" || resp.Header.Get("Access-Control-Allow-Origin") != "https://example.com" {
		t.Errorf("credentialed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = setaDo(t, nil, "OPTIONS", base+"/anyheader", "Origin", "https://a.example", "Access-Control-Request-Method", "GET",
		"Access-Control-Request-Headers", "X-Anything, x-other")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Headers") != "x-anything, x-other" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("any header: %d %v", resp.StatusCode, resp.Header)
	}
	// SSE streams get the headers on sse.start.
	resp, v := setaSSE(t, base+"/api", "Origin", "https://example.com")
	if v.Type != "sse" || resp.Header.Get("Access-Control-Allow-Origin") != "https://example.com" {
		t.Errorf("sse: %v", resp.Header)
	}
}

func TestCORSWebSocketOrigin(t *testing.T) {
	srv := setaStart(t, setaCORSSite)
	url := "ws://" + srv.Addr("web") + "/ws"
	for _, origin := range []string{"https://evil.example", "null", "https://example.com.evil.example"} {
		conn, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {origin}})
		if err == nil {
			conn.Close()
			t.Errorf("origin %s: handshake accepted", origin)
			continue
		}
		if resp == nil || resp.StatusCode != 403 {
			t.Errorf("origin %s: %v %v", origin, err, resp)
		}
	}
	for _, h := range []http.Header{{"Origin": {"https://example.com"}}, nil} {
		conn, _, err := websocket.DefaultDialer.Dial(url, h)
		if err != nil {
			t.Fatalf("origin %v: %v", h, err)
		}
		if err := conn.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "hi" {
			t.Errorf("echo: %q %v", msg, err)
		}
		conn.Close()
	}
}

func TestCORSValidation(t *testing.T) {
	cfg := pagitest.Listener("web") + `site "s" {
  route "/a" {
    cors {
      origins     = ["https://ok.example", "*"]
      credentials = true
    }
    respond {}
  }
  route "/b" {
    cors {
      origins        = ["https://example.com/", "https://a.*.example.com", "example.com", "https://x.example:99999"]
      methods        = ["GE T"]
      headers        = ["x ok"]
    }
    respond {}
  }
  route "/c" {
    cors { origins = [] }
    respond {}
  }
}
`
	out := setaValidate(t, cfg)
	setaWantDiags(t, out,
		setaPos(t, cfg, `"*"]`), `"*" with credentials`,
		setaPos(t, cfg, `"https://example.com/"`), "an origin has no path",
		setaPos(t, cfg, `"https://a.*.example.com"`), "a wildcard may only be the first label",
		setaPos(t, cfg, `"example.com"`), "an origin is scheme://host[:port]",
		setaPos(t, cfg, `"https://x.example:99999"`), `bad port "99999"`,
		setaPos(t, cfg, `"GE T"`), "is not an HTTP method",
		setaPos(t, cfg, `"x ok"`), "is not a header name",
		setaPos(t, cfg, `[] }`), "No origins")
}
