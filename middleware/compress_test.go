package middleware_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/internal/pagitest"
	"github.com/pagihq/pagi/middleware"
)

// setbJSON returns a JSON document of about n bytes.
func setbJSON(n int) string {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < n-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"item %d","ok":true}`, i, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// setbDecode decodes body in the given content coding.
func setbDecode(t *testing.T, coding string, body []byte) []byte {
	t.Helper()
	var r io.Reader
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("unknown coding %q", coding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s decode: %v", coding, err)
	}
	return out
}

// setbStreamReader returns a decoder reading the coding from r as it comes.
func setbStreamReader(t *testing.T, coding string, r io.Reader) io.Reader {
	t.Helper()
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		return zr
	case "br":
		return brotli.NewReader(r)
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		t.Cleanup(zr.Close)
		return zr
	}
	t.Fatalf("unknown coding %q", coding)
	return nil
}

func setbCompressServer(t *testing.T, big string) (string, string) {
	t.Helper()
	text := strings.Repeat("All work and no play makes Jack a dull boy.\n", 200)
	routes := fmt.Sprintf(`
  route "/json" {
    compress {}
    respond {
      body    = %[1]q
      headers = { "content-type" = "application/json", "etag" = "\"v1\"", "vary" = "Origin" }
    }
  }
  route "/small" {
    compress {}
    respond {
      body    = "tiny"
      headers = { "content-type" = "text/plain" }
    }
  }
  route "/png" {
    compress {}
    respond {
      body    = %[1]q
      headers = { "content-type" = "image/png" }
    }
  }
  route "/nocontent" {
    compress {}
    respond {
      status  = 204
      headers = { "content-type" = "text/plain" }
    }
  }
  route "/partial" {
    compress {}
    respond {
      status  = 206
      body    = %[1]q
      headers = { "content-type" = "text/plain", "content-range" = "bytes 0-10/100000" }
    }
  }
  route "/encoded" {
    compress {}
    respond {
      body    = %[1]q
      headers = { "content-type" = "text/plain", "content-encoding" = "br" }
    }
  }
  route "/notransform" {
    compress {}
    respond {
      body    = %[1]q
      headers = { "content-type" = "text/plain", "cache-control" = "no-transform" }
    }
  }
  route "/known-small" {
    compress {}
    setb_app {
      mode    = "chunks"
      chunks  = ["ab", "cd"]
      headers = { "content-type" = "text/plain", "content-length" = "4" }
    }
  }
  route "/file" {
    compress {}
    setb_app {
      mode    = "file"
      file    = "big.txt"
      headers = { "content-type" = "text/plain" }
    }
  }
  route "/fh" {
    compress {}
    setb_app {
      mode    = "file"
      file    = "big.txt"
      fh      = true
      headers = { "content-type" = "text/plain" }
    }
  }
  route "/huge" {
    compress { level = "fastest" }
    setb_app {
      mode    = "chunks"
      chunks  = [%[2]q]
      repeat  = 30
      headers = { "content-type" = "text/plain" }
    }
  }
`, big, text)
	srv := setbStart(t, routes, map[string]string{"big.txt": text})
	return srv.URL("web"), text
}

func TestCompressEncodings(t *testing.T) {
	big := setbJSON(8 << 10)
	base, _ := setbCompressServer(t, big)
	for _, coding := range []string{"gzip", "br", "zstd"} {
		t.Run(coding, func(t *testing.T) {
			resp, body := setbGet(t, "GET", base+"/json", map[string]string{"Accept-Encoding": coding})
			if got := resp.Header.Get("Content-Encoding"); got != coding {
				t.Fatalf("Content-Encoding = %q, want %q", got, coding)
			}
			// The app's Content-Length is gone; the server may declare the
			// compressed length of a single final body.
			if resp.ContentLength != -1 && resp.ContentLength != int64(len(body)) {
				t.Errorf("Content-Length %d for %d compressed bytes", resp.ContentLength, len(body))
			}
			if got := resp.Header.Values("Vary"); strings.Join(got, ",") != "Origin,Accept-Encoding" {
				t.Errorf("Vary = %q, want Origin then Accept-Encoding", got)
			}
			if got := resp.Header.Get("Etag"); got != `W/"v1"` {
				t.Errorf("ETag = %q, want the weakened W/\"v1\"", got)
			}
			if len(body) >= len(big)/2 {
				t.Errorf("%d compressed bytes for %d", len(body), len(big))
			}
			if got := setbDecode(t, coding, body); string(got) != big {
				t.Errorf("decoded body differs (%d bytes, want %d)", len(got), len(big))
			}
		})
	}
	// A body much larger than one output chunk round-trips too.
	resp, body := setbGet(t, "GET", base+"/huge", map[string]string{"Accept-Encoding": "gzip"})
	want := strings.Repeat(strings.Repeat("All work and no play makes Jack a dull boy.\n", 200), 30)
	if resp.Header.Get("Content-Encoding") != "gzip" || string(setbDecode(t, "gzip", body)) != want {
		t.Errorf("huge body: encoding %q, %d bytes", resp.Header.Get("Content-Encoding"), len(body))
	}
}

func TestCompressNegotiation(t *testing.T) {
	base, _ := setbCompressServer(t, setbJSON(4<<10))
	for _, tc := range []struct {
		accept, want string
	}{
		{"gzip, br, zstd", "zstd"},
		{"gzip, br", "br"},
		{"gzip", "gzip"},
		{"GZIP", "gzip"},
		{"x-gzip", "gzip"},
		{"br;q=0.8, gzip;q=0.9", "gzip"},
		{"zstd;q=0.1, br;q=0.5, gzip;q=0.4", "br"},
		{"gzip;q=1.0, br;q=0.999", "gzip"},
		{"*", "zstd"},
		{"*;q=0.5, gzip", "gzip"},
		{"zstd;q=0, *", "br"},
		{"zstd;q=0, br;q=0, *;q=0.1", "gzip"},
		{"gzip;q=0", ""},
		{"gzip;q=bad", ""},
		{"identity", ""},
		{"deflate, compress", ""},
		{"", ""},
		{"*;q=0, identity", ""},
	} {
		resp, body := setbGet(t, "GET", base+"/json", map[string]string{"Accept-Encoding": tc.accept})
		if got := resp.Header.Get("Content-Encoding"); got != tc.want {
			t.Errorf("Accept-Encoding %q: coding %q, want %q", tc.accept, got, tc.want)
			continue
		}
		if tc.want == "" && !strings.HasPrefix(string(body), `{"items"`) {
			t.Errorf("Accept-Encoding %q: body not identity", tc.accept)
		}
		if got := resp.Header.Values("Vary"); strings.Join(got, ",") != "Origin,Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary = %q", tc.accept, got)
		}
	}
	// identity;q=0 makes even a small body go out compressed.
	for _, accept := range []string{"gzip, identity;q=0", "gzip, *;q=0"} {
		resp, body := setbGet(t, "GET", base+"/small", map[string]string{"Accept-Encoding": accept})
		if resp.Header.Get("Content-Encoding") != "gzip" || string(setbDecode(t, "gzip", body)) != "tiny" {
			t.Errorf("%q on a small body: coding %q", accept, resp.Header.Get("Content-Encoding"))
		}
	}
	// Without an acceptable coding, identity goes out even when refused.
	resp, body := setbGet(t, "GET", base+"/small", map[string]string{"Accept-Encoding": "identity;q=0"})
	if resp.Header.Get("Content-Encoding") != "" || string(body) != "tiny" {
		t.Errorf("identity;q=0 alone: coding %q body %q", resp.Header.Get("Content-Encoding"), body)
	}
}

func TestCompressUntouched(t *testing.T) {
	big := setbJSON(4 << 10)
	base, text := setbCompressServer(t, big)
	ae := map[string]string{"Accept-Encoding": "gzip, br, zstd"}
	check := func(name string, resp *http.Response, body []byte, wantBody string) {
		t.Helper()
		if ce := resp.Header.Get("Content-Encoding"); ce != "" && name != "encoded" {
			t.Errorf("%s: Content-Encoding %q", name, ce)
		}
		if v := resp.Header.Values("Vary"); strings.Contains(strings.Join(v, ","), "Accept-Encoding") {
			t.Errorf("%s: Vary %q on a response never compressed", name, v)
		}
		if string(body) != wantBody {
			t.Errorf("%s: body of %d bytes, want %d", name, len(body), len(wantBody))
		}
	}
	resp, body := setbGet(t, "GET", base+"/small", ae)
	check("small", resp, body, "tiny")
	resp, body = setbGet(t, "GET", base+"/known-small", ae)
	check("known-small", resp, body, "abcd")
	resp, body = setbGet(t, "GET", base+"/png", ae)
	check("png", resp, body, big)
	resp, body = setbGet(t, "GET", base+"/nocontent", ae)
	check("204", resp, body, "")
	resp, body = setbGet(t, "GET", base+"/partial", ae)
	check("206", resp, body, big)
	resp, body = setbGet(t, "GET", base+"/notransform", ae)
	check("no-transform", resp, body, big)
	resp, body = setbGet(t, "GET", base+"/encoded", ae)
	check("encoded", resp, body, big)
	if resp.Header.Get("Content-Encoding") != "br" {
		t.Errorf("encoded: Content-Encoding %q, want the app's br", resp.Header.Get("Content-Encoding"))
	}
	for _, p := range []string{"/file", "/fh"} {
		resp, body = setbGet(t, "GET", base+p, ae)
		check(p, resp, body, text)
		if resp.ContentLength != int64(len(text)) {
			t.Errorf("%s: Content-Length %d, want %d (the file, sent as is)", p, resp.ContentLength, len(text))
		}
	}
	resp, body = setbGet(t, "HEAD", base+"/json", ae)
	check("HEAD", resp, body, "")
	if resp.ContentLength != int64(len(big)) {
		t.Errorf("HEAD: Content-Length %d, want %d", resp.ContentLength, len(big))
	}
}

func TestCompressSSEUncompressed(t *testing.T) {
	text := strings.Repeat("an event long enough to be worth compressing ", 50)
	srv := setbStart(t, fmt.Sprintf(`
  route "/sse" {
    compress { min_size = 1 }
    setb_app {
      mode   = "sse"
      chunks = [%q, "second event"]
    }
  }`, text), nil)
	resp, body := setbGet(t, "GET", srv.URL("web")+"/sse", map[string]string{
		"Accept":          "text/event-stream",
		"Accept-Encoding": "gzip, br, zstd",
	})
	if resp.Header.Get("Content-Encoding") != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("SSE: Content-Encoding %q, Content-Type %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(string(body), "data: "+text) ||
		!strings.Contains(string(body), "data: second event") {
		t.Errorf("SSE body not plain: %.120q", body)
	}
}

func TestCompressStreaming(t *testing.T) {
	first := strings.Repeat("first chunk, sent alone. ", 10)
	second := strings.Repeat("second chunk, after the gate. ", 10)
	for _, coding := range []string{"gzip", "br", "zstd"} {
		t.Run(coding, func(t *testing.T) {
			gate := "compress-stream-" + coding
			open := setbGate(t, gate)
			srv := setbStart(t, fmt.Sprintf(`
  route "/stream" {
    compress {}
    setb_app {
      mode    = "chunks"
      chunks  = [%q, %q, "!"]
      gate    = %q
      delay   = "20ms"
      headers = { "content-type" = "text/plain" }
    }
  }`, first, second, gate), nil)
			req, _ := http.NewRequest("GET", srv.URL("web")+"/stream", nil)
			req.Header.Set("Accept-Encoding", coding)
			resp, err := setbClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Header.Get("Content-Encoding") != coding {
				t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
			}
			got := make(chan string, 1)
			var zr io.Reader
			go func() {
				zr = setbStreamReader(t, coding, resp.Body)
				buf := make([]byte, len(first))
				n, err := io.ReadFull(zr, buf)
				if err != nil {
					got <- "error: " + err.Error()
					return
				}
				got <- string(buf[:n])
			}()
			select {
			case g := <-got:
				if g != first {
					t.Fatalf("first chunk = %q", g)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the first chunk did not arrive before the app sent the second: the stream is buffered")
			}
			open()
			rest, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if string(rest) != second+"!" {
				t.Errorf("rest = %q", rest)
			}
		})
	}
}

func TestCompressValidation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site.hcl")
	_ = os.WriteFile(path, []byte(`listener "web" {
  address = "127.0.0.1:0"
}
site "s" {
  route "/" {
    compress {
      encodings = ["gzip", "deflate", "gzip"]
      level     = "max"
      types     = ["text", "application/json; charset=utf-8"]
    }
    respond {}
  }
}
`), 0o644)
	out := pagitest.Validate(t, path)
	for _, want := range []string{`"deflate" is not one of zstd, br, gzip`, `"gzip" is listed twice`,
		`level must be fastest, default or best, got "max"`, `"text" must be type/subtype`, "site.hcl:7:19"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// setbCompressMiddleware builds a compress middleware outside a server.
func setbCompressMiddleware(tb testing.TB, encodings ...string) pagi.Middleware {
	tb.Helper()
	bt, ok := config.Lookup("compress")
	if !ok {
		tb.Fatal("compress not registered")
	}
	mod := bt.New().(*middleware.Compress)
	if len(encodings) > 0 {
		mod.Encodings = encodings
	}
	mw, err := mod.BuildMiddleware(&config.BuildContext{})
	if err != nil {
		tb.Fatal(err)
	}
	return mw
}

// setbCompressCall is one response through a compress middleware, as the
// engine would run it, with a send that drops everything.
type setbCompressCall struct {
	app   pagi.App
	scope *pagi.Scope
	send  pagi.Send
	ctx   context.Context
	out   int
}

func newSetbCompressCall(mw pagi.Middleware, coding string, body []byte) *setbCompressCall {
	start := &pagi.HTTPResponseStart{Status: 200, Headers: pagi.Headers{{Name: "content-type", Value: "application/json"}}}
	ev := &pagi.HTTPResponseBody{Body: body}
	c := &setbCompressCall{
		scope: &pagi.Scope{Type: pagi.ScopeHTTP, Method: "GET", HTTPVersion: "1.1",
			Headers: pagi.Headers{{Name: "accept-encoding", Value: coding}}},
		ctx: context.Background(),
	}
	c.app = mw(func(ctx context.Context, _ *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		if err := send(ctx, start); err != nil {
			return err
		}
		return send(ctx, ev)
	})
	c.send = func(_ context.Context, ev pagi.Event) error {
		if b, ok := ev.(*pagi.HTTPResponseBody); ok {
			c.out += len(b.Body)
		}
		return nil
	}
	return c
}

func (c *setbCompressCall) run() error { return c.app(c.ctx, c.scope, nil, c.send) }

func TestCompressAllocations(t *testing.T) {
	if testing.Short() || setbRace {
		t.Skip("allocation counts need pools that keep their items (no -race, no -short)")
	}
	body := []byte(setbJSON(2 << 10))
	for _, coding := range []string{"gzip", "br", "zstd"} {
		c := newSetbCompressCall(setbCompressMiddleware(t), coding, body)
		for range 10 {
			if err := c.run(); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(200, func() { _ = c.run() })
		t.Logf("%s: %.1f allocations per response", coding, allocs)
		if allocs > 1 {
			t.Errorf("%s: %.1f allocations per response; encoders and buffers should come from pools", coding, allocs)
		}
	}
}

// BenchmarkCompressGzipJSON2KiB measures one 2 KiB JSON response through
// compress with gzip, encoders pooled.
func BenchmarkCompressGzipJSON2KiB(b *testing.B) {
	body := []byte(setbJSON(2 << 10))
	c := newSetbCompressCall(setbCompressMiddleware(b, "gzip"), "gzip", body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c.out = 0
		if err := c.run(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.out), "out-bytes")
}
