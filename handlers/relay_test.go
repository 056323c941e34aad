package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/internal/pagitest"
)

func init() {
	config.Register(config.BlockType{
		Name: "test_wrap_receive", Kind: config.KindMiddleware,
		Doc: "test only: wraps receive and so clears Scope.ReceiveReady",
		New: func() any { return &wrapReceive{} },
	})
}

// wrapReceive is a middleware that wraps receive, as a third-party one
// might: it must clear ReceiveReady, and the websocket handler then relays
// with a second goroutine.
type wrapReceive struct{}

func (*wrapReceive) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	return func(next pagi.App) pagi.App {
		return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
			inner := *s
			inner.ReceiveReady = nil
			return next(ctx, &inner, func(ctx context.Context) (pagi.Event, error) { return receive(ctx) }, send)
		}
	}, nil
}

// The channel relay works the same without ReceiveReady.
func TestWebSocketRelayWithoutReceiveReady(t *testing.T) {
	srv := pagitest.Start(t, pagitest.Listener("web")+`
site "s" {
  route "/room/{name}" {
    test_wrap_receive {}
    websocket { channel = "room.{name}" }
  }
}
`, nil)
	base := "ws://" + srv.Addr("web")
	alice, bob := wsDial(t, base+"/room/a"), wsDial(t, base+"/room/a")
	for i, msg := range []string{"one", "two ✓", "three"} {
		from := alice
		if i%2 == 1 {
			from = bob
		}
		if err := from.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		for _, to := range []*websocket.Conn{alice, bob} { // the sender too: skip_sender is off
			if m, err := readWithin(to, 3*time.Second); err != nil || m != msg {
				t.Fatalf("message %d: got %q %v, want %q", i, m, err, msg)
			}
		}
	}
	// A client that leaves ends its session; the other still gets messages.
	_ = alice.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	alice.Close()
	carol := wsDial(t, base+"/room/a")
	_ = carol.WriteMessage(websocket.TextMessage, []byte("after"))
	for _, c := range []*websocket.Conn{bob, carol} {
		if m, err := readWithin(c, 3*time.Second); err != nil || m != "after" {
			t.Fatalf("after a client left: %q %v", m, err)
		}
	}
}
