package handlers_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pagihq/pagi/internal/pagitest"
)

func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestRespondAndRedirect(t *testing.T) {
	srv := pagitest.Start(t, pagitest.Listener("web")+`
site "s" {
  route "GET /hello" {
    respond { body = "héllo" }
  }
  route "GET /json" {
    respond {
      status  = 201
      headers = { "Content-Type" = "application/json", "x-b" = "2", "x-a" = "1" }
      body    = "{\"ok\":true}"
    }
  }
  route "GET /empty" {
    respond { status = 204 }
  }
  route "GET /old/{id}" {
    redirect {
      to     = "https://example.com/new/{id}{query}"
      status = 308
    }
  }
  route "/docs/" {
    redirect { to = "/manual{path}" }
  }
}
`, nil)
	base := srv.URL("web")
	resp, body := get(t, base+"/hello")
	if resp.StatusCode != 200 || body != "héllo" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.ContentLength != int64(len("héllo")) {
		t.Errorf("/hello: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = get(t, base+"/json")
	if resp.StatusCode != 201 || body != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-A") != "1" {
		t.Errorf("/json: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = get(t, base+"/empty")
	if resp.StatusCode != 204 || body != "" {
		t.Errorf("/empty: %d %q", resp.StatusCode, body)
	}
	resp, _ = get(t, base+"/old/42?x=1")
	if resp.StatusCode != 308 || resp.Header.Get("Location") != "https://example.com/new/42?x=1" {
		t.Errorf("/old: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = get(t, base+"/docs/a/b")
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/manual/a/b" {
		t.Errorf("/docs: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A respond route answers an SSE request with a plain response (the
	// decline events), not a stream.
	resp, body = get(t, base+"/hello", "Accept", "text/event-stream")
	if resp.StatusCode != 200 || body != "héllo" {
		t.Errorf("/hello as sse: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, base+"/hello", "X-Bad", "x"); resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	if strings.Contains(srv.Logs.String(), `"level":"ERROR"`) {
		t.Errorf("errors logged:\n%s", srv.Logs.String())
	}
}
