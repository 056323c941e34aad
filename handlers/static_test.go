package handlers_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pagihq/pagi/internal/pagitest"
)

const staticSecret = "TOP-SECRET-5d1c0a"

const staticHCL = `
listener "web" {
  address = "127.0.0.1:0"
}

site "s" {
  listeners = ["web"]

  route "/files/" {
    static {
      root = "./public"
    }
  }
  route "/browse/" {
    static {
      root   = "./public"
      browse = true
    }
  }
  route "/dots/" {
    static {
      root          = "./public"
      hide_dotfiles = false
    }
  }
  route "/plain/" {
    static {
      root          = "./public"
      etag          = false
      precompressed = []
      cache_control = "public, max-age=60"
    }
  }
  route "/ls/" {
    static {
      root   = "./public"
      browse = true
      index  = []
    }
  }
  route "GET /exact.txt" {
    static {
      root = "./public"
    }
  }
}
`

// staticFiles are the files of the test site; public/ is the root, the
// secret lies beside it.
var staticFiles = map[string]string{
	"secret.txt":                  staticSecret,
	"public/a.css":                "body { color: red }\n",
	"public/index.html":           "<h1>home</h1>",
	"public/exact.txt":            "exact",
	"public/sub/b.txt":            "bee",
	"public/site/index.html":      "<h1>site</h1>",
	"public/list/<b>&.txt":        "x",
	"public/list/a b.txt":         "spaced",
	"public/list/.hidden":         "hidden",
	"public/list/inner/z.txt":     "z",
	"public/.env":                 "DOTENV",
	"public/.git/config":          "GITCONFIG",
	"public/été.txt":              "summer",
	"public/日本語.txt":              "nihongo",
	"public/digits.txt":           "0123456789abcdefghij",
	"public/app.js":               "console.log('plain')",
	"public/app.js.br":            "BROTLI-BYTES",
	"public/app.js.gz":            "GZIP-BYTES",
	"public/only-gz.css":          "plain css",
	"public/only-gz.css.gz":       "GZ-CSS",
	"public/inside/target.txt":    "inside target",
	"public/data.unknownext12345": "%PDF-1.7 not really",
}

// staticServer starts the test site, with symlinks and a large file added.
func staticServer(t testing.TB) (*pagitest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range staticFiles {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pub := filepath.Join(dir, "public")
	links := map[string]string{
		"link-out":     "../secret.txt",
		"abs-link":     filepath.Join(dir, "secret.txt"),
		"dir-out":      "..",
		"link-in":      "inside/target.txt",
		"abs-link-in":  filepath.Join(pub, "inside", "target.txt"),
		"sub/up-link":  "../inside/target.txt",
		"etc-link":     "/etc/passwd",
		"dangling.txt": "nothing-here",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(pub, filepath.FromSlash(name))); err != nil {
			t.Skip("symlinks unavailable:", err)
		}
	}
	return pagitest.StartIn(t, dir, staticHCL), dir
}

// staticClient neither follows redirects nor asks for or undoes
// compression, so responses are seen as sent.
func staticClient() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

type staticResp struct {
	*http.Response
	body string
}

func staticDo(t *testing.T, c *http.Client, method, url string, h ...string) staticResp {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return staticResp{resp, string(b)}
}

func TestStaticServe(t *testing.T) {
	srv, dir := staticServer(t)
	base := srv.URL("web")
	c := staticClient()

	t.Run("GET", func(t *testing.T) {
		r := staticDo(t, c, "GET", base+"/files/a.css")
		want := staticFiles["public/a.css"]
		if r.StatusCode != 200 || r.body != want {
			t.Fatalf("got %d %q", r.StatusCode, r.body)
		}
		checkHeader(t, r.Header, "Content-Type", "text/css; charset=utf-8")
		checkHeader(t, r.Header, "Content-Length", strconv.Itoa(len(want)))
		checkHeader(t, r.Header, "Accept-Ranges", "bytes")
		checkHeader(t, r.Header, "Vary", "Accept-Encoding")
		fi, _ := os.Stat(filepath.Join(dir, "public", "a.css"))
		checkHeader(t, r.Header, "Last-Modified", fi.ModTime().UTC().Format(http.TimeFormat))
		if et := r.Header.Get("Etag"); !strings.HasPrefix(et, `"`) || !strings.HasSuffix(et, `"`) || len(et) < 5 {
			t.Errorf("ETag %q", et)
		}
		if r.Header.Get("Cache-Control") != "" {
			t.Errorf("unexpected Cache-Control %q", r.Header.Get("Cache-Control"))
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		g := staticDo(t, c, "GET", base+"/files/a.css")
		h := staticDo(t, c, "HEAD", base+"/files/a.css")
		if h.StatusCode != 200 || h.body != "" {
			t.Fatalf("got %d %q", h.StatusCode, h.body)
		}
		for _, k := range []string{"Content-Type", "Content-Length", "Etag", "Last-Modified", "Accept-Ranges", "Vary"} {
			checkHeader(t, h.Header, k, g.Header.Get(k))
		}
	})

	t.Run("mount", func(t *testing.T) {
		if r := staticDo(t, c, "GET", base+"/files/sub/b.txt"); r.StatusCode != 200 || r.body != "bee" {
			t.Errorf("sub/b.txt: %d %q", r.StatusCode, r.body)
		}
		// A non-mount route serves its full path from the root.
		if r := staticDo(t, c, "GET", base+"/exact.txt"); r.StatusCode != 200 || r.body != "exact" {
			t.Errorf("exact: %d %q", r.StatusCode, r.body)
		}
		if r := staticDo(t, c, "GET", base+"/files/files/a.css"); r.StatusCode != 404 {
			t.Errorf("prefix not stripped once: %d", r.StatusCode)
		}
	})

	t.Run("index", func(t *testing.T) {
		if r := staticDo(t, c, "GET", base+"/files/"); r.StatusCode != 200 || r.body != "<h1>home</h1>" {
			t.Errorf("root index: %d %q", r.StatusCode, r.body)
		} else {
			checkHeader(t, r.Header, "Content-Type", "text/html; charset=utf-8")
		}
		if r := staticDo(t, c, "GET", base+"/files/site/"); r.StatusCode != 200 || r.body != "<h1>site</h1>" {
			t.Errorf("site index: %d %q", r.StatusCode, r.body)
		}
	})

	t.Run("redirect", func(t *testing.T) {
		r := staticDo(t, c, "GET", base+"/files/site?x=1&y=%20")
		if r.StatusCode != 301 {
			t.Fatalf("status %d", r.StatusCode)
		}
		checkHeader(t, r.Header, "Location", "/files/site/?x=1&y=%20")
		r = staticDo(t, c, "GET", base+"/files/list/inner")
		checkHeader(t, r.Header, "Location", "/files/list/inner/")
		r = staticDo(t, c, "GET", base+"/browse/%C3%A9t%C3%A9-dir")
		if r.StatusCode != 404 {
			t.Errorf("missing dir: %d", r.StatusCode)
		}
	})

	t.Run("listing", func(t *testing.T) {
		if r := staticDo(t, c, "GET", base+"/files/list/"); r.StatusCode != 404 {
			t.Errorf("listing without browse: %d", r.StatusCode)
		}
		r := staticDo(t, c, "GET", base+"/browse/list/")
		if r.StatusCode != 200 {
			t.Fatalf("listing: %d", r.StatusCode)
		}
		checkHeader(t, r.Header, "Content-Type", "text/html; charset=utf-8")
		for _, want := range []string{
			`href="./%3Cb%3E&amp;.txt"`, `&lt;b&gt;&amp;.txt`,
			`href="./a%20b.txt"`, `href="./inner/"`, `inner/</a>`, `href="../"`,
			`Index of /browse/list/`,
		} {
			if !strings.Contains(r.body, want) {
				t.Errorf("listing lacks %s:\n%s", want, r.body)
			}
		}
		if strings.Contains(r.body, ".hidden") || strings.Contains(r.body, "<b>&") {
			t.Errorf("listing shows a dotfile or an unescaped name:\n%s", r.body)
		}
		if strings.Index(r.body, "a b.txt") > strings.Index(r.body, "inner/") {
			t.Errorf("listing not sorted by name")
		}
		root := staticDo(t, c, "GET", base+"/browse/sub/")
		if !strings.Contains(root.body, `"./up-link"`) {
			t.Errorf("in-root symlink missing from listing:\n%s", root.body)
		}
		top := staticDo(t, c, "GET", base+"/browse/inside/")
		if top.StatusCode != 200 || !strings.Contains(top.body, "target.txt") {
			t.Errorf("inside listing: %d", top.StatusCode)
		}
	})

	t.Run("dotfiles", func(t *testing.T) {
		for _, p := range []string{"/files/.env", "/files/.git/config", "/files/.git/", "/files/list/.hidden"} {
			if r := staticDo(t, c, "GET", base+p); r.StatusCode != 404 {
				t.Errorf("%s: %d %q", p, r.StatusCode, r.body)
			}
		}
		if r := staticDo(t, c, "GET", base+"/dots/.env"); r.StatusCode != 200 || r.body != "DOTENV" {
			t.Errorf("hide_dotfiles=false: %d %q", r.StatusCode, r.body)
		}
	})

	t.Run("errors", func(t *testing.T) {
		r := staticDo(t, c, "GET", base+"/files/nope.css")
		if r.StatusCode != 404 {
			t.Errorf("missing: %d", r.StatusCode)
		}
		checkHeader(t, r.Header, "Content-Type", "text/plain; charset=utf-8")
		if strings.Contains(r.body, dir) {
			t.Errorf("404 leaks the root path: %q", r.body)
		}
		if r := staticDo(t, c, "GET", base+"/files/a.css/"); r.StatusCode != 404 {
			t.Errorf("file with slash: %d", r.StatusCode)
		}
		if r := staticDo(t, c, "GET", base+"/files/a.css/x"); r.StatusCode != 404 {
			t.Errorf("file as dir: %d", r.StatusCode)
		}
		for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS", "PATCH"} {
			r := staticDo(t, c, m, base+"/files/a.css")
			if r.StatusCode != 405 {
				t.Errorf("%s: %d", m, r.StatusCode)
			}
			checkHeader(t, r.Header, "Allow", "GET, HEAD")
		}
		if r := staticDo(t, c, "GET", base+"/files/a.css", "Accept", "text/event-stream"); r.StatusCode != 406 {
			t.Errorf("sse scope: %d", r.StatusCode)
		}
	})

	t.Run("unicode", func(t *testing.T) {
		if r := staticDo(t, c, "GET", base+"/files/%C3%A9t%C3%A9.txt"); r.StatusCode != 200 || r.body != "summer" {
			t.Errorf("été: %d %q", r.StatusCode, r.body)
		}
		if r := staticDo(t, c, "GET", base+"/files/%E6%97%A5%E6%9C%AC%E8%AA%9E.txt"); r.StatusCode != 200 || r.body != "nihongo" {
			t.Errorf("日本語: %d %q", r.StatusCode, r.body)
		}
		if r := staticDo(t, c, "GET", base+"/files/list/a%20b.txt"); r.StatusCode != 200 || r.body != "spaced" {
			t.Errorf("space: %d %q", r.StatusCode, r.body)
		}
		if r := staticDo(t, c, "GET", base+"/files/%FF.txt"); r.StatusCode != 400 {
			t.Errorf("invalid UTF-8: %d", r.StatusCode)
		}
	})

	t.Run("sniff", func(t *testing.T) {
		r := staticDo(t, c, "GET", base+"/files/data.unknownext12345")
		checkHeader(t, r.Header, "Content-Type", "application/pdf")
	})

	t.Run("symlinks", func(t *testing.T) {
		for _, p := range []string{"/files/link-out", "/files/abs-link", "/files/dir-out/secret.txt", "/files/etc-link", "/files/dangling.txt", "/files/abs-link-in"} {
			r := staticDo(t, c, "GET", base+p)
			if r.StatusCode != 404 || strings.Contains(r.body, staticSecret) || strings.Contains(r.body, "root:") {
				t.Errorf("%s: %d %q", p, r.StatusCode, r.body)
			}
		}
		if r := staticDo(t, c, "GET", base+"/files/link-in"); r.StatusCode != 200 || r.body != "inside target" {
			t.Errorf("link-in: %d %q", r.StatusCode, r.body)
		}
		if r := staticDo(t, c, "GET", base+"/files/sub/up-link"); r.StatusCode != 200 || r.body != "inside target" {
			t.Errorf("sub/up-link: %d %q", r.StatusCode, r.body)
		}
		// Links that leave the root are not listed either.
		r := staticDo(t, c, "GET", base+"/ls/")
		for _, name := range []string{"link-out", "abs-link", "dir-out", "etc-link", "dangling.txt", ".env"} {
			if strings.Contains(r.body, `"./`+name) {
				t.Errorf("root listing shows %s", name)
			}
		}
		if !strings.Contains(r.body, `"./link-in"`) {
			t.Errorf("root listing lacks link-in")
		}
	})

	t.Run("traversal", func(t *testing.T) {
		targets := []string{
			"/files/../secret.txt",
			"/files/..%2fsecret.txt",
			"/files/..%2Fsecret.txt",
			"/files/%2e%2e/secret.txt",
			"/files/%2e%2e%2fsecret.txt",
			"/files/sub/../../secret.txt",
			"/files/sub/%2e%2e/%2e%2e/secret.txt",
			"/files/./../secret.txt",
			"/files/..\\secret.txt",
			"/files/..%5csecret.txt",
			"/files/%5c..%5csecret.txt",
			"/files/%00",
			"/files/a.css%00.txt",
			"/files/..%00/secret.txt",
			"//etc/passwd",
			"/files//etc/passwd",
			"/files/%2fetc%2fpasswd",
			"/files/%2F%2E%2E%2Fsecret.txt",
			"/files/....//secret.txt",
			"/dots/../secret.txt",
			"/dots/..%2fsecret.txt",
			"/dots/%2e%2e/secret.txt",
			"/browse/..%2f",
			"/browse/%2e%2e/",
		}
		for _, target := range targets {
			status, body := rawGet(t, srv.Addr("web"), target)
			t.Logf("%s -> %d", target, status)
			if strings.Contains(body, staticSecret) || strings.Contains(body, "root:x:") ||
				strings.Contains(body, "Index of /browse/../") || (status == 200 && !strings.Contains(body, "home")) {
				t.Errorf("%s: %d %q", target, status, body)
			}
			if status == 500 {
				t.Errorf("%s: 500", target)
			}
		}
	})

	t.Run("conditional", func(t *testing.T) {
		u := base + "/files/a.css"
		g := staticDo(t, c, "GET", u)
		etag, lm := g.Header.Get("Etag"), g.Header.Get("Last-Modified")

		r := staticDo(t, c, "GET", u, "If-None-Match", etag)
		if r.StatusCode != 304 || r.body != "" {
			t.Errorf("If-None-Match: %d %q", r.StatusCode, r.body)
		}
		checkHeader(t, r.Header, "Etag", etag)
		checkHeader(t, r.Header, "Last-Modified", lm)
		checkHeader(t, r.Header, "Vary", "Accept-Encoding")
		if r := staticDo(t, c, "HEAD", u, "If-None-Match", `"nope", `+etag); r.StatusCode != 304 {
			t.Errorf("If-None-Match list, HEAD: %d", r.StatusCode)
		}
		if r := staticDo(t, c, "GET", u, "If-None-Match", `"nope"`); r.StatusCode != 200 {
			t.Errorf("If-None-Match other: %d", r.StatusCode)
		}
		if r := staticDo(t, c, "GET", u, "If-Modified-Since", lm); r.StatusCode != 304 || r.body != "" {
			t.Errorf("If-Modified-Since: %d", r.StatusCode)
		}
		old := time.Now().Add(-48 * time.Hour).UTC().Format(http.TimeFormat)
		if r := staticDo(t, c, "GET", u, "If-Modified-Since", old); r.StatusCode != 200 {
			t.Errorf("If-Modified-Since old: %d", r.StatusCode)
		}
		if r := staticDo(t, c, "GET", u, "If-None-Match", `"nope"`, "If-Modified-Since", lm); r.StatusCode != 200 {
			t.Errorf("If-None-Match takes precedence: %d", r.StatusCode)
		}
		if r := staticDo(t, c, "GET", u, "If-Match", `"nope"`); r.StatusCode != 412 {
			t.Errorf("If-Match: %d", r.StatusCode)
		}
		if r := staticDo(t, c, "GET", u, "If-Match", etag); r.StatusCode != 200 {
			t.Errorf("If-Match current: %d", r.StatusCode)
		}
		if r := staticDo(t, c, "GET", u, "If-Unmodified-Since", old); r.StatusCode != 412 {
			t.Errorf("If-Unmodified-Since: %d", r.StatusCode)
		}
	})

	t.Run("ranges", func(t *testing.T) {
		u := base + "/files/digits.txt"
		content := staticFiles["public/digits.txt"]
		size := strconv.Itoa(len(content))
		r := staticDo(t, c, "GET", u, "Range", "bytes=2-5")
		if r.StatusCode != 206 || r.body != content[2:6] {
			t.Fatalf("single: %d %q", r.StatusCode, r.body)
		}
		checkHeader(t, r.Header, "Content-Range", "bytes 2-5/"+size)
		checkHeader(t, r.Header, "Content-Length", "4")
		checkHeader(t, r.Header, "Content-Type", "text/plain; charset=utf-8")

		r = staticDo(t, c, "GET", u, "Range", "bytes=-5")
		if r.StatusCode != 206 || r.body != content[len(content)-5:] {
			t.Errorf("suffix: %d %q", r.StatusCode, r.body)
		}
		checkHeader(t, r.Header, "Content-Range", fmt.Sprintf("bytes %d-%d/%s", len(content)-5, len(content)-1, size))
		r = staticDo(t, c, "GET", u, "Range", "bytes=10-")
		if r.StatusCode != 206 || r.body != content[10:] {
			t.Errorf("open: %d %q", r.StatusCode, r.body)
		}
		r = staticDo(t, c, "GET", u, "Range", "bytes=100-")
		if r.StatusCode != 416 {
			t.Errorf("unsatisfiable: %d", r.StatusCode)
		}
		checkHeader(t, r.Header, "Content-Range", "bytes */"+size)
		if r := staticDo(t, c, "GET", u, "Range", "bytes=5-2"); r.StatusCode != 200 || r.body != content {
			t.Errorf("invalid: %d", r.StatusCode)
		}
		if r := staticDo(t, c, "HEAD", u, "Range", "bytes=2-5"); r.StatusCode != 200 {
			t.Errorf("HEAD ignores Range: %d", r.StatusCode)
		}
		g := staticDo(t, c, "GET", u)
		etag, lm := g.Header.Get("Etag"), g.Header.Get("Last-Modified")
		if r := staticDo(t, c, "GET", u, "Range", "bytes=2-5", "If-Range", `"stale"`); r.StatusCode != 200 || r.body != content {
			t.Errorf("If-Range mismatch: %d %q", r.StatusCode, r.body)
		}
		if r := staticDo(t, c, "GET", u, "Range", "bytes=2-5", "If-Range", "Mon, 02 Jan 2006 15:04:05 GMT"); r.StatusCode != 200 {
			t.Errorf("If-Range old date: %d", r.StatusCode)
		}
		if r := staticDo(t, c, "GET", u, "Range", "bytes=2-5", "If-Range", etag); r.StatusCode != 206 || r.body != content[2:6] {
			t.Errorf("If-Range match: %d %q", r.StatusCode, r.body)
		}
		if r := staticDo(t, c, "GET", u, "Range", "bytes=2-5", "If-Range", lm); r.StatusCode != 206 {
			t.Errorf("If-Range date: %d", r.StatusCode)
		}
		if r := staticDo(t, c, "GET", u, "Range", "bytes=0-1,0-100"); r.StatusCode != 200 {
			t.Errorf("overlapping ranges beyond the size: %d", r.StatusCode)
		}

		r = staticDo(t, c, "GET", u, "Range", "bytes=0-1, 5-7, -3")
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if r.StatusCode != 206 || err != nil || mt != "multipart/byteranges" {
			t.Fatalf("multi: %d %q %v", r.StatusCode, r.Header.Get("Content-Type"), err)
		}
		checkHeader(t, r.Header, "Content-Length", strconv.Itoa(len(r.body)))
		mr := multipart.NewReader(strings.NewReader(r.body), params["boundary"])
		wants := []struct{ cr, body string }{
			{"bytes 0-1/" + size, content[0:2]},
			{"bytes 5-7/" + size, content[5:8]},
			{fmt.Sprintf("bytes %d-%d/%s", len(content)-3, len(content)-1, size), content[len(content)-3:]},
		}
		for i, w := range wants {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			b, _ := io.ReadAll(p)
			if p.Header.Get("Content-Range") != w.cr || string(b) != w.body || p.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("part %d: %v %q", i, p.Header, b)
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("after the last part: %v", err)
		}
	})

	t.Run("precompressed", func(t *testing.T) {
		u := base + "/files/app.js"
		plain := staticDo(t, c, "GET", u)
		if plain.body != "console.log('plain')" || plain.Header.Get("Content-Encoding") != "" {
			t.Errorf("no Accept-Encoding: %q %v", plain.body, plain.Header)
		}
		checkHeader(t, plain.Header, "Vary", "Accept-Encoding")

		br := staticDo(t, c, "GET", u, "Accept-Encoding", "gzip, deflate, br")
		if br.body != "BROTLI-BYTES" {
			t.Errorf("br body %q", br.body)
		}
		checkHeader(t, br.Header, "Content-Encoding", "br")
		checkHeader(t, br.Header, "Vary", "Accept-Encoding")
		checkHeader(t, br.Header, "Content-Type", "text/javascript; charset=utf-8")
		checkHeader(t, br.Header, "Content-Length", strconv.Itoa(len("BROTLI-BYTES")))
		if br.Header.Get("Etag") == plain.Header.Get("Etag") || br.Header.Get("Etag") == "" {
			t.Errorf("br ETag %q equals plain %q", br.Header.Get("Etag"), plain.Header.Get("Etag"))
		}
		if r := staticDo(t, c, "GET", u, "Accept-Encoding", "br", "If-None-Match", br.Header.Get("Etag")); r.StatusCode != 304 {
			t.Errorf("br If-None-Match: %d", r.StatusCode)
		}
		if r := staticDo(t, c, "GET", u, "Accept-Encoding", "gzip", "If-None-Match", br.Header.Get("Etag")); r.StatusCode != 200 {
			t.Errorf("br ETag must not validate gzip: %d", r.StatusCode)
		}

		gz := staticDo(t, c, "GET", u, "Accept-Encoding", "gzip")
		if gz.body != "GZIP-BYTES" {
			t.Errorf("gzip body %q", gz.body)
		}
		checkHeader(t, gz.Header, "Content-Encoding", "gzip")
		if r := staticDo(t, c, "GET", u, "Accept-Encoding", "br;q=0, gzip;q=0.5"); r.body != "GZIP-BYTES" {
			t.Errorf("br refused: %q", r.body)
		}
		if r := staticDo(t, c, "GET", u, "Accept-Encoding", "identity"); r.body != "console.log('plain')" {
			t.Errorf("identity: %q", r.body)
		}
		if r := staticDo(t, c, "GET", base+"/files/only-gz.css", "Accept-Encoding", "br, gzip"); r.body != "GZ-CSS" {
			t.Errorf("only gz sidecar: %q", r.body)
		}
		if r := staticDo(t, c, "HEAD", u, "Accept-Encoding", "br"); r.Header.Get("Content-Encoding") != "br" || r.body != "" {
			t.Errorf("HEAD br: %v", r.Header)
		}
		if r := staticDo(t, c, "GET", base+"/plain/app.js", "Accept-Encoding", "br"); r.body != "console.log('plain')" || r.Header.Get("Vary") != "" {
			t.Errorf("precompressed = []: %q %v", r.body, r.Header)
		}
	})

	t.Run("options", func(t *testing.T) {
		r := staticDo(t, c, "GET", base+"/plain/a.css")
		checkHeader(t, r.Header, "Cache-Control", "public, max-age=60")
		checkHeader(t, r.Header, "Etag", "")
		if r.Header.Get("Last-Modified") == "" {
			t.Error("no Last-Modified")
		}
		r = staticDo(t, c, "GET", base+"/plain/a.css", "If-None-Match", "*")
		if r.StatusCode != 304 {
			t.Errorf("If-None-Match * without ETags: %d", r.StatusCode)
		}
		checkHeader(t, r.Header, "Cache-Control", "public, max-age=60")
	})
}

func TestStaticLargeFile(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 10<<20)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = rng.Read(data)
	if err := os.MkdirAll(filepath.Join(dir, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "public", "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := pagitest.StartIn(t, dir, staticHCL)
	c := staticClient()
	resp, err := c.Get(srv.URL("web") + "/files/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || n != int64(len(data)) || resp.ContentLength != int64(len(data)) {
		t.Fatalf("status %d, %d bytes, Content-Length %d", resp.StatusCode, n, resp.ContentLength)
	}
	if got, want := h.Sum(nil), sha256.Sum256(data); !bytes.Equal(got, want[:]) {
		t.Fatal("sha256 mismatch")
	}
	checkHeader(t, resp.Header, "Content-Type", "application/octet-stream")

	// A range in the middle of the big file, exact bytes.
	req, _ := http.NewRequest("GET", srv.URL("web")+"/files/big.bin", nil)
	req.Header.Set("Range", "bytes=5000000-5999999")
	resp2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	b, _ := io.ReadAll(resp2.Body)
	if resp2.StatusCode != 206 || !bytes.Equal(b, data[5000000:6000000]) {
		t.Fatalf("range: %d, %d bytes", resp2.StatusCode, len(b))
	}
}

// rawGet sends target as the request line's path on a fresh connection,
// byte for byte, and returns the status and body.
func rawGet(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func checkHeader(t *testing.T, h http.Header, name, want string) {
	t.Helper()
	if got := h.Get(name); got != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
}

func BenchmarkStatic1K(b *testing.B) {
	srv := pagitest.Start(b, staticHCL, map[string]string{
		"public/1k.txt": strings.Repeat("x", 1024),
	})
	url := srv.URL("web") + "/files/1k.txt"
	c := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n != 1024 {
			b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
		}
	}
}
