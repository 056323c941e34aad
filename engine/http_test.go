package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagihq/pagi"
)

// scopeRecorder is an app that stores the scope it saw and answers 200.
type scopeRecorder struct {
	mu    sync.Mutex
	scope pagi.Scope
}

func (sr *scopeRecorder) app(ctx context.Context, s *pagi.Scope, r pagi.Receive, send pagi.Send) error {
	if s.Type == pagi.ScopeLifespan {
		return pagi.ErrUnsupportedScope
	}
	sr.mu.Lock()
	sr.scope = *s.Clone()
	sr.scope.Headers = s.Headers.Clone()
	if s.Client != nil {
		c := *s.Client
		sr.scope.Client = &c
	}
	sv := *s.Server
	sr.scope.Server = &sv
	sr.scope.Params = append(pagi.Params(nil), s.Params...)
	sr.mu.Unlock()
	return okApp(ctx, s, r, send)
}

func (sr *scopeRecorder) get() pagi.Scope {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return sr.scope
}

func TestHTTPScopeFields(t *testing.T) {
	var sr scopeRecorder
	ts := serveApp(t, sr.app, "/")
	req := "GET /a%20b/c%2Fd?x=1&y=%20 HTTP/1.1\r\nHost: example.test\r\nCookie: a=1\r\nCookie: b=2\r\n" +
		"X-Dup: one\r\nX-Dup: two\r\nUser-Agent: t\r\n\r\n"
	resp, body := rawRequest(t, ts.Addr("web").String(), req)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	s := sr.get()
	checks := []struct{ name, got, want string }{
		{"type", string(s.Type), "http"},
		{"http_version", s.HTTPVersion, "1.1"},
		{"method", s.Method, "GET"},
		{"scheme", s.Scheme, "http"},
		{"path", s.Path, "/a b/c/d"},
		{"raw_path", s.RawPath, "/a%20b/c%2Fd"},
		{"query_string", s.QueryString, "x=1&y=%20"},
		{"root_path", s.RootPath, ""},
		{"host", s.Header("host"), "example.test"},
		{"cookie", s.Header("cookie"), "a=1; b=2"},
		{"client", s.Client.Host, "127.0.0.1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if got := s.Headers.Values("x-dup"); strings.Join(got, ",") != "one,two" {
		t.Errorf("x-dup values %q, want one,two in order", got)
	}
	for _, h := range s.Headers {
		if h.Name != strings.ToLower(h.Name) {
			t.Errorf("header name %q not lower-case", h.Name)
		}
	}
	if s.Client.Port == 0 || s.Server.Port == 0 || s.Server.Host != "127.0.0.1" {
		t.Errorf("client %+v server %+v", s.Client, s.Server)
	}
	if s.Connection == nil || s.Transport == nil {
		t.Error("connection or transport handle missing")
	}
	if s.Extensions.TLS != nil {
		t.Error("tls extension present on a cleartext connection")
	}
}

func TestHTTP10AndMountAndParams(t *testing.T) {
	var sr scopeRecorder
	cfg := testConfig(sr.app, "/files/{group}/")
	ts := startConfig(t, cfg)
	resp, _ := rawRequest(t, ts.Addr("web").String(), "GET /files/img/a/b.png HTTP/1.0\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	s := sr.get()
	if s.HTTPVersion != "1.0" || s.RootPath != "/files/img" || s.Path != "/a/b.png" {
		t.Errorf("http_version %q root_path %q path %q", s.HTTPVersion, s.RootPath, s.Path)
	}
	if v, _ := s.Params.Get("group"); v != "img" {
		t.Errorf("param group = %q", v)
	}
	if s.Route != "/files/{group}/" {
		t.Errorf("route %q", s.Route)
	}
}

func TestRequestBodyChunksAndStreamingResponse(t *testing.T) {
	type chunk struct {
		n    int
		more bool
	}
	var mu sync.Mutex
	var chunks []chunk
	echo := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP {
			return pagi.ErrUnsupportedScope
		}
		if err := send(ctx, &pagi.HTTPResponseStart{Status: 200}); err != nil {
			return err
		}
		for {
			ev, err := receive(ctx)
			if err != nil {
				return err
			}
			req, ok := ev.(*pagi.HTTPRequest)
			if !ok {
				return fmt.Errorf("unexpected %s", ev.Type())
			}
			mu.Lock()
			chunks = append(chunks, chunk{len(req.Body), req.More})
			mu.Unlock()
			if err := send(ctx, &pagi.HTTPResponseBody{Body: req.Body, More: true}); err != nil {
				return err
			}
			if !req.More {
				return send(ctx, &pagi.HTTPResponseBody{})
			}
		}
	}
	ts := serveApp(t, echo, "/")
	payload := make([]byte, 200_000)
	_, _ = rand.Read(payload)
	for _, chunked := range []bool{false, true} {
		chunks = nil
		var body io.Reader = bytes.NewReader(payload)
		if chunked {
			body = io.MultiReader(bytes.NewReader(payload)) // unknown length: chunked upload
		}
		resp, err := http.Post(ts.url("/echo"), "application/octet-stream", body)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, payload) {
			t.Fatalf("chunked=%v: echo differs (%d bytes)", chunked, len(got))
		}
		if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("chunked=%v: streamed response not chunked: %v", chunked, resp.TransferEncoding)
		}
		mu.Lock()
		for i, c := range chunks {
			if c.n > chunkSize {
				t.Errorf("chunk %d has %d bytes, more than %d", i, c.n, chunkSize)
			}
			if last := i == len(chunks)-1; c.more == last {
				t.Errorf("chunk %d of %d: more=%v", i, len(chunks), c.more)
			}
		}
		mu.Unlock()
	}
}

func TestBodylessRequestGivesOneEmptyEvent(t *testing.T) {
	events := make(chan pagi.Event, 4)
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP {
			return pagi.ErrUnsupportedScope
		}
		ev, err := receive(ctx)
		if err != nil {
			return err
		}
		events <- ev
		if err := okApp(ctx, s, receive, send); err != nil {
			return err
		}
		ev, err = receive(ctx) // after the response: disconnect at once
		if err != nil {
			return err
		}
		events <- ev
		return nil
	}
	ts := serveApp(t, app, "/")
	resp, err := http.Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	first := (<-events).(*pagi.HTTPRequest)
	if len(first.Body) != 0 || first.More {
		t.Errorf("first event %+v, want empty final body", first)
	}
	if ev := <-events; ev.Type() != pagi.TypeHTTPDisconnect {
		t.Errorf("receive after response = %s, want http.disconnect", ev.Type())
	}
}

func TestSendRulesAndFailures(t *testing.T) {
	errs := make(chan error, 8)
	cases := map[string]pagi.App{
		"/crlf": func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
			err := send(ctx, &pagi.HTTPResponseStart{Status: 200, Headers: pagi.Headers{{Name: "x-a", Value: "a\r\nSet-Cookie: evil=1"}}})
			errs <- err
			return err
		},
		"/body-first": func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
			err := send(ctx, &pagi.HTTPResponseBody{Body: []byte("x")})
			errs <- err
			return err
		},
		"/panic": func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
			panic("boom")
		},
		"/nothing": func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
			return nil
		},
		"/second-start": func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
			_ = send(ctx, &pagi.HTTPResponseStart{Status: 200})
			err := send(ctx, &pagi.HTTPResponseStart{Status: 201})
			errs <- err
			return send(ctx, &pagi.HTTPResponseBody{Body: []byte("first")})
		},
		"/fail-after-start": func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
			_ = send(ctx, &pagi.HTTPResponseStart{Status: 200})
			_ = send(ctx, &pagi.HTTPResponseBody{Body: []byte("partial"), More: true})
			return errors.New("database went away")
		},
	}
	app := func(ctx context.Context, s *pagi.Scope, r pagi.Receive, send pagi.Send) error {
		if s.Type == pagi.ScopeLifespan {
			return pagi.ErrUnsupportedScope
		}
		return cases[s.Path](ctx, s, r, send)
	}
	ts := serveApp(t, app, "/")
	for _, path := range []string{"/crlf", "/body-first", "/panic", "/nothing"} {
		resp, err := http.Get(ts.url(path))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 500 || resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: status %d set-cookie %q, want 500 and none", path, resp.StatusCode, resp.Header.Get("Set-Cookie"))
		}
	}
	if err := <-errs; !errors.Is(err, pagi.ErrInvalidHeader) {
		t.Errorf("CRLF header: send error %v, want ErrInvalidHeader", err)
	}
	if err := <-errs; !errors.Is(err, pagi.ErrUnexpectedEvent) {
		t.Errorf("body before start: send error %v, want ErrUnexpectedEvent", err)
	}
	resp, err := http.Get(ts.url("/second-start"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "first" {
		t.Errorf("second start changed the response: %d %q", resp.StatusCode, b)
	}
	if err := <-errs; !errors.Is(err, pagi.ErrUnexpectedEvent) {
		t.Errorf("second start: send error %v", err)
	}
	resp, err = http.Get(ts.url("/fail-after-start"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Error("a response whose app failed mid-stream looked complete to the client")
	}
	// The server is still up after all that.
	resp, err = http.Get(ts.url("/second-start"))
	if err != nil {
		t.Fatalf("server down after failures: %v", err)
	}
	resp.Body.Close()
	<-errs
	if logs := ts.logs.String(); !strings.Contains(logs, "boom") || !strings.Contains(logs, "database went away") {
		t.Errorf("app errors not logged:\n%s", logs)
	}
}

func TestTrailersAndFileBodies(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "data.bin")
	content := []byte("0123456789abcdefghij")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	// big is larger than the in-memory limit, so it goes out with sendfile.
	big := filepath.Join(dir, "big.bin")
	bigContent := bytes.Repeat([]byte("0123456789abcdef"), 5000)
	if err := os.WriteFile(big, bigContent, 0o644); err != nil {
		t.Fatal(err)
	}
	app := func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP {
			return pagi.ErrUnsupportedScope
		}
		switch s.Path {
		case "/trailers":
			_ = send(ctx, &pagi.HTTPResponseStart{Status: 200, Trailers: true})
			_ = send(ctx, &pagi.HTTPResponseBody{Body: []byte("body")})
			return send(ctx, &pagi.HTTPResponseTrailers{Headers: pagi.Headers{{Name: "x-checksum", Value: "abc"}}})
		case "/file":
			_ = send(ctx, &pagi.HTTPResponseStart{Status: 200})
			return send(ctx, &pagi.HTTPResponseBody{File: file, Offset: 5, Length: 10})
		case "/fh":
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			_ = send(ctx, &pagi.HTTPResponseStart{Status: 200})
			return send(ctx, &pagi.HTTPResponseBody{FH: f, Offset: 15})
		case "/short":
			// Asks for more than the file has: what exists is sent.
			_ = send(ctx, &pagi.HTTPResponseStart{Status: 200})
			return send(ctx, &pagi.HTTPResponseBody{File: file, Offset: 15, Length: 100})
		case "/big":
			_ = send(ctx, &pagi.HTTPResponseStart{Status: 200})
			return send(ctx, &pagi.HTTPResponseBody{File: big, Offset: 3, Length: 70000})
		case "/missing":
			_ = send(ctx, &pagi.HTTPResponseStart{Status: 200})
			return send(ctx, &pagi.HTTPResponseBody{File: filepath.Join(dir, "nope")})
		case "/bigfh", "/bigfh-part":
			// Offsets count from the start of the file, wherever the
			// handle's own position is.
			f, err := os.Open(big)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := f.Read(make([]byte, 100)); err != nil {
				return err
			}
			_ = send(ctx, &pagi.HTTPResponseStart{Status: 200})
			if s.Path == "/bigfh-part" {
				return send(ctx, &pagi.HTTPResponseBody{FH: f, Length: 70000})
			}
			return send(ctx, &pagi.HTTPResponseBody{FH: f})
		case "/bigshort":
			// A stated length from the start is trusted (no stat): the
			// file ends first, so the response is cut short.
			_ = send(ctx, &pagi.HTTPResponseStart{Status: 200})
			return send(ctx, &pagi.HTTPResponseBody{File: big, Length: int64(len(bigContent)) + 50000})
		}
		return nil
	}
	ts := serveApp(t, app, "/")
	resp, err := http.Get(ts.url("/trailers"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "body" || resp.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("trailers: body %q trailer %v", b, resp.Trailer)
	}
	for path, want := range map[string]string{"/file": "56789abcde", "/fh": "fghij", "/short": "fghij",
		"/big": string(bigContent[3:70003]), "/bigfh": string(bigContent), "/bigfh-part": string(bigContent[:70000])} {
		resp, err := http.Get(ts.url(path))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want || resp.ContentLength != int64(len(want)) {
			t.Errorf("%s: body %.40q (%d bytes) length %d, want %.40q (%d bytes)", path, b, len(b), resp.ContentLength, want, len(want))
		}
	}
	resp, err = http.Get(ts.url("/bigshort"))
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || resp.ContentLength != int64(len(bigContent))+50000 || string(b) != string(bigContent) {
		t.Errorf("/bigshort: %d bytes, length %d, err %v; want the whole file, then a cut (unexpected EOF)", len(b), resp.ContentLength, err)
	}
	req, _ := http.NewRequest(http.MethodHead, ts.url("/file"), nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ContentLength != 10 {
		t.Errorf("HEAD file: content-length %d, want 10", resp.ContentLength)
	}
	resp, err = http.Get(ts.url("/missing"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Errorf("missing file: status %d, want 500", resp.StatusCode)
	}
}

func TestExpectContinueOnFirstReceive(t *testing.T) {
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP {
			return pagi.ErrUnsupportedScope
		}
		var got []byte
		for {
			ev, err := receive(ctx)
			if err != nil {
				return err
			}
			r := ev.(*pagi.HTTPRequest)
			got = append(got, r.Body...)
			if !r.More {
				break
			}
		}
		return pagi.Respond(ctx, s, send, 200, nil, got)
	}
	ts := serveApp(t, app, "/")
	c, err := net.Dial("tcp", ts.Addr("web").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 100 Continue") {
		t.Fatalf("interim response %q, %v", buf[:n], err)
	}
	fmt.Fprint(c, "hello")
	n, _ = io.ReadAtLeast(c, buf, 10)
	if !strings.Contains(string(buf[:n]), "200 OK") {
		t.Fatalf("final response %q", buf[:n])
	}
}

func TestBodyLimits(t *testing.T) {
	called := make(chan string, 4)
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP {
			return pagi.ErrUnsupportedScope
		}
		for {
			ev, err := receive(ctx)
			if err != nil {
				return err
			}
			if d, ok := ev.(*pagi.HTTPDisconnect); ok {
				called <- d.Reason
				return nil
			}
			if !ev.(*pagi.HTTPRequest).More {
				called <- "complete"
				return okApp(ctx, s, receive, send)
			}
		}
	}
	cfg := testConfig(app, "/")
	cfg.Listeners[0].Limits.MaxBodyBytes = 1000
	ts := startConfig(t, cfg)
	resp, err := http.Post(ts.url("/"), "text/plain", strings.NewReader(strings.Repeat("x", 1001)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("declared length over the limit: status %d, want 413", resp.StatusCode)
	}
	select {
	case r := <-called:
		t.Errorf("app ran for a body declared too large (%s)", r)
	default:
	}
	// A chunked body of many small chunks growing past the limit.
	var req strings.Builder
	req.WriteString("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	for range 20 {
		req.WriteString("64\r\n" + strings.Repeat("y", 100) + "\r\n")
	}
	req.WriteString("0\r\n\r\n")
	resp, _ = rawRequest(t, ts.Addr("web").String(), req.String())
	if resp.StatusCode != 413 {
		t.Errorf("chunked body over the limit: status %d, want 413", resp.StatusCode)
	}
	// A malformed chunk after the head was accepted: the app is already
	// reading, and the client still gets a 400.
	resp, _ = rawRequest(t, ts.Addr("web").String(), "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
	if resp.StatusCode != 400 {
		t.Errorf("malformed chunk: status %d, want 400", resp.StatusCode)
	}
	select {
	case r := <-called: // the engine caught it (the guard may catch it first)
		if r != pagi.ReasonBodyTooLarge {
			t.Errorf("app saw %q, want disconnect body_too_large", r)
		}
	case <-time.After(200 * time.Millisecond):
	}
}

func TestConnectionHandleCallbacks(t *testing.T) {
	completed := make(chan bool, 1)
	disconnected := make(chan string, 1)
	release := make(chan struct{})
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP {
			return pagi.ErrUnsupportedScope
		}
		c := s.Connection
		switch s.Path {
		case "/complete":
			c.OnComplete(func() { completed <- c.ResponseComplete() })
			c.OnDisconnect(func(r string) { disconnected <- "unexpected " + r })
			return okApp(ctx, s, receive, send)
		case "/leave":
			c.OnDisconnect(func(r string) { disconnected <- r })
			_ = send(ctx, &pagi.HTTPResponseStart{Status: 200})
			_ = send(ctx, &pagi.HTTPResponseBody{Body: []byte("tick"), More: true})
			close(release)
			select {
			case <-c.Disconnected():
			case <-time.After(5 * time.Second):
				return errors.New("disconnect never seen")
			}
			if c.IsConnected() {
				return errors.New("still connected after disconnect")
			}
			ev, _ := receive(ctx)
			if d, ok := ev.(*pagi.HTTPDisconnect); !ok || d.Reason != pagi.ReasonClientClosed {
				return fmt.Errorf("receive after departure: %#v", ev)
			}
			return send(ctx, &pagi.HTTPResponseBody{Body: []byte("nobody listens")}) // silent no-op
		}
		return nil
	}
	ts := serveApp(t, app, "/")
	resp, err := http.Get(ts.url("/complete"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if ok := <-completed; !ok {
		t.Error("OnComplete ran before the response was complete")
	}
	c, err := net.Dial("tcp", ts.Addr("web").String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "GET /leave HTTP/1.1\r\nHost: x\r\n\r\n")
	<-release
	c.Close()
	select {
	case r := <-disconnected:
		if r != pagi.ReasonClientClosed {
			t.Errorf("OnDisconnect reason %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnDisconnect never ran")
	}
	time.Sleep(50 * time.Millisecond)
	if strings.Contains(ts.logs.String(), "disconnect never seen") || strings.Contains(ts.logs.String(), "receive after departure") {
		t.Errorf("app saw a wrong disconnect sequence:\n%s", ts.logs.String())
	}
}

func TestMaxConnections(t *testing.T) {
	cfg := testConfig(okApp, "/")
	cfg.Listeners[0].Limits.MaxConnections = 2
	ts := startConfig(t, cfg)
	addr := ts.Addr("web").String()
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		buf := make([]byte, 512)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	resp, _ := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third connection: status %d retry-after %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("capacity never came back after a connection closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestResponseHeaderRepeatedNames: fields of one name keep every value in
// the order sent, whether the start event has few fields (checked against
// the names set so far) or many (checked against net/http's map).
func TestResponseHeaderRepeatedNames(t *testing.T) {
	for _, extra := range []int{0, 12} {
		headers := pagi.Headers{
			{Name: "x-multi", Value: "a"},
			{Name: "content-type", Value: "text/plain"},
			{Name: "set-cookie", Value: "c1=1"},
			{Name: "x-multi", Value: "b"},
			{Name: "set-cookie", Value: "c2=2"},
			{Name: "x-multi", Value: "c"},
		}
		for i := range extra {
			headers = append(headers, pagi.Header{Name: fmt.Sprintf("x-extra-%d", i), Value: "v"})
		}
		app := func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
			return pagi.Respond(ctx, s, send, 200, headers, []byte("ok"))
		}
		ts := serveApp(t, app, "/")
		resp, err := http.Get(ts.url("/"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := strings.Join(resp.Header.Values("X-Multi"), ","); got != "a,b,c" {
			t.Errorf("%d extra fields: x-multi %q, want a,b,c", extra, got)
		}
		if got := strings.Join(resp.Header.Values("Set-Cookie"), ","); got != "c1=1,c2=2" {
			t.Errorf("%d extra fields: set-cookie %q, want c1=1,c2=2", extra, got)
		}
		if got := resp.Header.Get("Content-Type"); got != "text/plain" {
			t.Errorf("%d extra fields: content-type %q", extra, got)
		}
		if extra > 0 && resp.Header.Get("X-Extra-11") != "v" {
			t.Errorf("x-extra-11 missing: %v", resp.Header)
		}
	}
}

// TestResponseDate: every response carries a Date of the current second in
// the HTTP format (from the engine's per-second cache), a date the app set
// itself is kept as it is, and the cache moves on with the clock.
func TestResponseDate(t *testing.T) {
	const appDate = "Sun, 06 Nov 1994 08:49:37 GMT"
	app := func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		var h pagi.Headers
		if s.Path == "/own" {
			h = pagi.Headers{{Name: "date", Value: appDate}}
		}
		return pagi.Respond(ctx, s, send, 200, h, []byte("ok"))
	}
	ts := serveApp(t, app, "/")
	get := func(path string) []string {
		resp, err := http.Get(ts.url(path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Values("Date")
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(3 * time.Second)
	for len(seen) < 2 && time.Now().Before(deadline) {
		before := time.Now().Truncate(time.Second)
		dates := get("/")
		after := time.Now()
		if len(dates) != 1 {
			t.Fatalf("Date fields %q, want one", dates)
		}
		d, err := http.ParseTime(dates[0])
		if err != nil || dates[0] != d.UTC().Format(http.TimeFormat) {
			t.Fatalf("Date %q is not an HTTP date (%v)", dates[0], err)
		}
		if d.Before(before) || d.After(after) {
			t.Fatalf("Date %v outside [%v, %v]", d, before, after)
		}
		seen[dates[0]] = true
		time.Sleep(100 * time.Millisecond)
	}
	if len(seen) < 2 {
		t.Errorf("the Date stayed %v for 3 s", seen)
	}
	if got := get("/own"); len(got) != 1 || got[0] != appDate {
		t.Errorf("app's Date: got %q, want only %q", got, appDate)
	}
}
