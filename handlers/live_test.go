package handlers_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi/internal/pagitest"
)

const liveSite = `
pubsub {
  replay = 10
}
site "s" {
  route "/room/{name}" {
    websocket { channel = "room.{name}" }
  }
  route "/quiet/{name}" {
    websocket {
      channel     = "room.{name}"
      skip_sender = true
    }
  }
  route "/echo" {
    websocket { echo = true }
  }
  route "GET /events/{topic}" {
    sse {
      channel   = "news.{topic}"
      keepalive = "0s"
    }
  }
  route "POST /publish/{channel}" {
    publish {
      channel   = "{channel}"
      max_bytes = "1KiB"
    }
  }
}
`

func wsDial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readWithin(c *websocket.Conn, d time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, m, err := c.ReadMessage()
	return string(m), err
}

func TestWebSocketRoomsAndEcho(t *testing.T) {
	srv := pagitest.Start(t, pagitest.Listener("web")+liveSite, nil)
	base := "ws://" + srv.Addr("web")
	alice, bob := wsDial(t, base+"/room/a"), wsDial(t, base+"/room/a")
	other := wsDial(t, base+"/room/b")
	quiet := wsDial(t, base+"/quiet/a")
	_ = alice.WriteMessage(websocket.TextMessage, []byte(`{"text":"héllo <b>"}`))
	for name, c := range map[string]*websocket.Conn{"alice": alice, "bob": bob, "quiet": quiet} {
		if m, err := readWithin(c, 3*time.Second); err != nil || m != `{"text":"héllo <b>"}` {
			t.Errorf("%s got %q %v", name, m, err)
		}
	}
	if m, err := readWithin(other, 200*time.Millisecond); err == nil {
		t.Errorf("another room got %q", m)
	}
	_ = quiet.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0x00})
	if m, err := readWithin(bob, 3*time.Second); err != nil || m != "\xff\x00" {
		t.Errorf("binary relay: %q %v", m, err)
	}
	if m, err := readWithin(quiet, 200*time.Millisecond); err == nil {
		t.Errorf("skip_sender: the sender got its own message %q", m)
	}
	echo := wsDial(t, base+"/echo")
	_ = echo.WriteMessage(websocket.TextMessage, []byte("ping ✓"))
	if m, err := readWithin(echo, 3*time.Second); err != nil || m != "ping ✓" {
		t.Errorf("echo: %q %v", m, err)
	}
	resp, err := http.Get(srv.URL("web") + "/echo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET on a websocket route: %d", resp.StatusCode)
	}
	if _, _, err := websocket.DefaultDialer.Dial(base+"/room/bad%20name", nil); err == nil {
		t.Error("a channel name with a space was accepted")
	}
}

func TestPublishAndSSE(t *testing.T) {
	srv := pagitest.Start(t, pagitest.Listener("web")+liveSite, nil)
	base := srv.URL("web")
	post := func(channel, ctype, body string) int {
		resp, err := http.Post(base+"/publish/"+channel, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	open := func(lastID string) (*bufio.Reader, func()) {
		req, _ := http.NewRequest("GET", base+"/events/x", nil)
		req.Header.Set("Accept", "text/event-stream")
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("sse: %d %v", resp.StatusCode, resp.Header)
		}
		return bufio.NewReader(resp.Body), func() { resp.Body.Close() }
	}
	readEvent := func(r *bufio.Reader) string {
		var b strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended: %v (so far %q)", err, b.String())
			}
			if line == "\n" {
				if b.Len() > 0 {
					return b.String()
				}
				continue
			}
			b.WriteString(line)
		}
	}
	stream, done := open("")
	defer done()
	if code := post("news.x", "application/json", `{"event":"headline","id":"7","data":"two\nlines"}`); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	if ev := readEvent(stream); ev != "event: headline\ndata: two\ndata: lines\nid: 7\n" {
		t.Errorf("event %q", ev)
	}
	if code := post("news.x", "text/plain", "plain body"); code != 202 {
		t.Fatalf("publish raw: %d", code)
	}
	if ev := readEvent(stream); !strings.Contains(ev, "data: plain body\n") {
		t.Errorf("raw event %q", ev)
	}
	if code := post("news.x", "text/plain", strings.Repeat("x", 2000)); code != 413 {
		t.Errorf("oversized publish: %d", code)
	}
	if code := post("bad%20channel", "text/plain", "x"); code != 400 {
		t.Errorf("bad channel: %d", code)
	}
	if code := post("news.x", "application/json", `{"event":"evil\r\nid: 9","data":"x"}`); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	if ev := readEvent(stream); strings.Contains(ev, "\nid: 9") {
		t.Errorf("an event name injected a field: %q", ev)
	}
	// A reconnecting client gets what it missed after Last-Event-ID 7.
	replayed, done2 := open("7")
	defer done2()
	if ev := readEvent(replayed); !strings.Contains(ev, "data: plain body") {
		t.Errorf("replay: %q", ev)
	}
	resp, err := http.Get(base + "/events/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotAcceptable {
		t.Errorf("sse route without Accept: %d", resp.StatusCode)
	}
}
