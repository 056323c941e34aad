package middleware

// Helpers shared by the forwarded, request_id, headers, strip_prefix,
// rewrite, https_redirect, security_headers, cors and basic_auth middleware.
// Their names start with "seta" so that they cannot collide with the helpers
// of other files of this package.

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	"github.com/zclconf/go-cty/cty"
)

// ---- response starts ----

// setaStartHeaders returns the headers of a response-start event (the
// http, SSE and WebSocket starts, accepts, declines and denials) and true,
// or nil and false for every other event.
func setaStartHeaders(ev pagi.Event) (pagi.Headers, bool) {
	switch e := ev.(type) {
	case *pagi.HTTPResponseStart:
		return e.Headers, true
	case *pagi.SSEStart:
		return e.Headers, true
	case *pagi.WebSocketAccept:
		return e.Headers, true
	case *pagi.SSEHTTPResponseStart:
		return e.Headers, true
	case *pagi.WebSocketHTTPResponseStart:
		return e.Headers, true
	}
	return nil, false
}

// setaHasHeader reports whether h has a field called name (lower-case),
// comparing names without regard to case: apps should send lower-case
// names, but a middleware must not add a duplicate when one did not.
func setaHasHeader(h pagi.Headers, name string) bool {
	for i := range h {
		if len(h[i].Name) == len(name) && strings.EqualFold(h[i].Name, name) {
			return true
		}
	}
	return false
}

// setaDelHeader returns h without the fields called name (lower-case, any
// case in h), reusing h's backing array.
func setaDelHeader(h pagi.Headers, name string) pagi.Headers {
	out := h[:0]
	for _, f := range h {
		if len(f.Name) != len(name) || !strings.EqualFold(f.Name, name) {
			out = append(out, f)
		}
	}
	return out
}

// setaSecure reports whether the scope arrived over TLS (as far as the
// scope says: forwarded may have changed the scheme).
func setaSecure(s *pagi.Scope) bool {
	return s.Scheme == "https" || s.Scheme == "wss"
}

// setaHSTS returns the Strict-Transport-Security value for the options.
func setaHSTS(maxAge config.Duration, includeSubdomains, preload bool) string {
	v := "max-age=" + strconv.FormatInt(int64(maxAge.D().Seconds()), 10)
	if includeSubdomains {
		v += "; includeSubDomains"
	}
	if preload {
		v += "; preload"
	}
	return v
}

// setaHasJoinedPrefix reports whether root+p starts with prefix, without
// building root+p.
func setaHasJoinedPrefix(root, p, prefix string) bool {
	if len(prefix) <= len(root) {
		return strings.HasPrefix(root, prefix)
	}
	return strings.HasPrefix(prefix, root) && strings.HasPrefix(p, prefix[len(root):])
}

// setaCheckHSTS reports HSTS options that browsers would reject or that do
// nothing.
func setaCheckHSTS(ctx *config.ValidateContext, on bool, maxAge config.Duration, sub, preload bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !on {
		for _, a := range []string{"hsts_max_age", "hsts_include_subdomains", "hsts_preload"} {
			if ctx.Has(a) {
				diags = append(diags, ctx.Warning(a, "HSTS option without hsts", a+" has no effect unless hsts = true"))
			}
		}
		return diags
	}
	if maxAge.D().Seconds() < 1 && ctx.Has("hsts_max_age") {
		diags = append(diags, ctx.Warning("hsts_max_age", "HSTS max-age of 0",
			"a max-age of 0 tells browsers to forget the host's HSTS policy"))
	}
	if preload && (!sub || maxAge.D().Seconds() < 31536000) {
		diags = append(diags, ctx.Warning("hsts_preload", "HSTS preload requirements",
			"the preload list requires hsts_include_subdomains = true and hsts_max_age of at least 31536000 seconds"))
	}
	return diags
}

// setaTextPlain is the content type of the short bodies middleware answer
// with.
var setaTextPlain = pagi.Header{Name: "content-type", Value: "text/plain; charset=utf-8"}

// ---- config positions ----

// setaLoc finds the position of attributes, list elements and map items in
// a middleware block, also inside its nested blocks, so Validate can point
// at the exact value at fault rather than at the attribute or the block.
type setaLoc struct {
	ctx *config.ValidateContext
	// path names the nested blocks to descend into, outermost first; nil is
	// the middleware block itself.
	path []string
}

// body returns the body the location names, or nil.
func (l setaLoc) body() *hclsyntax.Body {
	if l.ctx == nil || l.ctx.Block == nil {
		return nil
	}
	b, _ := l.ctx.Block.Body.(*hclsyntax.Body)
	for _, name := range l.path {
		if b == nil {
			return nil
		}
		var next *hclsyntax.Body
		for _, nb := range b.Blocks {
			if nb.Type == name {
				next = nb.Body
				break
			}
		}
		b = next
	}
	return b
}

// expr returns the expression of attribute name, or nil.
func (l setaLoc) expr(name string) hclsyntax.Expression {
	if b := l.body(); b != nil {
		if a, ok := b.Attributes[name]; ok {
			return a.Expr
		}
	}
	return nil
}

// fallback is the range of the innermost block of the path (or of the
// attribute when the path is empty).
func (l setaLoc) fallback(name string) *hcl.Range {
	if len(l.path) == 0 {
		return l.ctx.AttrRange(name)
	}
	if b := l.body(); b != nil {
		r := b.SrcRange
		return &r
	}
	return l.ctx.AttrRange("")
}

// attr returns the range of the value of attribute name.
func (l setaLoc) attr(name string) *hcl.Range {
	if e := l.expr(name); e != nil {
		r := e.Range()
		return &r
	}
	return l.fallback(name)
}

// elem returns the range of element i of the list attribute name.
func (l setaLoc) elem(name string, i int) *hcl.Range {
	if t, ok := l.expr(name).(*hclsyntax.TupleConsExpr); ok && i >= 0 && i < len(t.Exprs) {
		r := t.Exprs[i].Range()
		return &r
	}
	return l.attr(name)
}

// item returns the range of the item with key key of the map attribute
// name: its value when value is true, else its key.
func (l setaLoc) item(name, key string, value bool) *hcl.Range {
	if o, ok := l.expr(name).(*hclsyntax.ObjectConsExpr); ok {
		for _, it := range o.Items {
			k, diags := it.KeyExpr.Value(nil)
			if diags.HasErrors() || !k.IsKnown() || k.IsNull() || k.Type() != cty.String || k.AsString() != key {
				continue
			}
			r := it.KeyExpr.Range()
			if value {
				r = it.ValueExpr.Range()
			}
			return &r
		}
	}
	return l.attr(name)
}

// setaError returns an error diagnostic at rng.
func setaError(rng *hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng}
}

// setaWarning returns a warning diagnostic at rng.
func setaWarning(rng *hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: detail, Subject: rng}
}

// setaCheckHeaderMap reports invalid names and values of the header map
// attribute name, each at its item.
func setaCheckHeaderMap(l setaLoc, name string, m map[string]string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, k := range setaSortedKeys(m) {
		if err := pagi.ValidateHeader(strings.ToLower(k), ""); err != nil {
			diags = append(diags, setaError(l.item(name, k, false), "Invalid header name", err.Error()))
			continue
		}
		if err := pagi.ValidateHeader(strings.ToLower(k), m[k]); err != nil {
			diags = append(diags, setaError(l.item(name, k, true), "Invalid header value",
				err.Error()+"; a header value must not contain CR, LF or NUL"))
		}
	}
	return diags
}

// setaCheckHeaderNames reports invalid header names in the list attribute
// name, each at its element.
func setaCheckHeaderNames(l setaLoc, name string, list []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i, n := range list {
		if err := pagi.ValidateHeader(strings.ToLower(n), ""); err != nil {
			diags = append(diags, setaError(l.elem(name, i), "Invalid header name", err.Error()))
		}
	}
	return diags
}

// setaSortedKeys returns the keys of m in sorted order, so that what is
// built from a map does not depend on map iteration.
func setaSortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// setaLowerASCII returns s with ASCII letters lower-cased, without
// allocating when s has no upper-case letter.
func setaLowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// setaIsToken reports whether s is a non-empty RFC 9110 token.
func setaIsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
