package middleware_test

// Test helpers shared by the tests of forwarded, request_id, headers,
// strip_prefix, rewrite, https_redirect, security_headers, cors and
// basic_auth. Names start with "seta" so they cannot collide with the
// helpers of other test files of the package.

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"github.com/pagihq/pagi/internal/certtest"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	_ "github.com/pagihq/pagi/handlers"
	"github.com/pagihq/pagi/internal/pagitest"
)

func init() {
	config.Register(config.BlockType{
		Name: "seta_echo_scope", Kind: config.KindHandler,
		Doc: "test handler: answers with what it sees of the scope, as JSON",
		New: func() any { return &setaEchoScope{Status: 200} },
	})
}

// setaEchoScope is a test handler that answers every scope type with a
// JSON description of the scope (setaView): an http response, one SSE
// event, or one WebSocket message. Headers are added to its response start.
type setaEchoScope struct {
	Status  int               `hcl:"status,optional"`
	Headers map[string]string `hcl:"headers,optional"`
}

// setaView is what seta_echo_scope reports.
type setaView struct {
	Type           string              `json:"type"`
	Client         string              `json:"client"`
	ClientPort     int                 `json:"client_port"`
	OriginalClient string              `json:"original_client"`
	Scheme         string              `json:"scheme"`
	Host           string              `json:"host"`
	ServerPort     int                 `json:"server_port"`
	Path           string              `json:"path"`
	RawPath        string              `json:"raw_path"`
	RootPath       string              `json:"root_path"`
	Query          string              `json:"query"`
	RequestID      string              `json:"request_id"`
	User           string              `json:"user"`
	Headers        map[string][]string `json:"headers"`
}

func (e *setaEchoScope) BuildApp(*config.BuildContext) (pagi.App, error) {
	var hs pagi.Headers
	for k, v := range e.Headers {
		hs = append(hs, pagi.Header{Name: strings.ToLower(k), Value: v})
	}
	status := e.Status
	return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type == pagi.ScopeLifespan {
			return pagi.ErrUnsupportedScope
		}
		v := setaView{Type: string(s.Type), Scheme: s.Scheme, Host: s.Header("host"), Path: s.Path,
			RawPath: s.RawPath, RootPath: s.RootPath, Query: s.QueryString, Headers: map[string][]string{}}
		if s.Client != nil {
			v.Client, v.ClientPort = s.Client.Host, s.Client.Port
		}
		if s.Server != nil {
			v.ServerPort = s.Server.Port
		}
		if oc, ok := s.Value("pagi.original_client").(*pagi.Addr); ok {
			if oc == nil {
				v.OriginalClient = "unix"
			} else {
				v.OriginalClient = oc.Host
			}
		}
		v.RequestID, _ = s.Value("pagi.request_id").(string)
		v.User, _ = s.Value("pagi.auth.user").(string)
		for _, h := range s.Headers {
			v.Headers[h.Name] = append(v.Headers[h.Name], h.Value)
		}
		body, _ := json.Marshal(v)
		switch s.Type {
		case pagi.ScopeHTTP:
			h := append(hs.Clone(), pagi.Header{Name: "content-type", Value: "application/json"})
			if err := send(ctx, &pagi.HTTPResponseStart{Status: status, Headers: h}); err != nil {
				return err
			}
			return send(ctx, &pagi.HTTPResponseBody{Body: body})
		case pagi.ScopeSSE:
			if err := send(ctx, &pagi.SSEStart{Status: 200, Headers: hs.Clone()}); err != nil {
				return err
			}
			return send(ctx, &pagi.SSESend{Data: string(body)})
		case pagi.ScopeWebSocket:
			if _, err := receive(ctx); err != nil {
				return err
			}
			if err := send(ctx, &pagi.WebSocketAccept{Headers: hs.Clone()}); err != nil {
				return err
			}
			if err := send(ctx, &pagi.WebSocketSend{Text: string(body)}); err != nil {
				return err
			}
			for { // wait for the client to close
				ev, err := receive(ctx)
				if err != nil {
					return err
				}
				if _, done := ev.(*pagi.WebSocketDisconnect); done {
					return nil
				}
			}
		}
		return pagi.ErrUnsupportedScope
	}, nil
}

// setaStart starts a server with one listener "web" and the given sites.
func setaStart(t *testing.T, sites string) *pagitest.Server {
	t.Helper()
	return pagitest.Start(t, pagitest.Listener("web")+sites, nil)
}

// setaClient does not follow redirects.
var setaClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// setaDo sends a request with headers (name, value pairs; a "host" pair
// sets the Host) and returns the response with its body read.
func setaDo(t *testing.T, c *http.Client, method, url string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "host") {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	if c == nil {
		c = setaClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// setaEcho GETs url (a seta_echo_scope route) and decodes the view.
func setaEcho(t *testing.T, url string, headers ...string) (*http.Response, setaView) {
	t.Helper()
	resp, body := setaDo(t, nil, "GET", url, headers...)
	var v setaView
	if resp.StatusCode == 200 {
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("GET %s: bad JSON %q: %v", url, body, err)
		}
	}
	return resp, v
}

// setaSSE opens an SSE stream on url and returns the response and the view
// carried by its first event.
func setaSSE(t *testing.T, url string, headers ...string) (*http.Response, setaView) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := setaClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v setaView
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Fatalf("bad SSE data %q: %v", data, err)
			}
			break
		}
	}
	return resp, v
}

// setaValidate writes hcl as site.hcl in a new directory and returns the
// diagnostics of loading it.
func setaValidate(t *testing.T, hcl string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "site.hcl")
	if err := os.WriteFile(path, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	return pagitest.Validate(t, path)
}

// setaWantDiags checks that out holds every string of want.
func setaWantDiags(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in diagnostics:\n%s", w, out)
		}
	}
}

// setaCert writes a self-signed certificate for 127.0.0.1 and localhost
// into dir and returns the paths and a pool that trusts it.
func setaCert(t *testing.T, dir string) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	c := certtest.New(t, "pagi test")
	certPath, keyPath = c.Write(t, dir, "server.crt", "server.key")
	return certPath, keyPath, c.Pool()
}

// setaPos returns "site.hcl:LINE:COL" of the first occurrence of needle in
// hcl, the position a diagnostic about that text reports.
func setaPos(t *testing.T, hcl, needle string) string {
	t.Helper()
	i := strings.Index(hcl, needle)
	if i < 0 {
		t.Fatalf("%q not in the config", needle)
	}
	line := strings.Count(hcl[:i], "\n") + 1
	col := i - strings.LastIndexByte(hcl[:i], '\n')
	return fmt.Sprintf("site.hcl:%d:%d", line, col)
}

// setaReadLog waits (up to 2 s) for the file name in dir to have content
// and returns it: access_log writes when the request has ended, which may
// be just after the client has its response.
func setaReadLog(t *testing.T, dir, name string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if len(b) > 0 || time.Now().After(deadline) {
			return string(b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
