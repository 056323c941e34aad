package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// chain decodes and checks one named middleware chain.
func (l *loader) chain(b *hclsyntax.Block) {
	l.enter(b)
	name := b.Labels[0]
	if first, dup := l.chains[name]; dup {
		l.duplicate(b, first.DefRange)
		return
	}
	ch := &Chain{Name: name, DefRange: b.DefRange()}
	l.chains[name] = ch
	l.cfg.Chains = append(l.cfg.Chains, ch)
	for _, a := range sortedAttrs(b.Body) {
		l.errorAt(a.NameRange, fmt.Sprintf("unexpected attribute %q in middleware chain %q", a.Name, name),
			"a middleware chain holds only middleware blocks, applied in the order written")
	}
	for _, mb := range b.Body.Blocks {
		bt, ok := Lookup(mb.Type)
		switch {
		case !ok:
			l.unknownBlock(mb, nil, KindMiddleware)
		case bt.Kind != KindMiddleware:
			l.errorAt(mb.TypeRange, fmt.Sprintf("%q is a %s, not a middleware", mb.Type, bt.Kind),
				"a middleware chain holds only middleware; handlers go in route blocks")
		default:
			if u := l.module(mb, bt, nil); u != nil {
				u.Chain = name
				ch.Middleware = append(ch.Middleware, u)
			}
		}
	}
}

// unknownBlock reports block b whose type is neither registered nor one of
// extra; suggestions come from extra and the registered types of kinds.
func (l *loader) unknownBlock(b *hclsyntax.Block, extra []string, kinds ...Kind) {
	if b.Type == "include" {
		l.errorAt(b.DefRange(), "include is allowed only at the top level of a file",
			"write the include outside every block; the included file's blocks join the config's top level")
		return
	}
	candidates := append([]string(nil), extra...)
	var lists []string
	for _, k := range kinds {
		var ns []string
		for _, bt := range BlockTypes(k) {
			ns = append(ns, bt.Name)
		}
		candidates = append(candidates, ns...)
		if len(ns) == 0 {
			lists = append(lists, fmt.Sprintf("no %s type is registered", k))
		} else {
			lists = append(lists, fmt.Sprintf("%s: %s", kindPlural(k), strings.Join(ns, ", ")))
		}
	}
	if len(extra) > 0 {
		lists = append([]string{"blocks: " + strings.Join(extra, ", ")}, lists...)
	}
	s := suggest(b.Type, candidates)
	what := "block type"
	if bt, ok := Lookup(s); ok {
		what = bt.Kind.String()
	} else if s == "" && len(extra) == 0 {
		var ks []string
		for _, k := range kinds {
			ks = append(ks, k.String())
		}
		what = strings.Join(ks, " or ")
	}
	summary := fmt.Sprintf("unknown %s %q", what, b.Type)
	if s != "" {
		summary += fmt.Sprintf("; did you mean %q?", s)
	}
	l.errorAt(b.TypeRange, summary, "known "+strings.Join(lists, "; "))
}

func kindPlural(k Kind) string {
	if k == KindHandler {
		return "handlers"
	}
	return "middleware"
}

// module decodes block b of registered type bt into a fresh module and runs
// its Validate. It returns nil when the block had errors.
func (l *loader) module(b *hclsyntax.Block, bt BlockType, route *Route) *Use {
	mod, err := newModule(bt)
	if err != nil {
		l.errorAt(b.TypeRange, err.Error(), "")
		return nil
	}
	hb := b.AsHCLBlock()
	attrs, diags := decodeBlock(hb, l.ctx, mod)
	for _, d := range diags {
		if d.Subject == nil {
			d.Subject = hb.DefRange.Ptr()
		}
	}
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	if v, ok := mod.(Validator); ok {
		ctx := NewValidateContext(l.dir, hb, attrs, route)
		ctx.Workers = l.cfg.Server.Workers
		ctx.PubSub = l.cfg.PubSub
		vd := validate(v, ctx, bt.Name)
		for _, d := range vd {
			if d.Subject == nil {
				d.Subject = hb.DefRange.Ptr()
			}
		}
		l.diags = append(l.diags, vd...)
		if vd.HasErrors() {
			return nil
		}
	}
	return &Use{Type: bt.Name, Module: mod, Dir: l.dir, DefRange: hb.DefRange, Source: l.sourceOf(b.Range())}
}

// sourceOf returns the text of rng in its file, or "" when the file is not
// known.
func (l *loader) sourceOf(rng hcl.Range) string {
	f := l.byName[rng.Filename]
	if f == nil {
		return ""
	}
	src := l.contents[f.abs]
	if rng.Start.Byte < 0 || rng.End.Byte > len(src) || rng.Start.Byte > rng.End.Byte {
		return ""
	}
	return string(src[rng.Start.Byte:rng.End.Byte])
}

// newModule calls bt.New, turning a panic or a bad result into an error.
func newModule(bt BlockType) (mod any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %s %q: New panicked: %v", bt.Kind, bt.Name, p)
		}
	}()
	mod = bt.New()
	if mod == nil {
		return nil, fmt.Errorf("internal error: %s %q: New returned nil", bt.Kind, bt.Name)
	}
	return mod, nil
}

// validate calls v.Validate, turning a panic into a diagnostic.
func validate(v Validator, ctx *ValidateContext, name string) (diags hcl.Diagnostics) {
	defer func() {
		if p := recover(); p != nil {
			diags = hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("internal error: validating %s panicked: %v", name, p), Subject: ctx.Block.DefRange.Ptr()}}
		}
	}()
	return v.Validate(ctx)
}

// chainUses expands the chain names listed in attribute a into their uses,
// reporting unknown names at their list element.
func (l *loader) chainUses(a *hclsyntax.Attribute) []*Use {
	var names []string
	if !l.evalInto(a, &names) {
		return nil
	}
	elems := elementExprs(a.Expr, len(names))
	var known []string
	for _, ch := range l.cfg.Chains {
		known = append(known, ch.Name)
	}
	var out []*Use
	for i, n := range names {
		ch, ok := l.chains[n]
		if !ok {
			detail := "no middleware chain is defined; define one with middleware \"name\" { ... }"
			if len(known) > 0 {
				detail = "defined chains: " + strings.Join(known, ", ")
			}
			l.errorAt(elems[i].Range(), fmt.Sprintf("unknown middleware chain %q%s", n, didYouMean(n, known)), detail)
			continue
		}
		for _, u := range ch.Middleware {
			c := *u
			out = append(out, &c)
		}
	}
	return out
}
