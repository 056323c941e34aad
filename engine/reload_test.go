package engine

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

// textApp answers every http request with body.
func textApp(body string) pagi.App {
	return func(ctx context.Context, s *pagi.Scope, r pagi.Receive, send pagi.Send) error {
		if s.Type == pagi.ScopeLifespan {
			return pagi.ErrUnsupportedScope
		}
		return pagi.Respond(ctx, s, send, 200, nil, []byte(body))
	}
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func TestReloadSwapsRoutesAndListeners(t *testing.T) {
	cfg := testConfig(textApp("v1"), "/")
	ts := startConfig(t, cfg)
	addr := ts.Addr("web").String()

	// v2: same listener address (pinned now), a second route, a second listener.
	cfg2 := testConfig(textApp("v2"), "/")
	cfg2.Listeners[0].Addr = addr
	extra := &config.Route{Pattern: "/extra", Path: "/extra", Handler: &config.Use{Type: "test", Module: &appModule{textApp("extra")}}}
	cfg2.Sites[0].Routes = append(cfg2.Sites[0].Routes, extra)
	cfg2.Listeners = append(cfg2.Listeners, &config.Listener{Name: "admin", Network: "tcp", Addr: "127.0.0.1:0", Limits: config.DefaultLimits})
	cfg2.Sites[0].Listeners = []string{"web", "admin"}
	rep, err := ts.Reload(context.Background(), cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Generation != 2 || !strings.Contains(strings.Join(rep.Changes, ","), "routes +") || !strings.Contains(strings.Join(rep.Changes, ","), "listeners +1 -0") {
		t.Errorf("report %+v", rep)
	}
	if ts.Addr("web").String() != addr {
		t.Errorf("web moved from %s to %s", addr, ts.Addr("web"))
	}
	if _, b := getBody(t, "http://"+addr+"/"); b != "v2" {
		t.Errorf("after reload: %q", b)
	}
	if _, b := getBody(t, "http://"+addr+"/extra"); b != "extra" {
		t.Errorf("new route: %q", b)
	}
	if _, b := getBody(t, "http://"+ts.Addr("admin").String()+"/"); b != "v2" {
		t.Errorf("new listener: %q", b)
	}

	// v3: the admin listener goes away; its socket closes.
	adminAddr := ts.Addr("admin").String()
	cfg3 := testConfig(textApp("v3"), "/")
	cfg3.Listeners[0].Addr = addr
	if _, err := ts.Reload(context.Background(), cfg3); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.Dial("tcp", adminAddr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("removed listener still accepts")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReloadBindFailureChangesNothing(t *testing.T) {
	ts := startConfig(t, testConfig(textApp("v1"), "/"))
	addr := ts.Addr("web").String()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg2 := testConfig(textApp("v2"), "/")
	cfg2.Listeners[0].Addr = addr
	cfg2.Listeners = append(cfg2.Listeners, &config.Listener{Name: "taken", Network: "tcp", Addr: busy.Addr().String(), Limits: config.DefaultLimits})
	cfg2.Sites[0].Listeners = []string{"web", "taken"}
	if _, err := ts.Reload(context.Background(), cfg2); err == nil {
		t.Fatal("reload onto a taken port succeeded")
	}
	if _, b := getBody(t, "http://"+addr+"/"); b != "v1" {
		t.Errorf("after a failed reload: %q", b)
	}
	if ts.Generation() != 1 {
		t.Errorf("generation %d", ts.Generation())
	}
}

func TestReloadKeepsInFlightAndWebSockets(t *testing.T) {
	release := make(chan struct{})
	slow := func(ctx context.Context, s *pagi.Scope, r pagi.Receive, send pagi.Send) error {
		if s.Type == pagi.ScopeWebSocket {
			return wsEcho(make(chan *pagi.WebSocketDisconnect, 1))(ctx, s, r, send)
		}
		if s.Type != pagi.ScopeHTTP {
			return pagi.ErrUnsupportedScope
		}
		if s.Path == "/slow" {
			<-release
		}
		return pagi.Respond(ctx, s, send, 200, nil, []byte("old"))
	}
	ts := startConfig(t, testConfig(slow, "/"))
	addr := ts.Addr("web").String()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	got := make(chan string, 1)
	go func() {
		_, b := getBody(t, "http://"+addr+"/slow")
		got <- b
	}()
	time.Sleep(50 * time.Millisecond) // let the slow request reach the app
	cfg2 := testConfig(textApp("new"), "/")
	cfg2.Listeners[0].Addr = addr
	if _, err := ts.Reload(context.Background(), cfg2); err != nil {
		t.Fatal(err)
	}
	if _, b := getBody(t, "http://"+addr+"/"); b != "new" {
		t.Errorf("new request after reload: %q", b)
	}
	close(release)
	if b := <-got; b != "old" {
		t.Errorf("in-flight request: %q", b)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != "still here" {
		t.Errorf("websocket after reload: %q %v", m, err)
	}
}

func TestReloadCertificateWithoutRebind(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := writeCert(t, dir, "server")
	cfg := testConfig(textApp("tls"), "/")
	cfg.Listeners[0].TLS = &config.TLS{Cert: cert, Key: key}
	ts := startConfig(t, cfg)
	addr := ts.Addr("web").String()
	_, _, pool2 := writeCert(t, dir, "server") // same paths, new certificate
	cfg2 := testConfig(textApp("tls"), "/")
	cfg2.Listeners[0].Addr = addr
	cfg2.Listeners[0].TLS = &config.TLS{Cert: cert, Key: key}
	rep, err := ts.Reload(context.Background(), cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rep.Changes, ","), "tls web") {
		t.Errorf("changes %v", rep.Changes)
	}
	newClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tls12Config{pool2}.cfg()}}
	resp, err := newClient.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("new certificate not served: %v", err)
	}
	resp.Body.Close()
	oldClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tls12Config{pool}.cfg()}}
	if resp, err := oldClient.Get("https://" + addr + "/"); err == nil {
		resp.Body.Close()
		t.Error("old certificate still served to new handshakes")
	}
}
