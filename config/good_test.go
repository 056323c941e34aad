package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

func TestDesignExample(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := parseIn(dir, designExample)
	if r.Config == nil || len(r.Diags) != 0 {
		t.Fatalf("want no diagnostics, got:\n%s", diagText(r))
	}
	c := r.Config
	if c.Path != filepath.Join(dir, "site.hcl") || !slices.Equal(c.Files, []string{c.Path}) || len(c.Hash) != 64 {
		t.Errorf("Path %q Files %v Hash %q", c.Path, c.Files, c.Hash)
	}
	if want := DefaultServer(); !reflect.DeepEqual(c.Server.Limits, want.Limits) || c.Server.LogLevel != "info" || !c.Server.Watch {
		t.Errorf("server = %+v", c.Server)
	}
	if len(c.Listeners) != 1 || c.Listeners[0].Network != "tcp" || c.Listeners[0].Addr != "127.0.0.1:8080" || c.Listeners[0].TLS != nil {
		t.Fatalf("listeners = %+v", c.Listeners)
	}
	if c.PubSub == nil || c.PubSub.Backend != "memory" {
		t.Errorf("pubsub = %+v", c.PubSub)
	}
	if len(c.Chains) != 1 || c.Chains[0].Name != "standard" || len(c.Chains[0].Middleware) != 2 {
		t.Fatalf("chains = %+v", c.Chains)
	}
	if al := c.Chains[0].Middleware[1].Module.(*testAccessLog); al.Format != "combined" {
		t.Errorf("access_log format = %q", al.Format)
	}
	s := c.Sites[0]
	if s.Name != "app" || !slices.Equal(s.Listeners, []string{"web"}) || !slices.Equal(s.Hosts, []string{"localhost"}) {
		t.Errorf("site = %+v", s)
	}
	if len(s.Middleware) != 2 || s.Middleware[0].Type != "request_id" || s.Middleware[0].Chain != "standard" || s.Middleware[1].Type != "access_log" {
		t.Errorf("site middleware = %+v", s.Middleware)
	}
	type rt struct {
		method, path, handler string
		params                []string
		mount                 bool
	}
	want := []rt{
		{"GET", "/", "respond", nil, true},
		{"GET", "/static/", "static", nil, true},
		{"GET", "/chat/{room}", "websocket", []string{"room"}, false},
		{"GET", "/events", "sse", nil, false},
		{"POST", "/publish/{channel}", "publish", []string{"channel"}, false},
	}
	if len(s.Routes) != len(want) {
		t.Fatalf("%d routes", len(s.Routes))
	}
	for i, w := range want {
		r := s.Routes[i]
		got := rt{r.Method, r.Path, r.Handler.Type, r.Params, r.Mount}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("route %d = %+v, want %+v", i, got, w)
		}
		if r.Handler.Dir != dir {
			t.Errorf("route %d handler dir %q", i, r.Handler.Dir)
		}
	}
	if body := s.Routes[0].Handler.Module.(*testRespond); body.Body != "Hello from pagi" || body.Status != 200 {
		t.Errorf("respond = %+v", body)
	}
	if st := s.Routes[1].Handler.Module.(*testRoot); st.Root != "./public" || !slices.Equal(st.Index, []string{"index.html"}) {
		t.Errorf("static = %+v (defaults must survive)", st)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, t.TempDir(), "")
	if !reflect.DeepEqual(c.Server, DefaultServer()) {
		t.Errorf("server = %+v", c.Server)
	}
	if c.PubSub != nil || len(c.Listeners) != 0 || len(c.Sites) != 0 {
		t.Errorf("config = %+v", c)
	}
	s := DefaultServer()
	if s.LogLevel != "info" || s.LogFormat != "auto" || s.GracefulTimeout.D() != 30*time.Second || !s.Watch ||
		s.Lifespan != "auto" || s.LifespanStartupTimeout.D() != 30*time.Second || s.Limits != DefaultLimits {
		t.Errorf("DefaultServer() = %+v", s)
	}
}

func TestServerAndListenerLimits(t *testing.T) {
	c := mustParse(t, t.TempDir(), `server {
  workers          = 4
  graceful_timeout = 5
  idle_timeout     = "2m"
  max_body_bytes   = "1MiB"
  log_format       = "json"
}
listener "a" {
  address        = "[::1]:0"
  max_body_bytes = "64KB"
  http2          = true
}
listener "b" {
  address = "localhost:9000"
}
site "s" {
  listeners = ["a", "b"]
  route "/" {
    respond {}
  }
}
`)
	srv := c.Server
	if srv.Workers != 4 || srv.GracefulTimeout.D() != 5*time.Second || srv.IdleTimeout.D() != 2*time.Minute ||
		srv.MaxBodyBytes != 1<<20 || srv.LogFormat != "json" || srv.LogLevel != "info" || srv.ReadHeaderTimeout != DefaultLimits.ReadHeaderTimeout {
		t.Errorf("server = %+v", srv)
	}
	a, b := c.Listeners[0], c.Listeners[1]
	if a.Limits.MaxBodyBytes != 64_000 || a.Limits.IdleTimeout.D() != 2*time.Minute || !a.HTTP2 || a.Addr != "[::1]:0" {
		t.Errorf("listener a = %+v", a)
	}
	if b.Limits != srv.Limits || b.HTTP2 {
		t.Errorf("listener b = %+v", b)
	}
}

func TestFunctions(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.txt", "hello from a file\n")
	t.Setenv("PAGI_TEST_ADDR", "127.0.0.1:0")
	t.Setenv("PAGI_TEST_EMPTY", "")
	src := `listener "web" {
  address = env("PAGI_TEST_ADDR")
}
site "app" {
  route "/" {
    respond {
      body    = trimspace(file("body.txt"))
      headers = {
        a = env("PAGI_TEST_UNSET_X", "fallback")
        b = env("PAGI_TEST_EMPTY", "not used")
        c = upper(format("%s-%d", "x", 2))
        d = join(",", concat(split(",", "p,q"), ["r"]))
        e = jsonencode({ k = 1 })
        f = coalesce(null, "second")
        g = replace(lower("A-B"), "-", "_")
        h = tostring(12)
      }
      status = tonumber("201")
    }
  }
}
`
	c := mustParse(t, dir, src)
	if c.Listeners[0].Addr != "127.0.0.1:0" {
		t.Errorf("addr = %q", c.Listeners[0].Addr)
	}
	mod := c.Sites[0].Routes[0].Handler.Module.(*testRespond)
	want := map[string]string{"a": "fallback", "b": "", "c": "X-2", "d": "p,q,r", "e": `{"k":1}`, "f": "second", "g": "a_b", "h": "12"}
	if mod.Body != "hello from a file" || mod.Status != 201 || !reflect.DeepEqual(mod.Headers, want) {
		t.Errorf("respond = %+v", mod)
	}
	if !slices.Equal(c.Files, []string{filepath.Join(dir, "site.hcl"), filepath.Join(dir, "body.txt")}) {
		t.Errorf("files = %v", c.Files)
	}
	// The hash covers file() targets.
	writeFile(t, dir, "body.txt", "changed\n")
	if c2 := mustParse(t, dir, src); c2.Hash == c.Hash {
		t.Error("hash did not change with a file() target")
	}
	if c3 := mustParse(t, dir, src); c3.Hash != mustParse(t, dir, src).Hash {
		t.Error("hash is not stable")
	}
	if !slices.Contains(FunctionNames(), "env") || len(FunctionNames()) != 14 {
		t.Errorf("FunctionNames() = %v", FunctionNames())
	}
}

func TestMountsAndParams(t *testing.T) {
	c := mustParse(t, t.TempDir(), `listener "web" {
  address = ":0"
}
site "app" {
  route "/{$}" {
    respond {}
  }
  route "/assets/" {
    respond {}
  }
  route "GET /files/{path...}" {
    respond {}
  }
  route "DELETE example.com/items/{id}/tags/{tag}" {
    respond {}
  }
}
`)
	got := []string{}
	for _, r := range c.Sites[0].Routes {
		got = append(got, strings.Join([]string{r.Method, r.Host, r.Path, strings.Join(r.Params, ","), map[bool]string{true: "mount"}[r.Mount]}, "|"))
	}
	want := []string{"||/{$}||", "||/assets/||mount", "GET||/files/{path...}|path|", "DELETE|example.com|/items/{id}/tags/{tag}|id,tag|"}
	if !slices.Equal(got, want) {
		t.Errorf("routes:\n got %q\nwant %q", got, want)
	}
}

func TestSiteHosts(t *testing.T) {
	// The same route on one listener is fine for sites of different hosts,
	// and a site may serve several listeners.
	c := mustParse(t, t.TempDir(), `listener "a" {
  address = "127.0.0.1:0"
}
listener "b" {
  address = "127.0.0.1:0"
}
site "one" {
  listeners = ["a", "b"]
  hosts     = ["one.example", "www.one.example"]
  route "/" {
    respond {}
  }
}
site "two" {
  listeners = ["a"]
  hosts     = ["two.example:8080"]
  route "/" {
    respond {}
  }
}
site "fallback" {
  listeners = ["b"]
  route "GET /{$}" {
    respond {}
  }
}
`)
	if len(c.Sites) != 3 || !slices.Equal(c.Sites[0].Hosts, []string{"one.example", "www.one.example"}) || !slices.Equal(c.Sites[0].Listeners, []string{"a", "b"}) {
		t.Errorf("sites = %+v", c.Sites)
	}
}

func TestMiddlewareOrder(t *testing.T) {
	c := mustParse(t, t.TempDir(), `listener "web" {
  address = ":0"
}
middleware "outer" {
  testmw { name = "chain-1" }
  testmw { name = "chain-2" }
}
middleware "inner" {
  testmw { name = "route-chain" }
}
site "app" {
  middleware = ["outer"]
  testmw { name = "site-inline" }
  route "/" {
    testmw { name = "route-inline" }
    middleware = ["inner"]
    respond {}
    testmw { name = "after-handler" }
  }
}
`)
	names := func(uses []*Use) (out []string) {
		for _, u := range uses {
			out = append(out, u.Module.(*testMW).Name+"@"+u.Chain)
		}
		return out
	}
	s := c.Sites[0]
	if got := names(s.Middleware); !slices.Equal(got, []string{"chain-1@outer", "chain-2@outer", "site-inline@"}) {
		t.Errorf("site middleware = %v", got)
	}
	if got := names(s.Routes[0].Middleware); !slices.Equal(got, []string{"route-chain@inner", "route-inline@", "after-handler@"}) {
		t.Errorf("route middleware = %v", got)
	}
	if s.Routes[0].Handler.Type != "respond" {
		t.Errorf("handler = %+v", s.Routes[0].Handler)
	}
}

func TestUnixListenerDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, dir, `listener "sock" {
  address = "unix:run/pagi.sock"
  mode    = "0660"
}
`)
	ln := c.Listeners[0]
	if ln.Network != "unix" || ln.Addr != filepath.Join(dir, "run", "pagi.sock") || ln.Mode != 0o660 {
		t.Errorf("listener = %+v", ln)
	}
	if _, err := os.Stat(ln.Addr); !os.IsNotExist(err) {
		t.Errorf("validation must not create the socket: %v", err)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	tlsFiles(t, dir)
	c := mustParse(t, dir, `listener "web" {
  address = "127.0.0.1:0"
  tls {
    cert        = "cert.pem"
    key         = "key.pem"
    client_ca   = "other.pem"
    min_version = "1.3"
  }
}
listener "plain" {
  address = "127.0.0.1:0"
  tls {
    cert = "cert.pem"
    key  = "key.pem"
  }
}
site "app" {
  listeners = ["web", "plain"]
  route "/" {
    respond {}
  }
}
`)
	got := c.Listeners[0].TLS
	if got == nil || got.Cert != filepath.Join(dir, "cert.pem") || got.Key != filepath.Join(dir, "key.pem") ||
		got.ClientCA != filepath.Join(dir, "other.pem") || got.MinVersion != tls.VersionTLS13 {
		t.Fatalf("tls = %+v", got)
	}
	if v := c.Listeners[1].TLS.MinVersion; v != tls.VersionTLS12 {
		t.Errorf("default min version = %x", v)
	}
	want := []string{filepath.Join(dir, "site.hcl"), got.Cert, got.Key, got.ClientCA}
	if !slices.Equal(c.Files, want) {
		t.Errorf("files = %v, want %v", c.Files, want)
	}
}

func TestPubSubRedis(t *testing.T) {
	c := mustParse(t, t.TempDir(), `pubsub {
  backend      = "redis"
  url          = "rediss://user:secret@redis.internal:6380/2"
  pool_size    = 10
  dial_timeout = "2s"
  read_timeout = 1.5
  replay       = 100
}
`)
	ps := c.PubSub
	want := map[string]any{"pool_size": 10, "dial_timeout": 2 * time.Second, "read_timeout": 1500 * time.Millisecond, "replay": 100}
	if ps.Backend != "redis" || ps.URL != "rediss://user:secret@redis.internal:6380/2" || !reflect.DeepEqual(ps.Options, want) {
		t.Errorf("pubsub = %+v", ps)
	}
	for _, u := range []string{"redis://localhost", "redis://:pw@127.0.0.1:6379/0", "unix:///run/redis.sock"} {
		if err := checkRedisURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"", "localhost:6379", "redis://h:0", "redis://h:99999", "unix://", "redis://h/-1", "redis:opaque"} {
		if err := checkRedisURL(u); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
}

func TestWarnings(t *testing.T) {
	r := parseIn(t.TempDir(), `server {
  workers = 2
}
listener "web" {
  address = "127.0.0.1:0"
}
listener "unused" {
  address = "127.0.0.1:0"
}
pubsub {
  backend  = "memory"
  url      = "redis://x"
}
site "app" {
  listeners = ["web"]
  route "get /" {
    respond {}
  }
}
site "empty" {
  listeners = ["web"]
}
`)
	if r.Config == nil {
		t.Fatalf("warnings must not invalidate:\n%s", diagText(r))
	}
	want := []string{
		`site.hcl:7:10: warning: listener "unused" is not used by any site`,
		`site.hcl:11:14: warning: with 2 workers, memory pubsub messages do not cross worker processes; use backend = "redis"`,
		`site.hcl:12:14: warning: url is ignored by the memory backend`,
		`site.hcl:16:9: warning: method "get" is not "GET"`,
		`site.hcl:20:1: warning: site "empty" has no routes`,
	}
	text := diagText(r)
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in:\n%s", w, text)
		}
	}
	if n := len(r.Diags); n != len(want) {
		t.Errorf("%d diagnostics, want %d:\n%s", n, len(want), text)
	}
}

func TestValidateContext(t *testing.T) {
	lastValidateContext = nil
	dir := t.TempDir()
	mustParse(t, dir, `server {
  workers = 3
}
listener "web" {
  address = ":0"
}
pubsub {
  backend = "redis"
  url     = "redis://localhost"
}
site "app" {
  route "/x/{id}" {
    testctx { value = "v" }
  }
}
`)
	seen := lastValidateContext
	if seen == nil || seen.Dir != dir || seen.Workers != 3 || seen.PubSub == nil || seen.PubSub.Backend != "redis" ||
		seen.Route == nil || seen.Route.Pattern != "/x/{id}" || seen.Block.Type != "testctx" ||
		!seen.Has("value") || seen.Has("other") || seen.AttrRange("value").Start.Line != 13 || seen.AttrRange("other").Start.Line != 13 {
		t.Errorf("context = %+v", seen)
	}
}

// lastValidateContext is the context the last testctx block was validated
// with.
var lastValidateContext *ValidateContext

// ctxProbe is a handler that records its ValidateContext.
type ctxProbe struct {
	Value string `hcl:"value,optional"`
}

func (p *ctxProbe) Validate(ctx *ValidateContext) hcl.Diagnostics {
	lastValidateContext = ctx
	return nil
}

func TestInclude(t *testing.T) {
	dir := t.TempDir()
	withFiles(
		"common/listeners.hcl", `listener "web" {
  address = "127.0.0.1:0"
  tls {
    cert = "cert.pem"
    key  = "key.pem"
  }
}
`,
		"common/chains.hcl", "middleware \"shared\" {\n  request_id {}\n}\n",
		"sites/a.hcl", `site "a" {
  hosts      = ["a.example"]
  middleware = ["shared"]
  route "GET /static/" {
    static { root = "public" }
  }
  route "GET /{$}" {
    respond { body = file("body.txt") }
  }
}
`,
		"sites/b.hcl", `include "../common/chains.hcl" // a nested include
site "b" {
  hosts = ["b.example"]
  route "/" {
    respond {}
  }
}
`,
		"sites/body.txt", "from a",
		"sites/public/index.html", "<p>a</p>",
		// A directory a pattern matches is not a file to include.
		"sites/dir.hcl/x", "",
	)(t, dir)
	tlsFiles(t, filepath.Join(dir, "common"))
	src := `server {
  workers = 1
}
include "common/listeners.hcl"
include "sites/*.hcl" # every site
`
	r := parseIn(dir, src)
	if r.Config == nil || len(r.Diags) != 0 {
		t.Fatalf("want no diagnostics, got:\n%s", diagText(r))
	}
	c := r.Config
	in := func(name string) string { return filepath.Join(dir, filepath.FromSlash(name)) }
	wantFiles := []string{in("site.hcl"), in("common/listeners.hcl"), in("sites/a.hcl"), in("sites/b.hcl"), in("common/chains.hcl"),
		in("common/cert.pem"), in("common/key.pem"), in("sites/body.txt")}
	if !slices.Equal(c.Files, wantFiles) {
		t.Errorf("files:\n got %v\nwant %v", c.Files, wantFiles)
	}
	for _, f := range wantFiles[:5] {
		if r.Files[f] == nil {
			t.Errorf("Result.Files lacks %s", f)
		}
	}
	if c.Server.Workers != 1 || len(c.Listeners) != 1 || len(c.Chains) != 1 || len(c.Sites) != 2 || c.Sites[0].Name != "a" || c.Sites[1].Name != "b" {
		t.Fatalf("config = %+v", c)
	}
	if tl := c.Listeners[0].TLS; tl.Cert != in("common/cert.pem") || tl.Key != in("common/key.pem") {
		t.Errorf("tls = %+v", tl)
	}
	a := c.Sites[0]
	if st := a.Routes[0].Handler; st.Dir != in("sites") || st.Module.(*testRoot).Root != "public" {
		t.Errorf("static = %+v", st)
	}
	if body := a.Routes[1].Handler.Module.(*testRespond).Body; body != "from a" {
		t.Errorf("file() in an included file read %q", body)
	}
	if len(a.Middleware) != 1 || a.Middleware[0].Chain != "shared" || a.Middleware[0].Dir != in("common") {
		t.Errorf("site middleware = %+v", a.Middleware)
	}
	if c.Sites[1].DefRange.Filename != in("sites/b.hcl") || c.Sites[1].DefRange.Start.Line != 2 {
		t.Errorf("site b at %s", posString(c.Sites[1].DefRange))
	}

	// The hash covers included files, and nothing else changes it.
	if again := mustParse(t, dir, src); again.Hash != c.Hash {
		t.Error("hash is not stable")
	}
	writeFile(t, filepath.Join(dir, "sites"), "b.hcl", "# changed\n"+`include "../common/chains.hcl"
site "b" {
  hosts = ["b.example"]
  route "/" {
    respond {}
  }
}
`)
	if changed := mustParse(t, dir, src); changed.Hash == c.Hash || !slices.Equal(changed.Files, c.Files) {
		t.Errorf("hash %s after a change to an included file (was %s); files %v", changed.Hash, c.Hash, changed.Files)
	}
}

func TestIncludeForms(t *testing.T) {
	dir := t.TempDir()
	withFiles(
		"a.hcl", "listener \"web\" {\n  address = \"127.0.0.1:0\"\n}\n",
		"b.hcl", "site \"app\" {\n  route \"/\" {\n    respond {}\n  }\n}\n",
		"c d.hcl", "",
	)(t, dir)
	// A block with empty braces, a statement after a comment line and
	// before a comment, an absolute path, a path with a space, escapes.
	c := mustParse(t, dir, `include "a.hcl" {}
# the site
include "`+filepath.ToSlash(filepath.Join(dir, "b.hcl"))+`" /* absolute */
include "c\u0020d.hcl"
`)
	if len(c.Listeners) != 1 || len(c.Sites) != 1 || len(c.Files) != 4 {
		t.Errorf("config = %+v", c)
	}
	// pagi fmt keeps include statements, and their syntax checks.
	src := []byte("include   \"a.hcl\"\n\nserver {\n  workers = 1\n}\n")
	if got := string(Format(src)); got != "include \"a.hcl\"\n\nserver {\n  workers = 1\n}\n" {
		t.Errorf("Format = %q", got)
	}
	if f, diags := ParseSyntax(src, "x.hcl"); diags.HasErrors() || string(f.Bytes) != string(src) {
		t.Errorf("ParseSyntax: %v", diags)
	}
}

func TestIncludeWarnings(t *testing.T) {
	dir := t.TempDir()
	withFiles(
		"parts/a.hcl", "include \"../common.hcl\"\n",
		"parts/b.hcl", "# b\ninclude \"../parts/../common.hcl\"\n",
		"common.hcl", "listener \"web\" {\n  address = \"127.0.0.1:0\"\n}\n",
	)(t, dir)
	r := parseIn(dir, "include \"conf.d/*.hcl\"\ninclude \"parts/*.hcl\"\n")
	if r.Config == nil {
		t.Fatalf("warnings must not invalidate:\n%s", diagText(r))
	}
	text := strings.ReplaceAll(diagText(r), dir+string(filepath.Separator), "")
	want := []string{
		`site.hcl:1:9: warning: include "conf.d/*.hcl" matches no file; no file matches conf.d` + string(filepath.Separator) + "*.hcl\n",
		`parts/b.hcl:2:1: warning: common.hcl is already included` + "\n",
		"      it was included at parts/a.hcl:1:1 and is loaded only once\n      included from site.hcl:2:1\n",
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in:\n%s", w, text)
		}
	}
	if len(r.Diags) != 2 || len(r.Config.Files) != 4 || len(r.Config.Listeners) != 1 {
		t.Errorf("%d diagnostics, files %v:\n%s", len(r.Diags), r.Config.Files, text)
	}
}

func TestIncludeNamesAsGiven(t *testing.T) {
	dir := t.TempDir()
	withFiles(
		"site.hcl", "include \"sites/*.hcl\"\n",
		"sites/a.hcl", "server {\n  workers = \"x\"\n}\n",
	)(t, dir)
	t.Chdir(dir)
	r := Load("site.hcl")
	want := `sites/a.hcl:2:13: error: wrong type for "workers": expected a whole number, got a string; included from site.hcl:1:1
    2 |   workers = "x"
      |             ^^^
`
	if got := diagText(r); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	var b strings.Builder
	if err := r.WriteJSON(&b); err != nil || !strings.Contains(b.String(), `"detail": "included from site.hcl:1:1"`) {
		t.Errorf("json: %v\n%s", err, b.String())
	}
}
