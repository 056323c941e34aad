package middleware_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi/internal/pagitest"
)

var setaHexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestIDGenerated(t *testing.T) {
	srv := setaStart(t, `
site "s" {
  route "/" {
    request_id {}
    seta_echo_scope {}
  }
  route "/own" {
    request_id {}
    seta_echo_scope { headers = { "X-Request-Id" = "app-chosen" } }
  }
}
`)
	seen := map[string]bool{}
	for range 50 {
		resp, v := setaEcho(t, srv.URL("web")+"/", "X-Request-Id", "client-sent")
		id := resp.Header.Get("X-Request-Id")
		if !setaHexID.MatchString(id) {
			t.Fatalf("response id %q is not 32 hex digits", id)
		}
		if v.RequestID != id || len(v.Headers["x-request-id"]) != 1 || v.Headers["x-request-id"][0] != id {
			t.Fatalf("app saw value %q header %q, response says %q", v.RequestID, v.Headers["x-request-id"], id)
		}
		if seen[id] {
			t.Fatalf("id %s repeated", id)
		}
		seen[id] = true
	}
	// An id the app set itself is kept.
	resp, v := setaEcho(t, srv.URL("web")+"/own")
	if got := resp.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != "app-chosen" || !setaHexID.MatchString(v.RequestID) {
		t.Errorf("app's own header: response %q, scope id %q", got, v.RequestID)
	}
}

func TestRequestIDIncoming(t *testing.T) {
	srv := setaStart(t, `
site "s" {
  route "/trusted" {
    request_id {
      header         = "X-Correlation-ID"
      trust_incoming = true
    }
    seta_echo_scope {}
  }
  route "/untrusted" {
    request_id { header = "x-correlation-id" }
    seta_echo_scope {}
  }
}
`)
	base := srv.URL("web")
	resp, v := setaEcho(t, base+"/trusted", "X-Correlation-ID", "abc-123_x.y:z")
	if v.RequestID != "abc-123_x.y:z" || resp.Header.Get("X-Correlation-Id") != "abc-123_x.y:z" {
		t.Errorf("trusted incoming id not kept: scope %q response %q", v.RequestID, resp.Header.Get("X-Correlation-Id"))
	}
	resp, v = setaEcho(t, base+"/untrusted", "X-Correlation-ID", "abc-123")
	if !setaHexID.MatchString(v.RequestID) || resp.Header.Get("X-Correlation-Id") != v.RequestID {
		t.Errorf("untrusted incoming id kept: scope %q response %q", v.RequestID, resp.Header.Get("X-Correlation-Id"))
	}
	for _, bad := range []string{"has space", "semi;colon", `quote"`, "ünïcode", strings.Repeat("a", 201), "<script>"} {
		resp, v := setaEcho(t, base+"/trusted", "X-Correlation-ID", bad)
		if !setaHexID.MatchString(v.RequestID) || resp.Header.Get("X-Correlation-Id") != v.RequestID ||
			len(v.Headers["x-correlation-id"]) != 1 || v.Headers["x-correlation-id"][0] != v.RequestID {
			t.Errorf("malformed incoming id %q: scope %q header %q response %q", bad, v.RequestID,
				v.Headers["x-correlation-id"], resp.Header.Get("X-Correlation-Id"))
		}
	}
	// Exactly 200 characters is still accepted.
	ok200 := strings.Repeat("a", 200)
	if _, v := setaEcho(t, base+"/trusted", "X-Correlation-ID", ok200); v.RequestID != ok200 {
		t.Errorf("200-character id replaced by %q", v.RequestID)
	}
}

func TestRequestIDSSEAndWebSocket(t *testing.T) {
	srv := setaStart(t, `
site "s" {
  route "/" {
    request_id {}
    seta_echo_scope {}
  }
}
`)
	resp, v := setaSSE(t, srv.URL("web")+"/")
	if id := resp.Header.Get("X-Request-Id"); !setaHexID.MatchString(id) || v.RequestID != id {
		t.Errorf("sse.start: header %q, scope %q", id, v.RequestID)
	}
	conn, wsResp, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr("web")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, msg, _ := conn.ReadMessage()
	var wv setaView
	_ = json.Unmarshal(msg, &wv)
	if id := wsResp.Header.Get("X-Request-Id"); !setaHexID.MatchString(id) || wv.RequestID != id {
		t.Errorf("websocket.accept: header %q, scope %q", id, wv.RequestID)
	}
}

func TestRequestIDInAccessLog(t *testing.T) {
	srv := setaStart(t, `
site "s" {
  route "/" {
    request_id {}
    access_log {
      format = "json"
      output = "json.log"
    }
    access_log {
      format  = "custom"
      output  = "custom.log"
      pattern = "%%{X-Request-Id}i"   # HCL needs %%{ for a literal %{
    }
    respond {}
  }
}
`)
	resp, _ := setaDo(t, nil, "GET", srv.URL("web")+"/")
	id := resp.Header.Get("X-Request-Id")
	var rec map[string]any
	if err := json.Unmarshal([]byte(setaReadLog(t, srv.Dir, "json.log")), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["request_id"] != id {
		t.Errorf("json log request_id %v, want %q", rec["request_id"], id)
	}
	if got := strings.TrimSpace(setaReadLog(t, srv.Dir, "custom.log")); got != id {
		t.Errorf("custom log %q, want %q", got, id)
	}
}

func TestRequestIDValidation(t *testing.T) {
	cfg := pagitest.Listener("web") + `site "s" {
  route "/" {
    request_id { header = "x request id" }
    respond {}
  }
}
`
	out := setaValidate(t, cfg)
	setaWantDiags(t, out, setaPos(t, cfg, `"x request id"`), "Invalid header name")
}
