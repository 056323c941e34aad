package engine

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"github.com/pagihq/pagi/internal/certtest"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

// writeCert writes a self-signed P-256 certificate for 127.0.0.1 and
// localhost into dir and returns the cert and key paths.
func writeCert(t *testing.T, dir, name string) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	c := certtest.New(t, name)
	certPath, keyPath = c.Write(t, dir, name+".crt", name+".key")
	return certPath, keyPath, c.Pool()
}

func TestTLSAndHTTP2(t *testing.T) {
	var sr scopeRecorder
	dir := t.TempDir()
	cert, key, pool := writeCert(t, dir, "server")
	cfg := testConfig(sr.app, "/")
	cfg.Listeners[0].TLS = &config.TLS{Cert: cert, Key: key, MinVersion: tls.VersionTLS12}
	cfg.Listeners[0].HTTP2 = true
	ts := startConfig(t, cfg)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + ts.Addr("web").String() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := sr.get()
	if resp.ProtoMajor != 2 || s.HTTPVersion != "2" || s.Scheme != "https" {
		t.Fatalf("proto %s, scope http_version %q scheme %q", resp.Proto, s.HTTPVersion, s.Scheme)
	}
	if s.Extensions.TLS == nil || s.Extensions.TLS.TLSVersion < tls.VersionTLS12 || !strings.Contains(s.Extensions.TLS.ServerCert, "BEGIN CERTIFICATE") {
		t.Errorf("tls extension %+v", s.Extensions.TLS)
	}
	if s.Header("host") == "" {
		t.Error("HTTP/2 :authority not exposed as host")
	}
	// TLS 1.1 is refused; a CBC suite on TLS 1.2 is refused.
	for _, c := range []*tls.Config{
		{RootCAs: pool, MaxVersion: tls.VersionTLS11},
		{RootCAs: pool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}},
	} {
		conn, err := tls.Dial("tcp", ts.Addr("web").String(), c)
		if err == nil {
			conn.Close()
			t.Errorf("handshake with %+v succeeded", c)
		}
	}
}

func TestClientCertificateRequired(t *testing.T) {
	var sr scopeRecorder
	dir := t.TempDir()
	cert, key, pool := writeCert(t, dir, "server")
	ccert, ckey, _ := writeCert(t, dir, "client")
	cfg := testConfig(sr.app, "/")
	cfg.Listeners[0].TLS = &config.TLS{Cert: cert, Key: key, ClientCA: ccert}
	ts := startConfig(t, cfg)
	addr := "https://" + ts.Addr("web").String() + "/"
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, err := noCert.Get(addr); err == nil {
		resp.Body.Close()
		t.Fatal("request without a client certificate succeeded")
	}
	pair, err := tls.LoadX509KeyPair(ccert, ckey)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
	resp, err := withCert.Get(addr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	info := sr.get().Extensions.TLS
	if info == nil || len(info.ClientCertChain) != 1 || info.ClientCertName != "CN=client" || info.ClientCertError != "" {
		t.Errorf("client cert info %+v", info)
	}
}

func TestH2C(t *testing.T) {
	var sr scopeRecorder
	cfg := testConfig(sr.app, "/")
	cfg.Listeners[0].HTTP2 = true
	ts := startConfig(t, cfg)
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: protos}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || sr.get().HTTPVersion != "2" || sr.get().Scheme != "http" {
		t.Fatalf("h2c: proto %s scope %q", resp.Proto, sr.get().HTTPVersion)
	}
}

func TestUnixSocketListener(t *testing.T) {
	var sr scopeRecorder
	dir, err := os.MkdirTemp("", "pagi-sock")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s.sock")
	cfg := testConfig(sr.app, "/")
	cfg.Listeners[0].Network, cfg.Listeners[0].Addr, cfg.Listeners[0].Mode = "unix", sock, 0o660
	startConfig(t, cfg)
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://unix/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := sr.get()
	if s.Client != nil || s.Server == nil || s.Server.Host != sock || !s.Server.IsUnix() {
		t.Errorf("unix scope: client %+v server %+v", s.Client, s.Server)
	}
}

func TestScopeTypeSelection(t *testing.T) {
	cases := []struct {
		method string
		header map[string]string
		proto  int
		want   pagi.ScopeType
	}{
		{"GET", nil, 1, pagi.ScopeHTTP},
		{"GET", map[string]string{"Accept": "text/event-stream"}, 1, pagi.ScopeSSE},
		{"POST", map[string]string{"Accept": "text/html, text/event-stream;q=0.9"}, 1, pagi.ScopeSSE},
		{"GET", map[string]string{"Upgrade": "WebSocket", "Connection": "keep-alive, Upgrade", "Sec-WebSocket-Key": "x"}, 1, pagi.ScopeWebSocket},
		{"GET", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"}, 1, pagi.ScopeHTTP},
		{"GET", map[string]string{"Upgrade": "h2c", "Connection": "Upgrade", "Sec-WebSocket-Key": "x"}, 1, pagi.ScopeHTTP},
	}
	for _, c := range cases {
		r, _ := http.NewRequest(c.method, "http://x/", nil)
		r.ProtoMajor = c.proto
		for k, v := range c.header {
			r.Header.Set(k, v)
		}
		if got := scopeTypeOf(r); got != c.want {
			t.Errorf("%s %v: %s, want %s", c.method, c.header, got, c.want)
		}
	}
}

func TestSSEScope(t *testing.T) {
	seen := make(chan *pagi.Scope, 1)
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type == pagi.ScopeLifespan {
			return pagi.ErrUnsupportedScope
		}
		if s.Path == "/decline" {
			return pagi.Respond(ctx, s, send, 204, nil, nil)
		}
		seen <- s.Clone()
		if s.Type != pagi.ScopeSSE {
			return errors.New("not sse")
		}
		if err := send(ctx, &pagi.SSEStart{}); err != nil {
			return err
		}
		if err := send(ctx, &pagi.SSESend{Event: "bad\nevent", Data: "x"}); !errors.Is(err, pagi.ErrInvalidEvent) {
			return errors.New("CR/LF in event accepted")
		}
		if err := send(ctx, &pagi.SSESend{Event: "tick", ID: "7", Data: "line1\nline2\r\nline3", Retry: 1500 * time.Millisecond}); err != nil {
			return err
		}
		if err := send(ctx, &pagi.SSEComment{Comment: "hello"}); err != nil {
			return err
		}
		if err := send(ctx, &pagi.SSEClose{}); err != nil {
			return err
		}
		if err := send(ctx, &pagi.SSESend{Data: "late"}); err == nil {
			return errors.New("send after sse.close accepted")
		}
		return nil
	}
	ts := serveApp(t, app, "/")
	req, _ := http.NewRequest("POST", ts.url("/stream"), nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "6")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := <-seen
	if s.Type != pagi.ScopeSSE || s.Method != "POST" || s.Header("last-event-id") != "6" {
		t.Errorf("scope type %q method %q last-event-id %q", s.Type, s.Method, s.Header("last-event-id"))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("headers %v", resp.Header)
	}
	want := "event: tick\ndata: line1\ndata: line2\ndata: line3\nid: 7\nretry: 1500\n\n:hello\n\n"
	if string(body) != want {
		t.Errorf("wire:\n%q\nwant\n%q", body, want)
	}
	if strings.Contains(ts.logs.String(), "app error") {
		t.Errorf("app reported an error:\n%s", ts.logs.String())
	}
	req, _ = http.NewRequest("GET", ts.url("/decline"), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Errorf("decline status %d", resp.StatusCode)
	}
}

func TestSSEKeepaliveAndDisconnect(t *testing.T) {
	reasons := make(chan string, 1)
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeSSE {
			return pagi.ErrUnsupportedScope
		}
		_ = send(ctx, &pagi.SSEStart{})
		_ = send(ctx, &pagi.SSEKeepalive{Interval: 20 * time.Millisecond, Comment: "ping"})
		for {
			ev, err := receive(ctx)
			if err != nil {
				return err
			}
			if d, ok := ev.(*pagi.SSEDisconnect); ok {
				reasons <- d.Reason
				return nil
			}
		}
	}
	ts := serveApp(t, app, "/")
	c, err := net.Dial("tcp", ts.Addr("web").String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	pings := 0
	for pings < 2 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, ":ping") {
			pings++
		}
	}
	c.Close()
	select {
	case r := <-reasons:
		if r != pagi.ReasonClientClosed {
			t.Errorf("reason %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sse.disconnect never delivered")
	}
}

func TestLifespan(t *testing.T) {
	type dbKey struct{}
	shutdown := make(chan struct{}, 1)
	var sr scopeRecorder
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeLifespan {
			return sr.app(ctx, s, receive, send)
		}
		return lifespanLoop(ctx, s, receive, send, func() { s.State["db"] = "connected" }, shutdown)
	}
	cfg := testConfig(app, "/")
	cfg.Server.Lifespan = "on"
	ts := startConfig(t, cfg)
	resp, err := http.Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := sr.get().State["db"]; got != "connected" {
		t.Errorf("request state db = %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ts.Shutdown(ctx)
	select {
	case <-shutdown:
	default:
		t.Error("lifespan.shutdown not delivered")
	}
}

func TestLifespanStartupFailureNeverListens(t *testing.T) {
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeLifespan {
			return okApp(ctx, s, receive, send)
		}
		_, _ = receive(ctx)
		return send(ctx, &pagi.LifespanStartupFailed{Message: "database unreachable"})
	}
	cfg := testConfig(app, "/")
	cfg.Listeners[0].Addr = freeAddr(t)
	srv, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "database unreachable") {
		t.Fatalf("start error %v", err)
	}
	if c, err := net.Dial("tcp", cfg.Listeners[0].Addr); err == nil {
		c.Close()
		t.Fatal("server listens after a failed lifespan startup")
	}
	// "on" with no app taking part is an error too; "auto" is fine.
	cfg = testConfig(okApp, "/")
	cfg.Server.Lifespan = "on"
	srv, _ = New(cfg, nil)
	if err := srv.Start(context.Background()); err == nil {
		t.Error("lifespan on with no lifespan app started")
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	started := make(chan struct{})
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP {
			return pagi.ErrUnsupportedScope
		}
		close(started)
		time.Sleep(300 * time.Millisecond)
		return pagi.Respond(ctx, s, send, 200, nil, []byte("slow done"))
	}
	ts := serveApp(t, app, "/")
	addr := ts.Addr("web").String()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(ts.url("/"))
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if b := <-got; b != "slow done" {
		t.Errorf("in-flight request got %q", b)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after shutdown")
	}
}

// tls12Config is a client TLS config trusting one pool.
type tls12Config struct{ pool *x509.CertPool }

func (c tls12Config) cfg() *tls.Config { return &tls.Config{RootCAs: c.pool} }
