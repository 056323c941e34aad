package middleware_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/internal/pagitest"
	"github.com/pagihq/pagi/middleware"
)

func TestRateLimitBurst(t *testing.T) {
	srv := setbStart(t, `
  route "/limited" {
    rate_limit {
      rate  = 0.001
      burst = 5
    }
    respond { body = "ok" }
  }
  route "/round" {
    rate_limit {
      rate  = 0.4
      burst = 1
    }
    respond { body = "ok" }
  }`, nil)
	// 50 requests at once over separate connections, all from 127.0.0.1.
	var mu sync.Mutex
	codes := map[int]int{}
	var bad []string
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			resp, err := setbClient().Get(srv.URL("web") + "/limited")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			codes[resp.StatusCode]++
			if resp.StatusCode == 429 {
				ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
				if err != nil || ra < 990 || ra > 1000 ||
					resp.Header.Get("Ratelimit-Limit") != "5" || resp.Header.Get("Ratelimit-Remaining") != "0" {
					bad = append(bad, resp.Header.Get("Retry-After")+" "+resp.Header.Get("Ratelimit-Limit")+" "+resp.Header.Get("Ratelimit-Remaining"))
				}
			}
		})
	}
	wg.Wait()
	if codes[200] != 5 || codes[429] != 45 {
		t.Errorf("codes %v, want exactly 5 × 200 and 45 × 429", codes)
	}
	if len(bad) > 0 {
		t.Errorf("429 headers (Retry-After Limit Remaining): %q", bad[:min(len(bad), 3)])
	}
	// Retry-After rounds up: one token every 2.5s means 3 seconds.
	setbGet(t, "GET", srv.URL("web")+"/round", nil)
	resp, _ := setbGet(t, "GET", srv.URL("web")+"/round", nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("rate 0.4: %d, Retry-After %q, want 429 and 3", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestRateLimitHeaderKey(t *testing.T) {
	srv := setbStart(t, `
  route "/api" {
    rate_limit {
      rate  = 0.001
      burst = 2
      key   = "header:X-Api-Key"
    }
    respond { body = "ok" }
  }`, nil)
	get := func(key string) int {
		h := map[string]string{}
		if key != "" {
			h["X-Api-Key"] = key
		}
		resp, _ := setbGet(t, "GET", srv.URL("web")+"/api", h)
		return resp.StatusCode
	}
	var got []int
	for _, k := range []string{"alpha", "alpha", "alpha", "beta", "beta", "beta", "", "", "", "alpha"} {
		got = append(got, get(k))
	}
	want := []int{200, 200, 429, 200, 200, 429, 200, 200, 429, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v (keys alpha×3, beta×3, none×3, alpha)", got, want)
		}
	}
}

func TestRateLimitStreams(t *testing.T) {
	srv := setbStart(t, `
  route "/ws" {
    rate_limit {
      rate  = 0.001
      burst = 1
    }
    websocket { echo = true }
  }
  route "/events" {
    rate_limit {
      rate  = 0.001
      burst = 1
    }
    setb_app {
      mode   = "sse"
      chunks = ["hi"]
    }
  }`, nil)
	url := "ws://" + srv.Addr("web") + "/ws"
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("first handshake: %v", err)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte("ping"))
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "ping" {
		t.Errorf("echo: %q %v", msg, err)
	}
	c.Close()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	_, resp, err := d.Dial(url, nil)
	if err == nil || resp == nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Errorf("second handshake: err %v, status %d, want 429 with Retry-After", err, status)
	}
	sse := map[string]string{"Accept": "text/event-stream"}
	resp, body := setbGet(t, "GET", srv.URL("web")+"/events", sse)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "data: hi") {
		t.Errorf("first SSE: %d %q", resp.StatusCode, body)
	}
	resp, _ = setbGet(t, "GET", srv.URL("web")+"/events", sse)
	if resp.StatusCode != 429 {
		t.Errorf("second SSE: %d, want 429", resp.StatusCode)
	}
}

func TestRateLimitMemoryBounded(t *testing.T) {
	bt, _ := config.Lookup("rate_limit")
	rl := bt.New().(*middleware.RateLimit)
	rl.Key, rl.MaxKeys, rl.Rate, rl.Burst = "header:x-key", 100, 1, 1
	mw, err := rl.BuildMiddleware(&config.BuildContext{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rl.Cleanup() })
	var clock atomic.Int64
	middleware.RateLimitSetClock(rl, clock.Load)
	status := 0
	app := mw(func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		status = 200
		return nil
	})
	send := func(_ context.Context, ev pagi.Event) error {
		if e, ok := ev.(*pagi.HTTPResponseStart); ok {
			status = e.Status
		}
		return nil
	}
	call := func(key string) int {
		s := &pagi.Scope{Type: pagi.ScopeHTTP, Method: "GET", Headers: pagi.Headers{{Name: "x-key", Value: key}}}
		status = 0
		_ = app(context.Background(), s, nil, send)
		return status
	}
	for i := range 10 * rl.MaxKeys {
		if call("key-"+strconv.Itoa(i)) != 200 {
			t.Fatalf("key %d refused on its first request", i)
		}
		if n := middleware.RateLimitBuckets(rl); n > rl.MaxKeys {
			t.Fatalf("%d buckets after %d keys, want at most %d", n, i+1, rl.MaxKeys)
		}
	}
	if n := middleware.RateLimitBuckets(rl); n < rl.MaxKeys*9/10 {
		t.Errorf("%d buckets held, expected the table to be nearly full", n)
	}
	// The most recent key is still tracked: its bucket is empty.
	if got := call("key-" + strconv.Itoa(10*rl.MaxKeys-1)); got != 429 {
		t.Errorf("most recent key: %d, want 429", got)
	}
	// Refilled buckets are swept away.
	clock.Add(int64(time.Second))
	middleware.RateLimitSweep(rl)
	if n := middleware.RateLimitBuckets(rl); n != 0 {
		t.Errorf("%d buckets after a sweep of refilled buckets", n)
	}
	if err := rl.Cleanup(); err != nil {
		t.Error(err)
	}
	if err := rl.Cleanup(); err != nil { // idempotent
		t.Error(err)
	}
}

func TestRateLimitValidation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site.hcl")
	_ = os.WriteFile(path, []byte(`listener "web" {
  address = "127.0.0.1:0"
}
site "s" {
  route "/" {
    rate_limit {
      rate     = 0
      burst    = 0
      key      = "cookie:session"
      max_keys = 0
    }
    respond {}
  }
}
`), 0o644)
	out := pagitest.Validate(t, path)
	for _, want := range []string{"rate must be a positive number", "burst must be at least 1",
		`key must be "client" or "header:NAME", got "cookie:session"`, "max_keys must be at least 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
