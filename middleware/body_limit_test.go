package middleware_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pagihq/pagi/internal/pagitest"
)

func setbBodyLimitServer(t *testing.T, report string) *pagitest.Server {
	t.Helper()
	return setbStart(t, fmt.Sprintf(`
  route "/upload" {
    body_limit { max = "64KiB" }
    setb_app {
      mode   = "echo"
      report = %q
    }
  }`, report), nil)
}

// setbExpectStatus reads one response from br and checks its status.
func setbExpectStatus(t *testing.T, resp *http.Response, err error, status int) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d %q, want %d", resp.StatusCode, body, status)
	}
}

func TestBodyLimitDeclared(t *testing.T) {
	rep := setbReport("limit-declared")
	srv := setbBodyLimitServer(t, "limit-declared")
	c, br := setbRaw(t, srv.Addr("web"))
	// A huge declared body: refused before the app runs, without reading it.
	_, _ = io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	setbExpectStatus(t, resp, err, 413)
	if !resp.Close {
		t.Error("413 without Connection: close")
	}
	select {
	case m := <-rep:
		t.Errorf("the app ran: %q", m)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestBodyLimitChunked(t *testing.T) {
	rep := setbReport("limit-chunked")
	srv := setbBodyLimitServer(t, "limit-chunked")
	c, br := setbRaw(t, srv.Addr("web"))
	_, _ = io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	go func() { // an endless body, until the server stops reading
		chunk := fmt.Sprintf("%x\r\n%s\r\n", 16<<10, strings.Repeat("z", 16<<10))
		for {
			if _, err := io.WriteString(c, chunk); err != nil {
				return
			}
		}
	}()
	resp, err := http.ReadResponse(br, nil)
	setbExpectStatus(t, resp, err, 413)
	if got := setbWaitReport(t, rep); got != "disconnect body_too_large" {
		t.Errorf("app saw %q", got)
	}
}

func TestBodyLimitSlowBody(t *testing.T) {
	rep := setbReport("limit-slow")
	srv := setbStart(t, `
  route "/upload" {
    body_limit { max = "1KiB" }
    setb_app {
      mode   = "echo"
      report = "limit-slow"
    }
  }`, nil)
	trickle := func(chunks int, end bool) (*http.Response, error) {
		c, br := setbRaw(t, srv.Addr("web"))
		_, _ = io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
		go func() {
			for i := 0; i < chunks; i++ {
				time.Sleep(20 * time.Millisecond)
				if _, err := fmt.Fprintf(c, "64\r\n%s\r\n", strings.Repeat("s", 100)); err != nil {
					return
				}
			}
			if end {
				_, _ = io.WriteString(c, "0\r\n\r\n")
			}
		}()
		return http.ReadResponse(br, nil)
	}
	// 100 bytes every 20ms: the 11th chunk passes 1 KiB.
	begin := time.Now()
	resp, err := trickle(100, false)
	setbExpectStatus(t, resp, err, 413)
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("413 after %s", took)
	}
	if got := setbWaitReport(t, rep); got != "disconnect body_too_large" {
		t.Errorf("app saw %q", got)
	}
	// A slow body within the limit arrives whole.
	resp, err = trickle(10, true)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != strings.Repeat("s", 1000) {
		t.Errorf("slow body within the limit: %d, %d bytes", resp.StatusCode, len(body))
	}
	if got := setbWaitReport(t, rep); got != "body 1000" {
		t.Errorf("app saw %q", got)
	}
}

func TestBodyLimitUnderLimit(t *testing.T) {
	rep := setbReport("limit-under")
	srv := setbBodyLimitServer(t, "limit-under")
	payload := make([]byte, 64<<10) // exactly the limit
	_, _ = rand.Read(payload)
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(payload)
		if chunked {
			body = io.MultiReader(bytes.NewReader(payload)) // hides the length: chunked
		}
		resp, err := setbClient().Post(srv.URL("web")+"/upload", "application/octet-stream", body)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, payload) {
			t.Errorf("chunked=%v: %d, %d bytes back", chunked, resp.StatusCode, len(got))
		}
		if m := setbWaitReport(t, rep); m != "body 65536" {
			t.Errorf("chunked=%v: app saw %q", chunked, m)
		}
	}
	// One byte more is refused, declared or not.
	for _, chunked := range []bool{false, true} {
		over := append(payload, 'x')
		var body io.Reader = bytes.NewReader(over)
		if chunked {
			body = io.MultiReader(bytes.NewReader(over))
		}
		resp, err := setbClient().Post(srv.URL("web")+"/upload", "application/octet-stream", body)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("chunked=%v: one byte over: %d", chunked, resp.StatusCode)
		}
	}
}

func TestBodyLimitValidation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site.hcl")
	_ = os.WriteFile(path, []byte(`listener "web" {
  address = "127.0.0.1:0"
}
site "s" {
  route "/" {
    body_limit { max = 0 }
    respond {}
  }
}
`), 0o644)
	if out := pagitest.Validate(t, path); !strings.Contains(out, "max must be positive") {
		t.Errorf("no error for max = 0:\n%s", out)
	}
}
