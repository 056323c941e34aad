// Package pagitest starts real pagi servers for tests: it writes a config
// to a temporary directory, loads it with the config package, serves it
// with the engine on 127.0.0.1 ports chosen by the kernel, and stops it when
// the test ends.
package pagitest

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/engine"
)

// Server is a running test server.
type Server struct {
	// Engine is the running server.
	Engine *engine.Server
	// Dir is the temporary directory holding site.hcl.
	Dir string
	// Logs collects everything the server logged (JSON lines).
	Logs *SyncBuffer
}

// URL returns "http://127.0.0.1:PORT" for the listener called name.
func (s *Server) URL(name string) string {
	return "http://" + s.Engine.Addr(name).String()
}

// Addr returns the host:port of the listener called name.
func (s *Server) Addr(name string) string {
	return s.Engine.Addr(name).String()
}

// Start writes hcl as site.hcl in a new temporary directory (files maps
// further relative paths to contents, written first), loads it, starts it
// and registers its shutdown with t.Cleanup. Listener addresses in hcl
// should use port 0. Start fails the test on any diagnostic error.
func Start(t testing.TB, hcl string, files map[string]string) *Server {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return StartIn(t, dir, hcl)
}

// StartIn is Start with a directory the caller prepared.
func StartIn(t testing.TB, dir, hcl string) *Server {
	t.Helper()
	path := filepath.Join(dir, "site.hcl")
	if err := os.WriteFile(path, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	res := config.Load(path)
	if res.Diags.HasErrors() {
		var b bytes.Buffer
		_ = res.WriteText(&b, false)
		t.Fatalf("config errors:\n%s", b.String())
	}
	logs := &SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := engine.New(res.Config, log)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &Server{Engine: srv, Dir: dir, Logs: logs}
}

// Listener returns an HCL listener block named name on 127.0.0.1:0 with
// extra attributes appended.
func Listener(name string, extra ...string) string {
	return "listener \"" + name + "\" {\n  address = \"127.0.0.1:0\"\n  " + strings.Join(extra, "\n  ") + "\n}\n"
}

// Validate loads the config at path and returns its diagnostics as text
// (empty when there are none).
func Validate(t testing.TB, path string) string {
	t.Helper()
	res := config.Load(path)
	var b bytes.Buffer
	_ = res.WriteText(&b, false)
	return b.String()
}
