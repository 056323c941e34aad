package main_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi/internal/redistest"
)

// redisSite is a config whose rooms and news go through Redis.
func redisSite(url string) string {
	return jsonServer + `
listener "web" {
  address = "127.0.0.1:0"
}
pubsub {
  backend = "redis"
  url     = "` + url + `"
}
site "s" {
  route "/ws/{room}" {
    websocket { channel = "room.{room}" }
  }
  route "GET /events" {
    sse { channel = "news" }
  }
  route "POST /publish/{channel}" {
    publish { channel = "{channel}" }
  }
}
`
}

// TestTwoProcessesShareRedis runs two pagi processes on one Redis: a
// WebSocket message sent on one reaches a client of the other, an event
// published through one reaches an SSE client of the other, and a Redis
// restart in the middle leaves both up and delivering.
func TestTwoProcessesShareRedis(t *testing.T) {
	redis := redistest.Start(t)
	bin := binary(t, "pagi")
	a := startProc(t, bin, redisSite(redis.URL()))
	b := startProc(t, bin, redisSite(redis.URL()))
	addrA := a.waitFor(t, "listening")["address"].(string)
	addrB := b.waitFor(t, "listening")["address"].(string)

	// wsClient is a WebSocket connection whose messages a goroutine reads
	// into a channel, so waiting for one can time out without a read
	// deadline (gorilla/websocket fails a connection for good after one).
	type wsClient struct {
		c    *websocket.Conn
		msgs chan string
	}
	dial := func(addr string) *wsClient {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws/lobby", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		w := &wsClient{c: c, msgs: make(chan string, 100)}
		go func() {
			defer close(w.msgs)
			for {
				_, m, err := c.ReadMessage()
				if err != nil {
					return
				}
				w.msgs <- string(m)
			}
		}()
		return w
	}
	onA, onB := dial(addrA), dial(addrB)
	// expect reads messages of w until want arrives, sending again every
	// 300 ms (earlier retries may also arrive: at-most-once delivery means a
	// send may need repeating while a subscription is being set up).
	expect := func(w *wsClient, send func(), want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			send()
			retry := time.After(300 * time.Millisecond)
		wait:
			for {
				select {
				case m, ok := <-w.msgs:
					if !ok {
						t.Fatalf("connection closed while waiting for %q", want)
					}
					if m == want {
						return
					}
				case <-retry:
					break wait
				case <-deadline:
					t.Fatalf("%q never arrived", want)
				}
			}
		}
	}
	wsSend := func(w *wsClient, msg string) func() {
		return func() { _ = w.c.WriteMessage(websocket.TextMessage, []byte(msg)) }
	}
	expect(onA, wsSend(onB, "from B"), "from B")

	// SSE on A, publish through B.
	req, _ := http.NewRequest("GET", "http://"+addrA+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- d
			}
		}
		close(events)
	}()
	publish := func(addr, data string) int {
		r, err := http.Post("http://"+addr+"/publish/news", "text/plain", strings.NewReader(data))
		if err != nil {
			return 0
		}
		r.Body.Close()
		return r.StatusCode
	}
	waitEvent := func(want string, via string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			publish(via, want)
			select {
			case d := <-events:
				if d == want {
					return
				}
			case <-time.After(300 * time.Millisecond):
			}
		}
		t.Fatalf("SSE event %q never arrived", want)
	}
	waitEvent("headline 1", addrB)

	// Redis goes away: publishing answers 503, both servers stay up.
	redis.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for publish(addrB, "lost") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("publish never answered 503 while Redis was down")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, addr := range []string{addrA, addrB} {
		if _, err := http.Get("http://" + addr + "/events"); err != nil {
			t.Fatalf("server %s down during the Redis outage: %v", addr, err)
		}
	}
	// Redis is back: delivery resumes on the connections opened before.
	redis.Start()
	waitEvent("headline 2", addrB)
	expect(onB, wsSend(onA, "after restart"), "after restart")
	for _, p := range []*proc{a, b} {
		if !strings.Contains(p.log(), "pubsub redis unavailable") {
			t.Errorf("the outage was not logged:\n%s", p.log())
		}
	}
}
