package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// procStats is the part of GET /_stats the leak test reads.
type procStats struct {
	Goroutines int    `json:"goroutines"`
	OpenFDs    int    `json:"open_fds"`
	HeapAlloc  uint64 `json:"heap_alloc_bytes"`
	RSS        int64  `json:"rss_bytes"`
}

func (s procStats) String() string {
	return fmt.Sprintf("goroutines %d, open fds %d, heap %.2f MiB, rss %.1f MiB",
		s.Goroutines, s.OpenFDs, float64(s.HeapAlloc)/(1<<20), float64(s.RSS)/(1<<20))
}

func readStats(t *testing.T, c *http.Client, base string) procStats {
	t.Helper()
	resp, err := c.Get(base + "/_stats?gc=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s procStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// leakConfig is one of the two configs the leak test alternates. They
// differ in everything a reload rebuilds: a listener comes and goes, an
// access log file is opened and closed, the pubsub block changes (a new
// memory broker each time), routes and a respond body change.
func leakConfig(dir string, webPort, xtrPort int, a bool) string {
	var b strings.Builder
	replay := 20
	if a {
		replay = 10
	}
	fmt.Fprintf(&b, `server {
  log_format       = "json"
  graceful_timeout = "2s"
}

listener "web" {
  address = "127.0.0.1:%d"
}

pubsub {
  replay = %d
}
`, webPort, replay)
	listeners := `["web"]`
	if a {
		fmt.Fprintf(&b, "\nlistener \"extra\" {\n  address = \"127.0.0.1:%d\"\n}\n", xtrPort)
		listeners = `["web", "extra"]`
	}
	fmt.Fprintf(&b, "\nsite \"s\" {\n  listeners = %s\n", listeners)
	body := "B"
	if a {
		body = "A"
		fmt.Fprintf(&b, "  access_log {\n    format = \"json\"\n    output = %q\n  }\n", filepath.Join(dir, "access.log"))
		b.WriteString("  route \"GET /only-a\" {\n    respond { body = \"a\" }\n  }\n")
	}
	fmt.Fprintf(&b, `  route "GET /ok" {
    respond { body = %q }
  }
  route "GET /_stats" {
    stats {}
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
}
`, body)
	return b.String()
}

// TestReloadLeak alternates two configs 200 times (SIGHUP, waiting for each
// "reloaded" line) with some traffic, WebSocket and SSE sessions in between,
// and checks that goroutines, open files and the heap come back to what
// they were after a warm-up.
func TestReloadLeak(t *testing.T) {
	bin := binary(t, "pagi")
	dir := t.TempDir()
	ports := freePorts(t, 2)
	path := filepath.Join(dir, "site.hcl")
	write := func(a bool) {
		if err := os.WriteFile(path, []byte(leakConfig(dir, ports[0], ports[1], a)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(true)
	p := startReloadProc(t, bin, "run", "--no-watch", path)
	p.waitMsg(t, 10*time.Second, "pagi is serving")
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()

	gen := 1
	reload := func() {
		t.Helper()
		write(gen%2 == 0) // generation 1 is A, 2 is B, 3 is A, ...
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		m := p.waitReload(t)
		gen++
		if m["msg"] != msgReloaded || intField(m, "generation") != gen {
			t.Fatalf("reload %d: %v\n%s", gen, m, p.tail())
		}
	}
	exercise := func(i int) {
		t.Helper()
		want := "A"
		if gen%2 == 0 {
			want = "B"
		}
		if code, body := httpGet(c, base+"/ok"); code != 200 || body != want {
			t.Fatalf("generation %d: /ok = %d %q, want %q", gen, code, body, want)
		}
		if i%10 != 0 {
			return
		}
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+strings.TrimPrefix(base, "http://")+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := wsEcho(ws, fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
		ws.Close()
		sse := openSSE(t, base+"/events")
		if err := publish(c, base, "news", fmt.Sprint("e", i)); err != nil {
			t.Fatal(err)
		}
		if err := sse.expect(fmt.Sprint("e", i), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		sse.cancel()
	}

	// Warm-up: pools, buffers and lazily started goroutines settle.
	for i := range 20 {
		reload()
		exercise(i)
	}
	time.Sleep(500 * time.Millisecond) // old configs retire once their last request ends
	before := readStats(t, c, base)

	start := time.Now()
	const n = 200
	for i := range n {
		reload()
		exercise(i)
	}
	took := time.Since(start)

	// Retiring pipelines and targets finish in the background: give them up
	// to 10 s to come back within the slack.
	heapLimit := max(before.HeapAlloc*3/2, before.HeapAlloc+2<<20)
	var after procStats
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = readStats(t, c, base)
		ok := after.Goroutines <= before.Goroutines+5 && after.OpenFDs <= before.OpenFDs+3 && after.HeapAlloc <= heapLimit
		if ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("%d reloads by SIGHUP in %s (%.1f ms each, with traffic)", n, took.Round(time.Millisecond),
		float64(took.Microseconds())/1000/n)
	t.Logf("before: %s", before)
	t.Logf("after:  %s", after)
	if after.Goroutines > before.Goroutines+5 || after.OpenFDs > before.OpenFDs+3 || after.HeapAlloc > heapLimit {
		t.Errorf("after %d reloads the process did not come back to its baseline (slack: goroutines +5, fds +3, heap %.2f MiB):\nbefore: %s\nafter:  %s",
			n, float64(heapLimit)/(1<<20), before, after)
	}
}
