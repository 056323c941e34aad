package middleware

import (
	"context"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "headers", Kind: config.KindMiddleware,
		Doc: "sets, adds and deletes request and response headers",
		New: func() any { return &Headers{} },
	})
}

// Headers is the headers middleware: fixed changes to the request headers
// the app sees and to the response headers the client gets.
//
//	headers {
//	  request {
//	    set    = { "x-forwarded-by" = "pagi" }   # replaces every value of the name
//	    add    = { "x-tag" = "a" }               # appends a field
//	    delete = ["cookie"]
//	  }
//	  response {
//	    set    = { "cache-control" = "no-store" }
//	    add    = { "x-served-by" = "pagi" }
//	    delete = ["server", "x-powered-by"]
//	  }
//	}
//
// Each side applies delete, then set, then add. Response changes apply to
// every response start: http responses, SSE streams, WebSocket accepts, and
// the decline and denial responses of SSE and WebSocket scopes. Names are
// case-insensitive; values must not hold CR, LF or NUL.
type Headers struct {
	// Request changes the request headers the app sees.
	Request *HeaderOps `hcl:"request,block"`
	// Response changes the headers of every response start.
	Response *HeaderOps `hcl:"response,block"`
}

// HeaderOps is the request or response block of a headers middleware.
type HeaderOps struct {
	// Set replaces every field of each name with one field of the value.
	Set map[string]string `hcl:"set,optional"`
	// Add appends one field per name, keeping existing ones.
	Add map[string]string `hcl:"add,optional"`
	// Delete removes every field of each name.
	Delete []string `hcl:"delete,optional"`
}

var (
	_ config.Validator        = (*Headers)(nil)
	_ config.MiddlewareModule = (*Headers)(nil)
)

// Validate checks names and values, reporting each at its map item or list
// element.
func (h *Headers) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, side := range []struct {
		name string
		ops  *HeaderOps
	}{{"request", h.Request}, {"response", h.Response}} {
		if side.ops == nil {
			continue
		}
		l := setaLoc{ctx: ctx, path: []string{side.name}}
		diags = append(diags, setaCheckHeaderMap(l, "set", side.ops.Set)...)
		diags = append(diags, setaCheckHeaderMap(l, "add", side.ops.Add)...)
		diags = append(diags, setaCheckHeaderNames(l, "delete", side.ops.Delete)...)
	}
	if h.Request.empty() && h.Response.empty() {
		diags = append(diags, ctx.Warning("", "Empty headers block",
			"write a request { ... } or response { ... } block with set, add or delete"))
	}
	return diags
}

func (o *HeaderOps) empty() bool {
	return o == nil || len(o.Set) == 0 && len(o.Add) == 0 && len(o.Delete) == 0
}

// headerEdit is the built form of a HeaderOps: lower-case names, sorted
// fields.
type headerEdit struct {
	del []string     // delete and set names: fields removed first
	add pagi.Headers // set and add fields, appended after
}

func newHeaderEdit(o *HeaderOps) *headerEdit {
	if o.empty() {
		return nil
	}
	e := &headerEdit{}
	for _, n := range o.Delete {
		e.del = append(e.del, strings.ToLower(n))
	}
	for _, k := range setaSortedKeys(o.Set) {
		name := strings.ToLower(k)
		e.del = append(e.del, name)
		e.add = append(e.add, pagi.Header{Name: name, Value: o.Set[k]})
	}
	for _, k := range setaSortedKeys(o.Add) {
		e.add = append(e.add, pagi.Header{Name: strings.ToLower(k), Value: o.Add[k]})
	}
	return e
}

// apply returns a changed copy of h; h itself is left alone.
func (e *headerEdit) apply(h pagi.Headers) pagi.Headers {
	return e.applyInto(make(pagi.Headers, 0, len(h)+len(e.add)), h)
}

// applyInto is apply building the result in dst's backing array.
func (e *headerEdit) applyInto(dst, h pagi.Headers) pagi.Headers {
	out := append(dst[:0], h...)
	for _, n := range e.del {
		out = setaDelHeader(out, n)
	}
	return append(out, e.add...)
}

// BuildMiddleware prepares both edits and returns the middleware.
func (h *Headers) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	req, resp := newHeaderEdit(h.Request), newHeaderEdit(h.Response)
	onStart := func(c *call, hs pagi.Headers) pagi.Headers {
		c.respHdrs = resp.applyInto(c.respHdrs, hs)
		return c.respHdrs
	}
	return func(next pagi.App) pagi.App {
		return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
			if s.Type == pagi.ScopeLifespan {
				return next(ctx, s, receive, send)
			}
			c := getCall()
			defer putCall(c)
			if req != nil {
				s2 := c.editScope(s)
				c.reqHdrs = req.applyInto(c.reqHdrs, s.Headers)
				s2.Headers = c.reqHdrs
				s = s2
			}
			if resp != nil {
				c.next, c.onStart = send, onStart
				send = c.sendFn
			}
			return next(ctx, s, receive, send)
		}
	}, nil
}
