package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

// sweepServer serves a hello app (and /slow, which takes 600 ms) with the
// given idle and read-header timeouts on an HTTP/1 listener, where the
// connection sweeper applies them.
func sweepServer(t *testing.T, idle, head time.Duration) string {
	t.Helper()
	app := func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP {
			return pagi.ErrUnsupportedScope
		}
		if s.Path == "/slow" {
			time.Sleep(600 * time.Millisecond)
		}
		return pagi.Respond(ctx, s, send, 200, nil, []byte("hi"))
	}
	cfg := testConfig(app, "/")
	cfg.Listeners[0].Limits.IdleTimeout = config.Duration(idle)
	cfg.Listeners[0].Limits.ReadHeaderTimeout = config.Duration(head)
	ts := startConfig(t, cfg)
	return ts.Addr("web").String()
}

// closedWithin reports whether the server closes c within d (reading
// whatever it sends first).
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// dialSweep connects to a sweepServer; the connection is closed when the
// test ends.
func dialSweep(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func get(t *testing.T, c net.Conn, r *bufio.Reader, path string) {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	readHi(t, c, r, "GET "+path)
}

// readHi reads a response of sweepServer's app from r and checks its body.
func readHi(t *testing.T, c net.Conn, r *bufio.Reader, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hi" {
		t.Fatalf("%s: %q", what, b)
	}
}

func TestSweeperIdleTimeout(t *testing.T) {
	c, r := dialSweep(t, sweepServer(t, 300*time.Millisecond, 10*time.Second))
	// Requests closer together than the idle timeout keep the connection.
	for range 6 {
		get(t, c, r, "/")
		time.Sleep(150 * time.Millisecond)
	}
	// A request that takes longer than the idle timeout is not cut.
	get(t, c, r, "/slow")
	start := time.Now()
	if !closedWithin(c, 3*time.Second) {
		t.Fatal("idle connection not closed")
	}
	if d := time.Since(start); d < 290*time.Millisecond || d > 1500*time.Millisecond { // never early
		t.Errorf("idle connection closed after %v, want 300 ms or a little more", d)
	}
}

func TestSweeperHeaderTimeout(t *testing.T) {
	addr := sweepServer(t, 10*time.Second, 300*time.Millisecond)
	for name, send := range map[string]string{
		"nothing sent":               "",
		"partial first head":         "GET / HTTP/1.1\r\nHost: x\r\n",
		"partial head after request": "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHo",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := io.WriteString(c, send); err != nil {
			t.Fatal(err)
		}
		if !closedWithin(c, 3*time.Second) {
			t.Errorf("%s: connection not closed", name)
		}
		if d := time.Since(start); d < 290*time.Millisecond || d > 1500*time.Millisecond { // never early
			t.Errorf("%s: closed after %v, want about 300 ms", name, d)
		}
		c.Close()
	}
	// A client slower than the timeout between requests is timed by the
	// idle timeout, not the header one.
	c, r := dialSweep(t, addr)
	get(t, c, r, "/")
	time.Sleep(700 * time.Millisecond)
	get(t, c, r, "/")
}

// A client that stops reading a large response stalls the server's writes;
// past request_timeout the connection is given up and the app's connection
// handle says write_timeout. On HTTP/1 listeners the sweeper times the
// write, on HTTP/2-capable ones a write deadline does: both are tested, for
// a bytes body and for a file body (sendfile).
func TestWriteStallTimeout(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(big, make([]byte, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, h2 := range []bool{false, true} {
		for _, kind := range []string{"bytes", "file"} {
			t.Run(fmt.Sprintf("h2=%v/%s", h2, kind), func(t *testing.T) {
				reasons := make(chan string, 1)
				app := func(ctx context.Context, s *pagi.Scope, _ pagi.Receive, send pagi.Send) error {
					if s.Type != pagi.ScopeHTTP {
						return pagi.ErrUnsupportedScope
					}
					if err := send(ctx, &pagi.HTTPResponseStart{Status: 200}); err != nil {
						return err
					}
					if kind == "file" {
						_ = send(ctx, &pagi.HTTPResponseBody{File: big})
					} else {
						chunk := make([]byte, 1<<20)
						for range 64 {
							if send(ctx, &pagi.HTTPResponseBody{Body: chunk, More: true}) != nil || !s.Connection.IsConnected() {
								break
							}
						}
					}
					reasons <- s.Connection.DisconnectReason()
					return nil
				}
				cfg := testConfig(app, "/")
				cfg.Listeners[0].HTTP2 = h2
				cfg.Listeners[0].Limits.RequestTimeout = config.Duration(300 * time.Millisecond)
				ts := startConfig(t, cfg)
				c, err := net.Dial("tcp", ts.Addr("web").String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.(*net.TCPConn).SetReadBuffer(4096)
				if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				// Never read: the socket buffers fill and the server's write blocks.
				select {
				case r := <-reasons:
					if r != pagi.ReasonWriteTimeout {
						t.Fatalf("disconnect reason %q, want %q", r, pagi.ReasonWriteTimeout)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the stalled write was not given up within 10 s")
				}
			})
		}
	}
}

// A sweeper that is closed keeps timing the writes of the connections it
// still has (a retired target's requests outlive its shutdown), and after
// a stalled write every later write on the connection fails at once.
func TestSweeperTimesWritesAfterClose(t *testing.T) {
	s := newConnSweeper(0, 0, 100*time.Millisecond)
	server, client := net.Pipe() // a write blocks until the other end reads
	defer client.Close()
	gc := &guardConn{Conn: server, cfg: newGuardConfig(GuardOptions{})}
	s.add(gc)
	gc.phase.Store(phaseActive)
	s.close()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := gc.Write([]byte("nobody reads this"))
		done <- err
	}()
	select {
	case err := <-done:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("stalled write: %v, want a timeout", err)
		}
		if time.Since(start) < 100*time.Millisecond {
			t.Fatalf("the write failed after %v, before the timeout", time.Since(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a closed sweeper did not time the stalled write")
	}
	// Lifting the deadline (as net/http does after a request) does not
	// revive the connection.
	_ = server.SetWriteDeadline(time.Time{})
	if _, err := gc.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after a stall: %v, want os.ErrDeadlineExceeded", err)
	}
	s.remove(gc)
}

// TestSweeperIdleTimeoutSparesBegunHead: the idle timeout bounds the wait
// for the next request, as net/http's does (it lifts its idle deadline once
// a head's first bytes are in). A head begun before the idle timeout and
// finished after it is served, timed by the header timeout from then on.
func TestSweeperIdleTimeoutSparesBegunHead(t *testing.T) {
	c, r := dialSweep(t, sweepServer(t, 300*time.Millisecond, 10*time.Second))
	get(t, c, r, "/")
	time.Sleep(150 * time.Millisecond)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHo"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // well past the idle timeout and a sweep
	if _, err := io.WriteString(c, "st: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	readHi(t, c, r, "a head begun before the idle timeout")
}

// TestClaimHeadAgainstExpiry: a head's claim and the sweeper's expiry of an
// idle connection exclude each other. A claim that comes first keeps the
// connection from the sweeper; one that comes after the expiry fails the
// read with a timeout, which net/http ends the connection on quietly.
func TestClaimHeadAgainstExpiry(t *testing.T) {
	s := newConnSweeper(time.Hour, 0, 0)
	defer s.close()
	p := make([]byte, 4096)
	const head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

	client, server := tcpPair(t)
	gc := &guardConn{Conn: server, cfg: newGuardConfig(GuardOptions{}), st: gsBoundary}
	s.add(gc)
	gc.phase.Store(phaseIdle)
	if _, err := io.WriteString(client, head); err != nil {
		t.Fatal(err)
	}
	if n, err := gc.Read(p); err != nil || string(p[:n]) != head {
		t.Fatalf("Read = %q, %v", p[:n], err)
	}
	if ph := gc.phase.Load(); ph != phaseActive {
		t.Fatalf("phase after a head began = %d, want active (%d)", ph, phaseActive)
	}
	if gc.phase.CompareAndSwap(phaseIdle, phaseExpired) {
		t.Fatal("the sweeper could still expire a claimed connection")
	}

	client, server = tcpPair(t)
	gc = &guardConn{Conn: server, cfg: newGuardConfig(GuardOptions{}), st: gsBoundary}
	s.add(gc)
	gc.phase.Store(phaseIdle)
	if !gc.phase.CompareAndSwap(phaseIdle, phaseExpired) { // the sweeper's expiry
		t.Fatal("expiry of an idle connection failed")
	}
	if _, err := io.WriteString(client, head); err != nil {
		t.Fatal(err)
	}
	n, err := gc.Read(p)
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() || n != 0 {
		t.Fatalf("Read on an expired connection = %q, %v; want a timeout", p[:n], err)
	}
}
