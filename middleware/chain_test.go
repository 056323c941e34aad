package middleware_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pagihq/pagi/internal/pagitest"
)

// TestChainOrder checks the documented order: site chains, site blocks,
// route chains, route blocks, handler — outermost first. Each layer adds a
// response header on the way out, so the innermost layer's value comes
// first and the outermost's last.
func TestChainOrder(t *testing.T) {
	layer := func(name string) string {
		return `headers {
    response {
      add = { "x-order" = "` + name + `" }
    }
  }`
	}
	srv := pagitest.Start(t, pagitest.Listener("web")+`
middleware "site_chain" {
  `+layer("site-chain")+`
}
middleware "route_chain" {
  `+layer("route-chain")+`
}
site "s" {
  middleware = ["site_chain"]
  `+layer("site-inline")+`
  route "GET /" {
    middleware = ["route_chain"]
    `+layer("route-inline")+`
    respond { body = "ok" }
  }
}
`, nil)
	resp, err := http.Get(srv.URL("web") + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := strings.Join(resp.Header.Values("X-Order"), ",")
	if want := "route-inline,route-chain,site-inline,site-chain"; got != want {
		t.Errorf("x-order %q, want %q (innermost first on the way out)", got, want)
	}
}
