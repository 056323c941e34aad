package middleware_test

import (
	"testing"

	"github.com/pagihq/pagi/internal/keepalive"
	"github.com/pagihq/pagi/internal/pagitest"
)

// chainSite has the same small response on a bare route and behind the
// chain of the middleware issue's benchmark: forwarded, request_id,
// access_log, headers, cors and compress.
const chainSite = `
server {
  log_level = "error"
}
middleware "typical" {
  forwarded {
    trusted_proxies = ["private_ranges"]
  }
  request_id {}
  access_log {
    output = "access.log"
  }
  headers {
    response {
      set = { "x-frame-options" = "DENY" }
    }
  }
  cors {
    origins = ["https://app.example.com"]
  }
  compress {}
}
site "s" {
  route "GET /bare" {
    respond {
      headers = { "content-type" = "application/json" }
      body    = "{\"hello\":\"world\"}"
    }
  }
  route "GET /chain" {
    middleware = ["typical"]
    respond {
      headers = { "content-type" = "application/json" }
      body    = "{\"hello\":\"world\"}"
    }
  }
}
`

func benchChain(b *testing.B, path string) {
	srv := pagitest.Start(b, pagitest.Listener("web")+chainSite, nil)
	keepalive.Drive(b, srv.Addr("web"), keepalive.Request(path, "Origin: https://app.example.com", "Accept-Encoding: gzip"))
}

// BenchmarkBareRoute and BenchmarkChainRoute give the per-request cost of
// the typical chain as the difference of the two (ns/op and allocs/op).
func BenchmarkBareRoute(b *testing.B)  { benchChain(b, "/bare") }
func BenchmarkChainRoute(b *testing.B) { benchChain(b, "/chain") }
