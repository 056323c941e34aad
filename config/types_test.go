package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// The block types below stand in for the real handlers and middleware,
// which live in packages that import this one. They are registered only in
// this package's test binary.

// testRespond is a respond-like handler.
type testRespond struct {
	Status  int               `hcl:"status,optional"`
	Body    string            `hcl:"body,optional"`
	Headers map[string]string `hcl:"headers,optional"`
}

func (r *testRespond) Validate(ctx *ValidateContext) hcl.Diagnostics {
	if r.Status < 100 || r.Status > 599 {
		return hcl.Diagnostics{ctx.Error("status", fmt.Sprintf("invalid status %d", r.Status), "expected 100 to 599")}
	}
	return nil
}

// testRoot is a static-like handler whose root directory must exist.
type testRoot struct {
	Root  string   `hcl:"root"`
	Index []string `hcl:"index,optional"`
}

func (s *testRoot) Validate(ctx *ValidateContext) hcl.Diagnostics {
	root := s.Root
	if !filepath.IsAbs(root) {
		root = filepath.Join(ctx.Dir, root)
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return hcl.Diagnostics{ctx.Error("root", fmt.Sprintf("root %s is not a directory", root), "")}
	}
	return nil
}

// testChannel is a websocket/sse/publish-like handler whose channel's
// {placeholders} must be route parameters.
type testChannel struct {
	Channel   string   `hcl:"channel"`
	Keepalive Duration `hcl:"keepalive,optional"`
	MaxSize   Size     `hcl:"max_message_bytes,optional"`
}

var placeholder = regexp.MustCompile(`\{([^{}]*)\}`)

func (c *testChannel) Validate(ctx *ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, m := range placeholder.FindAllStringSubmatch(c.Channel, -1) {
		if ctx.Route == nil || !containsString(ctx.Route.Params, m[1]) {
			diags = append(diags, ctx.Error("channel", fmt.Sprintf("channel refers to {%s}, which is not a parameter of the route", m[1]), ""))
		}
	}
	if ctx.PubSub == nil && ctx.Workers > 1 {
		diags = append(diags, ctx.Warning("", "no pubsub block", ""))
	}
	return diags
}

// testRequestID is a request_id-like middleware.
type testRequestID struct {
	Header string `hcl:"header,optional"`
}

// testAccessLog is an access_log-like middleware.
type testAccessLog struct {
	Format string `hcl:"format,optional"`
}

func (a *testAccessLog) Validate(ctx *ValidateContext) hcl.Diagnostics {
	switch a.Format {
	case "common", "combined", "json":
		return nil
	}
	return hcl.Diagnostics{ctx.Error("format", fmt.Sprintf("unknown access log format %q", a.Format), "")}
}

// testMW is a middleware with a field of every supported kind.
type testMW struct {
	Name     string            `hcl:"name,optional"`
	On       bool              `hcl:"on,optional"`
	Count    int               `hcl:"count,optional"`
	Big      int64             `hcl:"big,optional"`
	Small    uint8             `hcl:"small,optional"`
	Ratio    float64           `hcl:"ratio,optional"`
	Tags     []string          `hcl:"tags,optional"`
	Labels   map[string]string `hcl:"labels,optional"`
	Timeout  Duration          `hcl:"timeout,optional"`
	Limit    Size              `hcl:"limit,optional"`
	Mode     os.FileMode       `hcl:"mode,optional"`
	Extra    any               `hcl:"extra,optional"`
	Optional *int              `hcl:"maybe,optional"`
	Rules    []*testRule       `hcl:"rule,block"`
	Only     *testRule         `hcl:"only,block"`
}

type testRule struct {
	Name  string `hcl:"name,label"`
	Allow bool   `hcl:"allow,optional"`
	Path  string `hcl:"path"`
}

// testNeeds is a middleware with a required attribute.
type testNeeds struct {
	Secret string `hcl:"secret"`
}

// testPanics is a handler whose Validate panics.
type testPanics struct{}

func (testPanics) Validate(*ValidateContext) hcl.Diagnostics { panic("boom") }

func init() {
	for _, bt := range []BlockType{
		{Name: "respond", Kind: KindHandler, New: func() any { return &testRespond{Status: 200} }},
		{Name: "testrespond", Kind: KindHandler, New: func() any { return &testRespond{Status: 200} }},
		{Name: "static", Kind: KindHandler, New: func() any { return &testRoot{Index: []string{"index.html"}} }},
		{Name: "testroot", Kind: KindHandler, New: func() any { return &testRoot{} }},
		{Name: "websocket", Kind: KindHandler, New: func() any { return &testChannel{} }},
		{Name: "sse", Kind: KindHandler, New: func() any { return &testChannel{} }},
		{Name: "publish", Kind: KindHandler, New: func() any { return &testChannel{} }},
		{Name: "testctx", Kind: KindHandler, New: func() any { return &ctxProbe{} }},
		{Name: "testpanics", Kind: KindHandler, New: func() any { return &testPanics{} }},
		{Name: "request_id", Kind: KindMiddleware, New: func() any { return &testRequestID{Header: "X-Request-ID"} }},
		{Name: "access_log", Kind: KindMiddleware, New: func() any { return &testAccessLog{Format: "common"} }},
		{Name: "testmw", Kind: KindMiddleware, New: func() any { return &testMW{Name: "default", Count: 7} }},
		{Name: "testneeds", Kind: KindMiddleware, New: func() any { return &testNeeds{} }},
	} {
		Register(bt)
	}
}

// designExample is DESIGN §1's config, with a public directory to serve.
const designExample = `server {
  log_level        = "info"      # debug | info | warn | error
  log_format       = "auto"      # auto (colour on a terminal, via tint) | text | json
  workers          = 0           # 0: one process; N: N pre-forked worker processes
  max_requests     = 0           # recycle a worker after N requests (0: never)
  max_requests_jitter = 0
  graceful_timeout = "30s"       # drain limit for reload, recycle and shutdown
  watch            = true        # reload when this file (or a file it includes) changes
}

listener "web" {
  address = "127.0.0.1:8080"     # host:port, [v6]:port or unix:/path
  # tls { cert = "site.crt"  key = "site.key"  min_version = "1.2"  client_ca = "ca.pem" }
  # http2 = true                 # h2 with TLS, h2c without
}

pubsub {
  backend = "memory"             # memory | redis
  # url   = env("REDIS_URL")
}

middleware "standard" {          # a named chain, applied in the order written
  request_id {}
  access_log { format = "combined" }
}

site "app" {
  listeners  = ["web"]
  hosts      = ["localhost"]     # optional Host match
  middleware = ["standard"]

  route "GET /" {
    respond { body = "Hello from pagi" }
  }
  route "GET /static/" {
    static { root = "./public" }
  }
  route "GET /chat/{room}" {
    websocket { channel = "chat.{room}" }   # every message relayed to all in the room
  }
  route "GET /events" {
    sse { channel = "news" }
  }
  route "POST /publish/{channel}" {
    publish { channel = "{channel}" }
  }
}
`

// summaryAndDetail joins a diagnostic's texts for substring checks.
func summaryAndDetail(d *hcl.Diagnostic) string {
	return strings.TrimSuffix(d.Summary+"; "+d.Detail, "; ")
}
