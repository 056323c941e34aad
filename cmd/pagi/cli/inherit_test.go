package cli

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pagihq/pagi/config"
)

func TestEncodeKeysRoundTrip(t *testing.T) {
	keys := []string{"tcp 127.0.0.1:8080", "unix /run/a,b%c.sock", "tcp [::1]:0"}
	enc := encodeKeys(keys)
	if strings.Count(enc, ",") != 2 {
		t.Fatalf("encoded %q: separators inside keys not escaped", enc)
	}
	if got := decodeKeys(enc); !slices.Equal(got, keys) {
		t.Fatalf("decoded %q, want %q", got, keys)
	}
	if got := decodeKeys(""); got != nil {
		t.Fatalf("decoded empty as %q", got)
	}
}

func TestAddrMatches(t *testing.T) {
	tcp := func(ip string, port int) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
	cases := []struct {
		network, addr string
		got           net.Addr
		want          bool
	}{
		{"tcp", "127.0.0.1:8080", tcp("127.0.0.1", 8080), true},
		{"tcp", "127.0.0.1:8080", tcp("127.0.0.1", 8081), false},
		{"tcp", "127.0.0.1:8080", tcp("127.0.0.2", 8080), false},
		{"tcp", ":80", tcp("::", 80), true},
		{"tcp", "0.0.0.0:80", tcp("::", 80), true},
		{"tcp", "[::]:80", tcp("0.0.0.0", 80), true},
		{"tcp", ":80", tcp("127.0.0.1", 80), false},
		{"tcp", "localhost:8080", tcp("127.0.0.1", 8080), true},
		{"unix", "/run/pagi.sock", &net.UnixAddr{Name: "/run/pagi.sock", Net: "unix"}, true},
		{"unix", "/run/pagi.sock", &net.UnixAddr{Name: "/run/other.sock", Net: "unix"}, false},
		{"tcp", "127.0.0.1:80", &net.UnixAddr{Name: "/run/pagi.sock", Net: "unix"}, false},
	}
	for _, c := range cases {
		lc := &config.Listener{Network: c.network, Addr: c.addr}
		if got := addrMatches(lc, c.got); got != c.want {
			t.Errorf("%s %s vs %v: %v, want %v", c.network, c.addr, c.got, got, c.want)
		}
	}
}

// TestInheritedTakeMatchesBySocket hands two sockets to an inheritedSet
// the way systemd names them (both after their socket unit) and checks
// that each listener gets the socket bound to its address.
func TestInheritedTakeMatchesBySocket(t *testing.T) {
	a, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &inheritedSet{log: slog.New(slog.NewTextHandler(io.Discard, nil)), socks: []*inheritedSock{
		{ln: a, name: "web", origin: "systemd"},
		{ln: b, name: "web", origin: "systemd"},
	}}
	second := &config.Listener{Name: "web", Network: "tcp", Addr: b.Addr().String()}
	first := &config.Listener{Name: "api", Network: "tcp", Addr: a.Addr().String()}
	if got := s.take(second); got != b {
		t.Errorf("listener web got %v, want the socket on %v", got.Addr(), b.Addr())
	}
	if got := s.take(first); got != a {
		t.Errorf("listener api got %v", got)
	}
	if got := s.take(first); got != nil {
		t.Errorf("a socket was taken twice")
	}
	a.Close()
	b.Close()
}

func TestListenerFileStaysNonBlocking(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := listenerFile(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_ = f.Fd() // what exec does with every file it passes
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // Accept waits
	go ln.Close()
	// Had Fd switched the socket to blocking mode, Accept would be blocked
	// in the kernel, deaf to Close (which would hang too).
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Accept returned a connection")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close: the socket is in blocking mode")
	}
}

func TestChildEnvDropsInternalVariables(t *testing.T) {
	t.Setenv(envWorker, "3")
	t.Setenv(envListenFDs, "2")
	t.Setenv("PAGI_TEST_KEEP", "yes")
	env := childEnv([]string{"PAGI_TEST_DROP"}, "EXTRA=1")
	for _, kv := range env {
		if strings.HasPrefix(kv, envWorker+"=") || strings.HasPrefix(kv, envListenFDs+"=") {
			t.Errorf("%s passed on", kv)
		}
	}
	if !slices.Contains(env, "PAGI_TEST_KEEP=yes") || !slices.Contains(env, "EXTRA=1") {
		t.Errorf("env lacks kept or extra variables")
	}
}

func TestSdNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	sdNotify("READY=1")
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("got %q %v", buf[:n], err)
	}
	_ = os.Unsetenv("NOTIFY_SOCKET")
}
