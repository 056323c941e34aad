package middleware_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagihq/pagi/internal/pagitest"
)

// setbTag is the ETag the etag middleware computes for body.
func setbTag(body string) string {
	sum := sha256.Sum256([]byte(body))
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

func TestETag(t *testing.T) {
	long := strings.Repeat("0123456789", 60) // 600 bytes
	srv := setbStart(t, fmt.Sprintf(`
  route "/page" {
    etag {}
    respond {
      body    = "hello etag"
      headers = { "cache-control" = "max-age=60", "content-type" = "text/plain", "x-extra" = "1" }
    }
  }
  route "/weak" {
    etag { weak = true }
    respond { body = "hello etag" }
  }
  route "/chunks" {
    etag {}
    setb_app {
      mode    = "chunks"
      chunks  = ["hello ", "et", "ag"]
      headers = { "content-type" = "text/plain" }
    }
  }
  route "/big-stream" {
    etag { max_size = "1KiB" }
    setb_app {
      mode    = "chunks"
      chunks  = [%[1]q, %[1]q, %[1]q]
      headers = { "content-type" = "text/plain" }
    }
  }
  route "/big-single" {
    etag { max_size = "500" }
    respond { body = %[1]q }
  }
  route "/own" {
    etag {}
    respond {
      body    = "x"
      headers = { "etag" = "\"mine\"" }
    }
  }
  route "/missing" {
    etag {}
    respond {
      status = 404
      body   = "nope"
    }
  }
  route "/file" {
    etag {}
    setb_app {
      mode = "file"
      file = "f.txt"
    }
  }
  route "/both" {
    compress { min_size = 1 }
    etag {}
    respond {
      body    = %[1]q
      headers = { "content-type" = "text/plain" }
    }
  }`, long), map[string]string{"f.txt": "file body"})
	base := srv.URL("web")
	tag := setbTag("hello etag")

	resp, body := setbGet(t, "GET", base+"/page", nil)
	if resp.Header.Get("Etag") != tag || string(body) != "hello etag" {
		t.Fatalf("ETag %q body %q, want %s", resp.Header.Get("Etag"), body, tag)
	}
	resp, body = setbGet(t, "GET", base+"/chunks", nil)
	if resp.Header.Get("Etag") != tag || string(body) != "hello etag" {
		t.Errorf("chunked body: ETag %q body %q, want the same tag as one body", resp.Header.Get("Etag"), body)
	}
	resp, _ = setbGet(t, "GET", base+"/weak", nil)
	if resp.Header.Get("Etag") != "W/"+tag {
		t.Errorf("weak: ETag %q", resp.Header.Get("Etag"))
	}

	for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
		for _, method := range []string{"GET", "HEAD"} {
			resp, body = setbGet(t, method, base+"/page", map[string]string{"If-None-Match": inm})
			if resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("Etag") != tag {
				t.Errorf("%s If-None-Match %s: %d %q ETag %q, want 304", method, inm, resp.StatusCode, body, resp.Header.Get("Etag"))
			}
			if resp.Header.Get("Cache-Control") != "max-age=60" || resp.Header.Get("X-Extra") != "" || resp.Header.Get("Content-Type") != "" {
				t.Errorf("%s If-None-Match %s: 304 headers %v", method, inm, resp.Header)
			}
		}
	}
	for _, inm := range []string{`"other"`, `W/"other"`, "garbage"} {
		resp, body = setbGet(t, "GET", base+"/page", map[string]string{"If-None-Match": inm})
		if resp.StatusCode != 200 || string(body) != "hello etag" {
			t.Errorf("If-None-Match %s: %d, want 200", inm, resp.StatusCode)
		}
	}
	resp, body = setbGet(t, "POST", base+"/page", map[string]string{"If-None-Match": "*"})
	if resp.StatusCode != 200 || resp.Header.Get("Etag") != "" {
		t.Errorf("POST: %d ETag %q, want 200 without a tag", resp.StatusCode, resp.Header.Get("Etag"))
	}

	// Untouched: bodies past max_size (streamed on), an app's own tag,
	// other statuses, files.
	for _, tc := range []struct{ path, body string }{
		{"/big-stream", long + long + long},
		{"/big-single", long},
		{"/missing", "nope"},
		{"/file", "file body"},
	} {
		resp, body = setbGet(t, "GET", base+tc.path, nil)
		if resp.Header.Get("Etag") != "" || string(body) != tc.body {
			t.Errorf("%s: ETag %q, %d bytes, want no tag and %d bytes", tc.path, resp.Header.Get("Etag"), len(body), len(tc.body))
		}
	}
	resp, _ = setbGet(t, "GET", base+"/own", map[string]string{"If-None-Match": tag})
	if resp.Header.Get("Etag") != `"mine"` || resp.StatusCode != 200 {
		t.Errorf("own tag: %d %q", resp.StatusCode, resp.Header.Get("Etag"))
	}

	// Behind compress: the compressed response carries the weakened tag,
	// which revalidates with 304.
	resp, body = setbGet(t, "GET", base+"/both", map[string]string{"Accept-Encoding": "gzip"})
	wtag := "W/" + setbTag(long)
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Etag") != wtag || string(setbDecode(t, "gzip", body)) != long {
		t.Fatalf("compressed: %q ETag %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("Etag"))
	}
	resp, body = setbGet(t, "GET", base+"/both", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": wtag})
	if resp.StatusCode != 304 || len(body) != 0 {
		t.Errorf("revalidating the compressed response: %d %q", resp.StatusCode, body)
	}
}

func TestETagValidation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site.hcl")
	_ = os.WriteFile(path, []byte(`listener "web" {
  address = "127.0.0.1:0"
}
site "s" {
  route "/" {
    etag { max_size = 0 }
    respond {}
  }
}
`), 0o644)
	if out := pagitest.Validate(t, path); !strings.Contains(out, "max_size must be positive") {
		t.Errorf("no error for max_size = 0:\n%s", out)
	}
}
