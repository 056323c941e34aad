package engine

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// namedHandler is a distinct handler per pattern, so the test can tell
// which pattern a router picked.
type namedHandler struct{ pattern string }

func (*namedHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

// TestFastRouterAgreesWithServeMux: for every pattern set, method and path
// below, when the fast router answers, ServeMux (the reference) picks the
// very same handler, without a redirect; and the common requests are
// answered by the fast router at all.
func TestFastRouterAgreesWithServeMux(t *testing.T) {
	sets := []struct {
		name     string
		patterns []string
		fast     []string // "METHOD path" the fast router must answer
	}{
		{"literal", []string{"/", "/static/", "GET /{$}", "GET /chain", "POST /chain", "/files/a/",
			"HEAD /h", "GET /h", "/tree/", "/x/{$}", "DELETE /only"},
			[]string{"GET /", "GET /static/a.css", "HEAD /static/", "GET /chain", "POST /chain", "HEAD /chain",
				"GET /files/a/b", "HEAD /h", "GET /h", "GET /x/", "PUT /tree/t", "GET /elsewhere", "DELETE /only"}},
		{"wildcards", []string{"/users/{id}", "/users/me", "/", "/static/", "GET /items/{rest...}"},
			[]string{"GET /users/me"}},
		{"methods on prefixes", []string{"GET /api/", "POST /api/", "/other/", "/"},
			[]string{"GET /api/v1", "POST /api/v1", "HEAD /api/x", "PATCH /other/x"}},
		{"host", []string{"example.com/", "/"}, nil},
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}
	paths := []string{"/", "/static", "/static/", "/static/a.css", "/static//a", "/static/./a", "/static/../x",
		"/static/a/..", "/chain", "/chain/", "/files/a", "/files/a/", "/files/a/b", "/files", "/h", "/h/",
		"/tree", "/tree/", "/tree/x", "/tree/t", "/x", "/x/", "/x/y", "/only", "/users/me", "/users/42", "/users/",
		"/users", "/items/a/b", "/api", "/api/", "/api/v1", "/api/x", "/other/x", "/other", "/elsewhere", "/a%20b",
		"/%7Eu", "/a!b", "/a+b", "/a;b=c", "/é", "/a/%2F/b", "/static/a%2fb"}
	for _, set := range sets {
		mux := http.NewServeMux()
		fast := newFastRouter()
		for _, p := range set.patterns {
			h := &namedHandler{p}
			mux.Handle(p, h)
			fast.add(p, h)
		}
		answered := map[string]bool{}
		for _, m := range methods {
			for _, p := range paths {
				for _, host := range []string{"example.com", "other.org"} {
					raw := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", m, p, host)
					r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
					if err != nil {
						continue // not a request a server would hand on
					}
					got := fast.route(r)
					if got == nil {
						continue
					}
					answered[m+" "+p] = true
					want, pat := mux.Handler(r)
					if got != want {
						t.Errorf("%s: %s %s (host %s): fast router %v, ServeMux %T %q", set.name, m, p, host, got, want, pat)
					}
				}
			}
		}
		for _, f := range set.fast {
			if !answered[f] {
				t.Errorf("%s: %q was left to ServeMux", set.name, f)
			}
		}
		if set.name == "host" && len(answered) > 0 {
			t.Errorf("host patterns: the fast router answered %v", answered)
		}
	}
}

func TestFastPathOK(t *testing.T) {
	for path, want := range map[string]bool{
		"/": true, "/a": true, "/a/": true, "/a/b.css": true, "/a-b_c~d": true, "/a:b@c": true,
		"": false, "a": false, "*": false, "//": false, "/a//b": false, "/./a": false, "/a/.": false,
		"/a/..": false, "/../a": false, "/a b": false, "/é": false, "/a%20b": false, "/a?b": false,
		"/.a": true, "/a..": true, "/...": true,
	} {
		if got := fastPathOK(path); got != want {
			t.Errorf("fastPathOK(%q) = %v, want %v", path, got, want)
		}
	}
}
