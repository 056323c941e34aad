package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

// wsEcho accepts (choosing the first offered subprotocol) and echoes every
// message until the client leaves, then reports the disconnect.
func wsEcho(disconnects chan<- *pagi.WebSocketDisconnect) pagi.App {
	return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeWebSocket {
			return pagi.ErrUnsupportedScope
		}
		if ev, _ := receive(ctx); ev.Type() != pagi.TypeWebSocketConnect {
			return errors.New("first event is not websocket.connect")
		}
		switch s.Path {
		case "/deny":
			return pagi.Respond(ctx, s, send, 401, pagi.Headers{{Name: "www-authenticate", Value: "Basic"}}, []byte("no"))
		case "/close":
			return send(ctx, &pagi.WebSocketClose{})
		}
		acc := &pagi.WebSocketAccept{Headers: pagi.Headers{{Name: "x-pagi", Value: "yes"}}}
		if len(s.Subprotocols) > 0 {
			acc.Subprotocol = s.Subprotocols[0]
		}
		if err := send(ctx, acc); err != nil {
			return err
		}
		for {
			ev, err := receive(ctx)
			if err != nil {
				return err
			}
			switch e := ev.(type) {
			case *pagi.WebSocketReceive:
				if e.Text == "bye" {
					return send(ctx, &pagi.WebSocketClose{Code: 4000, Reason: "see you"})
				}
				if err := send(ctx, &pagi.WebSocketSend{Text: e.Text, Bytes: e.Bytes, Binary: e.Binary}); err != nil {
					return err
				}
			case *pagi.WebSocketDisconnect:
				disconnects <- e
				return nil
			}
		}
	}
}

func TestWebSocketEchoAndClose(t *testing.T) {
	disc := make(chan *pagi.WebSocketDisconnect, 4)
	ts := serveApp(t, wsEcho(disc), "/")
	url := "ws://" + ts.Addr("web").String()
	d := websocket.Dialer{Subprotocols: []string{"chat.v1", "chat.v2"}}
	c, resp, err := d.Dial(url+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Sec-Websocket-Protocol") != "chat.v1" || resp.Header.Get("X-Pagi") != "yes" {
		t.Errorf("handshake headers %v", resp.Header)
	}
	for _, m := range []struct {
		typ  int
		data string
	}{{websocket.TextMessage, "héllo ✓"}, {websocket.BinaryMessage, "\x00\xff\x01"}, {websocket.TextMessage, "<b>{\"json\":true}</b>"}} {
		if err := c.WriteMessage(m.typ, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.ReadMessage()
		if err != nil || typ != m.typ || string(got) != m.data {
			t.Fatalf("echo of %q: %d %q %v", m.data, typ, got, err)
		}
	}
	// The client closes with a code: the app sees it.
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "done here"), time.Now().Add(time.Second))
	select {
	case d := <-disc:
		if d.Code != 4001 || d.Reason != "done here" {
			t.Errorf("disconnect %+v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no websocket.disconnect")
	}
	c.Close()

	// The app closes with a code: the client sees it.
	c, _, err = d.Dial(url+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte("bye"))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Text != "see you" {
		t.Errorf("client saw %v", err)
	}
	c.Close()
}

func TestWebSocketHandshakeRefusals(t *testing.T) {
	disc := make(chan *pagi.WebSocketDisconnect, 4)
	ts := serveApp(t, wsEcho(disc), "/")
	url := "ws://" + ts.Addr("web").String()
	_, resp, err := websocket.DefaultDialer.Dial(url+"/close", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("close before accept: %v %v", err, resp)
	}
	_, resp, err = websocket.DefaultDialer.Dial(url+"/deny", nil)
	if err == nil || resp == nil || resp.StatusCode != 401 || resp.Header.Get("Www-Authenticate") != "Basic" {
		t.Errorf("denial: %v %+v", err, resp)
	}
}

func TestWebSocketInvalidUTF8Closes1007(t *testing.T) {
	disc := make(chan *pagi.WebSocketDisconnect, 4)
	ts := serveApp(t, wsEcho(disc), "/")
	c, _, err := websocket.DefaultDialer.Dial("ws://"+ts.Addr("web").String()+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.WriteMessage(websocket.TextMessage, []byte{0xff, 0xfe})
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseInvalidFramePayloadData {
		t.Errorf("client saw %v, want close 1007", err)
	}
	select {
	case d := <-disc:
		if d.Code != 1007 || d.Reason != pagi.ReasonProtocolError {
			t.Errorf("app saw %+v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no websocket.disconnect")
	}
}

func TestWebSocketMessageTooBig(t *testing.T) {
	disc := make(chan *pagi.WebSocketDisconnect, 4)
	ts := serveApp(t, wsEcho(disc), "/")
	c, _, err := websocket.DefaultDialer.Dial("ws://"+ts.Addr("web").String()+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.WriteMessage(websocket.BinaryMessage, []byte(strings.Repeat("x", int(DefaultWebSocketOptions.MaxMessageBytes)+1)))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Errorf("client saw %v, want close 1009", err)
	}
	if d := <-disc; d.Code != 1009 {
		t.Errorf("app saw %+v", d)
	}
}

func TestWebSocketAbruptDrop(t *testing.T) {
	disc := make(chan *pagi.WebSocketDisconnect, 4)
	ts := serveApp(t, wsEcho(disc), "/")
	c, _, err := websocket.DefaultDialer.Dial("ws://"+ts.Addr("web").String()+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.NetConn().Close()
	select {
	case d := <-disc:
		if d.Code != 1006 || d.Reason != pagi.ReasonClientClosed {
			t.Errorf("app saw %+v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no websocket.disconnect")
	}
}

// tunedModule is a handler module with WebSocket options.
type tunedModule struct {
	app  pagi.App
	opts config.WebSocketOptions
}

func (m *tunedModule) BuildApp(*config.BuildContext) (pagi.App, error) { return m.app, nil }
func (m *tunedModule) WebSocketOptions() config.WebSocketOptions       { return m.opts }

func TestWebSocketQueueOverflowCloses1008(t *testing.T) {
	disc := make(chan *pagi.WebSocketDisconnect, 1)
	stall := make(chan struct{})
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeWebSocket {
			return pagi.ErrUnsupportedScope
		}
		_, _ = receive(ctx)
		_ = send(ctx, &pagi.WebSocketAccept{})
		<-stall // a slow app: messages pile up
		for {
			ev, err := receive(ctx)
			if err != nil {
				return err
			}
			if d, ok := ev.(*pagi.WebSocketDisconnect); ok {
				disc <- d
				return nil
			}
		}
	}
	cfg := testConfig(nil, "/")
	cfg.Sites[0].Routes[0].Handler.Module = &tunedModule{app: app, opts: config.WebSocketOptions{MaxQueue: 5}}
	ts := startConfig(t, cfg)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+ts.Addr("web").String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 20 {
		if err := c.WriteMessage(websocket.TextMessage, []byte{byte('a' + i)}); err != nil {
			break
		}
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Errorf("client saw %v, want close 1008", err)
	}
	close(stall)
	select {
	case d := <-disc:
		if d.Code != 1008 || d.Reason != pagi.ReasonQueueOverflow {
			t.Errorf("app saw %+v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no websocket.disconnect")
	}
}

func TestWebSocketKeepaliveTimeout(t *testing.T) {
	disc := make(chan *pagi.WebSocketDisconnect, 1)
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeWebSocket {
			return pagi.ErrUnsupportedScope
		}
		_, _ = receive(ctx)
		_ = send(ctx, &pagi.WebSocketAccept{})
		_ = send(ctx, &pagi.WebSocketKeepalive{Interval: 50 * time.Millisecond, Timeout: 100 * time.Millisecond})
		for {
			ev, err := receive(ctx)
			if err != nil {
				return err
			}
			if d, ok := ev.(*pagi.WebSocketDisconnect); ok {
				disc <- d
				return nil
			}
		}
	}
	ts := serveApp(t, app, "/")
	// A client that never reads never answers pings.
	c, _, err := websocket.DefaultDialer.Dial("ws://"+ts.Addr("web").String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case d := <-disc:
		if d.Code != 1006 || d.Reason != pagi.ReasonKeepaliveTimeout {
			t.Errorf("app saw %+v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("keepalive timeout never fired")
	}
}

func TestWebSocketKeepaliveAnswered(t *testing.T) {
	disc := make(chan *pagi.WebSocketDisconnect, 1)
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeWebSocket {
			return pagi.ErrUnsupportedScope
		}
		_, _ = receive(ctx)
		_ = send(ctx, &pagi.WebSocketAccept{})
		_ = send(ctx, &pagi.WebSocketKeepalive{Interval: 30 * time.Millisecond, Timeout: 200 * time.Millisecond})
		ev, _ := receive(ctx)
		if d, ok := ev.(*pagi.WebSocketDisconnect); ok {
			disc <- d
		}
		return nil
	}
	ts := serveApp(t, app, "/")
	c, _, err := websocket.DefaultDialer.Dial("ws://"+ts.Addr("web").String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil { // answers pings
				return
			}
		}
	}()
	select {
	case d := <-disc:
		t.Fatalf("a client answering pings was dropped: %+v", d)
	case <-time.After(600 * time.Millisecond):
	}
	c.Close()
}

// An app that waits on Scope.ReceiveReady and calls receive only after
// taking a value never blocks in receive, whatever the pace of the client,
// and sees every message and then the disconnect.
func TestWebSocketReceiveReady(t *testing.T) {
	type result struct {
		texts []string
		err   error
	}
	results := make(chan result, 1)
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeWebSocket {
			return pagi.ErrUnsupportedScope
		}
		_, _ = receive(ctx) // websocket.connect
		if s.ReceiveReady == nil {
			results <- result{err: errors.New("no ReceiveReady on a websocket scope")}
			return nil
		}
		if err := send(ctx, &pagi.WebSocketAccept{}); err != nil {
			return err
		}
		var r result
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.ReceiveReady:
				// A receive that blocked would hit this deadline.
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				ev, err := receive(rctx)
				cancel()
				if err != nil {
					r.err = fmt.Errorf("receive after ReceiveReady: %w", err)
					results <- r
					return nil
				}
				switch e := ev.(type) {
				case *pagi.WebSocketReceive:
					r.texts = append(r.texts, e.Text)
				case *pagi.WebSocketDisconnect:
					results <- r
					return nil
				}
			case <-tick.C:
				// Other work between receives lets messages pile up.
			}
		}
	}
	ts := serveApp(t, app, "/")
	c, _, err := websocket.DefaultDialer.Dial("ws://"+ts.Addr("web").String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := 0; i < n; i++ {
		if err := c.WriteMessage(websocket.TextMessage, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	defer c.Close()
	select {
	case r := <-results:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.texts) != n {
			t.Fatalf("got %d messages, want %d", len(r.texts), n)
		}
		for i, txt := range r.texts {
			if txt != strconv.Itoa(i) {
				t.Fatalf("message %d is %q", i, txt)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the app never saw the disconnect")
	}
}

// A panic in a websocket app, before or after the accept, even with
// net/http's ErrAbortHandler, is the app's error: the server answers (500
// before the accept, a close after it) and keeps serving.
func TestWebSocketAppPanics(t *testing.T) {
	app := func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeWebSocket {
			return pagi.Respond(ctx, s, send, 200, nil, []byte("alive"))
		}
		_, _ = receive(ctx)
		if s.Path == "/after" {
			if err := send(ctx, &pagi.WebSocketAccept{}); err != nil {
				return err
			}
		}
		panic(http.ErrAbortHandler)
	}
	ts := serveApp(t, app, "/")
	base := ts.Addr("web").String()
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+base+"/before", nil)
	if err == nil || resp == nil || resp.StatusCode != 500 {
		t.Errorf("panic before accept: %v %v", resp, err)
	}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+base+"/after", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 {
		t.Errorf("panic after accept: client saw %v", err)
	}
	c.Close()
	r, err := http.Get("http://" + base + "/")
	if err != nil {
		t.Fatalf("server down after the panics: %v", err)
	}
	r.Body.Close()
}
