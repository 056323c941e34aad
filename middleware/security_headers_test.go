package middleware_test

import (
	"slices"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi/internal/pagitest"
)

func TestSecurityHeadersDefaults(t *testing.T) {
	srv, c, _ := setaTLSServer(t, `
site "s" {
  listeners = ["web", "tls"]
  route "/" {
    security_headers {}
    seta_echo_scope {}
  }
  route "/app-set" {
    security_headers {}
    seta_echo_scope { headers = { "X-Frame-Options" = "DENY", "referrer-policy" = "no-referrer" } }
  }
  route "/missing" {
    security_headers {}
    respond { status = 404 }
  }
}
`)
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "SAMEORIGIN",
		"Referrer-Policy":        "strict-origin-when-cross-origin",
	}
	for _, url := range []string{srv.URL("web") + "/", srv.URL("web") + "/missing", "https://" + srv.Addr("tls") + "/"} {
		resp, _ := setaDo(t, c, "GET", url)
		for k, v := range want {
			if got := resp.Header.Values(k); !slices.Equal(got, []string{v}) {
				t.Errorf("%s: %s = %q, want %q", url, k, got, v)
			}
		}
		for _, off := range []string{"Content-Security-Policy", "Permissions-Policy", "Strict-Transport-Security"} {
			if resp.Header.Get(off) != "" {
				t.Errorf("%s: %s sent by default", url, off)
			}
		}
	}
	resp, _ := setaDo(t, nil, "GET", srv.URL("web")+"/app-set")
	if got := resp.Header.Values("X-Frame-Options"); !slices.Equal(got, []string{"DENY"}) {
		t.Errorf("app's X-Frame-Options: %q", got)
	}
	if got := resp.Header.Values("Referrer-Policy"); !slices.Equal(got, []string{"no-referrer"}) {
		t.Errorf("app's Referrer-Policy: %q", got)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("other defaults lost when the app set some")
	}
	// SSE and WebSocket starts get them too.
	resp, _ = setaSSE(t, srv.URL("web")+"/")
	if resp.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("sse.start: %v", resp.Header)
	}
	conn, wsResp, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr("web")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if wsResp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("websocket.accept: %v", wsResp.Header)
	}
}

func TestSecurityHeadersOverrides(t *testing.T) {
	srv, c, _ := setaTLSServer(t, `
site "s" {
  listeners = ["web", "tls"]
  route "/" {
    security_headers {
      x_frame_options         = ""
      referrer_policy         = "no-referrer"
      content_security_policy = "default-src 'self'"
      permissions_policy      = "geolocation=()"
      hsts                    = true
      hsts_max_age            = 600
    }
    seta_echo_scope {}
  }
}
`)
	for _, url := range []string{srv.URL("web") + "/", "https://" + srv.Addr("tls") + "/"} {
		resp, _ := setaDo(t, c, "GET", url)
		h := resp.Header
		if h.Get("X-Frame-Options") != "" || h.Get("Referrer-Policy") != "no-referrer" ||
			h.Get("Content-Security-Policy") != "default-src 'self'" || h.Get("Permissions-Policy") != "geolocation=()" ||
			h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %v", url, h)
		}
		wantHSTS := ""
		if resp.TLS != nil {
			wantHSTS = "max-age=600"
		}
		if got := h.Get("Strict-Transport-Security"); got != wantHSTS {
			t.Errorf("%s: HSTS %q, want %q", url, got, wantHSTS)
		}
	}
}

func TestSecurityHeadersValidation(t *testing.T) {
	cfg := pagitest.Listener("web") + `site "s" {
  route "/" {
    security_headers {
      content_security_policy = "default-src 'self'\nX-Injected: 1"
    }
    respond {}
  }
}
`
	out := setaValidate(t, cfg)
	setaWantDiags(t, out, setaPos(t, cfg, `"default-src`), "must not contain CR, LF or NUL")
}
