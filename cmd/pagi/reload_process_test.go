package main_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"github.com/pagihq/pagi/internal/certtest"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// This file holds the process tests of live reload (the real binary, the
// real watcher, real saves) and the helpers they share with
// reload_leak_test.go.

// rproc is a running pagi whose stderr is kept whole: every JSON log line
// is queued without limit (the reader never blocks the server and never
// drops a line), so a test can wait for each reload's line in turn.
type rproc struct {
	cmd *exec.Cmd

	mu     sync.Mutex
	raw    strings.Builder
	lines  []map[string]any
	more   chan struct{} // closed and replaced when a line arrives or stderr ends
	ended  bool
	cursor int // next line next() returns; used by one goroutine only
}

// startReloadProc runs `BIN ARGS...` and collects its log lines.
func startReloadProc(t *testing.T, bin string, args ...string) *rproc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &rproc{cmd: cmd, more: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var m map[string]any
			isJSON := json.Unmarshal(sc.Bytes(), &m) == nil
			p.mu.Lock()
			p.raw.WriteString(sc.Text() + "\n")
			if isJSON {
				p.lines = append(p.lines, m)
				close(p.more)
				p.more = make(chan struct{})
			}
			p.mu.Unlock()
		}
		p.mu.Lock()
		p.ended = true
		close(p.more)
		p.mu.Unlock()
		_ = cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// next returns the next JSON log line, waiting up to timeout.
func (p *rproc) next(t *testing.T, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		if p.cursor < len(p.lines) {
			m := p.lines[p.cursor]
			p.cursor++
			p.mu.Unlock()
			return m
		}
		ended, more := p.ended, p.more
		p.mu.Unlock()
		if ended {
			t.Fatalf("pagi ended:\n%s", p.tail())
		}
		select {
		case <-more:
		case <-deadline:
			return nil
		}
	}
}

// waitMsg returns the next log line whose msg is one of msgs.
func (p *rproc) waitMsg(t *testing.T, timeout time.Duration, msgs ...string) map[string]any {
	t.Helper()
	end := time.Now().Add(timeout)
	for {
		m := p.next(t, time.Until(end))
		if m == nil {
			t.Fatalf("no log line %q within %s:\n%s", msgs, timeout, p.tail())
		}
		if msg, _ := m["msg"].(string); slices.Contains(msgs, msg) {
			return m
		}
	}
}

// Reload outcome lines written by cmd/pagi/cli/run.go.
const (
	msgReloaded     = "reloaded"
	msgReloadFailed = "reload failed: the config has errors"
	msgNoChange     = "config files saved without changes" // debug level
)

// waitReload returns the next reload outcome line ("reloaded" or one of
// the "reload failed" lines).
func (p *rproc) waitReload(t *testing.T) map[string]any {
	t.Helper()
	return p.waitMsg(t, 10*time.Second, msgReloaded, msgReloadFailed, "reload failed")
}

// tail is the end of the process's stderr, for failure messages.
func (p *rproc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.raw.String()
	if len(s) > 8000 {
		s = "…" + s[len(s)-8000:]
	}
	return s
}

// reloadLog is the process's log lines about reloading only (reload
// outcomes, skipped saves, watcher events), for failure messages.
func (p *rproc) reloadLog() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, m := range p.lines {
		switch m["msg"] {
		case msgReloaded, msgReloadFailed, "reload failed", msgNoChange, "config file event", "pagi is serving":
			line, _ := json.Marshal(m)
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// intField reads a JSON number field of a log line.
func intField(m map[string]any, name string) int {
	f, _ := m[name].(float64)
	return int(f)
}

// freePorts returns n distinct TCP ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// newCert returns a fresh self-signed P-256 certificate for 127.0.0.1 and
// localhost (PEM), its key (PEM) and its serial number.
func newCert(t *testing.T) (certPEM, keyPEM []byte, serial *big.Int) {
	t.Helper()
	c := certtest.New(t, "pagi reload test")
	return c.CertPEM, c.KeyPEM, c.Leaf.SerialNumber
}

// Save styles, as editors and deployment tools write files.

// saveInPlace truncates path, pauses (well inside the 100 ms debounce) and
// then writes the content: a watcher that read the file at the first event
// would see it empty.
func saveInPlace(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// saveByRename writes a temporary file beside path and renames it over path
// (vim's default, sed -i, most IDEs). A symlink at path is replaced by the
// regular file.
func saveByRename(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// swapSymlink points the symlink path at target atomically: a temporary
// symlink renamed over path (what Kubernetes does with a ConfigMap's
// ..data link, and `ln -sfn` + `mv -T`).
func swapSymlink(t *testing.T, path, target string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".link")
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// reloadSite describes one version of the config of TestReloadUnderLoad.
type reloadSite struct {
	dir                       string
	webPort, tlsPort, xtrPort int
	token                     string // body of GET /body
	added                     string // path of an extra route, or ""
	accessLog                 bool   // site-wide access_log to a file
	extra                     bool   // the "extra" listener exists
	webIdle                   bool   // the "web" listener sets idle_timeout (a new http.Server)
	invalid                   int    // 0 valid; 1 unknown handler; 2 syntax error
}

func (s reloadSite) hcl() string {
	var b strings.Builder
	webExtra := ""
	if s.webIdle {
		webExtra = "\n  idle_timeout = \"30s\""
	}
	fmt.Fprintf(&b, `server {
  log_format       = "json"
  log_level        = "debug"
  graceful_timeout = "5s"
}

listener "web" {
  address = "127.0.0.1:%d"%s
}

listener "tls" {
  address = "127.0.0.1:%d"
  tls {
    cert = %q
    key  = %q
  }
}
`, s.webPort, webExtra, s.tlsPort, filepath.Join(s.dir, "tls.crt"), filepath.Join(s.dir, "tls.key"))
	listeners := `["web", "tls"]`
	if s.extra {
		fmt.Fprintf(&b, "\nlistener \"extra\" {\n  address = \"127.0.0.1:%d\"\n}\n", s.xtrPort)
		listeners = `["web", "tls", "extra"]`
	}
	fmt.Fprintf(&b, "\nsite \"s\" {\n  listeners = %s\n", listeners)
	if s.accessLog {
		fmt.Fprintf(&b, "  access_log {\n    format = \"common\"\n    output = %q\n  }\n", filepath.Join(s.dir, "access.log"))
	}
	fmt.Fprintf(&b, `  route "GET /ok" {
    respond { body = "ok" }
  }
  route "GET /body" {
    respond { body = %q }
  }
  route "/ws" {
    websocket { echo = true }
  }
  route "GET /events" {
    sse { channel = "news" }
  }
  route "POST /publish/{channel}" {
    publish { channel = "{channel}" }
  }
`, s.token)
	if s.added != "" {
		fmt.Fprintf(&b, "  route \"GET %s\" {\n    respond { body = \"added\" }\n  }\n", s.added)
	}
	switch s.invalid {
	case 1:
		b.WriteString("  route \"GET /broken\" {\n    respnd { body = \"typo\" }\n  }\n")
	case 2:
		b.WriteString("  route \"GET /broken\" {\n    respond { body = \"unclosed\"\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// loadCounter runs keep-alive clients against one URL until stopped and
// counts failures (transport errors, non-200 answers, wrong bodies).
type loadCounter struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(url, want string, clients int) *loadCounter {
	l := &loadCounter{stop: make(chan struct{})}
	for i := range clients {
		l.wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch {
					case rerr != nil:
						err = rerr
					case resp.StatusCode != 200:
						err = fmt.Errorf("status %d: %q", resp.StatusCode, b)
					case string(b) != want:
						err = fmt.Errorf("body %q", b)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						l.errs = append(l.errs, fmt.Sprintf("client %d at %s: %v", i, time.Now().Format("15:04:05.000"), err))
					}
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
				// A short pause leaves the reload some CPU on a 2-core machine
				// while keeping every connection busy and kept alive.
				time.Sleep(200 * time.Microsecond)
			}
		})
	}
	return l
}

func (l *loadCounter) finish() (ok, failed int64, errs []string) {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.failed.Load(), l.errs
}

// httpGet answers status and body, or -1 and the error text.
func httpGet(c *http.Client, url string) (int, string) {
	resp, err := c.Get(url)
	if err != nil {
		return -1, err.Error()
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// sseStream reads an SSE response's data lines into a channel.
type sseStream struct {
	cancel context.CancelFunc
	data   chan string
	ended  atomic.Int64 // unix nanoseconds when the stream ended, or 0
	err    atomic.Value // the read error that ended it (a string)
}

func (s *sseStream) endedAt() time.Time {
	if n := s.ended.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

func openSSE(t *testing.T, url string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		cancel()
		t.Fatalf("SSE status %d", resp.StatusCode)
	}
	s := &sseStream{cancel: cancel, data: make(chan string, 100)}
	go func() {
		defer resp.Body.Close()
		defer func() { s.ended.Store(time.Now().UnixNano()) }()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data:"); ok {
				s.data <- strings.TrimSpace(d)
			}
		}
		s.err.Store(fmt.Sprint(sc.Err()))
		close(s.data)
	}()
	return s
}

// expect waits for an event with data want (other events are skipped).
func (s *sseStream) expect(want string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case d, ok := <-s.data:
			if !ok {
				return fmt.Errorf("SSE stream ended before %q (read error: %v)", want, s.err.Load())
			}
			if d == want {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("no SSE event %q within %s", want, timeout)
		}
	}
}

func publish(c *http.Client, base, channel, data string) error {
	resp, err := c.Post(base+"/publish/"+channel, "text/plain", strings.NewReader(data))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		return fmt.Errorf("publish: status %d", resp.StatusCode)
	}
	return nil
}

// wsEcho sends msg on an echo WebSocket and checks that it comes back.
func wsEcho(ws *websocket.Conn, msg string) error {
	_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		return fmt.Errorf("websocket write: %w", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, got, err := ws.ReadMessage()
	if err != nil {
		return fmt.Errorf("websocket read: %w", err)
	}
	if string(got) != msg {
		return fmt.Errorf("websocket echo %q, want %q", got, msg)
	}
	return nil
}

// tlsSerial makes a new TLS handshake and returns the serial number of the
// certificate the server presented.
func tlsSerial(addr string) (*big.Int, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{InsecureSkipVerify: true, ServerName: "127.0.0.1"})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// TestReloadUnderLoad is the live-reload acceptance: the real binary,
// watching its config, under keep-alive load from six clients on GET /ok,
// goes through 77 saves (63 reloads, 7 invalid files, 7 saves of the same
// bytes) that cycle through a route added and removed, a respond body
// changed, access_log on and off, a listener added and removed, the
// certificate of the TLS listener replaced, the settings of the loaded
// listener changed, in three save styles: truncate-then-write, write and
// rename over, and a symlink swap (site.hcl -> configs/a.hcl switched to
// configs/b.hcl). Every save is followed by the matching log line, never
// by a sleep. No request may fail; a new route must answer within 1s of
// its save; WebSockets and SSE streams opened first must still work.
func TestReloadUnderLoad(t *testing.T) {
	bin := binary(t, "pagi")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "configs"), 0o755); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	site := reloadSite{dir: dir, webPort: ports[0], tlsPort: ports[1], xtrPort: ports[2], token: "v0"}
	certPEM, keyPEM, serial := newCert(t)
	crtPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(crtPath, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "site.hcl")
	if err := os.WriteFile(path, []byte(site.hcl()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startReloadProc(t, bin, "run", path)
	p.waitMsg(t, 10*time.Second, "pagi is serving")

	web := fmt.Sprintf("http://127.0.0.1:%d", site.webPort)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", site.tlsPort)
	xtrAddr := fmt.Sprintf("127.0.0.1:%d", site.xtrPort)
	check := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	// POSTs go on a new connection each: when the web listener's settings
	// change, its old http.Server closes idle keep-alive connections, and a
	// request sent on one at that moment fails with EOF. Clients retry
	// idempotent requests (the GETs here and of the load); a POST they
	// do not, with any HTTP/1.1 server that closes an idle connection.
	post := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

	// Long-lived streams opened before any reload: a WebSocket and an SSE
	// stream on the TLS listener (whose certificate is replaced seven
	// times), and the same pair on the cleartext listener under load (whose
	// settings change seven times, so its connections are served by a
	// retired http.Server from then on).
	tlsDialer := &websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, HandshakeTimeout: 5 * time.Second}
	ws, _, err := tlsDialer.Dial("wss://"+tlsAddr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	wsWeb, _, err := websocket.DefaultDialer.Dial("ws://127.0.0.1:"+fmt.Sprint(site.webPort)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wsWeb.Close()
	sse := openSSE(t, "https://"+tlsAddr+"/events")
	defer sse.cancel()
	sseWeb := openSSE(t, web+"/events")
	defer sseWeb.cancel()
	for _, w := range []*websocket.Conn{ws, wsWeb} {
		if err := wsEcho(w, "before"); err != nil {
			t.Fatal(err)
		}
	}
	if err := publish(post, web, "news", "before"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sseStream{sse, sseWeb} {
		if err := s.expect("before", 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := tlsSerial(tlsAddr); err != nil || got.Cmp(serial) != 0 {
		t.Fatalf("TLS serial %v (%v), want %v", got, err, serial)
	}

	load := startLoad(web+"/ok", "ok", 6)
	loadStopped := false
	defer func() {
		if !loadStopped {
			load.finish()
		}
	}()

	type stepKind int
	const (
		addRoute stepKind = iota
		changeBody
		accessLogOn
		addListener
		replaceCert
		invalidFile
		removeRoute
		accessLogOff
		removeListener
		noOpSave
		listenerSetting
	)
	kinds := []stepKind{addRoute, changeBody, accessLogOn, addListener, replaceCert, invalidFile,
		removeRoute, accessLogOff, removeListener, noOpSave, listenerSetting}
	kindName := []string{"add route", "change body", "access_log on", "add listener", "replace cert",
		"invalid file", "remove route", "access_log off", "remove listener", "no-op save", "web listener setting"}
	styles := []string{"truncate+write", "rename", "symlink swap"}

	const cycles = 7
	gen := 1
	linkTarget := "" // configs/a.hcl or configs/b.hcl while site.hcl is a symlink
	save := func(style string, text string) {
		switch style {
		case "truncate+write":
			saveInPlace(t, path, []byte(text)) // through the symlink, if site.hcl is one
		case "rename":
			saveByRename(t, path, []byte(text))
			linkTarget = ""
		case "symlink swap":
			next := "configs/a.hcl"
			if linkTarget == next {
				next = "configs/b.hcl"
			}
			if err := os.WriteFile(filepath.Join(dir, next), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			swapSymlink(t, path, next)
			linkTarget = next
		}
	}

	var (
		reloads, failedReloads int
		maxNewRoute            time.Duration
		newRouteLat            []time.Duration
		tooks                  []time.Duration
		styleUse               = map[string]int{}
		firstWebChange         time.Time
		start                  = time.Now()
	)
	step := 0
	for c := range cycles {
		for _, kind := range kinds {
			step++
			style := styles[step%len(styles)]
			prev := site
			next := site
			wantChange := ""
			switch kind {
			case addRoute:
				next.added = fmt.Sprintf("/added-%d", c)
				wantChange = "routes +1 -0"
			case changeBody:
				next.token = fmt.Sprintf("v%d", step)
				wantChange = "routes +1 -1"
			case accessLogOn:
				next.accessLog = true
				wantChange = "middleware"
			case accessLogOff:
				next.accessLog = false
				wantChange = "middleware"
			case addListener:
				next.extra = true
				wantChange = "listeners +1 -0"
			case removeListener:
				next.extra = false
				wantChange = "listeners +0 -1"
			case removeRoute:
				next.added = ""
				wantChange = "routes +0 -1"
			case invalidFile:
				next.invalid = 1 + c%2
			case replaceCert:
				wantChange = "tls tls"
			case listenerSetting:
				// The loaded listener gets a new http.Server on the same
				// socket; its keep-alive connections drain from the old one.
				next.webIdle = !next.webIdle
				// "listeners +1 -1" is what changed; the report says "+2 -2"
				// because the tls block moved a line (see
				// TestReloadReportIgnoresLayout).
				wantChange = "listeners +"
				if firstWebChange.IsZero() {
					firstWebChange = time.Now()
				}
			}
			what := fmt.Sprintf("step %d (%s, %s)", step, kindName[kind], style)

			switch kind {
			case replaceCert:
				certPEM, keyPEM, serial = newCert(t)
				if c%2 == 0 {
					saveByRename(t, keyPath, keyPEM)
					saveByRename(t, crtPath, certPEM)
				} else {
					_ = os.WriteFile(keyPath, keyPEM, 0o600)
					_ = os.WriteFile(crtPath, certPEM, 0o644)
				}
				style = "cert files"
			case noOpSave:
				save(style, site.hcl())
			default:
				save(style, next.hcl())
			}
			saved := time.Now()
			styleUse[style]++

			if kind == addRoute {
				// The new route, polled from the moment the save returned.
				var lat time.Duration
				for {
					if code, _ := httpGet(check, web+next.added); code == 200 {
						lat = time.Since(saved)
						break
					}
					if time.Since(saved) > 5*time.Second {
						t.Fatalf("%s: %s never answered:\n%s", what, next.added, p.tail())
					}
					time.Sleep(2 * time.Millisecond)
				}
				newRouteLat = append(newRouteLat, lat)
				maxNewRoute = max(maxNewRoute, lat)
			}

			if kind == noOpSave {
				// Same bytes (possibly through a new path): the hash check
				// must skip the reload. The proof is the debug line, and the
				// next reload's generation (one more, not two).
				p.waitMsg(t, 10*time.Second, msgNoChange)
				continue
			}
			m := p.waitReload(t)
			msg, _ := m["msg"].(string)
			if kind == invalidFile {
				if msg != msgReloadFailed {
					t.Fatalf("%s: got %q, want %q: %v\n%s", what, msg, msgReloadFailed, m, p.tail())
				}
				if sg := intField(m, "serving_generation"); sg != gen {
					t.Errorf("%s: serving_generation %d, want %d", what, sg, gen)
				}
				failedReloads++
				// The old config keeps serving; the next valid save applies.
				if code, body := httpGet(check, web+"/body"); code != 200 || body != site.token {
					t.Errorf("%s: /body = %d %q after a failed reload, want %q", what, code, body, site.token)
				}
				continue
			}
			if msg != msgReloaded {
				t.Fatalf("%s: got %q: %v\n%s", what, msg, m, p.tail())
			}
			gen++
			reloads++
			if g := intField(m, "generation"); g != gen {
				t.Fatalf("%s: generation %d, want %d: %v", what, g, gen, m)
			}
			if ch, _ := m["changes"].(string); !strings.Contains(ch, wantChange) {
				t.Errorf("%s: changes %q, want %q", what, ch, wantChange)
			}
			if tk, err := time.ParseDuration(fmt.Sprint(m["took"])); err == nil {
				tooks = append(tooks, tk)
			}
			site = next

			// What the new config serves, right after its log line.
			if code, body := httpGet(check, web+"/body"); code != 200 || body != site.token {
				t.Errorf("%s: /body = %d %q, want %q", what, code, body, site.token)
			}
			switch kind {
			case removeRoute:
				if code, _ := httpGet(check, web+prev.added); code != 404 {
					t.Errorf("%s: removed route %s answers %d", what, prev.added, code)
				}
			case addListener:
				if code, body := httpGet(check, "http://"+xtrAddr+"/ok"); code != 200 {
					t.Errorf("%s: new listener answers %d %s", what, code, body)
				}
			case removeListener:
				if conn, err := net.DialTimeout("tcp", xtrAddr, time.Second); err == nil {
					conn.Close()
					t.Errorf("%s: removed listener %s still accepts connections", what, xtrAddr)
				}
			case replaceCert:
				if got, err := tlsSerial(tlsAddr); err != nil || got.Cmp(serial) != 0 {
					t.Errorf("%s: new handshake sees serial %v (%v), want %v", what, got, err, serial)
				}
			}
		}
	}
	elapsed := time.Since(start)
	okReqs, failedReqs, errs := load.finish()
	loadStopped = true

	// The streams opened before the first reload still work.
	if err := wsEcho(ws, "after"); err != nil {
		t.Errorf("WebSocket on the TLS listener, opened before %d reloads: %v", reloads, err)
	}
	if err := wsEcho(wsWeb, "after"); err != nil {
		t.Errorf("WebSocket on the cleartext listener, opened before %d reloads: %v", reloads, err)
	}
	if err := publish(post, web, "news", "after"); err != nil {
		t.Errorf("publish after reloads: %v", err)
	} else if err := sse.expect("after", 5*time.Second); err != nil {
		t.Errorf("SSE stream on the TLS listener, opened before %d reloads: %v", reloads, err)
	}
	// An SSE stream is an ordinary response: when its listener's settings
	// change, the http.Server serving it is shut down with graceful_timeout
	// (5s here), then closed. Reported, not asserted.
	if err := sseWeb.expect("after", time.Second); err != nil {
		t.Logf("SSE stream on the cleartext listener: %v; it ended %s after the first change of that listener's settings",
			err, sseWeb.endedAt().Sub(firstWebChange).Round(time.Millisecond))
	} else {
		t.Logf("SSE stream on the cleartext listener survived its listener's setting changes")
	}
	if al, err := os.ReadFile(filepath.Join(dir, "access.log")); err != nil || !strings.Contains(string(al), "GET /ok") {
		t.Errorf("access log while access_log was on: %v, %d bytes", err, len(al))
	}

	slices.Sort(newRouteLat)
	t.Logf("%d saves in %s: %d reloads, %d rejected invalid configs, %d no-op saves; save styles %v",
		step, elapsed.Round(time.Millisecond), reloads, failedReloads, cycles, styleUse)
	t.Logf("load: %d requests answered, %d failed", okReqs, failedReqs)
	t.Logf("new route answered after the save: min %s, median %s, max %s",
		newRouteLat[0].Round(time.Millisecond), newRouteLat[len(newRouteLat)/2].Round(time.Millisecond), maxNewRoute.Round(time.Millisecond))
	if len(tooks) > 0 {
		slices.Sort(tooks)
		t.Logf("took (load + compile + swap): median %s, max %s", tooks[len(tooks)/2], tooks[len(tooks)-1])
	}
	if reloads < 50 {
		t.Errorf("only %d reloads, want at least 50", reloads)
	}
	if failedReqs > 0 {
		t.Errorf("%d of %d requests on a route present in every config failed:\n%s",
			failedReqs, okReqs+failedReqs, strings.Join(errs, "\n"))
	}
	if okReqs < int64(reloads) {
		t.Errorf("only %d requests during %d reloads: the load did not run", okReqs, reloads)
	}
	if maxNewRoute > time.Second {
		t.Errorf("a new route took %s to answer after its save, want under 1s (all: %v)", maxNewRoute, newRouteLat)
	}
}

// TestReloadSaveDuringReloadIsApplied saves the config again while the
// reload of the previous save is still compiling. The second save must be
// applied: the watcher reports it, and the reloader must not mistake it for
// content it has already loaded. A config with many routes makes a reload
// slow enough (hundreds of ms) to aim the second save inside it.
func TestReloadSaveDuringReloadIsApplied(t *testing.T) {
	bin := binary(t, "pagi")
	dir := t.TempDir()
	port := freePorts(t, 1)[0]
	path := filepath.Join(dir, "site.hcl")
	cfg := func(token string) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, "server {\n  log_format = \"json\"\n  log_level  = \"debug\"\n}\n\nlistener \"web\" {\n  address = \"127.0.0.1:%d\"\n}\n\nsite \"s\" {\n", port)
		fmt.Fprintf(&b, "  route \"GET /body\" {\n    respond { body = %q }\n  }\n", token)
		for i := range 1500 {
			fmt.Fprintf(&b, "  route \"GET /filler-%d\" {\n    respond { body = \"%d\" }\n  }\n", i, i)
		}
		b.WriteString("}\n")
		return []byte(b.String())
	}
	if err := os.WriteFile(path, cfg("t0"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startReloadProc(t, bin, "run", path)
	p.waitMsg(t, 30*time.Second, "pagi is serving")
	c := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/body", port)

	// How long one reload of this config takes here.
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	m := p.waitMsg(t, 30*time.Second, msgReloaded)
	took, err := time.ParseDuration(m["took"].(string))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one reload of this config takes %s", took)
	if took < 60*time.Millisecond {
		t.Skipf("a reload takes only %s here: too short to aim a save inside it", took)
	}

	for i := range 4 {
		first, second := fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)
		saveByRename(t, path, cfg(first))
		// The watcher fires 100 ms after the save; aim at the first third
		// of the reload that follows.
		time.Sleep(100*time.Millisecond + took/3)
		saveByRename(t, path, cfg(second))
		savedSecond := time.Now()
		deadline := savedSecond.Add(3*took + 3*time.Second)
		var body string
		for time.Now().Before(deadline) {
			_, body = httpGet(c, url)
			if body == second {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if body != second {
			t.Fatalf("attempt %d: the config saved during a reload was never applied: the file says %q, the server still answers %q %s after the save:\n%s",
				i, second, body, time.Since(savedSecond).Round(time.Millisecond), p.reloadLog())
		}
		// Let the log settle before the next attempt.
		for p.next(t, 300*time.Millisecond) != nil {
		}
	}
}

// sighupReload rewrites path, sends SIGHUP and returns the reload's log
// line, which must be "reloaded" with the next generation.
func sighupReload(t *testing.T, p *rproc, path, text string, gen *int) map[string]any {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	m := p.waitReload(t)
	*gen++
	if m["msg"] != msgReloaded || intField(m, "generation") != *gen {
		t.Fatalf("reload to generation %d: %v\n%s", *gen, m, p.tail())
	}
	return m
}

// TestReloadKeepsBrokerWhenPubSubBlockMoves edits a config whose pubsub
// block comes after the site: a route is added above it, the block itself
// is untouched. The broker must be kept, so an SSE stream opened before the
// reload still gets what is published after it.
func TestReloadKeepsBrokerWhenPubSubBlockMoves(t *testing.T) {
	bin := binary(t, "pagi")
	dir := t.TempDir()
	port := freePorts(t, 1)[0]
	path := filepath.Join(dir, "site.hcl")
	cfg := func(extraRoute bool) string {
		extra := ""
		if extraRoute {
			extra = "  route \"GET /new\" {\n    respond { body = \"new\" }\n  }\n"
		}
		return fmt.Sprintf(`server {
  log_format = "json"
}

listener "web" {
  address = "127.0.0.1:%d"
}

site "s" {
  route "GET /events" {
    sse { channel = "news" }
  }
  route "POST /publish/{channel}" {
    publish { channel = "{channel}" }
  }
%s}

pubsub {
  replay = 50
}
`, port, extra)
	}
	if err := os.WriteFile(path, []byte(cfg(false)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startReloadProc(t, bin, "run", "--no-watch", path)
	p.waitMsg(t, 10*time.Second, "pagi is serving")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := &http.Client{Timeout: 5 * time.Second}
	sse := openSSE(t, base+"/events")
	defer sse.cancel()
	if err := publish(c, base, "news", "before"); err != nil {
		t.Fatal(err)
	}
	if err := sse.expect("before", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	gen := 1
	m := sighupReload(t, p, path, cfg(true), &gen)
	if ch, _ := m["changes"].(string); strings.Contains(ch, "pubsub") {
		t.Errorf("changes %q: the pubsub block did not change, only its line numbers", ch)
	}
	if code, body := httpGet(c, base+"/new"); code != 200 || body != "new" {
		t.Fatalf("/new = %d %q", code, body)
	}
	if err := publish(c, base, "news", "after"); err != nil {
		t.Fatal(err)
	}
	if err := sse.expect("after", 2*time.Second); err != nil {
		t.Errorf("SSE stream opened before a reload that left the pubsub block as it was: %v", err)
	}
}

// TestReloadReportIgnoresLayout checks the "changes" of the reload log line
// against what really changed: moving blocks (a comment line added at the
// top) changes nothing, and adding a route is a route added, nothing else.
func TestReloadReportIgnoresLayout(t *testing.T) {
	bin := binary(t, "pagi")
	dir := t.TempDir()
	ports := freePorts(t, 2)
	certPEM, keyPEM, _ := newCert(t)
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(crt, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf(`server {
  log_format = "json"
}

listener "web" {
  address = "127.0.0.1:%d"
}

listener "tls" {
  address = "127.0.0.1:%d"
  tls {
    cert = %q
    key  = %q
  }
}

site "s" {
  listeners = ["web", "tls"]
  route "GET /a" {
    respond { body = "a" }
  }
`, ports[0], ports[1], crt, key)
	path := filepath.Join(dir, "site.hcl")
	if err := os.WriteFile(path, []byte(base+"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startReloadProc(t, bin, "run", "--no-watch", path)
	p.waitMsg(t, 10*time.Second, "pagi is serving")
	gen := 1
	for _, tc := range []struct{ what, text, want string }{
		{"a comment line added at the top", "# moved one line down\n" + base + "}\n", "none"},
		{"a route added", "# moved one line down\n" + base + "  route \"GET /b\" {\n    respond { body = \"b\" }\n  }\n}\n", "routes +1 -0"},
	} {
		m := sighupReload(t, p, path, tc.text, &gen)
		if ch, _ := m["changes"].(string); ch != tc.want {
			t.Errorf("%s: changes %q, want %q", tc.what, ch, tc.want)
		}
	}
}

// newClientCert returns a self-signed client certificate (its own CA) as a
// tls.Certificate and its PEM.
func newClientCert(t *testing.T, name string) (tls.Certificate, []byte) {
	t.Helper()
	c := certtest.New(t, name)
	return c.TLS, c.CertPEM
}

// TestReloadClientCAFileContent replaces the content of a listener's
// client_ca file (same path, as a CA bundle rotation does). The file is
// watched and hashed, so a reload follows; after it, clients with a
// certificate from the new CA must be let in and those of the old one not.
func TestReloadClientCAFileContent(t *testing.T) {
	bin := binary(t, "pagi")
	dir := t.TempDir()
	port := freePorts(t, 1)[0]
	certPEM, keyPEM, _ := newCert(t)
	crt, key, ca := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "clients.pem")
	oldClient, oldPEM := newClientCert(t, "old client")
	newClient, newPEM := newClientCert(t, "new client")
	for f, b := range map[string][]byte{crt: certPEM, key: keyPEM, ca: oldPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "site.hcl")
	cfg := fmt.Sprintf(`server {
  log_format = "json"
}

listener "mtls" {
  address = "127.0.0.1:%d"
  tls {
    cert      = %q
    key       = %q
    client_ca = %q
  }
}

site "s" {
  route "GET /ok" {
    respond { body = "ok" }
  }
}
`, port, crt, key, ca)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startReloadProc(t, bin, "run", path)
	p.waitMsg(t, 10*time.Second, "pagi is serving")
	get := func(c tls.Certificate) error {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{c}}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(fmt.Sprintf("https://127.0.0.1:%d/ok", port))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := get(oldClient); err != nil {
		t.Fatalf("client of the first CA: %v", err)
	}
	if get(newClient) == nil {
		t.Fatal("client of the second CA let in before the CA file changed")
	}

	saveByRename(t, ca, newPEM)
	m := p.waitReload(t)
	if m["msg"] != msgReloaded {
		t.Fatalf("after the client_ca file changed: %v\n%s", m, p.tail())
	}
	t.Logf("reload after the client_ca change: changes %q", m["changes"])
	if err := get(newClient); err != nil {
		t.Errorf("client of the new CA refused after the reload: %v", err)
	}
	if get(oldClient) == nil {
		t.Errorf("client of the old CA still let in after the reload")
	}
}
