package config

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// patternHint is the detail of every bad-pattern error.
const patternHint = "a route pattern is [METHOD ][HOST]/path, with {name} and {name...} wildcards, as in net/http's ServeMux"

// route decodes and checks one route block of site s.
func (l *loader) route(s *Site, b *hclsyntax.Block) {
	switch {
	case len(b.Labels) == 0:
		l.errorAt(b.TypeRange, "a route block needs a pattern", `write route "GET /path" { ... }`)
		return
	case len(b.Labels) > 1:
		l.errorAt(b.LabelRanges[1], "a route block takes one pattern", `write route "GET /path" { ... }`)
		return
	}
	label := b.LabelRanges[0]
	r := &Route{Pattern: b.Labels[0], DefRange: b.DefRange()}
	s.Routes = append(s.Routes, r)
	l.labels[r], l.siteOf[r] = label, s
	if err := checkPattern(r.Pattern); err != nil {
		l.errorAt(label, fmt.Sprintf("invalid route pattern %q: %v", r.Pattern, err), patternHint)
	} else {
		splitPattern(r)
		l.valid[r] = true
		if r.Host != "" && len(s.Hosts) > 0 {
			l.errorAt(label, fmt.Sprintf("route %q has a host, but site %q sets hosts", r.Pattern, s.Name),
				"remove the host from the pattern, or move the route to a site without hosts")
			l.valid[r] = false
		}
		if m := strings.ToUpper(r.Method); m != r.Method && isStandardMethod(m) {
			l.warningAt(label, fmt.Sprintf("method %q is not %q", r.Method, m), "methods are case-sensitive; this route matches no ordinary request")
		}
	}

	var chained []*Use
	for _, a := range sortedAttrs(b.Body) {
		if a.Name == "middleware" {
			chained = l.chainUses(a)
			continue
		}
		l.errorAt(a.NameRange, fmt.Sprintf("unknown attribute %q in route %q%s", a.Name, r.Pattern, didYouMean(a.Name, []string{"middleware"})),
			"a route has a middleware attribute, middleware blocks and one handler block")
	}
	var inline []*Use
	var handlerBlock *hclsyntax.Block
	sawUnknown := false
	for _, rb := range b.Body.Blocks {
		bt, ok := Lookup(rb.Type)
		switch {
		case rb.Type == "route":
			l.errorAt(rb.TypeRange, "routes do not nest", "write each route in its site, with the full path")
		case !ok:
			sawUnknown = true
			l.unknownBlock(rb, nil, KindHandler, KindMiddleware)
		case bt.Kind == KindMiddleware:
			if u := l.module(rb, bt, r); u != nil {
				inline = append(inline, u)
			}
		case handlerBlock != nil:
			l.errorAt(rb.TypeRange, fmt.Sprintf("route %q has more than one handler", r.Pattern),
				fmt.Sprintf("%q here, and %q at %s; a route has exactly one handler", rb.Type, handlerBlock.Type, posString(handlerBlock.TypeRange)))
		default:
			handlerBlock = rb
			r.Handler = l.module(rb, bt, r)
		}
	}
	r.Middleware = append(chained, inline...)
	if handlerBlock == nil && !sawUnknown {
		var hs []string
		for _, bt := range BlockTypes(KindHandler) {
			hs = append(hs, bt.Name)
		}
		l.errorAt(b.DefRange(), fmt.Sprintf("route %q has no handler", r.Pattern), "add one handler block: "+strings.Join(hs, ", "))
	}
}

// isStandardMethod reports whether m is one of the HTTP methods of RFC 9110
// or PATCH.
func isStandardMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// okHandler is the handler registered in scratch muxes.
var okHandler = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// register registers pattern in mux and returns ServeMux's complaint, if
// any, as an error.
func register(mux *http.ServeMux, pattern string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	mux.Handle(pattern, okHandler)
	return nil
}

// checkPattern reports why ServeMux would refuse pattern, or nil.
func checkPattern(pattern string) error {
	err := register(http.NewServeMux(), pattern)
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("parsing %q: ", pattern))
	msg = strings.TrimPrefix(msg, "http: ")
	return fmt.Errorf("%s", msg)
}

// splitPattern fills r's Method, Host, Path, Params and Mount from its
// valid Pattern, the way ServeMux reads it.
func splitPattern(r *Route) {
	rest := r.Pattern
	if i := strings.IndexAny(rest, " \t"); i >= 0 {
		r.Method, rest = rest[:i], strings.TrimLeft(rest[i+1:], " \t")
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return
	}
	r.Host, r.Path = rest[:i], rest[i:]
	r.Params = nil
	for _, seg := range strings.Split(r.Path, "/") {
		if len(seg) < 2 || seg[0] != '{' || seg[len(seg)-1] != '}' {
			continue
		}
		name := strings.TrimSuffix(seg[1:len(seg)-1], "...")
		if name != "$" && name != "" {
			r.Params = append(r.Params, name)
		}
	}
	r.Mount = strings.HasSuffix(r.Path, "/")
}

// registered is one pattern in a listener's scratch mux.
type registered struct {
	pattern string
	route   *Route
}

// checkConflicts registers, per listener, every valid route of every site
// on it in a scratch ServeMux, and reports each conflict at the later
// route's label.
func (l *loader) checkConflicts() {
	reported := map[[2]*Route]bool{}
	for _, ln := range l.cfg.Listeners {
		mux := http.NewServeMux()
		var done []registered
		for _, s := range l.cfg.Sites {
			if !containsString(s.Listeners, ln.Name) {
				continue
			}
			for _, r := range s.Routes {
				if !l.valid[r] {
					continue
				}
				for _, p := range sitePatterns(s, r) {
					err := register(mux, p)
					if err == nil {
						done = append(done, registered{p, r})
						continue
					}
					other, desc := conflictWith(done, p, err)
					if other == nil {
						l.errorAt(l.labels[r], fmt.Sprintf("invalid route pattern %q on site %q: %v", p, s.Name, err), patternHint)
						continue
					}
					key := [2]*Route{other.route, r}
					if reported[key] {
						continue
					}
					reported[key] = true
					l.errorAt(l.labels[r], fmt.Sprintf("route %q conflicts with route %q of site %q at %s",
						r.Pattern, other.route.Pattern, l.siteOf[other.route].Name, posString(l.labels[other.route])), desc)
				}
			}
		}
	}
}

// sitePatterns returns the patterns route r of site s is served under: one
// per host of the site, or the route's own pattern when it has none.
func sitePatterns(s *Site, r *Route) []string {
	if len(s.Hosts) == 0 {
		return []string{r.Pattern}
	}
	out := make([]string, 0, len(s.Hosts))
	for _, h := range s.Hosts {
		p := h + r.Path
		if r.Method != "" {
			p = r.Method + " " + p
		}
		out = append(out, p)
	}
	return out
}

// conflictWith finds which of the registered patterns p conflicts with,
// given ServeMux's complaint err, and describes the conflict. It returns nil
// when no single pattern is to blame.
func conflictWith(done []registered, p string, err error) (*registered, string) {
	desc := ""
	if _, after, ok := strings.Cut(err.Error(), ":\n"); ok {
		desc = after
	}
	for i := range done {
		mux := http.NewServeMux()
		if register(mux, done[i].pattern) != nil {
			continue
		}
		if register(mux, p) != nil {
			if desc == "" {
				desc = fmt.Sprintf("%s and %s match some of the same requests, and neither is more specific", p, done[i].pattern)
			}
			return &done[i], desc
		}
	}
	return nil, ""
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkUnused warns about listeners no site uses.
func (l *loader) checkUnused(blocks []*hclsyntax.Block) {
	used := map[string]bool{}
	for _, s := range l.cfg.Sites {
		for _, n := range s.Listeners {
			used[n] = true
		}
	}
	ranges := map[string]hcl.Range{}
	for _, b := range blocks {
		if _, ok := ranges[b.Labels[0]]; !ok {
			ranges[b.Labels[0]] = b.LabelRanges[0]
		}
	}
	if len(l.cfg.Sites) == 0 {
		return
	}
	for _, ln := range l.cfg.Listeners {
		if !used[ln.Name] {
			l.warningAt(ranges[ln.Name], fmt.Sprintf("listener %q is not used by any site", ln.Name), "it will accept connections and answer 404 Not Found")
		}
	}
}
