package middleware_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	_ "github.com/pagihq/pagi/handlers"
	"github.com/pagihq/pagi/internal/pagitest"
)

func TestAccessLogFormats(t *testing.T) {
	srv := pagitest.Start(t, pagitest.Listener("web")+`
site "s" {
  route "GET /common" {
    access_log {
      format = "common"
      output = "logs/common.log"
    }
    respond { body = "12345" }
  }
  route "GET /combined" {
    access_log {
      format = "combined"
      output = "logs/combined.log"
    }
    respond { status = 404 }
  }
  route "GET /json" {
    access_log {
      format = "json"
      output = "logs/json.log"
    }
    respond { body = "x" }
  }
}
`, map[string]string{"logs/.keep": ""})
	base := srv.URL("web")
	for _, p := range []string{"/common?q=1", "/combined", "/json"} {
		req, _ := http.NewRequest("GET", base+p, nil)
		req.Header.Set("User-Agent", "tester \"quoted\"")
		req.Header.Set("Referer", "http://ref.example/")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	read := func(name string) string {
		deadline := time.Now().Add(2 * time.Second)
		for {
			b, _ := os.ReadFile(filepath.Join(srv.Dir, "logs", name))
			if len(b) > 0 || time.Now().After(deadline) {
				return string(b)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	common := read("common.log")
	if !regexp.MustCompile(`^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /common\?q=1 HTTP/1\.1" 200 5\n$`).MatchString(common) {
		t.Errorf("common: %q", common)
	}
	combined := read("combined.log")
	if !strings.HasSuffix(combined, `"GET /combined HTTP/1.1" 404 - "http://ref.example/" "tester \"quoted\""`+"\n") {
		t.Errorf("combined: %q", combined)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(read("json.log")), &rec); err != nil {
		t.Fatalf("json line: %v", err)
	}
	if rec["status"] != float64(200) || rec["path"] != "/json" || rec["bytes"] != float64(1) || rec["user_agent"] != `tester "quoted"` {
		t.Errorf("json: %v", rec)
	}
}

func TestAccessLogValidation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site.hcl")
	_ = os.WriteFile(path, []byte(`listener "web" {
  address = "127.0.0.1:0"
}
site "s" {
  route "/" {
    access_log {
      format = "fancy"
      output = "/no/such/dir/x.log"
    }
    respond {}
  }
}
`), 0o644)
	out := pagitest.Validate(t, path)
	for _, want := range []string{"site.hcl:7:16", `format must be common, combined, json or custom, got "fancy"`, "site.hcl:8:16", "directory /no/such/dir does not exist"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestAccessLogCustomAtoms(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	srv := pagitest.Start(t, pagitest.Listener("web")+`
site "s" {
  route "/atoms/" {
    basic_auth {
      users = { alice = "`+string(hash)+`" }
    }
    access_log {
      format  = "custom"
      output  = "logs/atoms.log"
      # HCL reads %{ as a template directive: %%{ writes a literal %{.
      pattern = "%h|%l|%u|%t|%r|%m|%U|%q|%H|%s|%>s|%b|%B|%D|%T|%%{User-Agent}i|%%{X-Missing}i|%%{X-Out}o|%%{X-None}o|%%|end"
    }
    respond {
      status  = 201
      body    = "hello"
      headers = { "X-Out" = "v1" }
    }
  }
  route "/empty" {
    access_log {
      format  = "custom"
      output  = "logs/empty.log"
      pattern = "[%q][%b][%B][%s][%u][%%{Accept}i]"
    }
    respond { status = 404 }
  }
}
`, map[string]string{"logs/.keep": ""})
	base := srv.URL("web")
	req, _ := http.NewRequest("GET", base+"/atoms/p%20q?x=1&y=%22", nil)
	req.Header.Set("User-Agent", `tester "quoted"`)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:pw")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp, err = http.Get(base + "/empty")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	read := func(name string) string {
		deadline := time.Now().Add(2 * time.Second)
		for {
			b, _ := os.ReadFile(filepath.Join(srv.Dir, "logs", name))
			if len(b) > 0 || time.Now().After(deadline) {
				return string(b)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	line := read("atoms.log")
	want := `^127\.0\.0\.1\|-\|alice\|\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]\|` +
		`GET /atoms/p%20q\?x=1&y=%22 HTTP/1\.1\|GET\|/atoms/p%20q\|\?x=1&y=%22\|HTTP/1\.1\|201\|201\|5\|5\|\d+\|0\|` +
		`tester \\"quoted\\"\|-\|v1\|-\|%\|end\n$`
	if !regexp.MustCompile(want).MatchString(line) {
		t.Errorf("custom atoms:\n got %q\nwant %s", line, want)
	}
	if got := read("empty.log"); got != "[][-][0][404][-][-]\n" {
		t.Errorf("empty request: %q", got)
	}
}

func TestAccessLogCustomValidation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site.hcl")
	cfg := `listener "web" {
  address = "127.0.0.1:0"
}
site "s" {
  route "/a" {
    access_log {
      format  = "custom"
      pattern = "%h %x"
    }
    respond {}
  }
  route "/b" {
    access_log {
      format  = "custom"
      pattern = "%%{Host}z %h"
    }
    respond {}
  }
  route "/c" {
    access_log {
      format  = "common"
      pattern = "%h"
    }
    respond {}
  }
  route "/d" {
    access_log { format = "custom" }
    respond {}
  }
  route "/e" {
    access_log {
      format  = "custom"
      pattern = "%h %"
    }
    respond {}
  }
}
`
	_ = os.WriteFile(path, []byte(cfg), 0o644)
	out := pagitest.Validate(t, path)
	for _, want := range []string{
		"site.hcl:8:17", "unknown atom %x at offset 3",
		"site.hcl:15:17", "%{Host} at offset 0 must be followed by i (request header) or o (response header)",
		"site.hcl:22:17", `pattern is used only with format = "custom"`,
		"site.hcl:27:5", `format = "custom" needs a pattern`,
		"site.hcl:33:17", "the pattern ends with a lone %",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestAccessLogCountsFileBodies(t *testing.T) {
	srv := pagitest.Start(t, pagitest.Listener("web")+`
site "s" {
  route "/files/" {
    access_log {
      format         = "common"
      output         = "logs/files.log"
      flush_interval = "0s"
    }
    static { root = "./public" }
  }
}
`, map[string]string{"logs/.keep": "", "public/a.txt": "0123456789"})
	resp, err := http.Get(srv.URL("web") + "/files/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(srv.Dir, "logs", "files.log"))
		if strings.HasSuffix(string(b), `" 200 10`+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log line %q does not count the file's 10 bytes", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
