package middleware_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi/internal/pagitest"
)

const setaHeadersSite = `
site "s" {
  middleware = ["hdrs"]
  route "/echo" {
    seta_echo_scope {
      headers = { "server" = "app", "x-powered-by" = "php", "cache-control" = "public", "x-keep" = "k" }
    }
  }
  route "/fixed" {
    respond {
      status  = 200
      body    = "x"
      headers = { "X-Powered-By" = "php", "Cache-Control" = "public" }
    }
  }
}
middleware "hdrs" {
  headers {
    request {
      set    = { "X-Set" = "new", "user-agent" = "pagi-test" }
      add    = { "x-multi" = "added" }
      delete = ["Cookie", "x-secret"]
    }
    response {
      set    = { "Cache-Control" = "no-store" }
      add    = { "x-served-by" = "pagi" }
      delete = ["x-powered-by", "Server"]
    }
  }
}
`

func TestHeadersRequestSide(t *testing.T) {
	srv := setaStart(t, setaHeadersSite)
	_, v := setaEcho(t, srv.URL("web")+"/echo",
		"X-Set", "old1", "X-Set", "old2", "X-Multi", "first", "Cookie", "a=b", "X-Secret", "s", "X-Other", "o")
	h := v.Headers
	if !slices.Equal(h["x-set"], []string{"new"}) || !slices.Equal(h["user-agent"], []string{"pagi-test"}) {
		t.Errorf("set: x-set %q user-agent %q", h["x-set"], h["user-agent"])
	}
	if !slices.Equal(h["x-multi"], []string{"first", "added"}) {
		t.Errorf("add: x-multi %q", h["x-multi"])
	}
	if h["cookie"] != nil || h["x-secret"] != nil || !slices.Equal(h["x-other"], []string{"o"}) {
		t.Errorf("delete: %v", h)
	}
}

func TestHeadersResponseSide(t *testing.T) {
	srv := setaStart(t, setaHeadersSite)
	for _, p := range []string{"/echo", "/fixed"} {
		resp, _ := setaDo(t, nil, "GET", srv.URL("web")+p)
		checkSetaResponseHeaders(t, p, resp.Header)
	}
	// The fixed response is a pre-built event: editing it must not leak
	// into the next request.
	resp, _ := setaDo(t, nil, "GET", srv.URL("web")+"/fixed")
	if got := resp.Header.Values("X-Served-By"); len(got) != 1 {
		t.Errorf("second request: x-served-by %q", got)
	}
}

func checkSetaResponseHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	if got := h.Values("Cache-Control"); !slices.Equal(got, []string{"no-store"}) {
		t.Errorf("%s: cache-control %q", what, got)
	}
	if h.Get("X-Served-By") != "pagi" {
		t.Errorf("%s: x-served-by %q", what, h.Get("X-Served-By"))
	}
	if h.Get("X-Powered-By") != "" || h.Get("Server") != "" {
		t.Errorf("%s: deleted headers still there: %v", what, h)
	}
}

func TestHeadersSSEAndWebSocket(t *testing.T) {
	srv := setaStart(t, setaHeadersSite)
	resp, v := setaSSE(t, srv.URL("web")+"/echo", "Cookie", "a=b")
	if v.Type != "sse" || v.Headers["cookie"] != nil || !slices.Equal(v.Headers["x-set"], []string{"new"}) {
		t.Errorf("sse request side: %+v", v)
	}
	checkSetaResponseHeaders(t, "sse.start", resp.Header)
	if resp.Header.Get("X-Keep") != "k" {
		t.Errorf("sse.start lost the app's header: %v", resp.Header)
	}
	// The respond handler declines an SSE request with a plain response.
	resp, _ = setaSSE(t, srv.URL("web")+"/fixed")
	checkSetaResponseHeaders(t, "sse decline", resp.Header)

	conn, wsResp, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr("web")+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	checkSetaResponseHeaders(t, "websocket.accept", wsResp.Header)
	// The respond handler denies a WebSocket handshake.
	_, wsResp, err = websocket.DefaultDialer.Dial("ws://"+srv.Addr("web")+"/fixed", nil)
	if err == nil || wsResp == nil {
		t.Fatalf("denial expected, got %v", err)
	}
	checkSetaResponseHeaders(t, "websocket denial", wsResp.Header)
}

func TestHeadersValidation(t *testing.T) {
	cfg := pagitest.Listener("web") + `site "s" {
  route "/" {
    headers {
      request {
        set = { "x-ok" = "fine", "x-bad" = "a\r\nInjected: yes" }
      }
      response {
        add    = { "bad name" = "v" }
        delete = ["ok", "no:colon"]
      }
    }
    respond {}
  }
}
`
	out := setaValidate(t, cfg)
	setaWantDiags(t, out,
		setaPos(t, cfg, `"a\r\nInjected: yes"`), `value of header "x-bad" contains byte 0x0d`,
		setaPos(t, cfg, `"bad name"`), `header name "bad name" contains byte 0x20`,
		setaPos(t, cfg, `"no:colon"`), `header name "no:colon" contains byte 0x3a`)
}
