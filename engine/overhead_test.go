package engine

import (
	"context"
	"github.com/pagihq/pagi/config"
	_ "github.com/pagihq/pagi/handlers"
	_ "github.com/pagihq/pagi/middleware"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/pagihq/pagi"
)

// nopWriter is a ResponseWriter that keeps nothing, so a benchmark measures
// only the handler path.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}
func (w *nopWriter) Flush()                      {}

// BenchmarkHandlerPathRaw and BenchmarkHandlerPathPagi time the in-process
// handler path without sockets: net/http's parsing and writing are not in
// either figure, so the difference is pagi's per-request work (pipeline
// lookup, mux, scope, events).
func BenchmarkHandlerPathRaw(b *testing.B) {
	body := []byte("Hello, World!")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})
	benchHandler(b, mux, "/")
}

func BenchmarkHandlerPathPagi(b *testing.B) {
	headers := pagi.Headers{{Name: "content-type", Value: "text/plain"}}
	start := &pagi.HTTPResponseStart{Status: 200, Headers: headers}
	body := &pagi.HTTPResponseBody{Body: []byte("Hello, World!")}
	app := func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		if err := send(ctx, start); err != nil {
			return err
		}
		return send(ctx, body)
	}
	srv, err := New(testConfig(app, "GET /{$}"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	benchHandler(b, &listenerHandler{srv: srv, name: "web"}, "/")
}

// benchHandler serves GET path to h b.N times, with a few request headers
// and any given as name, value pairs.
func benchHandler(b *testing.B, h http.Handler, path string, headers ...string) {
	r, _ := http.NewRequest("GET", "http://127.0.0.1"+path, nil)
	r.RequestURI = path
	r.Header.Set("User-Agent", "bench")
	r.Header.Set("Accept", "*/*")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	r.RemoteAddr = "127.0.0.1:5555"
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// BenchmarkHandlerPathChainBare and BenchmarkHandlerPathChain time the
// routes of bench/chain-site.hcl in process, without sockets: the
// difference is the CPU the middleware chain of the middleware issue's
// benchmark costs per request (access_log writes to a file in a temporary
// directory).
func BenchmarkHandlerPathChainBare(b *testing.B) { benchChainSite(b, "/bare") }
func BenchmarkHandlerPathChain(b *testing.B)     { benchChainSite(b, "/chain") }

func benchChainSite(b *testing.B, path string) {
	site, err := os.ReadFile("../bench/chain-site.hcl")
	if err != nil {
		b.Fatal(err)
	}
	src := "listener \"web\" {\n  address = \"127.0.0.1:0\"\n}\n" + string(site)
	res := config.Parse(filepath.Join(b.TempDir(), "site.hcl"), []byte(src))
	if res.HasErrors() {
		b.Fatal(res.Diags.Error())
	}
	srv, err := New(res.Config, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	benchHandler(b, &listenerHandler{srv: srv, name: "web"}, path,
		"Origin", "https://app.example.com", "Accept-Encoding", "gzip")
}
