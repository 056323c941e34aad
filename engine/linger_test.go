package engine

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAnswerBeforeBodyIsNotReset: when the server answers a request without
// reading its body and then closes the connection (the client asked for
// Connection: close, or the server refused the body), the client that is
// still sending the body must read the answer, not a TCP reset. The server
// half-closes and drains the rest briefly instead of closing at once. The
// first case fails without that drain; in the other two net/http's own
// pause before closing (500 ms) happens to cover this client, and they
// stay as guards of the same promise.
func TestAnswerBeforeBodyIsNotReset(t *testing.T) {
	ts := serveApp(t, okApp, "")
	cfg := testConfig(okApp, "")
	cfg.Listeners[0].Limits.MaxBodyBytes = 1000
	limited := startConfig(t, cfg)

	const size = 128 << 10 // under the drain budget, over the socket buffers' first gulp
	body := strings.Repeat("x", size)
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", size, body)
	cases := []struct {
		name, addr, head, body string
		status                 int
	}{
		{"declared body, app does not read", ts.Addr("web").String(),
			fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n", size), body, 200},
		{"chunked body, app does not read", ts.Addr("web").String(),
			"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n", chunked, 200},
		{"declared body over max_body_bytes", limited.Addr("web").String(),
			fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size), body, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 3 {
				c, err := net.Dial("tcp", tc.addr)
				if err != nil {
					t.Fatal(err)
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				// The head, then the body after the server has answered (and,
				// without the drain, closed): a client streaming an upload
				// that is slower than the server's answer. A reset shows up
				// as a write error, which clients such as Go's report instead
				// of the answer.
				if _, err := c.Write([]byte(tc.head)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
				var werr error
				for b := []byte(tc.body); len(b) > 0 && werr == nil; {
					n := min(len(b), 16<<10)
					_, werr = c.Write(b[:n])
					b = b[n:]
					time.Sleep(time.Millisecond)
				}
				resp, rerr := http.ReadResponse(bufio.NewReader(c), nil)
				c.Close()
				if werr != nil || rerr != nil {
					t.Fatalf("try %d: sending the body: %v; reading the answer: %v", i, werr, rerr)
				}
				if resp.StatusCode != tc.status {
					t.Fatalf("try %d: status %d, want %d", i, resp.StatusCode, tc.status)
				}
			}
		})
	}
}
