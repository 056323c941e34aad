package handlers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func TestStaticCleanName(t *testing.T) {
	tests := []struct {
		in      string
		hide    bool
		name    string
		slash   bool
		status  int
		comment string
	}{
		{in: "/", name: ".", slash: true},
		{in: "", name: ".", slash: true},
		{in: "/a.css", name: "a.css"},
		{in: "a.css", name: "a.css"},
		{in: "/dir/", name: "dir", slash: true},
		{in: "/dir/sub/x.txt", name: "dir/sub/x.txt"},
		{in: "//etc/passwd", name: "etc/passwd"},
		{in: "/a//b/./c", name: "a/b/c"},
		{in: "/./", name: ".", slash: true},
		{in: "/été.txt", name: "été.txt"},
		{in: "/../secret", status: 400},
		{in: "/a/../../secret", status: 400},
		{in: "/a/..", status: 400},
		{in: "/a\\..\\b", status: 400},
		{in: "/a\x00b", status: 400},
		{in: "/\xff", status: 400},
		{in: "/.env", hide: true, status: 404},
		{in: "/a/.git/config", hide: true, status: 404},
		{in: "/.env", name: ".env"},
		{in: "/..foo", hide: true, status: 404},
		{in: "/..foo", name: "..foo"},
	}
	for _, tt := range tests {
		name, slash, status := staticCleanName(tt.in, tt.hide)
		if status != tt.status || (status == 0 && (name != tt.name || slash != tt.slash)) {
			t.Errorf("staticCleanName(%q, %v) = %q, %v, %d; want %q, %v, %d",
				tt.in, tt.hide, name, slash, status, tt.name, tt.slash, tt.status)
		}
	}
}

func TestStaticParseRange(t *testing.T) {
	type br = staticByteRange
	tests := []struct {
		h    string
		size int64
		want []br
		res  staticRangeResult
	}{
		{"bytes=0-4", 10, []br{{0, 5}}, staticRangeOK},
		{"bytes=-5", 10, []br{{5, 5}}, staticRangeOK},
		{"bytes=-50", 10, []br{{0, 10}}, staticRangeOK},
		{"bytes=3-", 10, []br{{3, 7}}, staticRangeOK},
		{"bytes=3-100", 10, []br{{3, 7}}, staticRangeOK},
		{"bytes=9-9", 10, []br{{9, 1}}, staticRangeOK},
		{"Bytes = 0-0", 10, []br{{0, 1}}, staticRangeOK},
		{"bytes=0-1, 4-5", 10, []br{{0, 2}, {4, 2}}, staticRangeOK},
		{"bytes=0-1,,4-5,", 10, []br{{0, 2}, {4, 2}}, staticRangeOK},
		{"bytes=0-1,20-30", 10, []br{{0, 2}}, staticRangeOK},
		{"bytes=0-99999999999999999999999", 10, []br{{0, 10}}, staticRangeOK},
		{"bytes=10-", 10, nil, staticRangeUnsatisfiable},
		{"bytes=10-20,30-", 10, nil, staticRangeUnsatisfiable},
		{"bytes=-0", 10, nil, staticRangeUnsatisfiable},
		{"bytes=5-4", 10, nil, staticRangeIgnore},
		{"bytes=a-b", 10, nil, staticRangeIgnore},
		{"bytes=+1-2", 10, nil, staticRangeIgnore},
		{"bytes=1", 10, nil, staticRangeIgnore},
		{"bytes=--1", 10, nil, staticRangeIgnore},
		{"bytes=", 10, nil, staticRangeIgnore},
		{"items=0-1", 10, nil, staticRangeIgnore},
		{"0-1", 10, nil, staticRangeIgnore},
		{"bytes=0-1", 0, nil, staticRangeIgnore},
		{"bytes=0-9,0-9", 10, nil, staticRangeIgnore},
		{"bytes=" + strings.Repeat("0-0,", 17), 100, nil, staticRangeIgnore},
	}
	for _, tt := range tests {
		got, res := staticParseRange(tt.h, tt.size)
		if res != tt.res || !slices.Equal(got, tt.want) {
			t.Errorf("staticParseRange(%q, %d) = %v, %d; want %v, %d", tt.h, tt.size, got, res, tt.want, tt.res)
		}
	}
	if got := (staticByteRange{5, 5}).contentRange(10); got != "bytes 5-9/10" {
		t.Errorf("contentRange = %q", got)
	}
}

func hdrs(kv ...string) pagi.Headers {
	var h pagi.Headers
	for i := 0; i < len(kv); i += 2 {
		h = append(h, pagi.Header{Name: kv[i], Value: kv[i+1]})
	}
	return h
}

func TestStaticPreconditions(t *testing.T) {
	mod := time.Date(2024, 5, 6, 7, 8, 9, 500, time.UTC)
	at := mod.Format(http.TimeFormat)
	before := mod.Add(-time.Hour).Format(http.TimeFormat)
	after := mod.Add(time.Hour).Format(http.TimeFormat)
	const etag = `"a-b"`
	tests := []struct {
		h    pagi.Headers
		etag string
		want int
	}{
		{nil, etag, 0},
		{hdrs("if-match", etag), etag, 0},
		{hdrs("if-match", `"x", "a-b"`), etag, 0},
		{hdrs("if-match", "*"), etag, 0},
		{hdrs("if-match", `"x"`), etag, 412},
		{hdrs("if-match", `W/"a-b"`), etag, 412},             // strong comparison
		{hdrs("if-match", etag), `W/"a-b"`, 412},             // weak tags never match strongly
		{hdrs("if-match", `"a-b"`), "", 412},                 // no ETag
		{hdrs("if-match", "*"), "", 0},                       // "*" needs only a representation
		{hdrs("if-match", `"x"`, "if-match", etag), etag, 0}, // several header lines
		{hdrs("if-unmodified-since", at), etag, 0},
		{hdrs("if-unmodified-since", after), etag, 0},
		{hdrs("if-unmodified-since", before), etag, 412},
		{hdrs("if-unmodified-since", "garbage"), etag, 0},
		{hdrs("if-match", etag, "if-unmodified-since", before), etag, 0}, // If-Match wins
		{hdrs("if-none-match", etag), etag, 304},
		{hdrs("if-none-match", `W/"a-b"`), etag, 304}, // weak comparison
		{hdrs("if-none-match", `"x", "a-b"`), etag, 304},
		{hdrs("if-none-match", "*"), etag, 304},
		{hdrs("if-none-match", `"x"`), etag, 0},
		{hdrs("if-modified-since", at), etag, 304},
		{hdrs("if-modified-since", after), etag, 304},
		{hdrs("if-modified-since", before), etag, 0},
		{hdrs("if-none-match", `"x"`, "if-modified-since", after), etag, 0}, // INM wins
		{hdrs("if-match", `"x"`, "if-none-match", etag), etag, 412},
	}
	for i, tt := range tests {
		if got := staticPreconditions(tt.h, tt.etag, mod); got != tt.want {
			t.Errorf("%d: staticPreconditions(%v, %q) = %d, want %d", i, tt.h, tt.etag, got, tt.want)
		}
	}
	// Without a modification time, date conditions are ignored.
	if got := staticPreconditions(hdrs("if-modified-since", after), "", time.Time{}); got != 0 {
		t.Errorf("zero mtime: got %d", got)
	}
}

func TestStaticIfRange(t *testing.T) {
	mod := time.Date(2024, 5, 6, 7, 8, 9, 500, time.UTC)
	const etag = `"a-b"`
	tests := []struct {
		h    pagi.Headers
		want bool
	}{
		{nil, true},
		{hdrs("if-range", etag), true},
		{hdrs("if-range", `"x"`), false},
		{hdrs("if-range", `W/"a-b"`), false},
		{hdrs("if-range", mod.Format(http.TimeFormat)), true},
		{hdrs("if-range", mod.Add(time.Second).Format(http.TimeFormat)), false},
		{hdrs("if-range", "junk"), false},
	}
	for _, tt := range tests {
		if got := staticIfRange(tt.h, etag, mod); got != tt.want {
			t.Errorf("staticIfRange(%v) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

func TestStaticAcceptsEncoding(t *testing.T) {
	tests := []struct {
		ae, coding string
		want       bool
	}{
		{"gzip, deflate, br", "br", true},
		{"gzip, deflate, br", "gzip", true},
		{"gzip, deflate", "br", false},
		{"br;q=0", "br", false},
		{"br;q=0.000, gzip", "br", false},
		{"br; q=0.5", "br", true},
		{"BR", "br", true},
		{"*", "br", true},
		{"*;q=0", "br", false},
		{"*, br;q=0", "br", false},
		{"*;q=0, br", "br", true},
		{"x-gzip", "gzip", true},
		{"identity", "gzip", false},
		{"", "gzip", false},
		{"br;q=abc", "br", false},
		{"zstd, br", "zstd", true},
	}
	for _, tt := range tests {
		if got := staticAcceptsEncoding(tt.ae, tt.coding); got != tt.want {
			t.Errorf("staticAcceptsEncoding(%q, %q) = %v, want %v", tt.ae, tt.coding, got, tt.want)
		}
	}
}

func TestStaticTypes(t *testing.T) {
	var c staticTypeCache
	tests := map[string]string{
		"a.css":       "text/css; charset=utf-8",
		"x/y.HTML":    "text/html; charset=utf-8",
		"app.mjs":     "text/javascript; charset=utf-8",
		"data.json":   "application/json",
		"pic.PNG":     "image/png",
		"font.woff2":  "font/woff2",
		"noext":       "",
		"dir.d/noext": "",
	}
	for name, want := range tests {
		for range 2 { // second time from the cache
			if got := c.lookup(name); got != want {
				t.Errorf("lookup(%q) = %q, want %q", name, got, want)
			}
		}
	}
	for ext, typ := range staticTypes {
		if strings.HasPrefix(typ, "text/") && !strings.HasSuffix(typ, "; charset=utf-8") {
			t.Errorf("%s: text type %q without charset", ext, typ)
		}
		if _, _, err := mime.ParseMediaType(typ); err != nil {
			t.Errorf("%s: %v", ext, err)
		}
	}
}

func TestStaticOpenErrorStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.ENOENT}, 404},
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.EACCES}, 403},
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.ENOTDIR}, 404},
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.ELOOP}, 404},
		{&fs.PathError{Op: "openat", Path: "x", Err: errors.New("path escapes from parent")}, 404},
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.EMFILE}, 500},
		{&fs.PathError{Op: "openat", Path: "x", Err: syscall.EIO}, 500},
		{os.ErrClosed, 500},
	}
	for _, tt := range tests {
		if got := staticOpenErrorStatus(tt.err); got != tt.want {
			t.Errorf("staticOpenErrorStatus(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// recorder collects the events an app sends, copying what the app may
// reuse after Send returns.
type recorder struct {
	status  int
	headers pagi.Headers
	body    bytes.Buffer
	events  int
	final   bool
}

func (r *recorder) send(_ context.Context, ev pagi.Event) error {
	r.events++
	switch e := ev.(type) {
	case *pagi.HTTPResponseStart:
		r.status, r.headers = e.Status, e.Headers.Clone()
	case *pagi.HTTPResponseBody:
		if r.final {
			return errors.New("body after final body")
		}
		switch {
		case e.FH != nil:
			n := e.Length
			if n <= 0 {
				fi, _ := e.FH.Stat()
				n = fi.Size() - e.Offset
			}
			buf := make([]byte, n)
			if _, err := e.FH.ReadAt(buf, e.Offset); err != nil && err != io.EOF {
				return err
			}
			r.body.Write(buf)
			r.final = true
		default:
			r.body.Write(e.Body)
			r.final = !e.More
		}
	case *pagi.SSEHTTPResponseStart:
		r.status, r.headers = e.Status, e.Headers.Clone()
	case *pagi.SSEHTTPResponseBody:
		r.body.Write(e.Body)
		r.final = !e.More
	default:
		return errors.New("unexpected event " + ev.Type())
	}
	return nil
}

func (r *recorder) get(name string) string {
	v, _ := r.headers.Get(name)
	return v
}

// buildStatic builds a static app over a new temp dir holding files.
func buildStatic(t *testing.T, st *Static, files map[string]string) (pagi.App, string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, "public", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "public"), 0o755); err != nil {
		t.Fatal(err)
	}
	if st.Root == "" {
		st.Root = "public"
	}
	vctx := config.NewValidateContext(dir, nil, nil, nil)
	if diags := st.Validate(vctx); diags.HasErrors() {
		t.Fatal(diags)
	}
	app, err := st.BuildApp(&config.BuildContext{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Cleanup(); err != nil {
			t.Error(err)
		}
	})
	return app, filepath.Join(dir, "public")
}

func newStatic() *Static {
	bt, _ := config.Lookup("static")
	return bt.New().(*Static)
}

func run(t *testing.T, app pagi.App, method, path string, h ...string) *recorder {
	t.Helper()
	s := &pagi.Scope{Type: pagi.ScopeHTTP, Method: method, Path: path, RootPath: "/files", Headers: hdrs(h...)}
	r := &recorder{}
	if err := app(context.Background(), s, nil, r.send); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if !r.final {
		t.Fatalf("%s %s: response not finished", method, path)
	}
	return r
}

func TestStaticAppUnit(t *testing.T) {
	app, _ := buildStatic(t, newStatic(), map[string]string{
		"a.css":          "body{}",
		"ten.txt":        "0123456789",
		"dir/index.html": "<p>hi</p>",
		"noindex/x":      "x",
		"s.js":           "plain js",
		"s.js.br":        "brotli!",
		"s.js.gz":        "gzipped",
		"unknown.zzq":    "%PDF-1.4 hello",
	})
	r := run(t, app, "GET", "/a.css")
	if r.status != 200 || r.body.String() != "body{}" || r.get("content-type") != "text/css; charset=utf-8" ||
		r.get("accept-ranges") != "bytes" || r.get("vary") != "Accept-Encoding" {
		t.Errorf("GET a.css: %d %v %q", r.status, r.headers, r.body.String())
	}
	etag := r.get("etag")
	if !strings.HasPrefix(etag, `"6-`) || r.get("last-modified") == "" {
		t.Errorf("validators: %v", r.headers)
	}
	if r := run(t, app, "GET", "/a.css", "if-none-match", etag); r.status != 304 || r.body.Len() != 0 || r.get("etag") != etag {
		t.Errorf("INM: %d %v", r.status, r.headers)
	}
	if r := run(t, app, "GET", "/unknown.zzq"); r.get("content-type") != "application/pdf" {
		t.Errorf("sniff: %v", r.headers)
	}
	if r := run(t, app, "GET", "/dir"); r.status != 301 || r.get("location") != "/files/dir/" {
		t.Errorf("redirect: %d %v", r.status, r.headers)
	}
	if r := run(t, app, "GET", "/dir/"); r.status != 200 || r.body.String() != "<p>hi</p>" {
		t.Errorf("index: %d %q", r.status, r.body.String())
	}
	if r := run(t, app, "GET", "/noindex/"); r.status != 404 {
		t.Errorf("no index: %d", r.status)
	}
	if r := run(t, app, "POST", "/a.css"); r.status != 405 || r.get("allow") != "GET, HEAD" {
		t.Errorf("405: %d %v", r.status, r.headers)
	}
	if r := run(t, app, "GET", "/s.js", "accept-encoding", "gzip, br"); r.body.String() != "brotli!" ||
		r.get("content-encoding") != "br" || r.get("content-type") != "text/javascript; charset=utf-8" ||
		!strings.HasSuffix(r.get("etag"), `-br"`) || r.get("accept-ranges") != "" {
		t.Errorf("br: %v %q", r.headers, r.body.String())
	}
	if r := run(t, app, "GET", "/s.js", "accept-encoding", "gzip"); r.body.String() != "gzipped" || r.get("content-encoding") != "gzip" {
		t.Errorf("gzip: %v %q", r.headers, r.body.String())
	}
	if r := run(t, app, "GET", "/s.js", "accept-encoding", "br", "range", "bytes=0-1"); r.body.String() != "pl" || r.get("content-encoding") != "" {
		t.Errorf("range skips sidecars: %v %q", r.headers, r.body.String())
	}
	r = run(t, app, "GET", "/ten.txt", "range", "bytes=0-1,5-6")
	_, params, err := mime.ParseMediaType(r.get("content-type"))
	if r.status != 206 || err != nil {
		t.Fatalf("multipart: %d %v", r.status, r.headers)
	}
	if cl := r.get("content-length"); cl != strings.TrimSpace(cl) || cl == "" || cl != strconv.Itoa(r.body.Len()) {
		t.Errorf("multipart content-length %q, body %d", cl, r.body.Len())
	}
	mr := multipart.NewReader(&r.body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, p.Header.Get("Content-Range")+"="+string(b)+"|"+p.Header.Get("Content-Type"))
	}
	want := []string{"bytes 0-1/10=01|text/plain; charset=utf-8", "bytes 5-6/10=56|text/plain; charset=utf-8"}
	if !slices.Equal(parts, want) {
		t.Errorf("parts %q, want %q", parts, want)
	}
	sse := &pagi.Scope{Type: pagi.ScopeSSE, Method: "GET", Path: "/a.css"}
	rec := &recorder{}
	if err := app(context.Background(), sse, nil, rec.send); err != nil || rec.status != 406 {
		t.Errorf("sse: %v %d", err, rec.status)
	}
	if err := app(context.Background(), &pagi.Scope{Type: pagi.ScopeLifespan}, nil, rec.send); !errors.Is(err, pagi.ErrUnsupportedScope) {
		t.Errorf("lifespan: %v", err)
	}
}

func TestStaticFIFO(t *testing.T) {
	app, dir := buildStatic(t, newStatic(), nil)
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan *recorder, 1)
	go func() { done <- run(t, app, "GET", "/pipe") }()
	select {
	case r := <-done:
		if r.status != 404 {
			t.Errorf("fifo: %d", r.status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("opening a FIFO blocked the request")
	}
}

func TestStaticValidate(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mod  func(*Static)
		errs int
	}{
		{func(s *Static) { s.Root = "." }, 0},
		{func(s *Static) { s.Root = dir }, 0},
		{func(s *Static) { s.Root = "missing" }, 1},
		{func(s *Static) { s.Root = "file" }, 1},
		{func(s *Static) { s.Root = "" }, 1},
		{func(s *Static) { s.Root = "."; s.Index = []string{"a/b", ".."} }, 2},
		{func(s *Static) { s.Root = "."; s.Precompressed = []string{"br", "br", "lzma"} }, 2},
		{func(s *Static) { s.Root = "."; s.CacheControl = "a\nb" }, 1},
	}
	for i, tt := range tests {
		st := newStatic()
		tt.mod(st)
		diags := st.Validate(config.NewValidateContext(dir, nil, nil, nil))
		if len(diags) != tt.errs {
			t.Errorf("%d: %d diagnostics, want %d: %v", i, len(diags), tt.errs, diags)
		}
	}
}

// BenchmarkStaticApp1K measures the handler alone: one 1 KiB file served
// to a Send that discards the events.
func BenchmarkStaticApp1K(b *testing.B) {
	st := newStatic()
	dir := b.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "public"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "public", "1k.txt"), bytes.Repeat([]byte("x"), 1024), 0o644); err != nil {
		b.Fatal(err)
	}
	st.Root = "public"
	app, err := st.BuildApp(&config.BuildContext{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Cleanup()
	s := &pagi.Scope{Type: pagi.ScopeHTTP, Method: "GET", Path: "/1k.txt", RootPath: "/files",
		Headers: hdrs("accept", "*/*", "host", "localhost", "user-agent", "bench")}
	send := func(context.Context, pagi.Event) error { return nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := app(ctx, s, nil, send); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStaticPermissionAndCleanup(t *testing.T) {
	st := newStatic()
	app, dir := buildStatic(t, st, map[string]string{"locked.txt": "no", "ok.txt": "ok"})
	if os.Geteuid() != 0 {
		if err := os.Chmod(filepath.Join(dir, "locked.txt"), 0); err != nil {
			t.Fatal(err)
		}
		if r := run(t, app, "GET", "/locked.txt"); r.status != 403 {
			t.Errorf("unreadable file: %d", r.status)
		}
	}
	if r := run(t, app, "GET", "/ok.txt"); r.status != 200 {
		t.Fatalf("ok.txt: %d", r.status)
	}
	if err := st.Cleanup(); err != nil {
		t.Fatal(err)
	}
	// After Cleanup the root is closed: a request fails with 500 and the
	// error is returned for the engine to log, without the path.
	s := &pagi.Scope{Type: pagi.ScopeHTTP, Method: "GET", Path: "/ok.txt"}
	r := &recorder{}
	err := app(context.Background(), s, nil, r.send)
	if err == nil || r.status != 500 || strings.Contains(r.body.String(), dir) {
		t.Errorf("after Cleanup: %v, %d %q", err, r.status, r.body.String())
	}
}

// TestStaticValidatorCacheAgreesWithFormatting asks one cache for the
// validators of many representations, far more than it has slots, in a
// random order that revisits them, and requires every answer to equal a
// fresh computation: entries that collide in a slot, or differ only in
// the sidecar suffix, must never answer for each other.
func TestStaticValidatorCacheAgreesWithFormatting(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	base := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	type key struct {
		size   int64
		mod    time.Time
		suffix string
	}
	var keys []key
	for i := range 2000 {
		k := key{size: int64(rng.IntN(50)), mod: base.Add(time.Duration(rng.IntN(40)) * time.Nanosecond * 997), suffix: []string{"", "-gz", "-br"}[i%3]}
		if i%100 == 0 {
			k.mod = time.Time{} // no modification time: no Last-Modified
		}
		keys = append(keys, k)
	}
	for _, withETag := range []bool{true, false} {
		var c staticValidatorCache
		for range 20000 {
			k := keys[rng.IntN(len(keys))]
			etag, lastMod := c.get(withETag, k.size, k.mod, k.suffix)
			wantETag, wantLastMod := staticMakeValidators(withETag, k.size, k.mod, k.suffix)
			if etag != wantETag || lastMod != wantLastMod {
				t.Fatalf("etag=%v %+v: got %q %q, want %q %q", withETag, k, etag, lastMod, wantETag, wantLastMod)
			}
		}
	}
}
