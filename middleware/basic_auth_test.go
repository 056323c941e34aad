package middleware_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi/internal/pagitest"
	"golang.org/x/crypto/bcrypt"
)

// setaBasicAuthServer starts a server whose "/" needs alice:secret or
// bob:hunter2 (bcrypt at the lowest cost, so the tests stay fast).
func setaBasicAuthServer(t *testing.T) *pagitest.Server {
	t.Helper()
	alice, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	bob, _ := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
	// htpasswd writes $2y$; accept it like $2a$.
	bobY := "$2y$" + strings.TrimPrefix(string(bob), "$2a$")
	return setaStart(t, `
site "s" {
  route "/" {
    basic_auth {
      realm = "Staff only"
      users = {
        alice = "`+string(alice)+`"
        bob   = "`+bobY+`"
      }
    }
    seta_echo_scope {}
  }
}
`)
}

func setaBasic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func checkSetaChallenge(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != 401 {
		t.Errorf("%s: status %d, want 401", what, resp.StatusCode)
		return
	}
	if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="Staff only", charset="UTF-8"` {
		t.Errorf("%s: WWW-Authenticate %q", what, got)
	}
}

func TestBasicAuthCredentials(t *testing.T) {
	srv := setaBasicAuthServer(t)
	url := srv.URL("web") + "/"
	for _, c := range []struct{ user, pass string }{{"alice", "secret"}, {"bob", "hunter2"}} {
		for range 3 { // the second and third hit the cache
			resp, v := setaEcho(t, url, "Authorization", setaBasic(c.user, c.pass))
			if resp.StatusCode != 200 || v.User != c.user {
				t.Errorf("%s: %d user %q", c.user, resp.StatusCode, v.User)
			}
		}
	}
	resp, _ := setaDo(t, nil, "GET", url, "Authorization", "basic "+base64.StdEncoding.EncodeToString([]byte("alice:secret")))
	if resp.StatusCode != 200 {
		t.Errorf("lower-case scheme: %d", resp.StatusCode)
	}
	resp, _ = setaDo(t, nil, "GET", url)
	checkSetaChallenge(t, "no credentials", resp)
	resp, _ = setaDo(t, nil, "GET", url, "Authorization", setaBasic("alice", "wrong"))
	checkSetaChallenge(t, "wrong password", resp)
	resp, _ = setaDo(t, nil, "GET", url, "Authorization", setaBasic("alice", "secret"+strings.Repeat("x", 80)))
	checkSetaChallenge(t, "password over 72 bytes", resp)
	resp, _ = setaDo(t, nil, "GET", url, "Authorization", setaBasic("mallory", "secret"))
	checkSetaChallenge(t, "unknown user", resp)
	resp, _ = setaDo(t, nil, "GET", url, "Authorization", setaBasic("bob", "secret"))
	checkSetaChallenge(t, "another user's password", resp)
}

func TestBasicAuthMalformed(t *testing.T) {
	srv := setaBasicAuthServer(t)
	url := srv.URL("web") + "/"
	b64 := base64.StdEncoding.EncodeToString
	for _, h := range []string{
		"Basic",
		"Basic ",
		"Basic !!!",
		"Bearer x",
		"Basic " + b64([]byte("alicesecret")), // no colon
		"Basic " + b64([]byte(":secret")),     // empty user
		"Basic " + b64([]byte("")),            // empty
		"Basic " + b64([]byte("alice:secret"))[:10], // truncated base64
		"Basic " + strings.Repeat("A", 10<<10),      // 10 KB
		"Digest username=\"alice\"",
		"BasicYWxpY2U6c2VjcmV0",
	} {
		resp, _ := setaDo(t, nil, "GET", url, "Authorization", h)
		short := h
		if len(short) > 40 {
			short = short[:40] + "..."
		}
		checkSetaChallenge(t, short, resp)
	}
}

func TestBasicAuthBruteForce(t *testing.T) {
	srv := setaBasicAuthServer(t)
	url := srv.URL("web") + "/"
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "alice"
			if i%2 == 1 {
				user = "nobody"
			}
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", setaBasic(user, "guess"+string(rune('a'+i%26))))
			resp, err := setaClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[401] != 50 {
		t.Errorf("50 wrong attempts gave %v, want 50×401", statuses)
	}
	// The right password still works after the burst.
	if resp, _ := setaEcho(t, url, "Authorization", setaBasic("alice", "secret")); resp.StatusCode != 200 {
		t.Errorf("after the burst: %d", resp.StatusCode)
	}
}

func TestBasicAuthSSEAndWebSocket(t *testing.T) {
	srv := setaBasicAuthServer(t)
	resp, _ := setaSSE(t, srv.URL("web")+"/")
	checkSetaChallenge(t, "sse without credentials", resp)
	resp, v := setaSSE(t, srv.URL("web")+"/", "Authorization", setaBasic("alice", "secret"))
	if resp.StatusCode != 200 || v.User != "alice" {
		t.Errorf("sse with credentials: %d %+v", resp.StatusCode, v)
	}
	_, wsResp, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr("web")+"/", nil)
	if err == nil || wsResp == nil {
		t.Fatalf("websocket without credentials: %v", err)
	}
	checkSetaChallenge(t, "websocket without credentials", wsResp)
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr("web")+"/", http.Header{"Authorization": {setaBasic("bob", "hunter2")}})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestBasicAuthValidation(t *testing.T) {
	cfg := pagitest.Listener("web") + `site "s" {
  route "/" {
    basic_auth {
      realm = "say \"hi\""
      users = {
        alice = "plaintext-password"
        "b:c" = "$2a$04$abcdefghijklmnopqrstuuJ0qK6kFvL3bBQ6CXKLnAPsRXy1g3C5y"
      }
    }
    respond {}
  }
  route "/b" {
    basic_auth { users = {} }
    respond {}
  }
}
`
	out := setaValidate(t, cfg)
	setaWantDiags(t, out,
		setaPos(t, cfg, `"say`), "Invalid realm",
		setaPos(t, cfg, `"plaintext-password"`), `the password of "alice" must be a bcrypt hash`, "htpasswd -nbB alice 'password'",
		setaPos(t, cfg, `"b:c"`), "must be non-empty and hold no colon",
		setaPos(t, cfg, `{} }`), "No users")
}
