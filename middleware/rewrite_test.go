package middleware_test

import (
	"strings"
	"testing"

	"github.com/pagihq/pagi/internal/pagitest"
)

func TestStripPrefix(t *testing.T) {
	srv := setaStart(t, `
site "s" {
  route "/" {
    strip_prefix { prefix = "/api/" }
    seta_echo_scope {}
  }
  route "/v1/" {
    strip_prefix { prefix = "/api" }
    seta_echo_scope {}
  }
}
`)
	base := srv.URL("web")
	cases := []struct {
		url, root, path, raw string
	}{
		{"/api/users", "/api", "/users", "/api/users"},
		{"/api/users/", "/api", "/users/", "/api/users/"},
		{"/api", "/api", "/", "/api"},
		{"/api/", "/api", "/", "/api/"},
		{"/apix/y", "", "/apix/y", "/apix/y"},
		{"/other", "", "/other", "/other"},
		{"/api/a%20b", "/api", "/a b", "/api/a%20b"},
		{"/v1/api/x", "/v1/api", "/x", "/v1/api/x"},
		{"/v1/x", "/v1", "/x", "/v1/x"},
	}
	for _, c := range cases {
		_, v := setaEcho(t, base+c.url)
		if v.RootPath != c.root || v.Path != c.path || v.RawPath != c.raw {
			t.Errorf("%s: root_path %q path %q raw_path %q, want %q %q %q", c.url, v.RootPath, v.Path, v.RawPath, c.root, c.path, c.raw)
		}
	}
}

func TestRewrite(t *testing.T) {
	srv := setaStart(t, `
site "s" {
  route "/old/" {
    rewrite { path = "/new{path}" }
    seta_echo_scope {}
  }
  route "/users/{id}" {
    rewrite {
      path  = "/profile/{id}/"
      query = "id={id}&{query}"
    }
    seta_echo_scope {}
  }
  route "/q" {
    rewrite { query = "" }
    seta_echo_scope {}
  }
  route "/both/" {
    strip_prefix { prefix = "/both" }
    rewrite { path = "/x{path}" }
    seta_echo_scope {}
  }
}
`)
	base := srv.URL("web")
	cases := []struct {
		url, root, path, raw, query string
	}{
		{"/old/a%20b?k=v", "/old", "/new/a b", "/old/new/a%20b", "k=v"},
		{"/users/42?x=1", "", "/profile/42/", "/profile/42/", "id=42&x=1"},
		{"/users/a%26b%3Dc", "", "/profile/a&b=c/", "/profile/a&b=c/", "id=a%26b%3Dc&"},
		{"/users/..%2F..%2Fetc", "", "/etc/", "/etc/", "id=..%2F..%2Fetc&"},
		{"/q?drop=me", "", "/q", "/q", ""},
		{"/both/y", "/both", "/x/y", "/both/x/y", ""},
	}
	for _, c := range cases {
		resp, v := setaEcho(t, base+c.url)
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", c.url, resp.StatusCode)
			continue
		}
		if v.RootPath != c.root || v.Path != c.path || v.RawPath != c.raw || v.Query != c.query {
			t.Errorf("%s: root %q path %q raw %q query %q, want %q %q %q %q", c.url, v.RootPath, v.Path, v.RawPath, v.Query, c.root, c.path, c.raw, c.query)
		}
		if strings.Contains(v.Path, "..") {
			t.Errorf("%s: path %q still holds ..", c.url, v.Path)
		}
	}
}

func TestRewriteValidation(t *testing.T) {
	cfg := pagitest.Listener("web") + `site "s" {
  route "/a/{id}" {
    rewrite {
      path  = "/x/{nope}"
      query = "?a={id}"
    }
    seta_echo_scope {}
  }
  route "/b" {
    rewrite { path = "relative" }
    seta_echo_scope {}
  }
  route "/c" {
    rewrite {}
    seta_echo_scope {}
  }
  route "/d" {
    strip_prefix { prefix = "api" }
    seta_echo_scope {}
  }
  route "/e" {
    strip_prefix { prefix = "/" }
    seta_echo_scope {}
  }
}
`
	out := setaValidate(t, cfg)
	setaWantDiags(t, out,
		setaPos(t, cfg, `"/x/{nope}"`), "{nope} is neither {path}, {query} nor a parameter of the route",
		setaPos(t, cfg, `"?a={id}"`), `write the query without its leading "?"`,
		setaPos(t, cfg, `"relative"`), `path must start with "/" or {path}`,
		setaPos(t, cfg, `rewrite {}`), "set path, query or both",
		setaPos(t, cfg, `"api"`), `prefix must start with "/"`,
		setaPos(t, cfg, `"/" }`), `prefix "/" strips nothing`)
}
