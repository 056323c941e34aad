package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
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

// An SSE stream ends, and its goroutines with it, when the client leaves:
// with ReceiveReady (a GET) and without (a POST with a body, whose receive
// may still have body to deliver).
func TestSSEStreamEndsWhenClientLeaves(t *testing.T) {
	srv := pagitest.Start(t, pagitest.Listener("web")+`
site "s" {
  route "/any/{topic}" {
    sse {
      channel   = "t.{topic}"
      keepalive = "0s"
    }
  }
  route "POST /publish/{channel}" {
    publish { channel = "{channel}" }
  }
  route "GET /_stats" {
    stats {}
  }
}
`, nil)
	base := srv.URL("web")
	goroutines := func() int {
		resp, err := http.Get(base + "/_stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct {
			Goroutines int `json:"goroutines"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st.Goroutines
	}
	idle := goroutines()
	for _, method := range []string{"GET", "POST"} {
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("a request body")
		}
		req, _ := http.NewRequest(method, base+"/any/"+method, body)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(resp.Body)
		pub, err := http.Post(base+"/publish/t."+method, "text/plain", strings.NewReader("hello "+method))
		if err != nil {
			t.Fatal(err)
		}
		pub.Body.Close()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: stream ended before the event: %v", method, err)
			}
			if line == "data: hello "+method+"\n" {
				break
			}
		}
		resp.Body.Close()
		deadline := time.Now().Add(5 * time.Second)
		for goroutines() > idle && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := goroutines(); n > idle {
			t.Errorf("%s: %d goroutines after the client left, %d before", method, n, idle)
		}
	}
}
