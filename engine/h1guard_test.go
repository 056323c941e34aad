package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// guardTestHandler answers guard rejections like the server's top-level
// handler does, hijacks "Upgrade: pagi-echo" requests into a raw echo, and
// otherwise echoes method, path, Content-Length, a trailer and the body.
func guardTestHandler(w http.ResponseWriter, r *http.Request) {
	if guardAnswerRejection(w, r) {
		return
	}
	if r.Header.Get("Upgrade") == "pagi-echo" {
		guardEcho(w)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if guardAnswerRejection(w, r) {
			return
		}
		w.Header().Set("Connection", "close")
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("X-Method", r.Method)
	h.Set("X-Path", r.URL.Path)
	h.Set("X-Content-Length", strconv.FormatInt(r.ContentLength, 10))
	if v := r.Trailer.Get("X-Sum"); v != "" {
		h.Set("X-Trailer", v)
	}
	_, _ = w.Write(body)
}

func guardAnswerRejection(w http.ResponseWriter, r *http.Request) bool {
	status, reason, bad := GuardRejection(r.Context())
	if !bad {
		return false
	}
	w.Header().Set("Connection", "close")
	w.Header().Set("X-Guard-Reason", reason)
	http.Error(w, reason, status)
	return true
}

// guardEcho switches protocols and echoes raw bytes until the client leaves.
func guardEcho(w http.ResponseWriter) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: pagi-echo\r\nConnection: Upgrade\r\n\r\n")
	_ = brw.Flush()
	buf := make([]byte, 4096)
	for {
		n, err := brw.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// startGuardServer serves handler on a guarded loopback listener.
func startGuardServer(tb testing.TB, opts GuardOptions, handler http.Handler, configure func(*http.Server)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if handler == nil {
		handler = http.HandlerFunc(guardTestHandler)
	}
	srv := &http.Server{
		Handler:     handler,
		ConnContext: GuardConnContext,
		ErrorLog:    log.New(io.Discard, "", 0),
	}
	if configure != nil {
		configure(srv)
	}
	go func() { _ = srv.Serve(GuardListener(ln, opts)) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

type guardClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func guardDial(t *testing.T, addr string) *guardClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &guardClient{t: t, c: c, br: bufio.NewReader(c)}
}

// send writes s in the background: after a rejection the server stops
// reading, and a large write must not block the test.
func (gc *guardClient) send(s string) {
	go func() { _, _ = io.WriteString(gc.c, s) }()
}

// sendSync writes s and fails the test on error.
func (gc *guardClient) sendSync(s string) {
	gc.t.Helper()
	if _, err := io.WriteString(gc.c, s); err != nil {
		gc.t.Fatal(err)
	}
}

type guardResp struct {
	status int
	header http.Header
	body   string
	close  bool // Connection: close (ReadResponse removes the header)
}

func (gc *guardClient) read() guardResp {
	gc.t.Helper()
	resp, err := http.ReadResponse(gc.br, nil)
	if err != nil {
		gc.t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		gc.t.Fatalf("reading response body: %v", err)
	}
	return guardResp{status: resp.StatusCode, header: resp.Header, body: string(b), close: resp.Close}
}

// expectClosed asserts the server closes the connection (clean EOF) next.
func (gc *guardClient) expectClosed() {
	gc.t.Helper()
	_ = gc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := gc.br.ReadByte()
	if err != io.EOF {
		gc.t.Fatalf("connection not closed: byte %q, err %v", b, err)
	}
}

const guardTestMaxBody = 1 << 20

func TestGuardCompliance(t *testing.T) {
	addr := startGuardServer(t, GuardOptions{MaxBodyBytes: guardTestMaxBody}, nil, nil)

	get := func(extra string) string { return "GET /t HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n" }
	post := func(hdrs, body string) string { return "POST /t HTTP/1.1\r\nHost: x\r\n" + hdrs + "\r\n" + body }
	chunked := func(body string) string { return post("Transfer-Encoding: chunked\r\n", body) }
	many := func(n int, size int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "X-H%d: %s\r\n", i, strings.Repeat("v", size))
		}
		return b.String()
	}

	cases := []struct {
		name   string
		req    string
		status int
		body   string // checked when non-empty
		closed bool
	}{
		{"normal", get(""), 200, "", false},
		{"HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400, "", true},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 200, "", true},
		{"blank line before request line", "\r\n" + get(""), 200, "", false},
		{"HTTP/2.0 request line (not the preface)", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "", true},

		{"CL abc", post("Content-Length: abc\r\n", ""), 400, "", true},
		{"CL -1", post("Content-Length: -1\r\n", ""), 400, "", true},
		{"CL +5", post("Content-Length: +5\r\n", "hello"), 400, "", true},
		{"CL inner space", post("Content-Length: 1 2\r\n", ""), 400, "", true},
		{"CL empty", post("Content-Length: \r\n", ""), 400, "", true},
		{"CL list", post("Content-Length: 5, 5\r\n", "hello"), 400, "", true},
		{"CL leading zeros", post("Content-Length: 005\r\n", "hello"), 200, "hello", false},
		{"CL surrounding OWS", post("Content-Length: \t5 \r\n", "hello"), 200, "hello", false},
		{"CL 19 digits", post("Content-Length: 1234567890123456789\r\n", ""), 413, "", true},
		{"CL above max body", post("Content-Length: 1048577\r\n", ""), 413, "", true},
		{"CL duplicate same", post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), 400, "", true},
		{"CL duplicate different", post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"), 400, "", true},

		{"TE and CL", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"), 400, "", true},
		{"CL and TE", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400, "", true},
		{"chunked not last", post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"), 400, "", true},
		{"chunked twice", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400, "", true},
		{"TE unknown", post("Transfer-Encoding: gzip\r\n", ""), 501, "", true},
		{"TE gzip, chunked", post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), 501, "", true},
		{"TE empty", post("Transfer-Encoding: \r\n", ""), 400, "", true},
		{"TE CHUNKED", post("Transfer-Encoding: CHUNKED\r\n", "5\r\nhello\r\n0\r\n\r\n"), 200, "hello", false},
		{"TE Chunked", post("Transfer-Encoding: Chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"), 200, "hello", false},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "", true},

		{"NUL in value", get("X-A: a\x00b\r\n"), 400, "", true},
		{"VT in value", get("X-A: a\x0bb\r\n"), 400, "", true},
		{"FF in value", get("X-A: a\x0cb\r\n"), 400, "", true},
		{"bare CR in value", get("X-A: a\rb\r\n"), 400, "", true},
		{"DEL in value", get("X-A: a\x7fb\r\n"), 400, "", true},
		{"NUL in name", get("X\x00A: 1\r\n"), 400, "", true},
		{"bare CR in name", get("X\rA: 1\r\n"), 400, "", true},
		{"no colon", get("X-A\r\n"), 400, "", true},
		{"empty name", get(": v\r\n"), 400, "", true},
		{"space before colon", get("X-A : v\r\n"), 400, "", true},
		{"tab before colon", get("Content-Length\t: 0\r\n"), 400, "", true},
		{"obs-fold", get("X-A: a\r\n b\r\n"), 400, "", true},
		{"obs-fold tab", get("X-A: a\r\n\tb\r\n"), 400, "", true},
		{"obs-text in value", get("X-A: caf\xc3\xa9\r\n"), 200, "", false},

		{"malformed request line", "GET  /t HTTP/1.1\r\nHost: x\r\n\r\n", 400, "", true},
		{"lowercase version", "GET /t http/1.1\r\nHost: x\r\n\r\n", 400, "", true},
		{"request line too long", "GET /" + strings.Repeat("a", 8200) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, "", true},
		{"request line at the limit", "GET /" + strings.Repeat("a", 8192-len("GET / HTTP/1.1")) + " HTTP/1.1\r\nHost: x\r\n\r\n", 200, "", false},
		{"header block too large", get(many(20, 1000)), 431, "", true},
		{"too many fields", get(many(101, 1)), 431, "", true},
		{"100 fields", get(many(99, 1)), 200, "", false},
		{"100 KB header", get("X-Big: " + strings.Repeat("a", 100<<10) + "\r\n"), 431, "", true},

		{"chunk extensions and OWS", chunked("5 ;a=b\r\nhello\r\n6\t;x;y=\"z\"\r\n world\r\n0\r\n\r\n"), 200, "hello world", false},
		{"chunk size trailing OWS", chunked("5\t \r\nhello\r\n0\r\n\r\n"), 200, "hello", false},
		{"chunk size leading zeros", chunked("0005\r\nhello\r\n0000\r\n\r\n"), 200, "hello", false},
		{"chunk size invalid", chunked("zz\r\nhello\r\n0\r\n\r\n"), 400, "", true},
		{"chunk size leading space", chunked(" 5\r\nhello\r\n0\r\n\r\n"), 400, "", true},
		{"chunk size 17 hex digits", chunked("00000000000000005\r\nhello\r\n0\r\n\r\n"), 413, "", true},
		{"chunk size overflows int64", chunked("FFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"), 413, "", true},
		{"chunk sizes above max body", chunked("80000\r\n" + strings.Repeat("a", 0x80000) + "\r\n80001\r\n"), 413, "", true},
		{"chunk data without CRLF", chunked("5\r\nhelloX0\r\n\r\n"), 400, "", true},
		{"chunk line bare LF", chunked("5\nhello\r\n0\r\n\r\n"), 400, "", true},
		{"chunk ext with CTL", chunked("5;a\x01\r\nhello\r\n0\r\n\r\n"), 400, "", true},
		{"trailer obs-fold", chunked("0\r\nX-A: 1\r\n b\r\n\r\n"), 400, "", true},
		{"trailer Content-Length", chunked("0\r\nContent-Length: 5\r\n\r\n"), 400, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gc := guardDial(t, addr)
			gc.send(tc.req)
			r := gc.read()
			if r.status != tc.status {
				t.Fatalf("status %d (%s %q), want %d", r.status, r.header.Get("X-Guard-Reason"), r.body, tc.status)
			}
			if tc.body != "" && r.body != tc.body {
				t.Fatalf("body %q, want %q", r.body, tc.body)
			}
			if tc.closed {
				if r.status >= 400 && !r.close {
					t.Errorf("rejection without Connection: close")
				}
				// All rejections but these two are the guard's.
				byNetHTTP := r.status == 505 || tc.name == "HTTP/1.1 without Host"
				if r.status >= 400 && !byNetHTTP && r.header.Get("X-Guard-Reason") == "" {
					t.Errorf("rejection not decided by the guard: %q", r.body)
				}
				gc.expectClosed()
			}
		})
	}
}

func TestGuardPipelined(t *testing.T) {
	addr := startGuardServer(t, GuardOptions{}, nil, nil)
	gc := guardDial(t, addr)
	gc.sendSync("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
		"POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n")
	for i, want := range []string{"/1", "/2", "/3"} {
		r := gc.read()
		if r.status != 200 || r.header.Get("X-Path") != want {
			t.Fatalf("response %d: %d %s, want 200 %s", i, r.status, r.header.Get("X-Path"), want)
		}
	}
	gc.sendSync("GET /4 HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := gc.read(); r.status != 200 || r.header.Get("X-Path") != "/4" {
		t.Fatalf("after pipeline: %d %s", r.status, r.header.Get("X-Path"))
	}
}

func TestGuardValidThenBadInOneWrite(t *testing.T) {
	addr := startGuardServer(t, GuardOptions{}, nil, nil)
	gc := guardDial(t, addr)
	gc.sendSync("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /bad HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := gc.read(); r.status != 200 || r.header.Get("X-Path") != "/ok" {
		t.Fatalf("first: %d %s", r.status, r.header.Get("X-Path"))
	}
	r := gc.read()
	if r.status != 400 || r.header.Get("X-Guard-Reason") == "" {
		t.Fatalf("second: %d %q, want a guard 400", r.status, r.body)
	}
	gc.expectClosed()
}

func TestGuardChunkedTrailers(t *testing.T) {
	addr := startGuardServer(t, GuardOptions{}, nil, nil)
	gc := guardDial(t, addr)
	gc.sendSync("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
		"5;name=val\r\nhello\r\n6 ; q=\"x y\"\r\n world\r\n0;last\r\nX-Sum: 42\r\nX-Other: yes\r\n\r\n")
	r := gc.read()
	if r.status != 200 || r.body != "hello world" || r.header.Get("X-Trailer") != "42" {
		t.Fatalf("got %d %q trailer %q", r.status, r.body, r.header.Get("X-Trailer"))
	}
	gc.sendSync("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := gc.read(); r.status != 200 || r.header.Get("X-Path") != "/after" {
		t.Fatalf("after trailers: %d %s", r.status, r.header.Get("X-Path"))
	}
}

func TestGuardTinyWrites(t *testing.T) {
	addr := startGuardServer(t, GuardOptions{}, nil, nil)
	gc := guardDial(t, addr)
	trickle := func(s string) {
		for i := range len(s) {
			gc.sendSync(s[i : i+1])
			if i%7 == 0 {
				time.Sleep(200 * time.Microsecond)
			}
		}
	}
	trickle("POST /cl HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
	if r := gc.read(); r.status != 200 || r.body != "hello world" {
		t.Fatalf("CL body: %d %q", r.status, r.body)
	}
	trickle("POST /ch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"3;e=1\r\nabc\r\n1\r\nd\r\n0\r\nX-Sum: 7\r\n\r\n")
	if r := gc.read(); r.status != 200 || r.body != "abcd" || r.header.Get("X-Trailer") != "7" {
		t.Fatalf("chunked body: %d %q %q", r.status, r.body, r.header.Get("X-Trailer"))
	}
}

func TestGuardKeepAlive100(t *testing.T) {
	addr := startGuardServer(t, GuardOptions{}, nil, nil)
	gc := guardDial(t, addr)
	for i := range 100 {
		path := "/r" + strconv.Itoa(i)
		if i%2 == 0 {
			gc.sendSync("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
		} else {
			gc.sendSync("POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
		}
		r := gc.read()
		if r.status != 200 || r.header.Get("X-Path") != path {
			t.Fatalf("request %d: %d %s", i, r.status, r.header.Get("X-Path"))
		}
	}
}

func TestGuardH2CPriorKnowledge(t *testing.T) {
	addr := startGuardServer(t, GuardOptions{}, nil, func(s *http.Server) {
		s.Protocols = new(http.Protocols)
		s.Protocols.SetHTTP1(true)
		s.Protocols.SetUnencryptedHTTP2(true)
	})
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Post("http://"+addr+"/h2", "text/plain", strings.NewReader("over h2c"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || string(body) != "over h2c" {
		t.Fatalf("got %s %d %q", resp.Proto, resp.StatusCode, body)
	}
	// HTTP/1.1 still works on the same server.
	gc := guardDial(t, addr)
	gc.sendSync("GET /h1 HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := gc.read(); r.status != 200 {
		t.Fatalf("HTTP/1.1: %d", r.status)
	}
}

func TestGuardUpgradePassThrough(t *testing.T) {
	addr := startGuardServer(t, GuardOptions{}, nil, nil)
	const upgrade = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: pagi-echo\r\nConnection: Upgrade\r\n\r\n"
	// Bytes that would be rejected at once if parsed as HTTP/1.x.
	const raw = "\x81\x05hello \x00\x0b\r\nNOT HTTP : at all\r\n\r\n"
	check := func(gc *guardClient) {
		t.Helper()
		got := make([]byte, len(raw))
		if _, err := io.ReadFull(gc.br, got); err != nil {
			t.Fatalf("echo: %v", err)
		}
		if string(got) != raw {
			t.Fatalf("echo %q, want %q", got, raw)
		}
	}
	t.Run("after 101", func(t *testing.T) {
		gc := guardDial(t, addr)
		gc.sendSync(upgrade)
		resp, err := http.ReadResponse(gc.br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		gc.sendSync(raw)
		check(gc)
		gc.sendSync(raw)
		check(gc)
	})
	t.Run("early data", func(t *testing.T) {
		gc := guardDial(t, addr)
		gc.sendSync(upgrade + raw)
		resp, err := http.ReadResponse(gc.br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		check(gc)
	})
}

// A request that only claims to upgrade (or CONNECT) but is answered as
// ordinary HTTP must not switch the guard off.
func TestGuardUnhonouredUpgradeStaysGuarded(t *testing.T) {
	addr := startGuardServer(t, GuardOptions{}, nil, nil)
	const smuggle = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	for _, first := range []string{
		"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	} {
		gc := guardDial(t, addr)
		gc.sendSync(first + smuggle)
		if r := gc.read(); r.status != 200 {
			t.Fatalf("first: %d", r.status)
		}
		if r := gc.read(); r.status != 400 || r.header.Get("X-Guard-Reason") == "" {
			t.Fatalf("smuggled request: %d %q, want a guard 400", r.status, r.body)
		}
		gc.expectClosed()
	}
}

func TestGuardIncompleteHeadAtEOF(t *testing.T) {
	addr := startGuardServer(t, GuardOptions{}, nil, nil)
	gc := guardDial(t, addr)
	gc.sendSync("GET / HTTP/1.1\r\nHost: x\r\n")
	_ = gc.c.(*net.TCPConn).CloseWrite()
	if r := gc.read(); r.status != 400 {
		t.Fatalf("status %d, want 400", r.status)
	}
	gc.expectClosed()
}

// The guard hands net/http nothing before a head is complete, which would
// keep net/http's ReadHeaderTimeout from starting on keep-alive connections;
// the guard enforces it itself.
func TestGuardHeadTimeoutOnKeepAlive(t *testing.T) {
	addr := startGuardServer(t, GuardOptions{}, nil, func(s *http.Server) {
		s.ReadHeaderTimeout = 300 * time.Millisecond
	})
	gc := guardDial(t, addr)
	gc.sendSync("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := gc.read(); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	gc.sendSync("GET / HTTP/1.1\r\nHo")
	start := time.Now()
	_ = gc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := gc.br.ReadByte()
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v (err %v)", time.Since(start), err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed only after %v", d)
	}
}

func TestGuardRejectionWithoutGuard(t *testing.T) {
	if _, _, ok := GuardRejection(context.Background()); ok {
		t.Fatal("rejection reported for a plain context")
	}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	if ctx := GuardConnContext(context.Background(), c1); ctx != context.Background() {
		t.Fatal("unguarded connection changed the context")
	}
}

// guardSpyConn records what net/http hands to the TCP connection's ReadFrom,
// which is where sendfile(2) happens.
type guardSpyConn struct {
	*net.TCPConn
	mu   *sync.Mutex
	srcs *[]string
}

func (s guardSpyConn) ReadFrom(r io.Reader) (int64, error) {
	name := fmt.Sprintf("%T", r)
	if lr, ok := r.(*io.LimitedReader); ok {
		name += fmt.Sprintf("(%T)", lr.R)
	}
	s.mu.Lock()
	*s.srcs = append(*s.srcs, name)
	s.mu.Unlock()
	return s.TCPConn.ReadFrom(r)
}

type guardSpyListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l guardSpyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}

// net/http uses sendfile only when its net.Conn implements io.ReaderFrom; it
// does not unwrap. A wrapper without ReadFrom therefore loses sendfile (the
// "plain wrapper" control); the guard delegates ReadFrom, so a file response
// still reaches the TCP connection's ReadFrom with the *os.File as source.
func TestGuardKeepsSendfile(t *testing.T) {
	dir := t.TempDir()
	content := make([]byte, 200<<10)
	_, _ = rand.Read(content)
	path := filepath.Join(dir, "f.bin")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	serveFile := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, path)
	})
	type plainWrapper struct{ net.Conn }
	for _, tc := range []struct {
		name     string
		guarded  bool
		sendfile bool
	}{
		{"guarded", true, true},
		{"plain wrapper", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var srcs []string
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var l net.Listener = guardSpyListener{Listener: ln, wrap: func(c net.Conn) net.Conn {
				spy := guardSpyConn{TCPConn: c.(*net.TCPConn), mu: &mu, srcs: &srcs}
				if tc.guarded {
					return spy
				}
				return plainWrapper{spy}
			}}
			if tc.guarded {
				l = GuardListener(l, GuardOptions{})
			}
			srv := &http.Server{Handler: serveFile, ConnContext: GuardConnContext, ErrorLog: log.New(io.Discard, "", 0)}
			go func() { _ = srv.Serve(l) }()
			defer srv.Close()

			gc := guardDial(t, ln.Addr().String())
			gc.sendSync("GET /f.bin HTTP/1.1\r\nHost: x\r\n\r\n")
			r := gc.read()
			if r.status != 200 || r.body != string(content) {
				t.Fatalf("status %d, %d bytes", r.status, len(r.body))
			}
			mu.Lock()
			got := strings.Join(srcs, ",")
			mu.Unlock()
			reached := strings.Contains(got, "*os.File")
			if reached != tc.sendfile {
				t.Fatalf("TCPConn.ReadFrom sources %q; sendfile path reached = %v, want %v", got, reached, tc.sendfile)
			}
		})
	}
}

func TestGuardValueOK(t *testing.T) {
	for b := range 256 {
		want := b == '\t' || (b >= ' ' && b != 0x7f)
		for pos := range 19 {
			v := bytes.Repeat([]byte("a"), 19)
			v[pos] = byte(b)
			if got := guardValueOK(v); got != want {
				t.Fatalf("byte %#x at %d: %v, want %v", b, pos, got, want)
			}
		}
	}
}

// guardSliceConn is an in-memory net.Conn that returns data step bytes at a
// time, then EOF.
type guardSliceConn struct {
	net.Conn
	data []byte
	step int
}

func (s *guardSliceConn) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), s.step, len(s.data))
	copy(p, s.data[:n])
	s.data = s.data[n:]
	return n, nil
}

// A valid pipelined stream must come out of the guard byte for byte, however
// the network splits it and however large net/http's reads are.
func TestGuardStreamSplits(t *testing.T) {
	stream := "GET /a HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789" +
		"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"a;ext=1\r\n0123456789\r\n1A\r\n" + strings.Repeat("z", 26) + "\r\n0\r\nX-Sum: 1\r\n\r\n" +
		"GET /d HTTP/1.0\nHost: x\n\n"
	// Blank lines before a request line are dropped on the way through.
	input := "\r\n" + stream + "\r\n\r\nGET /e HTTP/1.1\r\nHost: x\r\n\r\n"
	stream += "GET /e HTTP/1.1\r\nHost: x\r\n\r\n"
	steps := []int{len(input)}
	for step := 1; step <= 40; step++ {
		steps = append(steps, step)
	}
	for _, step := range steps {
		for _, rd := range []int{1, 2, 7, guardDirectMin, 4096} {
			gc := &guardConn{Conn: &guardSliceConn{data: []byte(input), step: step}, cfg: newGuardConfig(GuardOptions{})}
			var out []byte
			p := make([]byte, rd)
			for {
				n, err := gc.Read(p)
				out = append(out, p[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("step %d read %d: %v", step, rd, err)
				}
			}
			if string(out) != stream {
				t.Fatalf("step %d read %d: got %q", step, rd, out)
			}
			if s := gc.status.Load(); s != 0 {
				t.Fatalf("step %d read %d: rejected %d %s", step, rd, s, gc.reason)
			}
		}
	}
}

// guardFeedConn is a net.Conn whose every Read returns the same bytes.
type guardFeedConn struct {
	net.Conn
	data []byte
}

func (f *guardFeedConn) Read(p []byte) (int, error) { return copy(p, f.data), nil }

const guardBenchHead = "GET /api/v1/items?id=42&sort=desc HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Connection: keep-alive\r\n\r\n"

// BenchmarkGuardHead is one typical 6-header GET head through the guard's
// Read path: inner read, validation, hand-over.
func BenchmarkGuardHead(b *testing.B) {
	head := []byte(guardBenchHead)
	gc := &guardConn{Conn: &guardFeedConn{data: head}, cfg: newGuardConfig(GuardOptions{})}
	p := make([]byte, 4096)
	b.SetBytes(int64(len(head)))
	b.ReportAllocs()
	for b.Loop() {
		n, err := gc.Read(p)
		if err != nil || n != len(head) {
			b.Fatalf("Read = %d, %v", n, err)
		}
	}
	if gc.status.Load() != 0 {
		b.Fatalf("rejected: %s", gc.reason)
	}
}

// BenchmarkGuardKeepAlive compares keep-alive hello-world throughput of
// net/http with and without the guard (one connection per goroutine).
func BenchmarkGuardKeepAlive(b *testing.B) {
	hello := []byte("Hello, World!")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(hello)
	})
	for _, guarded := range []bool{false, true} {
		name := "plain"
		if guarded {
			name = "guard"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
			var l net.Listener = ln
			if guarded {
				srv.ConnContext = GuardConnContext
				l = GuardListener(ln, GuardOptions{})
			}
			go func() { _ = srv.Serve(l) }()
			defer srv.Close()
			addr := ln.Addr().String()
			req := []byte(guardBenchHead)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				br := bufio.NewReaderSize(c, 16<<10)
				for pb.Next() {
					if _, err := c.Write(req); err != nil {
						b.Error(err)
						return
					}
					if err := guardSkipResponse(br); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// guardSkipResponse reads one response with a Content-Length body.
func guardSkipResponse(br *bufio.Reader) error {
	key := []byte("content-length:")
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > len(key) && bytes.EqualFold(line[:len(key)], key) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(key):])))
		}
	}
	if length < 0 {
		return errors.New("response without Content-Length")
	}
	_, err := br.Discard(length)
	return err
}

// Whole heads read into a large enough buffer are checked where they are,
// without the guard's own buffer; a head cut short by the read still comes
// out whole, and the buffer it needed goes back to the pool once empty.
func TestGuardDirectHeadNeedsNoBuffer(t *testing.T) {
	head := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	gc := &guardConn{Conn: &guardSliceConn{data: []byte(head + head), step: len(head)}, cfg: newGuardConfig(GuardOptions{})}
	p := make([]byte, 4096)
	for i := range 2 {
		n, err := gc.Read(p)
		if err != nil || string(p[:n]) != head {
			t.Fatalf("read %d = %q, %v", i, p[:n], err)
		}
		if gc.buf != nil {
			t.Fatalf("read %d left the guard holding a buffer", i)
		}
	}
	split := &guardConn{Conn: &guardSliceConn{data: []byte(head), step: 10}, cfg: newGuardConfig(GuardOptions{})}
	n, err := split.Read(p)
	if err != nil || string(p[:n]) != head {
		t.Fatalf("split head = %q, %v", p[:n], err)
	}
	if split.buf != nil {
		t.Fatal("the guard kept its buffer after handing the split head over")
	}
}

// FuzzGuardReadSizes checks that the guard's verdict does not depend on how
// net/http reads: the same input split the same way comes out as the same
// bytes with the same rejection, whether read a byte at a time (the guard's
// buffered loop) or in 4 KiB reads (the direct path of readHeadDirect).
func FuzzGuardReadSizes(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"), uint8(7))
	f.Add([]byte("\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n"), uint8(200))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), uint8(5))
	f.Add([]byte("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"), uint8(64))
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nxyz"), uint8(3))
	f.Fuzz(func(t *testing.T, input []byte, step uint8) {
		run := func(rd int) (string, int32) {
			gc := &guardConn{Conn: &guardSliceConn{data: input, step: max(int(step), 1)}, cfg: newGuardConfig(GuardOptions{})}
			var out []byte
			p := make([]byte, rd)
			for range 4 * (len(input) + len(guardSynthetic) + 4) {
				n, err := gc.Read(p)
				out = append(out, p[:n]...)
				if err != nil {
					break
				}
			}
			return string(out), gc.status.Load()
		}
		small, smallStatus := run(1)
		large, largeStatus := run(4096)
		if small != large || smallStatus != largeStatus {
			t.Fatalf("1-byte reads: %d %q\n4 KiB reads: %d %q", smallStatus, small, largeStatus, large)
		}
	})
}

// TestGuardHeadRestAlreadyThereArmsNoTimer: when a head's first byte came
// alone and the rest is already in the socket, the guard takes the rest
// without arming its head timer (two runtime timer operations per
// keep-alive request otherwise); when the rest is not there, it arms the
// timer before waiting, as a slow head must be timed.
func TestGuardHeadRestAlreadyThereArmsNoTimer(t *testing.T) {
	client, server := tcpPair(t)
	gc := &guardConn{Conn: server, cfg: newGuardConfig(GuardOptions{}), headTimeout: time.Minute}

	firstByteAlone := func() { firstByteAlone(t, client, gc) }
	const rest = "ET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	p := make([]byte, 4096)

	firstByteAlone()
	if _, err := client.Write([]byte(rest)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // loopback: the bytes are in the socket
	n, err := gc.Read(p)
	if err != nil || string(p[:n]) != "G"+rest {
		t.Fatalf("read %q, %v", p[:n], err)
	}
	if gc.h.timed || gc.timerSet {
		t.Fatal("the head timer was armed for a head whose rest was already there")
	}

	// The next head's rest comes late: the guard must time it.
	firstByteAlone()
	done := make(chan error, 1)
	go func() {
		n, err := gc.Read(p)
		if err == nil && string(p[:n]) != "G"+rest {
			err = fmt.Errorf("read %q", p[:n])
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := client.Write([]byte(rest)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !gc.h.timed {
		t.Fatal("a head whose rest came late was not timed")
	}
}

// firstByteAlone has gc read a head's first byte by itself, as net/http's
// background read between keep-alive requests does.
func firstByteAlone(t *testing.T, client net.Conn, gc *guardConn) {
	t.Helper()
	if _, err := client.Write([]byte("G")); err != nil {
		t.Fatal(err)
	}
	gc.beginHead()
	if err := gc.fill(); err != nil || gc.wpos-gc.rel != 1 {
		t.Fatalf("first byte: %d buffered, %v", gc.wpos-gc.rel, err)
	}
}

// TestGuardHeadRestKeepsResetAndEnd: when a client resets the connection
// after a head's first byte came alone, Read reports the reset, as it does
// when no read is made without waiting; the kernel reports ECONNRESET only
// once, so a non-blocking read that drops it turns the reset into an end of
// input, which the guard answers as an incomplete head (a 400 for a client
// that is gone). A client that closes after a partial head still gets that
// 400, and neither arms the head timer.
func TestGuardHeadRestKeepsResetAndEnd(t *testing.T) {
	p := make([]byte, 4096)
	t.Run("reset", func(t *testing.T) {
		client, server := tcpPair(t)
		gc := &guardConn{Conn: server, cfg: newGuardConfig(GuardOptions{}), headTimeout: time.Minute}
		firstByteAlone(t, client, gc)
		if err := client.(*net.TCPConn).SetLinger(0); err != nil {
			t.Fatal(err)
		}
		_ = client.Close()
		time.Sleep(50 * time.Millisecond) // loopback: the RST has arrived
		n, err := gc.Read(p)
		if st, reason, bad := gc.rejection(); bad {
			t.Fatalf("reset client answered as a rejection: %d %s (Read %q, %v)", st, reason, p[:n], err)
		}
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Read = %q, %v; want ECONNRESET", p[:n], err)
		}
		if gc.h.timed || gc.timerSet {
			t.Fatal("the head timer was armed for a reset connection")
		}
	})
	t.Run("end", func(t *testing.T) {
		client, server := tcpPair(t)
		gc := &guardConn{Conn: server, cfg: newGuardConfig(GuardOptions{}), headTimeout: time.Minute}
		firstByteAlone(t, client, gc)
		_ = client.Close()
		time.Sleep(50 * time.Millisecond)
		n, err := gc.Read(p)
		if st, reason, bad := gc.rejection(); !bad || st != http.StatusBadRequest || reason != grIncompleteHead {
			t.Fatalf("partial head then close: rejection %d %q %v (Read %q, %v); want 400 %q", st, reason, bad, p[:n], err, grIncompleteHead)
		}
		if gc.h.timed || gc.timerSet {
			t.Fatal("the head timer was armed for a closed connection")
		}
	})
}

// deadlineCountingConn counts the deadline calls that reach a connection.
type deadlineCountingConn struct {
	net.Conn
	reads, writes int
}

func (c *deadlineCountingConn) SetReadDeadline(t time.Time) error {
	c.reads++
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineCountingConn) SetWriteDeadline(t time.Time) error {
	c.writes++
	return c.Conn.SetWriteDeadline(t)
}

// TestGuardSkipsClearingClearDeadlines: clearing a deadline that is clear
// already does not reach the inner connection (net/http clears them four
// times per keep-alive request), while every set, and the clear after it,
// does, so deadlines keep their meaning.
func TestGuardSkipsClearingClearDeadlines(t *testing.T) {
	client, server := tcpPair(t)
	inner := &deadlineCountingConn{Conn: server}
	gc := &guardConn{Conn: inner, cfg: newGuardConfig(GuardOptions{})}

	for range 3 {
		_ = gc.SetReadDeadline(time.Time{})
		_ = gc.SetWriteDeadline(time.Time{})
	}
	if inner.reads != 0 || inner.writes != 0 {
		t.Fatalf("clearing clear deadlines reached the connection: %d read, %d write calls", inner.reads, inner.writes)
	}

	// A deadline in the past fails the read; clearing it lets the next
	// read through.
	_ = gc.SetReadDeadline(time.Unix(0, 1))
	one := make([]byte, 1)
	if _, err := server.Read(one); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read under a past deadline: %v", err)
	}
	_ = gc.SetReadDeadline(time.Time{})
	_ = gc.SetReadDeadline(time.Time{})
	if inner.reads != 2 {
		t.Fatalf("%d read-deadline calls reached the connection, want 2 (the set and one clear)", inner.reads)
	}
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second)) // bound the test, not through the guard
	if _, err := server.Read(one); err != nil {
		t.Fatalf("read after clearing the deadline: %v", err)
	}

	// The sweeper's expiry goes through the same marks.
	_ = server.SetReadDeadline(time.Time{})
	inner.reads = 0
	_ = gc.setInnerRead(time.Unix(0, 1))
	_ = gc.SetReadDeadline(time.Time{})
	if inner.reads != 2 {
		t.Fatalf("%d calls after the sweeper's expiry, want 2 (its set, then the clear)", inner.reads)
	}
	_ = gc.setInnerWrite(time.Unix(0, 1))
	_ = gc.SetWriteDeadline(time.Time{})
	if inner.writes != 2 {
		t.Fatalf("%d write-deadline calls, want 2", inner.writes)
	}
}

// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}
