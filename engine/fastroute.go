package engine

import (
	"net/http"
	"sort"
	"strings"
)

// fastRouter routes the common requests of one listener without
// http.ServeMux's general matcher, which cleans the path, walks its tree
// segment by segment and, for a prefix pattern, allocates the match of the
// rest of the path (some 4,000 instructions and three allocations for a
// request under "/static/"). It knows only literal patterns — an exact
// path, a prefix ending in "/", or a path ending in "{$}", with or without
// a method — and answers only when its answer is certainly the one
// ServeMux would give; every other request (and every listener with a host
// pattern or a pattern it cannot read) goes to the ServeMux, which stays
// the reference: redirects, 404, 405 and wildcards are all its job.
//
// Why the answers agree: a request path is taken only when it is clean
// (ServeMux would not redirect it to a cleaned form) and made of bytes that
// are the same escaped or not. An exact literal pattern is at least as
// specific as any other pattern matching its path, and a longer prefix more
// specific than a shorter one; where a more specific path and a more
// specific method would pull apart, ServeMux refuses the two patterns as a
// conflict when the config is compiled, so they never meet here. When the
// best candidate's methods do not fit, or a trailing-slash redirect is
// possible, the router steps aside.
type fastRouter struct {
	off bool // a pattern this router cannot read: ServeMux decides everything

	exact map[string][]fastRoute // literal path → its routes, one per method
	// prefixes are the literal prefixes, longest first; not consulted when
	// a wildcard pattern exists (it may be more specific than a prefix).
	prefixes  []fastPrefix
	wildcards bool
	// slashless holds each registered path ending in "/" without that
	// slash: a request for one of these may be redirected by ServeMux.
	slashless map[string]bool
}

type fastRoute struct {
	method string // "" for any
	h      http.Handler
}

type fastPrefix struct {
	prefix string
	routes []fastRoute
}

func newFastRouter() *fastRouter {
	return &fastRouter{exact: map[string][]fastRoute{}, slashless: map[string]bool{}}
}

// add records a ServeMux pattern already registered with the listener's mux.
func (f *fastRouter) add(pattern string, h http.Handler) {
	method, path := "", pattern
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		method, path = pattern[:i], strings.TrimLeft(pattern[i+1:], " \t")
	}
	if !strings.HasPrefix(path, "/") {
		f.off = true // a host pattern: host precedence is ServeMux's
		return
	}
	exact := false
	if strings.HasSuffix(path, "{$}") {
		path, exact = strings.TrimSuffix(path, "{$}"), true
	}
	if strings.ContainsAny(path, "{}") {
		f.wildcards = true
		return
	}
	if !fastPathOK(path) {
		f.off = true
		return
	}
	r := fastRoute{method: method, h: h}
	if strings.HasSuffix(path, "/") {
		f.slashless[strings.TrimSuffix(path, "/")] = true
	}
	if exact || !strings.HasSuffix(path, "/") {
		f.exact[path] = append(f.exact[path], r)
		return
	}
	for i := range f.prefixes {
		if f.prefixes[i].prefix == path {
			f.prefixes[i].routes = append(f.prefixes[i].routes, r)
			return
		}
	}
	f.prefixes = append(f.prefixes, fastPrefix{prefix: path, routes: []fastRoute{r}})
	sort.SliceStable(f.prefixes, func(i, j int) bool { return len(f.prefixes[i].prefix) > len(f.prefixes[j].prefix) })
}

// route returns the handler ServeMux would pick for r, or nil when the
// router leaves r to ServeMux.
func (f *fastRouter) route(r *http.Request) http.Handler {
	if f == nil || f.off || r.Method == http.MethodConnect || r.URL.RawPath != "" {
		return nil
	}
	path := r.URL.Path
	if !fastPathOK(path) {
		return nil
	}
	if routes, ok := f.exact[path]; ok {
		return pickMethod(routes, r.Method)
	}
	if f.wildcards || f.slashless[path] {
		return nil
	}
	for i := range f.prefixes {
		if strings.HasPrefix(path, f.prefixes[i].prefix) {
			return pickMethod(f.prefixes[i].routes, r.Method)
		}
	}
	return nil
}

// pickMethod applies ServeMux's method precedence among the routes of one
// path: the request's own method, then GET for HEAD, then a route without
// a method; nil (ServeMux answers, with 405) when none fits.
func pickMethod(routes []fastRoute, method string) http.Handler {
	var get, anyMethod http.Handler
	for _, r := range routes {
		switch r.method {
		case method:
			return r.h
		case "":
			anyMethod = r.h
		case http.MethodGet:
			get = r.h
		}
	}
	if method == http.MethodHead && get != nil {
		return get
	}
	return anyMethod
}

// fastPathOK reports whether path is one the router may take: it starts
// with "/", holds only bytes that escaping leaves as they are (so the
// escaped path ServeMux matches is path itself), and is clean: no empty,
// "." or ".." segment (ServeMux would redirect to the cleaned path).
func fastPathOK(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	segStart := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) {
			c := path[i]
			if c != '/' {
				if !fastPathByte[c] {
					return false
				}
				continue
			}
		}
		seg := path[segStart:i]
		// An empty segment is allowed only as the last one (a trailing slash).
		if (seg == "" && i < len(path)) || seg == "." || seg == ".." {
			return false
		}
		segStart = i + 1
	}
	return true
}

// fastPathByte marks the bytes net/url leaves unescaped in a path: letters,
// digits and -._~$&+,;=:@ (the others it escapes, so a request holding
// one has a RawPath and is left to ServeMux).
var fastPathByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~$&+,;=:@" {
		t[c] = true
	}
	return t
}()
