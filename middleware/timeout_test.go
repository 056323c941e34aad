package middleware_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTimeoutSlowApp(t *testing.T) {
	rep := setbReport("timeout-slow")
	srv := setbStart(t, `
  route "/slow" {
    timeout { request = "200ms" }
    setb_app {
      mode   = "sleep"
      delay  = "10s"
      body   = "too late"
      report = "timeout-slow"
    }
  }
  route "/deaf" {
    timeout { request = "100ms" }
    setb_app {
      mode   = "sleep"
      deaf   = true
      delay  = "1500ms"
      report = "timeout-deaf"
    }
  }
  route "/fast" {
    timeout { request = "2s" }
    respond { body = "quick" }
  }`, nil)
	begin := time.Now()
	resp, body := setbGet(t, "GET", srv.URL("web")+"/slow", nil)
	if resp.StatusCode != 503 || string(body) != "503 service unavailable\n" {
		t.Fatalf("slow app: %d %q", resp.StatusCode, body)
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("503 after %s", took)
	}
	if !resp.Close {
		t.Error("the 503 should close the connection")
	}
	if got := setbWaitReport(t, rep); got != "cancelled request timeout" {
		t.Errorf("app saw %q, want its context cancelled with the timeout cause", got)
	}
	// An app that ignores its context: the 503 still goes out at the
	// deadline, and its late response is dropped.
	deaf := setbReport("timeout-deaf")
	begin = time.Now()
	resp, body = setbGet(t, "GET", srv.URL("web")+"/deaf", nil)
	if resp.StatusCode != 503 || time.Since(begin) > time.Second {
		t.Errorf("deaf app: %d %q after %s", resp.StatusCode, body, time.Since(begin))
	}
	if got := setbWaitReport(t, deaf); got != "woke, send: request timeout" {
		t.Errorf("deaf app saw %q", got)
	}
	resp, body = setbGet(t, "GET", srv.URL("web")+"/fast", nil)
	if resp.StatusCode != 200 || string(body) != "quick" {
		t.Errorf("fast app: %d %q", resp.StatusCode, body)
	}
}

func TestTimeoutSlowBody(t *testing.T) {
	rep := setbReport("timeout-body")
	srv := setbStart(t, `
  route "/upload" {
    timeout {
      request = "10s"
      body    = "300ms"
    }
    setb_app {
      mode   = "echo"
      report = "timeout-body"
    }
  }`, nil)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			c, br := setbRaw(t, srv.Addr("web"))
			head := "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
			if chunked {
				head = "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			}
			if _, err := io.WriteString(c, head); err != nil {
				t.Fatal(err)
			}
			begin := time.Now()
			stop := make(chan struct{})
			defer close(stop)
			go func() { // a client trickling one byte every 50ms
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					b := "x"
					if chunked {
						b = "1\r\nx\r\n"
					}
					if _, err := io.WriteString(c, b); err != nil {
						return
					}
				}
			}()
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 408 || string(body) != "408 request timeout\n" {
				t.Fatalf("slow body: %d %q", resp.StatusCode, body)
			}
			if took := time.Since(begin); took < 250*time.Millisecond || took > 3*time.Second {
				t.Errorf("408 after %s, want about 300ms", took)
			}
			if got := setbWaitReport(t, rep); got != "disconnect client_timeout" {
				t.Errorf("app saw %q", got)
			}
		})
	}
	// A body that arrives in time is untouched.
	resp, err := setbClient().Post(srv.URL("web")+"/upload", "text/plain", strings.NewReader(strings.Repeat("y", 100000)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) != 100000 {
		t.Errorf("timely body: %d, %d bytes", resp.StatusCode, len(body))
	}
	if got := setbWaitReport(t, rep); got != "body 100000" {
		t.Errorf("app saw %q", got)
	}
}

func TestTimeoutStreamingApp(t *testing.T) {
	rep := setbReport("timeout-stream")
	srv := setbStart(t, `
  route "/stream" {
    timeout { request = "300ms" }
    setb_app {
      mode    = "stream"
      delay   = "40ms"
      report  = "timeout-stream"
      headers = { "content-type" = "text/plain" }
    }
  }`, nil)
	begin := time.Now()
	resp, err := setbClient().Get(srv.URL("web") + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read ended with %v, want the connection closed mid-body (unexpected EOF)", err)
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("stream cut after %s", took)
	}
	if n := strings.Count(string(body), "tick\n"); n < 2 {
		t.Errorf("%d ticks before the cut, want several", n)
	}
	if got := setbWaitReport(t, rep); got != "cancelled" && !strings.HasPrefix(got, "send request timeout") {
		t.Errorf("app saw %q", got)
	}
}

func TestTimeoutStreams(t *testing.T) {
	srv := setbStart(t, `
  route "/sse-free" {
    timeout { request = "1ms" }
    setb_app {
      mode   = "sse"
      chunks = ["one"]
    }
  }
  route "/sse-bound" {
    timeout {
      request = "100ms"
      streams = true
    }
    setb_app {
      mode  = "sleep"
      delay = "10s"
    }
  }`, nil)
	sse := map[string]string{"Accept": "text/event-stream"}
	resp, body := setbGet(t, "GET", srv.URL("web")+"/sse-free", sse)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "data: one") {
		t.Errorf("SSE without streams: %d %q", resp.StatusCode, body)
	}
	resp, body = setbGet(t, "GET", srv.URL("web")+"/sse-bound", sse)
	if resp.StatusCode != 503 {
		t.Errorf("SSE with streams = true: %d %q, want the 503 decline", resp.StatusCode, body)
	}
}
