package engine

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/internal/keepalive"
)

// benchRequest is one keep-alive GET, as wrk sends it.
var benchRequest = keepalive.Request("/")

// driveKeepAlive sends b.N requests over one keep-alive connection.
func driveKeepAlive(b *testing.B, addr string) { keepalive.Drive(b, addr, benchRequest) }

// startRawHello starts the baseline: net/http with a HandlerFunc writing
// the same response as the pagi app, and returns its address.
func startRawHello(b *testing.B) string {
	body := []byte("Hello, World!")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// startPagiHello starts pagi serving the same response with prebuilt events
// (as the respond handler does) and returns its address.
func startPagiHello(b *testing.B) string {
	headers := pagi.Headers{{Name: "content-type", Value: "text/plain"}}
	start := &pagi.HTTPResponseStart{Status: 200, Headers: headers}
	body := &pagi.HTTPResponseBody{Body: []byte("Hello, World!")}
	app := func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP {
			return pagi.ErrUnsupportedScope
		}
		if err := send(ctx, start); err != nil {
			return err
		}
		return send(ctx, body)
	}
	srv, err := New(testConfig(app, "GET /{$}"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv.Addr("web").String()
}

// BenchmarkRawNetHTTPHello is the baseline for BenchmarkRespondHello.
func BenchmarkRawNetHTTPHello(b *testing.B) { driveKeepAlive(b, startRawHello(b)) }

// BenchmarkRespondHello is the same response through pagi: guard, pipeline,
// mux, scope, events. allocs/op minus the baseline's is pagi's cost.
func BenchmarkRespondHello(b *testing.B) { driveKeepAlive(b, startPagiHello(b)) }

// BenchmarkParallelRawHello and BenchmarkParallelRespondHello compare CPU
// per request under concurrency (many connections at once).
func BenchmarkParallelRawHello(b *testing.B) {
	keepalive.DriveParallel(b, startRawHello(b), benchRequest)
}

// BenchmarkParallelRespondHello is the pagi side of the parallel pair.
func BenchmarkParallelRespondHello(b *testing.B) {
	keepalive.DriveParallel(b, startPagiHello(b), benchRequest)
}
