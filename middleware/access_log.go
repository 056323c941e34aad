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
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/internal/wordscan"
)

func init() {
	config.Register(config.BlockType{
		Name: "access_log", Kind: config.KindMiddleware,
		Doc: "writes one line per request in common, combined, json or a custom format",
		New: func() any {
			return &AccessLog{Format: "combined", Output: "stderr", FlushInterval: config.Duration(time.Second)}
		},
	})
}

// AccessLog is the access_log middleware.
//
//	access_log {
//	  format = "combined"   # common | combined | json | custom
//	  output = "stderr"     # stderr | stdout | a file path (appended to)
//	  # pattern = "%h %l %u %t \"%r\" %>s %b %D %%{X-Request-Id}i"   # with format = "custom"
//	}
//
// A line is written when the request ends (for WebSocket and SSE scopes,
// when the connection closes), with the response status and the body bytes
// sent. The json format has a "request_id" field when request_id runs
// before access_log. The custom format writes pattern with Apache-style
// atoms (see compileLogPattern).
type AccessLog struct {
	// Format is common, combined, json or custom.
	Format string `hcl:"format,optional"`
	// Output is stderr, stdout or a file path (appended to).
	Output string `hcl:"output,optional"`
	// Pattern is the line pattern of the custom format.
	Pattern string `hcl:"pattern,optional"`
	// FlushInterval is the longest a line waits in the buffer before it
	// is written; 0 writes every line at once.
	FlushInterval config.Duration `hcl:"flush_interval,optional"`

	out    io.Writer
	closer io.Closer
	writer *lineWriter
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
	if a.FlushInterval < 0 {
		diags = append(diags, ctx.Error("flush_interval", "Invalid duration", "flush_interval must not be negative"))
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
	w := &lineWriter{out: a.out, flushEvery: a.FlushInterval.D()}
	a.writer = w
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
			rec := recorderPool.Get().(*recorder)
			rec.next, rec.start, rec.want, rec.w = send, time.Now(), want, w
			err := next(ctx, s, receive, rec.sendFn)
			if rec.status == 0 && err != nil {
				rec.status = 500
			}
			w.write(format, s, rec)
			rec.reset()
			recorderPool.Put(rec)
			return err
		}
	}, nil
}

// Cleanup closes a file output.
func (a *AccessLog) Cleanup() error {
	if a.writer != nil {
		a.writer.close()
	}
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
	// declared is the response's content-length header, for file bodies
	// sent to their end.
	declared int64
	want     []string // lower-case names of the response headers to keep
	got      []string // their values, by index in want, once the response started
	w        *lineWriter
	// sendFn is send as a func value, bound once per pooled recorder.
	sendFn pagi.Send
}

// recorderPool holds recorders between requests: the access log allocates
// nothing per request of its own.
var recorderPool = sync.Pool{New: func() any {
	r := &recorder{}
	r.sendFn = r.send
	return r
}}

// reset clears r for the pool.
func (r *recorder) reset() {
	clear(r.got)
	r.next, r.start, r.status, r.bytes, r.declared, r.want, r.got, r.w = nil, time.Time{}, 0, 0, 0, nil, r.got[:0], nil
}

// appendCLFTime appends the request's start time in the Common Log Format
// (02/Jan/2006:15:04:05 -0700). Lines are formatted under the writer's lock,
// which guards its cache of the last second formatted: under load most lines
// share their second with the one before.
func (r *recorder) appendCLFTime(b []byte) []byte {
	const layout = "02/Jan/2006:15:04:05 -0700"
	if r.w == nil {
		return r.start.AppendFormat(b, layout)
	}
	if sec := r.start.Unix(); sec != r.w.clfSec || r.w.clf == nil {
		r.w.clf = r.start.AppendFormat(r.w.clf[:0], layout)
		r.w.clfSec = sec
	}
	return append(b, r.w.clf...)
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
		if v, ok := e.Headers.Get("content-length"); ok {
			r.declared, _ = strconv.ParseInt(v, 10, 64)
		}
	case *pagi.HTTPResponseBody:
		r.bytes += int64(len(e.Body))
		switch {
		case e.Length > 0:
			r.bytes += e.Length
		case e.File != "" || e.FH != nil:
			r.bytes += fileBytes(e, r.declared)
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

// fileBytes is how much of a file body goes out when it is sent to its
// end: the declared content-length when the app gave one, else what a stat
// of the file says.
func fileBytes(e *pagi.HTTPResponseBody, declared int64) int64 {
	if declared > 0 {
		return declared
	}
	var fi os.FileInfo
	var err error
	if e.FH != nil {
		fi, err = e.FH.Stat()
	} else {
		fi, err = os.Stat(e.File)
	}
	if err != nil || fi.Size() <= e.Offset {
		return 0
	}
	return fi.Size() - e.Offset
}

// lineWriter serialises whole lines to the output. Lines are buffered (up
// to lineBufferSize) and written at most flushEvery after the first
// pending one, when the buffer fills, and on close — one write(2) for many
// requests instead of one each.
//
// Concurrency: write and close may be called from any goroutine.
type lineWriter struct {
	mu         sync.Mutex
	out        io.Writer
	buf        []byte
	flushEvery time.Duration // 0: write every line at once
	timer      *time.Timer
	// clf is the Common Log Format time of second clfSec (local time), the
	// cache of recorder.appendCLFTime.
	clf    []byte
	clfSec int64
}

// lineBufferSize is how many bytes of lines may wait for a flush.
const lineBufferSize = 64 << 10

func (w *lineWriter) write(format formatter, s *pagi.Scope, r *recorder) {
	w.mu.Lock()
	w.buf = append(format(w.buf, s, r), '\n')
	switch {
	case w.flushEvery <= 0 || len(w.buf) >= lineBufferSize:
		w.flushLocked()
	case w.timer == nil:
		w.timer = time.AfterFunc(w.flushEvery, w.flushTimer)
	}
	w.mu.Unlock()
}

func (w *lineWriter) flushTimer() {
	w.mu.Lock()
	w.timer = nil
	w.flushLocked()
	w.mu.Unlock()
}

func (w *lineWriter) flushLocked() {
	if len(w.buf) > 0 {
		_, _ = w.out.Write(w.buf)
		w.buf = w.buf[:0]
	}
}

// close writes what is pending and stops the timer.
func (w *lineWriter) close() {
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.flushLocked()
	w.mu.Unlock()
}

// formatter appends one log line (without the newline) to b.
type formatter func(b []byte, s *pagi.Scope, r *recorder) []byte

var formatters = map[string]formatter{
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
	switch s.HTTPVersion {
	case "1.1":
		return "HTTP/1.1"
	case "2":
		return "HTTP/2.0"
	case "1.0":
		return "HTTP/1.0"
	}
	return "HTTP/" + s.HTTPVersion
}

// appendRequestLine writes the request line (method, target, protocol),
// escaped as appendQuoted does.
func appendRequestLine(b []byte, s *pagi.Scope) []byte {
	b = appendQuoted(b, method(s))
	b = append(b, ' ')
	b = appendQuoted(b, s.RawPath)
	if s.QueryString != "" {
		b = append(b, '?')
		b = appendQuoted(b, s.QueryString)
	}
	b = append(b, ' ')
	return append(b, protocol(s)...)
}

// appendCommon writes the Common Log Format.
func appendCommon(b []byte, s *pagi.Scope, r *recorder) []byte {
	b = append(b, clientHost(s)...)
	b = append(b, " - - ["...)
	b = r.appendCLFTime(b)
	b = append(b, "] \""...)
	b = appendRequestLine(b, s)
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
// control characters. Runs of other bytes are copied at once, found eight
// bytes at a time (user agents are long and rarely need escaping).
func appendQuoted(b []byte, s string) []byte {
	start := 0 // s[start:i] needs no escaping
	for i := 0; i < len(s); i++ {
		for i+8 <= len(s) && !quoteWordNeeds(wordscan.Load(s, i)) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c >= 0x20 && c != 0x7f && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		if c == '"' || c == '\\' {
			b = append(b, '\\', c)
		} else {
			b = append(b, `\x`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		}
		start = i + 1
	}
	return append(b, s[start:]...)
}

// quoteWordNeeds reports whether some byte of the eight in w may need
// escaping: below 0x20, DEL, '"' or '\\'.
func quoteWordNeeds(w uint64) bool {
	return wordscan.HasLess(w, 0x20)|wordscan.HasZero(w^(wordscan.Ones*0x7f))|
		wordscan.HasZero(w^(wordscan.Ones*'"'))|wordscan.HasZero(w^(wordscan.Ones*'\\')) != 0
}

// keepHeaders records the values of the wanted response headers.
func (r *recorder) keepHeaders(h pagi.Headers) {
	if cap(r.got) < len(r.want) {
		r.got = make([]string, len(r.want))
	}
	r.got = r.got[:len(r.want)]
	for i, name := range r.want {
		v := ""
		for _, f := range h {
			if len(f.Name) == len(name) && strings.EqualFold(f.Name, name) {
				if v != "" {
					v += ", "
				}
				v += f.Value
			}
		}
		r.got[i] = v
	}
}

// logAtom appends one piece of a custom log line.
type logAtom func(b []byte, s *pagi.Scope, r *recorder) []byte

// logPatternAtoms lists the atoms of a custom pattern, for error messages.
const logPatternAtoms = "%h %l %u %t %r %m %U %q %H %s %>s %b %B %D %T %{Name}i %{Name}o %% (in HCL, write %%{ for %{)"

// compileLogPattern parses a custom access log pattern once into the
// atoms that write it, and the lower-case names of the response headers it
// logs (which the recorder keeps only then). Apache-style atoms:
//
//	%h  client address ("unix" on Unix sockets)   %l  "-" (identd)
//	%u  user set by basic_auth, or "-"            %t  time, [02/Jan/2006:15:04:05 -0700]
//	%r  request line "GET /p?q HTTP/1.1"          %m  method
//	%U  path (as sent, encoded)                   %q  "?query", or "" without one
//	%H  protocol (HTTP/1.1)                       %s, %>s  status
//	%b  body bytes, "-" for none                  %B  body bytes
//	%D  duration in microseconds                  %T  duration in whole seconds
//	%{Name}i  request header ("-" if absent)      %{Name}o  response header ("-" if absent)
//	%%  a percent sign
//
// Values that come from the request are escaped as in the other formats.
// HCL strings read "%{" as the start of a template directive, so a config
// writes "%%{Name}i", which HCL turns into "%{Name}i".
func compileLogPattern(p string) ([]logAtom, []string, error) {
	var atoms []logAtom
	var want []string
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			text := string(lit)
			atoms = append(atoms, func(b []byte, _ *pagi.Scope, _ *recorder) []byte { return append(b, text...) })
			lit = lit[:0]
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			lit = append(lit, c)
			continue
		}
		if i+1 >= len(p) {
			return nil, nil, fmt.Errorf("the pattern ends with a lone %%; write %%%% for a percent sign (atoms: %s)", logPatternAtoms)
		}
		start := i
		i++
		if p[i] == '%' {
			lit = append(lit, '%')
			continue
		}
		if p[i] == '{' {
			end := strings.IndexByte(p[i:], '}')
			if end < 0 {
				return nil, nil, fmt.Errorf("unclosed %%{ at offset %d", start)
			}
			name := strings.ToLower(p[i+1 : i+end])
			i += end + 1
			if i >= len(p) || (p[i] != 'i' && p[i] != 'o') {
				return nil, nil, fmt.Errorf("%s at offset %d must be followed by i (request header) or o (response header)", p[start:min(i, len(p))], start)
			}
			if err := pagi.ValidateHeader(name, ""); err != nil {
				return nil, nil, fmt.Errorf("%s at offset %d: %v", p[start:i+1], start, err)
			}
			flush()
			if p[i] == 'i' {
				atoms = append(atoms, func(b []byte, s *pagi.Scope, _ *recorder) []byte { return appendHeaderValues(b, s.Headers, name) })
			} else {
				idx := len(want)
				want = append(want, name)
				atoms = append(atoms, func(b []byte, _ *pagi.Scope, r *recorder) []byte {
					if idx >= len(r.got) || r.got[idx] == "" {
						return append(b, '-')
					}
					return appendQuoted(b, r.got[idx])
				})
			}
			continue
		}
		atom := p[i : i+1]
		if p[i] == '>' && i+1 < len(p) && p[i+1] == 's' {
			atom = ">s"
			i++
		}
		fn, ok := logAtoms[atom]
		if !ok {
			return nil, nil, fmt.Errorf("unknown atom %%%s at offset %d (atoms: %s)", atom, start, logPatternAtoms)
		}
		flush()
		atoms = append(atoms, fn)
	}
	flush()
	return atoms, want, nil
}

// logAtoms are the one-letter atoms of a custom pattern.
var logAtoms = map[string]logAtom{
	"h": func(b []byte, s *pagi.Scope, _ *recorder) []byte { return appendQuoted(b, clientHost(s)) },
	"l": func(b []byte, _ *pagi.Scope, _ *recorder) []byte { return append(b, '-') },
	"u": func(b []byte, s *pagi.Scope, _ *recorder) []byte {
		if u, ok := s.Values["pagi.auth.user"].(string); ok && u != "" {
			return appendQuoted(b, u)
		}
		return append(b, '-')
	},
	"t": func(b []byte, _ *pagi.Scope, r *recorder) []byte {
		b = append(b, '[')
		b = r.appendCLFTime(b)
		return append(b, ']')
	},
	"r": func(b []byte, s *pagi.Scope, _ *recorder) []byte { return appendRequestLine(b, s) },
	"m": func(b []byte, s *pagi.Scope, _ *recorder) []byte { return appendQuoted(b, method(s)) },
	"U": func(b []byte, s *pagi.Scope, _ *recorder) []byte { return appendQuoted(b, s.RawPath) },
	"q": func(b []byte, s *pagi.Scope, _ *recorder) []byte {
		if s.QueryString == "" {
			return b
		}
		return appendQuoted(append(b, '?'), s.QueryString)
	},
	"H":  func(b []byte, s *pagi.Scope, _ *recorder) []byte { return append(b, protocol(s)...) },
	"s":  func(b []byte, _ *pagi.Scope, r *recorder) []byte { return strconv.AppendInt(b, int64(r.status), 10) },
	">s": func(b []byte, _ *pagi.Scope, r *recorder) []byte { return strconv.AppendInt(b, int64(r.status), 10) },
	"b": func(b []byte, _ *pagi.Scope, r *recorder) []byte {
		if r.bytes == 0 {
			return append(b, '-')
		}
		return strconv.AppendInt(b, r.bytes, 10)
	},
	"B": func(b []byte, _ *pagi.Scope, r *recorder) []byte { return strconv.AppendInt(b, r.bytes, 10) },
	"D": func(b []byte, _ *pagi.Scope, r *recorder) []byte {
		return strconv.AppendInt(b, time.Since(r.start).Microseconds(), 10)
	},
	"T": func(b []byte, _ *pagi.Scope, r *recorder) []byte {
		return strconv.AppendInt(b, int64(time.Since(r.start)/time.Second), 10)
	},
}

// appendHeaderValues writes the values of the request header name, joined
// with ", ", or "-" when there is none.
func appendHeaderValues(b []byte, h pagi.Headers, name string) []byte {
	n := 0
	for i := range h {
		if h[i].Name == name {
			if n > 0 {
				b = append(b, ", "...)
			}
			b = appendQuoted(b, h[i].Value)
			n++
		}
	}
	if n == 0 {
		return append(b, '-')
	}
	return b
}
