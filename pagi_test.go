package pagi

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEventTypeStrings(t *testing.T) {
	events := map[Event]string{
		&HTTPRequest{}: "http.request", &HTTPDisconnect{}: "http.disconnect",
		&HTTPResponseStart{}: "http.response.start", &HTTPResponseBody{}: "http.response.body",
		&HTTPResponseTrailers{}: "http.response.trailers", &HTTPFullFlush{}: "http.fullflush",
		&WebSocketConnect{}: "websocket.connect", &WebSocketAccept{}: "websocket.accept",
		&WebSocketReceive{}: "websocket.receive", &WebSocketSend{}: "websocket.send",
		&WebSocketClose{}: "websocket.close", &WebSocketDisconnect{}: "websocket.disconnect",
		&WebSocketKeepalive{}:         "websocket.keepalive",
		&WebSocketHTTPResponseStart{}: "websocket.http.response.start",
		&WebSocketHTTPResponseBody{}:  "websocket.http.response.body",
		&SSERequest{}:                 "sse.request", &SSEStart{}: "sse.start", &SSESend{}: "sse.send",
		&SSEComment{}: "sse.comment", &SSEKeepalive{}: "sse.keepalive", &SSEClose{}: "sse.close",
		&SSEDisconnect{}: "sse.disconnect", &SSEHTTPResponseStart{}: "sse.http.response.start",
		&SSEHTTPResponseBody{}: "sse.http.response.body",
		&LifespanStartup{}:     "lifespan.startup", &LifespanStartupComplete{}: "lifespan.startup.complete",
		&LifespanStartupFailed{}: "lifespan.startup.failed", &LifespanShutdown{}: "lifespan.shutdown",
		&LifespanShutdownComplete{}: "lifespan.shutdown.complete",
		&LifespanShutdownFailed{}:   "lifespan.shutdown.failed",
	}
	if len(events) != 30 {
		t.Fatalf("%d event types, want the 30 of PAGI 0.3", len(events))
	}
	for ev, want := range events {
		if ev.Type() != want {
			t.Errorf("%T.Type() = %q, want %q", ev, ev.Type(), want)
		}
	}
}

func TestValidateHeader(t *testing.T) {
	cases := []struct {
		name, value string
		ok          bool
	}{
		{"content-type", "text/plain", true},
		{"x-empty", "", true},
		{"x-utf8", "é", true},
		{"", "v", false},
		{"bad name", "v", false},
		{"bad:name", "v", false},
		{"x-tab\t", "v", false},
		{"x", "a\r\nset-cookie: evil", false},
		{"x", "a\nb", false},
		{"x", "a\x00b", false},
		{"x\x7f", "v", false},
	}
	for _, c := range cases {
		err := ValidateHeader(c.name, c.value)
		if (err == nil) != c.ok {
			t.Errorf("ValidateHeader(%q, %q) = %v, want ok=%v", c.name, c.value, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidHeader) {
			t.Errorf("error %v does not wrap ErrInvalidHeader", err)
		}
	}
}

// TestValidateHeaderEveryByte checks the byte table against the rule as
// written: names refuse controls, space, colon and DEL; values refuse CR,
// LF and NUL; Headers.Validate agrees with ValidateHeader.
func TestValidateHeaderEveryByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := string([]byte{byte(c)})
		nameBad := c <= ' ' || c == ':' || c == 0x7f
		valueBad := c == '\r' || c == '\n' || c == 0
		if err := ValidateHeader("x"+b, "v"); (err != nil) != nameBad {
			t.Errorf("name byte %#02x: err = %v, want bad=%v", c, err, nameBad)
		}
		if err := ValidateHeader("x", "v"+b); (err != nil) != valueBad {
			t.Errorf("value byte %#02x: err = %v, want bad=%v", c, err, valueBad)
		}
		h := Headers{{Name: "ok", Value: "v"}, {Name: "x" + b, Value: "v" + b}}
		if err := h.Validate(); (err != nil) != (nameBad || valueBad) {
			t.Errorf("Headers.Validate with byte %#02x: err = %v", c, err)
		}
	}
}

// TestValidateHeaderEveryPosition puts each byte that sits at an edge of
// the word-at-a-time checks at every position of names and values of 1 to
// 40 bytes, so every word and the overlapping last one are exercised, and
// requires Headers.Validate to agree with the rule applied byte by byte.
func TestValidateHeaderEveryPosition(t *testing.T) {
	edges := []byte{0x00, 0x01, 0x09, 0x0a, 0x0d, 0x0e, 0x1f, ' ', '!', '9', ':', ';', 'a', 0x7e, 0x7f, 0x80, 0xfe, 0xff}
	for n := 1; n <= 40; n++ {
		for p := 0; p < n; p++ {
			for _, c := range edges {
				b := []byte(strings.Repeat("k", n))
				b[p] = c
				nameBad := c <= ' ' || c == ':' || c == 0x7f
				valueBad := c == '\r' || c == '\n' || c == 0
				if err := (Headers{{Name: string(b), Value: "v"}}).Validate(); (err != nil) != nameBad {
					t.Fatalf("name %q: err = %v, want bad=%v", b, err, nameBad)
				}
				if err := (Headers{{Name: "x", Value: string(b)}}).Validate(); (err != nil) != valueBad {
					t.Fatalf("value %q: err = %v, want bad=%v", b, err, valueBad)
				}
			}
		}
	}
}

func TestHeadersHelpers(t *testing.T) {
	h := Headers{{"a", "1"}, {"b", "2"}, {"a", "3"}}
	if v, ok := h.Get("a"); !ok || v != "1" {
		t.Errorf("Get = %q %v", v, ok)
	}
	if vs := h.Values("a"); strings.Join(vs, ",") != "1,3" {
		t.Errorf("Values = %v", vs)
	}
	c := h.Clone()
	c = c.Set("a", "x")
	if h[0].Value != "1" || len(c) != 2 || c[1] != (Header{"a", "x"}) {
		t.Errorf("Set on a clone: original %v clone %v", h, c)
	}
	if h.Has("z") || !h.Has("b") {
		t.Error("Has")
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) Middleware {
		return func(next App) App {
			return func(ctx context.Context, s *Scope, r Receive, send Send) error {
				order = append(order, name+">")
				err := next(ctx, s, r, send)
				order = append(order, "<"+name)
				return err
			}
		}
	}
	app := Chain(mw("a"), mw("b"), mw("c"))(func(context.Context, *Scope, Receive, Send) error {
		order = append(order, "app")
		return nil
	})
	_ = app(context.Background(), &Scope{}, nil, nil)
	if got := strings.Join(order, " "); got != "a> b> c> app <c <b <a" {
		t.Errorf("order %q", got)
	}
}

func TestScopeCloneIsShallowButPrivate(t *testing.T) {
	shared := &struct{ n int }{1}
	s := &Scope{Path: "/a", State: map[string]any{"db": shared}, Values: map[string]any{"k": 1}}
	c := s.Clone()
	c.Path = "/b"
	c.State["new"] = true
	c.SetValue("k", 2)
	if s.Path != "/a" || s.State["new"] != nil || s.Values["k"] != 1 {
		t.Errorf("clone changed the original: %+v", s)
	}
	if c.State["db"] != shared {
		t.Error("state values must be shared, not copied")
	}
}

func TestConnStateDisconnectOrder(t *testing.T) {
	var c ConnState
	var got []string
	watched := 0
	c.Watch = func() { watched++ }
	c.OnDisconnect(func(r string) {
		if c.IsConnected() {
			got = append(got, "still connected")
		}
		if c.DisconnectReason() != r {
			got = append(got, "reason unset")
		}
		select {
		case <-c.Disconnected():
		default:
			got = append(got, "channel open")
		}
		got = append(got, "cb1:"+r)
	})
	c.OnDisconnect(func(r string) { got = append(got, "cb2:"+r) })
	c.OnComplete(func() { got = append(got, "complete?!") })
	c.Disconnect(ReasonClientClosed)
	c.Disconnect(ReasonServerError) // ignored: already ended
	c.Finish()                      // ignored too
	c.OnDisconnect(func(r string) { got = append(got, "late:"+r) })
	if s := strings.Join(got, " "); s != "cb1:client_closed cb2:client_closed late:client_closed" {
		t.Errorf("callbacks %q", s)
	}
	if watched != 1 {
		t.Errorf("Watch called %d times, want once", watched)
	}
}

func TestConnStateCompleteAndProbe(t *testing.T) {
	var c ConnState
	done := false
	c.OnComplete(func() { done = true })
	c.OnDisconnect(func(string) { t.Error("disconnect callback after a clean end") })
	c.MarkStarted()
	c.MarkComplete()
	c.Finish()
	if !done || !c.ResponseStarted() || !c.ResponseComplete() || c.DisconnectReason() != "" {
		t.Errorf("after finish: done=%v started=%v complete=%v reason=%q", done, c.ResponseStarted(), c.ResponseComplete(), c.DisconnectReason())
	}
	var p ConnState
	gone := ""
	p.Probe = func() string { return gone }
	if !p.IsConnected() {
		t.Fatal("probe says connected")
	}
	gone = ReasonClientClosed
	if p.IsConnected() || p.DisconnectReason() != ReasonClientClosed {
		t.Error("probe departure not seen")
	}
	gone = ""
	if p.IsConnected() {
		t.Error("connected went back to true")
	}
}

func TestFlowControlHysteresis(t *testing.T) {
	f := NewFlowControl(100, 10)
	var events []string
	f.OnHighWater(func() { events = append(events, "high") })
	f.OnDrain(func() { events = append(events, "drain") })
	f.Add(50)
	if err := f.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.Add(60) // 110 >= 100
	f.Add(10) // still above: no second high
	var wg sync.WaitGroup
	released := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = f.Wait(context.Background())
		close(released)
	}()
	f.Done(100) // 20: not below low yet
	select {
	case <-released:
		t.Fatal("released above the low water mark")
	case <-time.After(20 * time.Millisecond):
	}
	f.Done(15) // 5 < 10
	wg.Wait()
	f.OnHighWater(func() { events = append(events, "late-high") }) // below: not fired
	if s := strings.Join(events, " "); s != "high drain" {
		t.Errorf("events %q", s)
	}
	if f.BufferedAmount() != 5 {
		t.Errorf("buffered %d", f.BufferedAmount())
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.Add(200)
	cancel()
	if err := f.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled context: %v", err)
	}
	f.Release()
	if err := f.Wait(context.Background()); err != nil || f.BufferedAmount() != 0 {
		t.Errorf("after Release: %v %d", err, f.BufferedAmount())
	}
}

func TestRespondPicksTheScopeFamily(t *testing.T) {
	for _, c := range []struct {
		scope Scope
		want  string
	}{
		{Scope{Type: ScopeHTTP}, "http.response.start http.response.body"},
		{Scope{Type: ScopeSSE}, "sse.http.response.start sse.http.response.body"},
		{Scope{Type: ScopeWebSocket, Extensions: Extensions{WebSocketHTTPResponse: true}}, "websocket.http.response.start websocket.http.response.body"},
		{Scope{Type: ScopeWebSocket}, "websocket.close"},
	} {
		var got []string
		send := func(_ context.Context, ev Event) error { got = append(got, ev.Type()); return nil }
		if err := Respond(context.Background(), &c.scope, send, 404, nil, []byte("no")); err != nil {
			t.Fatal(err)
		}
		if s := strings.Join(got, " "); s != c.want {
			t.Errorf("%s: %q, want %q", c.scope.Type, s, c.want)
		}
	}
	if err := Respond(context.Background(), &Scope{Type: ScopeLifespan}, nil, 200, nil, nil); !errors.Is(err, ErrUnsupportedScope) {
		t.Errorf("lifespan: %v", err)
	}
}

// TestHeaderFieldOKWords checks the word-at-a-time scan against the byte
// rule with the bad byte at every position of names and values up to 40
// bytes long, so every lane of a word and the tail are covered.
func TestHeaderFieldOKWords(t *testing.T) {
	for n := 1; n <= 40; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				nameBad := c <= ' ' || c == ':' || c == 0x7f
				valueBad := c == '\r' || c == '\n' || c == 0
				if got := headerFieldOK(string(b), "v"); got == nameBad {
					t.Fatalf("name %q: ok = %v", b, got)
				}
				if got := headerFieldOK("x", string(b)); got == valueBad {
					t.Fatalf("value %q: ok = %v", b, got)
				}
			}
		}
	}
}

func BenchmarkHeadersValidate(b *testing.B) {
	h := Headers{
		{Name: "content-type", Value: "application/json"},
		{Name: "x-request-id", Value: "0123456789abcdef0123456789abcdef"},
		{Name: "access-control-allow-origin", Value: "https://app.example.com"},
		{Name: "vary", Value: "Origin, Accept-Encoding"},
		{Name: "x-frame-options", Value: "DENY"},
	}
	for b.Loop() {
		if err := h.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
