package middleware

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "rewrite", Kind: config.KindMiddleware,
		Doc: "rewrites the request path and query from a template",
		New: func() any { return &Rewrite{} },
	})
}

// Rewrite is the rewrite middleware: the app sees another path and query
// than the client asked for (an internal rewrite, not a redirect).
//
//	rewrite {
//	  path  = "/v2{path}"          # {path}, {query} and the route's {name} parameters
//	  query = "lang=en&{query}"    # replaces the query string when set ("" removes it)
//	}
//
// In path, {path} is the current path (relative to root_path), {query} the
// raw query string and {name} the decoded route parameter called name. The
// result is cleaned (".." and "//" resolved, a trailing "/" kept) and
// replaces scope.Path; scope.RawPath becomes root_path + the new path,
// percent-encoded. In query, {query} is the raw query string and the other
// placeholders are query-escaped.
type Rewrite struct {
	// Path is the template of the new path ("" leaves the path alone).
	Path string `hcl:"path,optional"`
	// Query is the template of the new query string; nil leaves it alone.
	Query *string `hcl:"query,optional"`
}

var (
	_ config.Validator        = (*Rewrite)(nil)
	_ config.MiddlewareModule = (*Rewrite)(nil)
)

// rwPart is a literal (param == "") or a {placeholder} of a template.
type rwPart struct {
	literal string
	param   string
}

// rwParse splits a template into literals and placeholders.
func rwParse(t string) ([]rwPart, error) {
	var parts []rwPart
	for t != "" {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			if strings.IndexByte(t, '}') >= 0 {
				return nil, fmt.Errorf("} without { in %q", t)
			}
			parts = append(parts, rwPart{literal: t})
			break
		}
		if i > 0 {
			if strings.IndexByte(t[:i], '}') >= 0 {
				return nil, fmt.Errorf("} without { in %q", t)
			}
			parts = append(parts, rwPart{literal: t[:i]})
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed { in %q", t)
		}
		name := t[i+1 : i+j]
		if name == "" || strings.ContainsAny(name, "{ ") {
			return nil, fmt.Errorf("bad placeholder {%s} in %q", name, t)
		}
		parts = append(parts, rwPart{param: name})
		t = t[i+j+1:]
	}
	return parts, nil
}

// Validate checks both templates and their placeholders.
func (r *Rewrite) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !ctx.Has("path") && r.Query == nil {
		return hcl.Diagnostics{ctx.Error("", "Empty rewrite", "set path, query or both")}
	}
	check := func(attr, t string) {
		if strings.ContainsAny(t, "\r\n\x00#") {
			diags = append(diags, ctx.Error(attr, "Invalid rewrite template", attr+" must not contain CR, LF, NUL or #"))
			return
		}
		parts, err := rwParse(t)
		if err != nil {
			diags = append(diags, ctx.Error(attr, "Invalid rewrite template", err.Error()))
			return
		}
		for _, p := range parts {
			if p.param == "" || p.param == "path" || p.param == "query" {
				continue
			}
			if ctx.Route == nil || !slices.Contains(ctx.Route.Params, p.param) {
				diags = append(diags, ctx.Error(attr, "Unknown placeholder",
					fmt.Sprintf("{%s} is neither {path}, {query} nor a parameter of the route", p.param)))
			}
		}
	}
	if ctx.Has("path") {
		if !strings.HasPrefix(r.Path, "/") && !strings.HasPrefix(r.Path, "{path}") {
			diags = append(diags, ctx.Error("path", "Invalid rewrite path", `path must start with "/" or {path}`))
		}
		check("path", r.Path)
	}
	if r.Query != nil {
		if strings.HasPrefix(*r.Query, "?") {
			diags = append(diags, ctx.Error("query", "Invalid rewrite query", `write the query without its leading "?"`))
		}
		check("query", *r.Query)
	}
	return diags
}

// BuildMiddleware compiles the templates and returns the middleware.
func (r *Rewrite) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	var pathT, queryT []rwPart
	var err error
	if r.Path != "" {
		if pathT, err = rwParse(r.Path); err != nil {
			return nil, fmt.Errorf("rewrite path: %w", err)
		}
	}
	setQuery := r.Query != nil
	if setQuery {
		if queryT, err = rwParse(*r.Query); err != nil {
			return nil, fmt.Errorf("rewrite query: %w", err)
		}
	}
	return func(next pagi.App) pagi.App {
		return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
			if s.Type == pagi.ScopeLifespan {
				return next(ctx, s, receive, send)
			}
			s2 := s.Clone()
			if pathT != nil {
				s2.Path = rwCleanPath(rwExpand(pathT, s, false))
				s2.RawPath = rwEscapePath(s.RootPath + s2.Path)
			}
			if setQuery {
				s2.QueryString = rwExpand(queryT, s, true)
			}
			return next(ctx, s2, receive, send)
		}
	}, nil
}

// rwExpand fills a template from the scope; in a query, placeholders other
// than {query} are query-escaped.
func rwExpand(parts []rwPart, s *pagi.Scope, query bool) string {
	if len(parts) == 1 && parts[0].param == "" {
		return parts[0].literal
	}
	var b strings.Builder
	for _, p := range parts {
		var v string
		switch p.param {
		case "":
			b.WriteString(p.literal)
			continue
		case "query":
			b.WriteString(s.QueryString)
			continue
		case "path":
			v = s.Path
		default:
			v, _ = s.Params.Get(p.param)
		}
		if query {
			v = url.QueryEscape(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

// rwCleanPath resolves "." and ".." segments and repeated slashes (route
// parameters are decoded, so a value may hold "../"), keeping a trailing
// slash.
func rwCleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// rwEscapePath percent-encodes a decoded path for RawPath, returning p
// itself when nothing needs encoding.
func rwEscapePath(p string) string {
	n := 0
	for i := 0; i < len(p); i++ {
		if !rwPathByte(p[i]) {
			n++
		}
	}
	if n == 0 {
		return p
	}
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(p)+2*n)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if rwPathByte(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(b)
}

// rwPathByte reports whether c may appear unencoded in a path: RFC 3986
// unreserved, sub-delims, ':', '@' and '/'.
func rwPathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}
