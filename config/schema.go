package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// topBlocks are the block types of a config's top level and how many labels
// each takes.
var topBlocks = []struct {
	name    string
	labels  int
	example string
}{
	{"server", 0, "server { ... }"},
	{"listener", 1, `listener "web" { ... }`},
	{"pubsub", 0, "pubsub { ... }"},
	{"middleware", 1, `middleware "standard" { ... }`},
	{"site", 1, `site "app" { ... }`},
	{"include", 1, includeExample},
}

// topLevel checks the top-level body of file f and adds its blocks to out
// by type, in source order; stmts are the file's include statements
// written without braces. Includes are expanded where they stand, so the
// blocks of all files come in the order of the files concatenated. Blocks
// with the wrong number of labels are left out.
func (l *loader) topLevel(f *srcFile, body *hclsyntax.Body, stmts []includeStmt, out map[string][]*hclsyntax.Block) {
	var known []string
	for _, t := range topBlocks {
		known = append(known, t.name)
	}
	for _, a := range sortedAttrs(body) {
		l.errorAt(a.NameRange, fmt.Sprintf("unexpected attribute %q at the top level%s", a.Name, didYouMean(a.Name, known)),
			"a config holds only blocks: server, listener, pubsub, middleware and site, and include statements")
	}
	blocks := body.Blocks
	for len(blocks) > 0 || len(stmts) > 0 {
		if len(stmts) > 0 && (len(blocks) == 0 || stmts[0].rng.Start.Byte < blocks[0].TypeRange.Start.Byte) {
			l.include(f, stmts[0], out)
			stmts = stmts[1:]
			continue
		}
		b := blocks[0]
		blocks = blocks[1:]
		if b.Type == "include" {
			if s, ok := l.includeBlock(b); ok {
				l.include(f, s, out)
			}
			continue
		}
		i := -1
		for j, t := range topBlocks {
			if t.name == b.Type {
				i = j
			}
		}
		if i < 0 {
			if bt, ok := Lookup(b.Type); ok {
				where := "a route block"
				if bt.Kind == KindMiddleware {
					where = "a middleware chain, a site or a route"
				}
				l.errorAt(b.TypeRange, fmt.Sprintf("%s %q cannot be used at the top level", bt.Kind, b.Type), "put it inside "+where)
				continue
			}
			l.errorAt(b.TypeRange, fmt.Sprintf("unknown block type %q%s", b.Type, didYouMean(b.Type, known)),
				"a config holds server, listener, pubsub, middleware and site blocks, and include statements")
			continue
		}
		if !l.checkLabels(b, topBlocks[i].labels, topBlocks[i].example) {
			continue
		}
		out[b.Type] = append(out[b.Type], b)
	}
}

// checkLabels reports a block whose label count is not n.
func (l *loader) checkLabels(b *hclsyntax.Block, n int, example string) bool {
	switch {
	case len(b.Labels) == n:
		if n == 1 && b.Labels[0] == "" {
			l.errorAt(b.LabelRanges[0], fmt.Sprintf("the name of a %s block must not be empty", b.Type), "")
			return false
		}
		return true
	case len(b.Labels) < n:
		l.errorAt(b.TypeRange, fmt.Sprintf("a %s block needs a name", b.Type), "write "+example)
	case n == 0:
		l.errorAt(b.LabelRanges[0], fmt.Sprintf("a %s block takes no name", b.Type), "write "+example)
	default:
		l.errorAt(b.LabelRanges[n], fmt.Sprintf("a %s block takes one name", b.Type), "write "+example)
	}
	return false
}

// single returns the first of blocks, reporting the others as duplicates,
// and makes its file the current one (see enter).
func (l *loader) single(blocks []*hclsyntax.Block) *hclsyntax.Block {
	if len(blocks) == 0 {
		return nil
	}
	for _, b := range blocks[1:] {
		l.errorAt(b.TypeRange, fmt.Sprintf("duplicate %s block", b.Type),
			fmt.Sprintf("a config, included files and all, has at most one %s block; the first is at %s", b.Type, posString(blocks[0].TypeRange)))
	}
	l.enter(blocks[0])
	return blocks[0]
}

// duplicate reports a block whose name was already used by first.
func (l *loader) duplicate(b *hclsyntax.Block, first hcl.Range) {
	l.errorAt(b.LabelRanges[0], fmt.Sprintf("duplicate %s %q", b.Type, b.Labels[0]),
		fmt.Sprintf("%s %q is first defined at %s", b.Type, b.Labels[0], posString(first)))
}

// DefaultServer returns the server block's settings when the config leaves
// them out.
func DefaultServer() Server {
	return Server{
		LogLevel:               "info",
		LogFormat:              "auto",
		GracefulTimeout:        Duration(30 * time.Second),
		HeartbeatTimeout:       Duration(30 * time.Second),
		Watch:                  true,
		Lifespan:               "auto",
		LifespanStartupTimeout: Duration(30 * time.Second),
		Limits:                 DefaultLimits,
	}
}

// server decodes and checks the server block.
func (l *loader) server(blocks []*hclsyntax.Block) {
	s := DefaultServer()
	b := l.single(blocks)
	if b == nil {
		l.cfg.Server = s
		return
	}
	attrs, diags := decodeBlockBody(b, l.ctx, &s)
	l.diags = append(l.diags, diags...)
	s.DefRange = b.DefRange()
	c := checker{l: l, attrs: attrs}
	c.oneOf("log_level", s.LogLevel, "debug", "info", "warn", "error")
	c.oneOf("log_format", s.LogFormat, "auto", "text", "json")
	c.oneOf("lifespan", s.Lifespan, "auto", "on", "off")
	c.atLeast("workers", s.Workers, 0)
	c.atLeast("max_requests", s.MaxRequests, 0)
	c.atLeast("max_requests_jitter", s.MaxRequestsJitter, 0)
	if s.HeartbeatTimeout < Duration(time.Second) {
		if r, ok := c.at("heartbeat_timeout"); ok {
			l.errorAt(r, "heartbeat_timeout must be at least 1s", fmt.Sprintf("got %s", s.HeartbeatTimeout.D()))
		}
	}
	c.limits(&s.Limits)
	l.cfg.Server = s
}

// checker checks decoded values and reports at their attributes.
type checker struct {
	l     *loader
	attrs hcl.Attributes
}

// at returns the range of attribute name's value, ok false when it was not
// written.
func (c checker) at(name string) (hcl.Range, bool) {
	a, ok := c.attrs[name]
	if !ok {
		return hcl.Range{}, false
	}
	return a.Expr.Range(), true
}

func (c checker) oneOf(name, v string, allowed ...string) {
	rng, ok := c.at(name)
	if !ok {
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.l.errorAt(rng, fmt.Sprintf("invalid %s %q%s", name, v, didYouMean(v, allowed)),
		"expected one of: "+strings.Join(allowed, ", "))
}

func (c checker) atLeast(name string, v, lo int) {
	rng, ok := c.at(name)
	if !ok || v >= lo {
		return
	}
	if lo == 0 {
		c.l.errorAt(rng, fmt.Sprintf("%s must not be negative", name), fmt.Sprintf("got %d", v))
		return
	}
	c.l.errorAt(rng, fmt.Sprintf("%s must be at least %d", name, lo), fmt.Sprintf("got %d", v))
}

// limits checks the Limits attributes that were written.
func (c checker) limits(lim *Limits) {
	c.atLeast("max_header_count", lim.MaxHeaderCount, 1)
	c.atLeast("max_connections", lim.MaxConnections, 0)
	c.atLeast("max_header_bytes", int(min(lim.MaxHeaderBytes, 1<<40)), 1)
	c.atLeast("max_request_line", int(min(lim.MaxRequestLine, 1<<40)), 1)
}

// sortedAttrs returns the attributes of body in source order.
func sortedAttrs(body *hclsyntax.Body) []*hclsyntax.Attribute {
	out := make([]*hclsyntax.Attribute, 0, len(body.Attributes))
	for _, a := range body.Attributes {
		out = append(out, a)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].SrcRange.Start.Byte < out[j-1].SrcRange.Start.Byte; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// evalInto evaluates attribute a and stores it in *dst (see Decode for the
// types). It reports false when the value is missing or had errors.
func (l *loader) evalInto(a *hclsyntax.Attribute, dst any) bool {
	val, diags := a.Expr.Value(l.ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || !val.IsWhollyKnown() || val.IsNull() {
		return false
	}
	d := &decoder{ctx: l.ctx}
	d.set(reflect.ValueOf(dst).Elem(), val, a.Expr, strconv.Quote(a.Name))
	l.diags = append(l.diags, d.diags...)
	return len(d.diags) == 0
}
