// Package middleware holds pagi's built-in middleware types. Each type lives
// in its own file, registers itself with the config registry in init, and
// builds a pagi.Middleware with every decision that does not depend on the
// request made at build time.
package middleware

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "access_log", Kind: config.KindMiddleware,
		Doc: "writes one line per request in common, combined, json or a custom format",
		New: func() any { return &AccessLog{Format: "combined", Output: "stderr"} },
	})
}

// AccessLog is the access_log middleware.
//
//	access_log {
//	  format = "combined"   # common | combined | json | custom
//	  output = "stderr"     # stderr | stdout | a file path (appended to)
//	  # pattern = "%h %l %u %t \"%r\" %>s %b %D %{X-Request-Id}i"   # with format = "custom"
//	}
//
// A line is written when the request ends (for WebSocket and SSE scopes,
// when the connection closes), with the response status and the body bytes
// sent. The json format has a "request_id" field when request_id runs
// before access_log. The custom format writes pattern with Apache-style
// atoms (see compileLogPattern).
type AccessLog struct {
	Format  string `hcl:"format,optional"`
	Output  string `hcl:"output,optional"`
	Pattern string `hcl:"pattern,optional"`

	out    io.Writer
	closer io.Closer
}

var (
	_ config.Validator        = (*AccessLog)(nil)
	_ config.MiddlewareModule = (*AccessLog)(nil)
	_ config.Cleaner          = (*AccessLog)(nil)
)

// Validate checks the format and that a file output's directory exists.
func (a *AccessLog) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	switch a.Format {
	case "common", "combined", "json":
		if ctx.Has("pattern") {
			diags = append(diags, ctx.Error("pattern", "Pattern without the custom format",
				fmt.Sprintf("pattern is used only with format = \"custom\"; format is %q", a.Format)))
		}
	case "custom":
		if a.Pattern == "" {
			diags = append(diags, ctx.Error("pattern", "Missing access log pattern",
				`format = "custom" needs a pattern, for example pattern = "%h %l %u %t \"%r\" %>s %b"`))
		} else if _, _, err := compileLogPattern(a.Pattern); err != nil {
			diags = append(diags, ctx.Error("pattern", "Invalid access log pattern", err.Error()))
		}
	default:
		diags = append(diags, ctx.Error("format", "Unknown access log format",
			fmt.Sprintf("format must be common, combined, json or custom, got %q", a.Format)))
	}
	switch a.Output {
	case "stderr", "stdout":
	case "":
		diags = append(diags, ctx.Error("output", "Empty access log output", "use stderr, stdout or a file path"))
	default:
		dir := filepath.Dir(resolve(ctx.Dir, a.Output))
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			diags = append(diags, ctx.Error("output", "Access log directory does not exist",
				fmt.Sprintf("directory %s does not exist", dir)))
		}
	}
	return diags
}

// BuildMiddleware opens the output and returns the middleware.
func (a *AccessLog) BuildMiddleware(ctx *config.BuildContext) (pagi.Middleware, error) {
	switch a.Output {
	case "stderr":
		a.out = os.Stderr
	case "stdout":
		a.out = os.Stdout
	default:
		f, err := os.OpenFile(resolve(ctx.Dir, a.Output), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("access_log output: %w", err)
		}
		a.out, a.closer = f, f
	}
	w := &lineWriter{out: a.out}
	format := formatters[a.Format]
	var want []string // response headers the pattern logs
	if a.Format == "custom" {
		atoms, names, err := compileLogPattern(a.Pattern)
		if err != nil {
			return nil, fmt.Errorf("access_log pattern: %w", err)
		}
		want = names
		format = func(b []byte, s *pagi.Scope, r *recorder) []byte {
			for _, atom := range atoms {
				b = atom(b, s, r)
			}
			return b
		}
	}
	return func(next pagi.App) pagi.App {
		return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
			if s.Type == pagi.ScopeLifespan {
				return next(ctx, s, receive, send)
			}
			rec := &recorder{next: send, start: time.Now(), want: want}
			err := next(ctx, s, receive, rec.send)
			if rec.status == 0 && err != nil {
				rec.status = 500
			}
			w.write(func(b []byte) []byte { return format(b, s, rec) })
			return err
		}
	}, nil
}

// Cleanup closes a file output.
func (a *AccessLog) Cleanup() error {
	if a.closer != nil {
		return a.closer.Close()
	}
	return nil
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// recorder watches the events an app sends to learn the status and size,
// and the response headers a custom pattern logs.
type recorder struct {
	next   pagi.Send
	start  time.Time
	status int
	bytes  int64
	want   []string // lower-case names of the response headers to keep
	got    []string // their values, by index in want, once the response started
}

func (r *recorder) send(ctx context.Context, ev pagi.Event) error {
	if len(r.want) > 0 {
		if h, ok := setaStartHeaders(ev); ok {
			r.keepHeaders(h)
		}
	}
	switch e := ev.(type) {
	case *pagi.HTTPResponseStart:
		r.status = e.Status
	case *pagi.HTTPResponseBody:
		r.bytes += int64(len(e.Body))
		if e.Length > 0 {
			r.bytes += e.Length
		}
	case *pagi.SSEStart:
		r.status = max(e.Status, 200)
	case *pagi.SSESend:
		r.bytes += int64(len(e.Data))
	case *pagi.SSEHTTPResponseStart:
		r.status = e.Status
	case *pagi.SSEHTTPResponseBody:
		r.bytes += int64(len(e.Body))
	case *pagi.WebSocketAccept:
		r.status = 101
	case *pagi.WebSocketHTTPResponseStart:
		r.status = e.Status
	case *pagi.WebSocketHTTPResponseBody:
		r.bytes += int64(len(e.Body))
	case *pagi.WebSocketClose:
		if r.status == 0 {
			r.status = 403
		}
	}
	return r.next(ctx, ev)
}

// lineWriter serialises whole lines to the output.
type lineWriter struct {
	mu  sync.Mutex
	out io.Writer
	buf []byte
}

func (w *lineWriter) write(format func([]byte) []byte) {
	w.mu.Lock()
	w.buf = append(format(w.buf[:0]), '\n')
	_, _ = w.out.Write(w.buf)
	w.mu.Unlock()
}

var formatters = map[string]func([]byte, *pagi.Scope, *recorder) []byte{
	"common":   appendCommon,
	"combined": appendCombined,
	"json":     appendJSON,
}

func clientHost(s *pagi.Scope) string {
	if s.Client == nil {
		return "unix"
	}
	return s.Client.Host
}

func method(s *pagi.Scope) string {
	if s.Method == "" {
		return "GET" // websocket scopes have no method; the handshake was a GET
	}
	return s.Method
}

func protocol(s *pagi.Scope) string {
	if s.HTTPVersion == "2" {
		return "HTTP/2.0"
	}
	return "HTTP/" + s.HTTPVersion
}

func target(s *pagi.Scope) string {
	if s.QueryString == "" {
		return s.RawPath
	}
	return s.RawPath + "?" + s.QueryString
}

// appendCommon writes the Common Log Format.
func appendCommon(b []byte, s *pagi.Scope, r *recorder) []byte {
	b = append(b, clientHost(s)...)
	b = append(b, " - - ["...)
	b = r.start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendQuoted(b, method(s)+" "+target(s)+" "+protocol(s))
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, ' ')
	if r.bytes == 0 {
		return append(b, '-')
	}
	return strconv.AppendInt(b, r.bytes, 10)
}

// appendCombined writes the Combined Log Format (common + referer and
// user agent).
func appendCombined(b []byte, s *pagi.Scope, r *recorder) []byte {
	b = appendCommon(b, s, r)
	b = append(b, " \""...)
	b = appendQuoted(b, orDash(s.Header("referer")))
	b = append(b, "\" \""...)
	b = appendQuoted(b, orDash(s.Header("user-agent")))
	return append(b, '"')
}

// appendJSON writes one JSON object per request.
func appendJSON(b []byte, s *pagi.Scope, r *recorder) []byte {
	b = append(b, `{"time":"`...)
	b = r.start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","client":`...)
	b = strconv.AppendQuote(b, clientHost(s))
	b = append(b, `,"type":`...)
	b = strconv.AppendQuote(b, string(s.Type))
	b = append(b, `,"method":`...)
	b = strconv.AppendQuote(b, method(s))
	b = append(b, `,"path":`...)
	b = strconv.AppendQuote(b, s.RawPath)
	b = append(b, `,"query":`...)
	b = strconv.AppendQuote(b, s.QueryString)
	b = append(b, `,"proto":`...)
	b = strconv.AppendQuote(b, protocol(s))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, r.bytes, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(time.Since(r.start).Microseconds())/1000, 'f', 3, 64)
	b = append(b, `,"referer":`...)
	b = strconv.AppendQuote(b, s.Header("referer"))
	b = append(b, `,"user_agent":`...)
	b = strconv.AppendQuote(b, s.Header("user-agent"))
	if id, ok := s.Values["pagi.request_id"].(string); ok && id != "" {
		b = append(b, `,"request_id":`...)
		b = strconv.AppendQuote(b, id)
	}
	return append(b, '}')
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// appendQuoted escapes what could forge a log line: quotes, backslashes and
// control characters.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == 0x7f:
			b = append(b, `\x`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return b
}
