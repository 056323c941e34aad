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

// BenchmarkRawNetHTTPHello is the baseline: net/http with a HandlerFunc
// writing the same response as BenchmarkRespondHello.
func BenchmarkRawNetHTTPHello(b *testing.B) {
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
	defer srv.Close()
	driveKeepAlive(b, ln.Addr().String())
}

// BenchmarkRespondHello is the same response through pagi: guard, pipeline,
// mux, scope, events. allocs/op minus the baseline's is pagi's cost.
func BenchmarkRespondHello(b *testing.B) {
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
	cfg := testConfig(app, "GET /{$}")
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	driveKeepAlive(b, srv.Addr("web").String())
}

// driveParallel runs keep-alive requests over many connections at once.
func driveParallel(b *testing.B, addr string) { keepalive.DriveParallel(b, addr, benchRequest) }

// BenchmarkParallelRawHello and BenchmarkParallelRespondHello compare CPU
// per request under concurrency.
func BenchmarkParallelRawHello(b *testing.B) {
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
	defer srv.Close()
	driveParallel(b, ln.Addr().String())
}

func BenchmarkParallelRespondHello(b *testing.B) {
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
	defer srv.Shutdown(context.Background())
	driveParallel(b, srv.Addr("web").String())
}
