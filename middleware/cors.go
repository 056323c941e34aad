package middleware

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "cors", Kind: config.KindMiddleware,
		Doc: "answers CORS preflights and adds CORS headers for allowed origins",
		New: func() any {
			return &CORS{
				Methods: []string{"GET", "HEAD", "POST"},
				Headers: []string{"accept", "accept-language", "content-language", "content-type", "x-requested-with"},
				MaxAge:  config.Duration(600e9),
			}
		},
	})
}

// CORS is the cors middleware (Cross-Origin Resource Sharing).
//
//	cors {
//	  origins        = ["https://example.com", "https://*.example.com"]   # or ["*"]
//	  methods        = ["GET", "HEAD", "POST"]
//	  headers        = ["content-type", "authorization"]   # allowed request headers; ["*"]: any
//	  expose_headers = ["x-request-id"]
//	  credentials    = false   # true: cookies and auth; "*" is then not allowed in origins
//	  max_age        = "10m"   # how long browsers may cache a preflight
//	}
//
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) is
// answered here: 204 with the allow headers when the origin, the method and
// every requested header are allowed, 403 without CORS headers otherwise.
// Other requests from an allowed origin reach the app and their response
// gets Access-Control-Allow-Origin (the origin itself, or "*" when origins
// is ["*"] without credentials) and Vary: Origin; requests from other
// origins pass without CORS headers, so the browser withholds the response.
// Browsers do not apply CORS to WebSockets, so a WebSocket handshake whose
// Origin is not allowed is refused with 403. Requests without an Origin
// header (same-origin and non-browser clients) always pass.
//
// The route must accept OPTIONS for preflights to reach the middleware: use
// a route pattern without a method.
type CORS struct {
	// Origins are the allowed origins: scheme://host[:port],
	// scheme://*.domain, or "*".
	Origins []string `hcl:"origins"`
	// Methods are the methods a preflight may ask for.
	Methods []string `hcl:"methods,optional"`
	// Headers are the request headers a preflight may ask for ("*": any).
	Headers []string `hcl:"headers,optional"`
	// ExposeHeaders are the response headers scripts may read.
	ExposeHeaders []string `hcl:"expose_headers,optional"`
	// Credentials allows cookies and HTTP authentication.
	Credentials bool `hcl:"credentials,optional"`
	// MaxAge is how long browsers may cache a preflight answer.
	MaxAge config.Duration `hcl:"max_age,optional"`
}

var (
	_ config.Validator        = (*CORS)(nil)
	_ config.MiddlewareModule = (*CORS)(nil)
)

// corsCheckOrigin reports what is wrong with an origins entry, or "".
// Valid: "*" or scheme://host[:port], host optionally starting with "*.".
func corsCheckOrigin(o string) string {
	if o == "*" {
		return ""
	}
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || scheme == "" || !setaIsToken(scheme) || strings.ContainsAny(scheme, "*") {
		return "an origin is scheme://host[:port], for example https://example.com"
	}
	if strings.ContainsAny(rest, "/?#@ ") {
		return "an origin has no path, query, user or trailing slash: scheme://host[:port]"
	}
	host, port, hasPort := strings.Cut(rest, ":")
	if strings.HasPrefix(rest, "[") { // IPv6 literal
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "unclosed [ in the host"
		}
		host, port, hasPort = rest[:end+1], "", false
		if tail := rest[end+1:]; tail != "" {
			if tail[0] != ':' {
				return "junk after the IPv6 host"
			}
			port, hasPort = tail[1:], true
		}
	}
	if hasPort && fwdPort(port) == 0 {
		return fmt.Sprintf("bad port %q", port)
	}
	if strings.HasPrefix(host, "*.") {
		host = host[2:]
	}
	if host == "" || strings.Contains(host, "*") {
		return `a wildcard may only be the first label of the host: https://*.example.com`
	}
	if !fwdValidHost(host) {
		return fmt.Sprintf("bad host %q", host)
	}
	return ""
}

// Validate checks origins, methods and header names.
func (c *CORS) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	l := setaLoc{ctx: ctx}
	if len(c.Origins) == 0 {
		diags = append(diags, ctx.Error("origins", "No origins",
			`list the allowed origins, for example ["https://example.com"], or ["*"] for any`))
	}
	for i, o := range c.Origins {
		if msg := corsCheckOrigin(o); msg != "" {
			diags = append(diags, setaError(l.elem("origins", i), "Invalid origin", fmt.Sprintf("%q: %s", o, msg)))
			continue
		}
		if o == "*" && c.Credentials {
			diags = append(diags, setaError(l.elem("origins", i), `"*" with credentials`,
				`browsers reject credentialed responses for any origin; list the origins, or set credentials = false`))
		}
		if o == "*" && len(c.Origins) > 1 {
			diags = append(diags, setaWarning(l.elem("origins", i), `"*" makes the other origins redundant`,
				`with "*" every origin is allowed`))
		}
	}
	for i, m := range c.Methods {
		if !setaIsToken(m) {
			diags = append(diags, setaError(l.elem("methods", i), "Invalid method", fmt.Sprintf("%q is not an HTTP method", m)))
		}
	}
	for _, attr := range []string{"headers", "expose_headers"} {
		list := c.Headers
		if attr == "expose_headers" {
			list = c.ExposeHeaders
		}
		for i, h := range list {
			if h == "*" {
				if attr == "expose_headers" && c.Credentials {
					diags = append(diags, setaError(l.elem(attr, i), `"*" with credentials`,
						`with credentials browsers read "*" as a header called "*"; list the headers`))
				}
				continue
			}
			if !setaIsToken(h) {
				diags = append(diags, setaError(l.elem(attr, i), "Invalid header name", fmt.Sprintf("%q is not a header name", h)))
			}
		}
	}
	return diags
}

// corsWild is an origin pattern scheme://*.suffix.
type corsWild struct {
	prefix string // "https://"
	suffix string // ".example.com" or ".example.com:8443"
}

// corsPolicy is the built form of a cors block.
type corsPolicy struct {
	anyOrigin   bool
	exact       map[string]bool // lower-case origins
	wild        []corsWild
	credentials bool
	echo        bool // Access-Control-Allow-Origin echoes the origin (so responses vary by Origin)

	methods    map[string]bool
	anyHeader  bool
	headers    map[string]bool
	preflight  pagi.Headers // fixed fields of an allowed preflight answer
	allowValue string       // Access-Control-Allow-Headers when not echoed
	actual     pagi.Headers // fixed fields added to actual responses (credentials, expose)
}

// BuildMiddleware prepares the origin matcher and the fixed header fields.
func (c *CORS) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	p := &corsPolicy{exact: map[string]bool{}, methods: map[string]bool{}, headers: map[string]bool{}, credentials: c.Credentials}
	for _, o := range c.Origins {
		lo := strings.ToLower(o)
		switch {
		case o == "*":
			p.anyOrigin = true
		case strings.Contains(lo, "://*."):
			scheme, host, _ := strings.Cut(lo, "://*")
			p.wild = append(p.wild, corsWild{prefix: scheme + "://", suffix: host})
		default:
			p.exact[lo] = true
		}
	}
	p.echo = !p.anyOrigin || p.credentials
	var methods []string
	for _, m := range c.Methods {
		m = strings.ToUpper(m)
		if !p.methods[m] {
			p.methods[m] = true
			methods = append(methods, m)
		}
	}
	var allowed []string
	for _, h := range c.Headers {
		if h == "*" {
			p.anyHeader = true
			continue
		}
		h = strings.ToLower(h)
		if !p.headers[h] {
			p.headers[h] = true
			allowed = append(allowed, h)
		}
	}
	p.allowValue = strings.Join(allowed, ", ")
	p.preflight = pagi.Headers{{Name: "access-control-allow-methods", Value: strings.Join(methods, ", ")}}
	if secs := int64(c.MaxAge.D().Seconds()); secs > 0 {
		p.preflight = append(p.preflight, pagi.Header{Name: "access-control-max-age", Value: strconv.FormatInt(secs, 10)})
	}
	if c.Credentials {
		cred := pagi.Header{Name: "access-control-allow-credentials", Value: "true"}
		p.preflight = append(p.preflight, cred)
		p.actual = append(p.actual, cred)
	}
	if len(c.ExposeHeaders) > 0 {
		var ex []string
		for _, h := range c.ExposeHeaders {
			ex = append(ex, strings.ToLower(h))
		}
		p.actual = append(p.actual, pagi.Header{Name: "access-control-expose-headers", Value: strings.Join(ex, ", ")})
	}
	denied := pagi.Headers{setaTextPlain}
	preflightDenied := []byte("403 Forbidden: CORS preflight not allowed\n")
	wsDenied := []byte("403 Forbidden: WebSocket origin not allowed\n")
	// onStart adds the actual-request headers for the origin (c.origin,
	// allowed when c.flag).
	onStart := func(c *call, hs pagi.Headers) pagi.Headers {
		out := p.addActual(c.respHdrs, hs, c.origin, c.flag)
		if !sameHeaders(out, hs) {
			c.respHdrs = out // never hs: putCall clears respHdrs
		}
		return out
	}
	return func(next pagi.App) pagi.App {
		return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
			if s.Type == pagi.ScopeLifespan {
				return next(ctx, s, receive, send)
			}
			origin, hasOrigin := s.Headers.Get("origin")
			ok := hasOrigin && p.allows(origin)
			switch {
			case s.Type == pagi.ScopeWebSocket:
				if hasOrigin && !ok {
					return pagi.Respond(ctx, s, send, 403, denied, wsDenied)
				}
				return next(ctx, s, receive, send)
			case hasOrigin && s.Method == "OPTIONS" && s.Headers.Has("access-control-request-method"):
				if h, allowed := p.preflightHeaders(s, origin, ok); allowed {
					return pagi.Respond(ctx, s, send, 204, h, nil)
				}
				return pagi.Respond(ctx, s, send, 403, denied, preflightDenied)
			case !ok && !p.echo:
				return next(ctx, s, receive, send)
			}
			c := getCall()
			defer putCall(c)
			c.next, c.onStart, c.origin, c.flag = send, onStart, origin, ok
			return next(ctx, s, receive, c.sendFn)
		}
	}, nil
}

// allows reports whether origin is allowed.
func (p *corsPolicy) allows(origin string) bool {
	if p.anyOrigin {
		return true
	}
	lo := setaLowerASCII(origin)
	if p.exact[lo] {
		return true
	}
	for _, w := range p.wild {
		if len(lo) > len(w.prefix)+len(w.suffix) && strings.HasPrefix(lo, w.prefix) && strings.HasSuffix(lo, w.suffix) &&
			corsSubdomain(lo[len(w.prefix):len(lo)-len(w.suffix)]) {
			return true
		}
	}
	return false
}

// corsSubdomain reports whether s is one or more DNS labels.
func corsSubdomain(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// corsSafelisted are the methods a preflight never needs permission for.
var corsSafelisted = map[string]bool{"GET": true, "HEAD": true, "POST": true}

// preflightHeaders returns the answer to an allowed preflight, and false
// when the origin, the method or a requested header is not allowed.
func (p *corsPolicy) preflightHeaders(s *pagi.Scope, origin string, originOK bool) (pagi.Headers, bool) {
	if !originOK {
		return nil, false
	}
	m := strings.TrimSpace(s.Header("access-control-request-method"))
	if !setaIsToken(m) || (!p.methods[m] && !corsSafelisted[m]) {
		return nil, false
	}
	requested := ""
	for _, v := range s.Headers.Values("access-control-request-headers") {
		for rest := v; rest != ""; {
			var name string
			name, rest, _ = strings.Cut(rest, ",")
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if !setaIsToken(name) || (!p.anyHeader && !p.headers[setaLowerASCII(name)]) {
				return nil, false
			}
		}
		if requested != "" {
			requested += ", "
		}
		requested += v
	}
	h := make(pagi.Headers, 0, len(p.preflight)+4)
	h = append(h, pagi.Header{Name: "access-control-allow-origin", Value: p.originValue(origin)})
	h = append(h, p.preflight...)
	switch {
	case p.anyHeader && requested != "":
		h = append(h, pagi.Header{Name: "access-control-allow-headers", Value: setaLowerASCII(requested)})
	case !p.anyHeader && p.allowValue != "":
		h = append(h, pagi.Header{Name: "access-control-allow-headers", Value: p.allowValue})
	}
	h = append(h, pagi.Header{Name: "vary", Value: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"})
	return h, true
}

// originValue is the Access-Control-Allow-Origin value for an allowed
// origin.
func (p *corsPolicy) originValue(origin string) string {
	if p.echo {
		return origin
	}
	return "*"
}

// addActual adds the CORS fields to the start of an actual response: the
// allow fields for an allowed origin (unless the app answered CORS
// itself), and Vary: Origin whenever the answer depends on the origin.
func (p *corsPolicy) addActual(dst, hs pagi.Headers, origin string, ok bool) pagi.Headers {
	allow := ok && !setaHasHeader(hs, "access-control-allow-origin")
	vary := p.echo && !corsVariesByOrigin(hs)
	if !allow && !vary {
		return hs
	}
	out := append(dst[:0], hs...)
	if allow {
		out = append(out, pagi.Header{Name: "access-control-allow-origin", Value: p.originValue(origin)})
		out = append(out, p.actual...)
	}
	if vary {
		out = append(out, pagi.Header{Name: "vary", Value: "Origin"})
	}
	return out
}

// corsVariesByOrigin reports whether the Vary fields already name Origin
// (or *).
func corsVariesByOrigin(h pagi.Headers) bool {
	for _, f := range h {
		if !strings.EqualFold(f.Name, "vary") {
			continue
		}
		for rest := f.Value; rest != ""; {
			var tok string
			tok, rest, _ = strings.Cut(rest, ",")
			tok = strings.TrimSpace(tok)
			if tok == "*" || strings.EqualFold(tok, "origin") {
				return true
			}
		}
	}
	return false
}
