package middleware_test

// Test helpers shared by the tests of compress, timeout, body_limit,
// rate_limit, xsendfile and etag. Names start with "setb" so they cannot
// collide with the helpers of other test files of the package.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	_ "github.com/pagihq/pagi/handlers"
	"github.com/pagihq/pagi/internal/pagitest"
)

func init() {
	config.Register(config.BlockType{
		Name: "setb_app", Kind: config.KindHandler,
		Doc: "test app of the setb middleware tests",
		New: func() any { return &setbApp{Status: 200} },
	})
}

// setbApp is a test handler whose behaviour is chosen by mode:
//
//   - chunks: sends each of chunks as a body event (More on all but the
//     last), waiting delay between them, and after the first chunk for
//     gate when one is named.
//   - echo: reads the whole body and sends it back; on a disconnect it
//     reports the reason and returns.
//   - file: sends file (relative to the config) as File, or as FH with
//     fh = true, with offset and length.
//   - sleep: waits delay (or until its context ends, unless deaf) then
//     sends body.
//   - stream: sends "tick\n" every delay until a send fails or the context
//     ends.
//   - sse: on sse scopes sends chunks as sse.send events.
//
// report names a channel (see setbReport) that receives what the app saw.
type setbApp struct {
	Mode    string            `hcl:"mode"`
	Status  int               `hcl:"status,optional"`
	Headers map[string]string `hcl:"headers,optional"`
	Body    string            `hcl:"body,optional"`
	Chunks  []string          `hcl:"chunks,optional"`
	Delay   config.Duration   `hcl:"delay,optional"`
	Gate    string            `hcl:"gate,optional"`
	Report  string            `hcl:"report,optional"`
	File    string            `hcl:"file,optional"`
	FH      bool              `hcl:"fh,optional"`
	Offset  int               `hcl:"offset,optional"`
	Length  int               `hcl:"length,optional"`
	Deaf    bool              `hcl:"deaf,optional"`   // sleep ignores the context
	Repeat  int               `hcl:"repeat,optional"` // chunks: each chunk is sent repeat times over
}

var (
	setbGates   sync.Map // name -> chan struct{}
	setbReports sync.Map // name -> chan string
)

// setbGate registers a gate the app waits on and returns its opener.
func setbGate(t *testing.T, name string) func() {
	ch := make(chan struct{})
	setbGates.Store(name, ch)
	var once sync.Once
	open := func() { once.Do(func() { close(ch) }) }
	t.Cleanup(open)
	return open
}

// setbReport registers a report channel and returns it.
func setbReport(name string) chan string {
	ch := make(chan string, 64)
	setbReports.Store(name, ch)
	return ch
}

func (a *setbApp) report(msg string) {
	if v, ok := setbReports.Load(a.Report); ok {
		select {
		case v.(chan string) <- msg:
		default:
		}
	}
}

func (a *setbApp) headers() pagi.Headers {
	names := make([]string, 0, len(a.Headers))
	for k := range a.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	h := pagi.Headers{}
	for _, k := range names {
		h = append(h, pagi.Header{Name: strings.ToLower(k), Value: a.Headers[k]})
	}
	return h
}

func (a *setbApp) BuildApp(ctx *config.BuildContext) (pagi.App, error) {
	file := a.File
	if file != "" && !filepath.IsAbs(file) {
		file = filepath.Join(ctx.Dir, file)
	}
	return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type == pagi.ScopeLifespan {
			return pagi.ErrUnsupportedScope
		}
		start := &pagi.HTTPResponseStart{Status: a.Status, Headers: a.headers()}
		switch a.Mode {
		case "chunks":
			if err := send(ctx, start); err != nil {
				return err
			}
			for i, c := range a.Chunks {
				if i > 0 && a.Delay > 0 {
					if !setbSleep(ctx, a.Delay.D()) {
						return ctx.Err()
					}
				}
				if i == 1 && a.Gate != "" {
					v, _ := setbGates.Load(a.Gate)
					select {
					case <-v.(chan struct{}):
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				b := []byte(c)
				if a.Repeat > 1 {
					b = bytes.Repeat(b, a.Repeat)
				}
				if err := send(ctx, &pagi.HTTPResponseBody{Body: b, More: i < len(a.Chunks)-1}); err != nil {
					return err
				}
			}
			if len(a.Chunks) == 0 {
				return send(ctx, &pagi.HTTPResponseBody{})
			}
			return nil
		case "echo":
			var body []byte
			for {
				ev, err := receive(ctx)
				if err != nil {
					a.report("error " + err.Error())
					return err
				}
				switch e := ev.(type) {
				case *pagi.HTTPRequest:
					body = append(body, e.Body...)
					if e.More {
						continue
					}
				case *pagi.HTTPDisconnect:
					a.report("disconnect " + e.Reason)
					return nil
				default:
					return fmt.Errorf("unexpected %s", ev.Type())
				}
				break
			}
			a.report(fmt.Sprintf("body %d", len(body)))
			start.Headers = append(start.Headers, pagi.Header{Name: "content-type", Value: "application/octet-stream"})
			if err := send(ctx, start); err != nil {
				return err
			}
			return send(ctx, &pagi.HTTPResponseBody{Body: body})
		case "file":
			if err := send(ctx, start); err != nil {
				return err
			}
			ev := &pagi.HTTPResponseBody{File: file, Offset: int64(a.Offset), Length: int64(a.Length)}
			if a.FH {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				ev.File, ev.FH = "", f
			}
			return send(ctx, ev)
		case "sleep":
			if a.Deaf {
				time.Sleep(a.Delay.D())
				err := pagi.Respond(ctx, s, send, a.Status, a.headers(), []byte(a.Body))
				a.report(fmt.Sprintf("woke, send: %v", err))
				return err
			}
			if !setbSleep(ctx, a.Delay.D()) {
				a.report("cancelled " + context.Cause(ctx).Error())
				return ctx.Err()
			}
			return pagi.Respond(ctx, s, send, a.Status, a.headers(), []byte(a.Body))
		case "stream":
			if err := send(ctx, start); err != nil {
				return err
			}
			for {
				if err := send(ctx, &pagi.HTTPResponseBody{Body: []byte("tick\n"), More: true}); err != nil {
					a.report("send " + err.Error())
					return err
				}
				if !setbSleep(ctx, a.Delay.D()) {
					a.report("cancelled")
					return ctx.Err()
				}
			}
		case "sse":
			if s.Type != pagi.ScopeSSE {
				return pagi.Respond(ctx, s, send, 406, nil, nil)
			}
			if err := send(ctx, &pagi.SSEStart{Status: 200, Headers: a.headers()}); err != nil {
				return err
			}
			for _, c := range a.Chunks {
				if err := send(ctx, &pagi.SSESend{Data: c}); err != nil {
					return err
				}
			}
			return send(ctx, &pagi.SSEClose{})
		}
		return fmt.Errorf("unknown mode %q", a.Mode)
	}, nil
}

// setbSleep waits d or until ctx ends; it reports whether d passed.
func setbSleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// setbStart starts a server with one listener "web" and the given site
// body (routes).
func setbStart(t *testing.T, routes string, files map[string]string) *pagitest.Server {
	t.Helper()
	return pagitest.Start(t, pagitest.Listener("web")+"site \"s\" {\n"+routes+"\n}\n", files)
}

// setbClient is an HTTP client that neither decompresses nor reuses
// connections between tests.
func setbClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: true},
	}
}

// setbGet sends a request with headers and returns the response and its
// whole body.
func setbGet(t *testing.T, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := setbClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// setbRaw opens a TCP connection to addr for hand-written requests.
func setbRaw(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// setbWaitReport returns the next message on ch, failing after a while.
func setbWaitReport(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no report from the app")
		return ""
	}
}
