package middleware_test

import (
	"os"
	"testing"

	"github.com/pagihq/pagi/internal/keepalive"
	"github.com/pagihq/pagi/internal/pagitest"
)

// chainSite is bench/chain-site.hcl: the same small response on a bare
// route and behind the chain of the middleware issue's benchmark
// (forwarded, request_id, access_log, headers, cors and compress), shared
// with the wrk run of bench/chain.sh.
func chainSite(b *testing.B) string {
	site, err := os.ReadFile("../bench/chain-site.hcl")
	if err != nil {
		b.Fatal(err)
	}
	return string(site)
}

func benchChain(b *testing.B, path string) {
	srv := pagitest.Start(b, pagitest.Listener("web")+chainSite(b), nil)
	keepalive.Drive(b, srv.Addr("web"), keepalive.Request(path, "Origin: https://app.example.com", "Accept-Encoding: gzip"))
}

// BenchmarkBareRoute and BenchmarkChainRoute give the per-request cost of
// the typical chain as the difference of the two (ns/op and allocs/op).
func BenchmarkBareRoute(b *testing.B)  { benchChain(b, "/bare") }
func BenchmarkChainRoute(b *testing.B) { benchChain(b, "/chain") }
