package engine

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

// appModule is a handler module that builds a fixed app, so engine tests
// can serve any Go app without the config loader.
type appModule struct{ app pagi.App }

func (m *appModule) BuildApp(*config.BuildContext) (pagi.App, error) { return m.app, nil }

// testConfig returns a config with one listener "web" on 127.0.0.1:0 and one
// site whose only route (pattern, default "/") runs app.
func testConfig(app pagi.App, pattern string) *config.Config {
	if pattern == "" {
		pattern = "/"
	}
	r := &config.Route{Pattern: pattern, Handler: &config.Use{Type: "test", Module: &appModule{app}}}
	r.Method, r.Host, r.Path, r.Params = splitPatternForTest(pattern)
	r.Mount = strings.HasSuffix(r.Path, "/")
	return &config.Config{
		Server: config.Server{Lifespan: "auto", LifespanStartupTimeout: config.Duration(5 * time.Second),
			GracefulTimeout: config.Duration(5 * time.Second), Limits: config.DefaultLimits},
		Listeners: []*config.Listener{{Name: "web", Network: "tcp", Addr: "127.0.0.1:0", Limits: config.DefaultLimits}},
		Sites:     []*config.Site{{Name: "test", Listeners: []string{"web"}, Routes: []*config.Route{r}}},
	}
}

// splitPatternForTest is a small ServeMux pattern splitter for test configs.
func splitPatternForTest(p string) (method, host, path string, params []string) {
	if i := strings.IndexByte(p, ' '); i >= 0 {
		method, p = p[:i], strings.TrimLeft(p[i+1:], " ")
	}
	i := strings.IndexByte(p, '/')
	host, path = p[:i], p[i:]
	for seg := range strings.SplitSeq(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			name := strings.TrimSuffix(strings.TrimSuffix(seg[1:len(seg)-1], "..."), "$")
			if name != "" {
				params = append(params, name)
			}
		}
	}
	return
}

// testServer is a running engine server for one test.
type testServer struct {
	*Server
	logs *syncBuffer
}

func (ts *testServer) url(path string) string { return "http://" + ts.Addr("web").String() + path }

// startConfig compiles and starts cfg, stopping it when the test ends.
func startConfig(t *testing.T, cfg *config.Config) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &testServer{Server: srv, logs: logs}
}

// serveApp starts a server whose route pattern (default "/") runs app.
func serveApp(t *testing.T, app pagi.App, pattern string) *testServer {
	t.Helper()
	return startConfig(t, testConfig(app, pattern))
}

// rawRequest writes req on a new connection and returns the first response.
func rawRequest(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	resp.Body.Close()
	return resp, b.String()
}

// okApp answers 200 "ok".
func okApp(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
	if s.Type == pagi.ScopeLifespan {
		return pagi.ErrUnsupportedScope
	}
	return pagi.Respond(ctx, s, send, 200, pagi.Headers{{Name: "content-type", Value: "text/plain"}}, []byte("ok"))
}

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
