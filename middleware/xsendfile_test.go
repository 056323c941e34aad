package middleware_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagihq/pagi/internal/pagitest"
)

func TestXSendfile(t *testing.T) {
	files := map[string]string{
		"files/a.txt":      "abcdefghij",
		"files/sub/b.html": "<p>b</p>",
		"files/c.txt":      "plain c",
		"files/c.txt.gz":   "pretend gzip",
		"other/secret.txt": "not mapped",
		"private/d.bin":    "dddd",
		"private/in/e.bin": "eeee",
	}
	srv := setbStart(t, `
  route "/files/" {
    xsendfile {
      type    = "x-accel-redirect"
      mapping = { "files/" = "/protected/", "files/sub" = "/deep" }
    }
    static { root = "files" }
  }
  route "/other/" {
    xsendfile {
      type    = "x-accel-redirect"
      mapping = { "files/" = "/protected/" }
    }
    static { root = "other" }
  }
  route "/apache/" {
    xsendfile { type = "x-sendfile" }
    static { root = "private" }
  }
  route "/lighttpd/" {
    xsendfile {
      type    = "x-lighttpd-send-file"
      mapping = { "private/in/" = "/var/www/in/" }
    }
    static { root = "private" }
  }
  route "/app-file" {
    xsendfile {
      type    = "x-accel-redirect"
      mapping = { "files/" = "/protected/" }
    }
    setb_app {
      mode    = "file"
      file    = "files/a.txt"
      headers = { "content-type" = "text/plain", "content-length" = "10" }
    }
  }
  route "/dynamic" {
    xsendfile {
      type    = "x-accel-redirect"
      mapping = { "files/" = "/protected/" }
    }
    respond { body = "made here" }
  }`, files)
	base := srv.URL("web")

	for _, tc := range []struct {
		path, header, want, ctype string
	}{
		{"/files/a.txt", "X-Accel-Redirect", "/protected/a.txt", "text/plain; charset=utf-8"},
		{"/files/sub/b.html", "X-Accel-Redirect", "/deep/b.html", "text/html; charset=utf-8"}, // longest prefix
		{"/apache/d.bin", "X-Sendfile", filepath.Join(srv.Dir, "private/d.bin"), ""},
		{"/lighttpd/in/e.bin", "X-Lighttpd-Send-File", "/var/www/in/e.bin", ""},
		{"/lighttpd/d.bin", "X-Lighttpd-Send-File", filepath.Join(srv.Dir, "private/d.bin"), ""},
		{"/app-file", "X-Accel-Redirect", "/protected/a.txt", "text/plain"},
	} {
		resp, body := setbGet(t, "GET", base+tc.path, nil)
		if resp.StatusCode != 200 || resp.Header.Get(tc.header) != tc.want || len(body) != 0 {
			t.Errorf("%s: %d, %s %q, body %q; want %q and no body", tc.path, resp.StatusCode, tc.header, resp.Header.Get(tc.header), body, tc.want)
		}
		if resp.ContentLength > 0 {
			t.Errorf("%s: Content-Length %d kept", tc.path, resp.ContentLength)
		}
		if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("%s: Content-Type %q, want it kept", tc.path, resp.Header.Get("Content-Type"))
		}
	}

	// Untouched: ranges, files outside every mapping, precompressed
	// sidecars (nginx would drop their Content-Encoding), bytes bodies.
	for _, tc := range []struct {
		path, rng, ae, want string
		status              int
	}{
		{"/files/a.txt", "bytes=2-4", "", "cde", 206},
		{"/files/a.txt", "bytes=0-", "", "abcdefghij", 206},
		{"/other/secret.txt", "", "", "not mapped", 200},
		{"/files/c.txt", "", "gzip", "pretend gzip", 200},
		{"/dynamic", "", "", "made here", 200},
	} {
		h := map[string]string{}
		if tc.rng != "" {
			h["Range"] = tc.rng
		}
		if tc.ae != "" {
			h["Accept-Encoding"] = tc.ae
		}
		resp, body := setbGet(t, "GET", base+tc.path, h)
		if resp.StatusCode != tc.status || string(body) != tc.want || resp.Header.Get("X-Accel-Redirect") != "" {
			t.Errorf("%s %q: %d %q X-Accel-Redirect %q; want %d %q untouched", tc.path, tc.rng, resp.StatusCode, body,
				resp.Header.Get("X-Accel-Redirect"), tc.status, tc.want)
		}
	}
	if !strings.Contains(srv.Logs.String(), "outside every mapping") {
		t.Error("no debug log for the file outside every mapping")
	}
}

func TestXSendfileValidation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site.hcl")
	_ = os.WriteFile(path, []byte(`listener "web" {
  address = "127.0.0.1:0"
}
site "s" {
  route "/a" {
    xsendfile {}
    respond {}
  }
  route "/b" {
    xsendfile {
      type    = "x-send"
      mapping = { "/srv/" = "protected" }
    }
    respond {}
  }
}
`), 0o644)
	out := pagitest.Validate(t, path)
	for _, want := range []string{"x-accel-redirect needs a mapping", `got "x-send"`, `must be a path starting with /, got "protected"`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
