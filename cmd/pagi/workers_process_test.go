package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// These tests run the real binary (testpagi: pagi plus the freeze, pid,
// slow and lifespan_fail handlers) as a master with worker processes, and
// drive it with signals while clients keep requesting.

// cluster is a pagi process tree (master, workers, upgraded masters)
// started in its own process group, whose log lines are all kept.
type wkCluster struct {
	t    *testing.T
	cmd  *exec.Cmd
	path string // the config file; unique, so it identifies the tree's processes

	mu    sync.Mutex
	lines []map[string]any
	raw   strings.Builder
	grew  chan struct{} // closed and replaced on every new line

	exited chan struct{}
	err    error
}

// startCluster writes hcl to a temp file and runs `testpagi run FLAGS FILE`.
func wkStart(t *testing.T, hcl string, flags ...string) *wkCluster {
	t.Helper()
	path := filepath.Join(t.TempDir(), "site.hcl")
	if err := os.WriteFile(path, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	return wkStartCmd(t, path, exec.Command(binary(t, "testpagi"), append(append([]string{"run"}, flags...), path)...))
}

// startClusterCmd runs cmd, collecting the log of it and of every process
// that inherits its stderr.
func wkStartCmd(t *testing.T, path string, cmd *exec.Cmd) *wkCluster {
	t.Helper()
	c := &wkCluster{t: t, cmd: cmd, path: path, grew: make(chan struct{}), exited: make(chan struct{})}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			_ = json.Unmarshal(sc.Bytes(), &m)
			c.mu.Lock()
			c.raw.WriteString(sc.Text() + "\n")
			if m != nil {
				c.lines = append(c.lines, m)
				close(c.grew)
				c.grew = make(chan struct{})
			}
			c.mu.Unlock()
		}
		r.Close()
	}()
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		for _, pid := range c.procs() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("log:\n%s", c.log())
		}
	})
	return c
}

func (c *wkCluster) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raw.String()
}

// mark returns the number of log lines so far: wait from there.
func (c *wkCluster) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// wait returns the first line from index from on with msg and the given
// attributes (name, value pairs compared as text), and its index.
func (c *wkCluster) wait(from int, timeout time.Duration, msg string, attrs ...any) (map[string]any, int) {
	c.t.Helper()
	deadline := time.After(timeout)
	for i := from; ; {
		c.mu.Lock()
		for ; i < len(c.lines); i++ {
			if wkMatch(c.lines[i], msg, attrs) {
				m := c.lines[i]
				c.mu.Unlock()
				return m, i
			}
		}
		grew := c.grew
		c.mu.Unlock()
		select {
		case <-grew:
		case <-deadline:
			c.t.Fatalf("no %q %v log line within %s", msg, attrs, timeout)
		}
	}
}

// count returns how many lines from index from on have msg and attrs.
func (c *wkCluster) count(from int, msg string, attrs ...any) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.lines[from:] {
		if wkMatch(m, msg, attrs) {
			n++
		}
	}
	return n
}

// all returns the lines from index from on with msg.
func (c *wkCluster) all(from int, msg string) []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, m := range c.lines[from:] {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func wkMatch(m map[string]any, msg string, attrs []any) bool {
	if m["msg"] != msg {
		return false
	}
	for i := 0; i+1 < len(attrs); i += 2 {
		if fmt.Sprint(m[attrs[i].(string)]) != fmt.Sprint(attrs[i+1]) {
			return false
		}
	}
	return true
}

// exitCode waits for the started process (the first master) to exit.
func (c *wkCluster) exitCode(timeout time.Duration) int {
	c.t.Helper()
	select {
	case <-c.exited:
	case <-time.After(timeout):
		c.t.Fatalf("process %d did not exit within %s", c.cmd.Process.Pid, timeout)
	}
	if ee, ok := c.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if c.err != nil {
		c.t.Fatal(c.err)
	}
	return 0
}

// procs returns the pids of live processes running this cluster's config.
func (c *wkCluster) procs() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), c.path) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && wkProcState(st) == "Z" {
			continue // a zombie: exited, not yet reaped by a parent that is also exiting
		}
		pids = append(pids, pid)
	}
	return pids
}

// procState and procPPID read fields of /proc/PID/stat.
func wkProcState(stat []byte) string {
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return f[0]
}

func wkPPID(pid int) int {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

func wkAlive(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && wkProcState(st) != "Z"
}

func (c *wkCluster) signal(sig syscall.Signal) {
	c.t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
}

// load is a set of clients requesting one URL over keep-alive
// connections, each client with its own connection pool.
type wkLoad struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	bodies     map[string]int
	last       []string // each client's last body
	stop       context.CancelFunc
	wg         sync.WaitGroup
}

// startLoad runs clients that request url until n requests are done in
// all (n = 0: until stopped).
func wkStartLoad(url string, clients, n int) *wkLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &wkLoad{bodies: map[string]int{}, stop: cancel, last: make([]string, clients)}
	var issued atomic.Int64
	for i := range clients {
		l.wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 15 * time.Second}
			for ctx.Err() == nil && (n == 0 || issued.Add(1) <= int64(n)) {
				body, err := wkGet(client, url)
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						l.errs = append(l.errs, time.Now().Format("15:04:05.000000 ")+err.Error())
					}
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
				l.mu.Lock()
				l.bodies[body]++
				l.last[i] = body
				l.mu.Unlock()
			}
		})
	}
	return l
}

// wait stops the clients (when n was 0) and waits for them.
func (l *wkLoad) wait(stop bool) {
	if stop {
		l.stop()
	}
	l.wg.Wait()
	l.stop()
}

func (l *wkLoad) report(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s: %d requests ok, %d failed %v", what, l.ok.Load(), l.failed.Load(), l.errs)
}

func wkGet(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}

// getOnce requests url on a new connection.
func wkGetOnce(url string, timeout time.Duration) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	return wkGet(&http.Client{Transport: tr, Timeout: timeout}, url)
}

const wkSiteFmt = `server {
  log_format = "json"
  workers = %d
  graceful_timeout = "5s"
  %s
}
listener "web" {
  address = "127.0.0.1:0"
}
site "s" {
  route "GET /pid" {
    pid {}
  }
  route "GET /pid/paced" {
    pid { delay = "8ms" }
  }
  route "GET /slow" {
    slow { delay = "700ms" }
  }
  route "GET /freeze" {
    freeze {}
  }
  route "GET /v" {
    respond { body = "%s" }
  }
}
`

func wkSite(workers int, server, body string) string {
	return fmt.Sprintf(wkSiteFmt, workers, server, body)
}

// addr waits for the master's listening line and the master ready line.
func (c *wkCluster) ready() string {
	c.t.Helper()
	ln, _ := c.wait(0, 15*time.Second, "listening", "master", true)
	c.wait(0, 15*time.Second, "master ready")
	return "http://" + ln["address"].(string)
}

func TestWorkersRecycleUnderLoad(t *testing.T) {
	c := wkStart(t, wkSite(2, "max_requests = 50\n  max_requests_jitter = 4", "v1"), "--no-watch")
	base := c.ready()
	start := time.Now()
	// Requests that take a few milliseconds, as an app's do: a worker
	// keeps serving until its replacement is ready, so with instant
	// answers a worker would serve far more than 50 while one starts.
	l := wkStartLoad(base+"/pid/paced", 4, 2000)
	l.wait(false)
	took := time.Since(start)
	l.report(t, "2000 requests, 4 clients")
	if f := l.failed.Load(); f != 0 {
		t.Errorf("%d requests failed: %v", f, l.errs)
	}
	started := c.count(0, "worker started")
	t.Logf("%d distinct pids answered, %d workers started, %d recycled, in %s",
		len(l.bodies), started, c.count(0, "worker recycling"), took.Round(time.Millisecond))
	if started < 30 {
		t.Errorf("only %d workers started for 2000 requests at max_requests = 50", started)
	}
	if len(l.bodies) < 25 {
		t.Errorf("only %d distinct worker pids answered", len(l.bodies))
	}
	t.Logf("answers by pid: %v", l.bodies)
	for body, n := range l.bodies {
		// A worker serves its 50-60 requests, then the ones that arrive
		// on its connections until its replacement is ready.
		if n > 150 {
			t.Errorf("worker %s answered %d requests", body, n)
		}
	}
	c.signal(syscall.SIGTERM)
	if code := c.exitCode(20 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

func TestWorkersKill9UnderLoad(t *testing.T) {
	c := wkStart(t, wkSite(2, "", "v1"), "--no-watch")
	base := c.ready()
	l := wkStartLoad(base+"/pid", 4, 0)
	time.Sleep(500 * time.Millisecond)
	victim, _ := c.wait(0, time.Second, "worker ready", "worker", 1)
	pid := int(victim["pid"].(float64))
	from := c.mark()
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ready, _ := c.wait(from, 5*time.Second, "worker ready", "worker", 1)
	took := time.Since(killed)
	t.Logf("worker 1 (pid %d) killed; replacement pid %v ready after %s", pid, ready["pid"], took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("replacement took %s", took)
	}
	time.Sleep(time.Second)
	l.wait(true)
	l.report(t, "load across kill -9")
	// Only requests in flight on the killed worker's connections may fail
	// (Go's client retries idempotent requests on a reused connection, so
	// usually none do).
	if f := l.failed.Load(); f > 4 {
		t.Errorf("%d requests failed; at most the 4 clients' connections to the killed worker may: %v", f, l.errs)
	}
	// The replacement serves: new connections reach it among the others.
	newPID := fmt.Sprint(ready["pid"])
	seen := false
	for i := 0; i < 200 && !seen; i++ {
		if b, err := wkGetOnce(base+"/pid", 5*time.Second); err == nil && b == newPID {
			seen = true
		}
	}
	if !seen {
		t.Logf("the replacement answered none of 200 new connections (the kernel favours one accepting process)")
	}
	c.signal(syscall.SIGTERM)
	if code := c.exitCode(20 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

func TestWorkersHeartbeatKillsFrozenWorker(t *testing.T) {
	c := wkStart(t, wkSite(2, `heartbeat_timeout = "2s"`, "v1"), "--no-watch")
	base := c.ready()
	from := c.mark()
	frozeAt := time.Now()
	if b, err := wkGetOnce(base+"/freeze", 10*time.Second); err == nil {
		t.Fatalf("the freeze request got an answer: %q", b)
	}
	killed, _ := c.wait(from, 10*time.Second, "worker killed")
	pid := int(killed["pid"].(float64))
	t.Logf("frozen worker %v (pid %d) killed after %s: %v", killed["worker"], pid,
		time.Since(frozeAt).Round(time.Millisecond), killed["reason"])
	if !strings.Contains(fmt.Sprint(killed["reason"]), "no heartbeat") {
		t.Errorf("kill reason %v", killed["reason"])
	}
	c.wait(from, 5*time.Second, "worker ready", "worker", killed["worker"])
	time.Sleep(200 * time.Millisecond)
	if wkAlive(pid) {
		t.Errorf("frozen worker %d still exists", pid)
	}
	l := wkStartLoad(base+"/pid", 4, 400)
	l.wait(false)
	if f := l.failed.Load(); f != 0 {
		t.Errorf("%d requests failed after the replacement: %v", f, l.errs)
	}
	if _, ok := l.bodies[strconv.Itoa(pid)]; ok {
		t.Errorf("the killed worker answered")
	}
}

func TestWorkersReloadUnderLoad(t *testing.T) {
	t.Run("SIGHUP", func(t *testing.T) { wkReloadUnderLoad(t, false) })
	t.Run("file change", func(t *testing.T) { wkReloadUnderLoad(t, true) })
}

// reloadUnderLoad changes the config twice (by SIGHUP, or by editing it
// with watching on) and once more with an error, while clients request the
// route whose answer changes.
func wkReloadUnderLoad(t *testing.T, watch bool) {
	var flags []string
	trigger := "file change"
	if !watch {
		flags, trigger = []string{"--no-watch"}, "SIGHUP"
	}
	c := wkStart(t, wkSite(2, "", "v1"), flags...)
	base := c.ready()
	l := wkStartLoad(base+"/v", 4, 0)
	time.Sleep(300 * time.Millisecond)
	for _, step := range []struct {
		gen  int
		body string
	}{{2, "v2"}, {3, "v3"}} {
		from := c.mark()
		if err := os.WriteFile(c.path, []byte(wkSite(2, "", step.body)), 0o644); err != nil {
			t.Fatal(err)
		}
		if !watch {
			c.signal(syscall.SIGHUP)
		}
		c.wait(from, 15*time.Second, "reloaded", "generation", step.gen, "trigger", trigger)
		wkWaitOldGone(t, c, step.gen-1)
		wkCheckAll(t, base+"/v", step.body)
	}
	// An invalid config changes nothing.
	from := c.mark()
	if err := os.WriteFile(c.path, []byte(wkSite(2, "", "v4")+"\nbogus {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !watch {
		c.signal(syscall.SIGHUP)
	}
	c.wait(from, 15*time.Second, "reload failed: the config has errors")
	wkCheckAll(t, base+"/v", "v3")

	l.wait(true)
	l.report(t, "load across 2 reloads and a failed one")
	if f := l.failed.Load(); f != 0 {
		t.Errorf("%d requests failed: %v", f, l.errs)
	}
	for i, b := range l.last {
		if b != "v3" {
			t.Errorf("client %d's last answer %q", i, b)
		}
	}
	c.signal(syscall.SIGTERM)
	if code := c.exitCode(20 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// waitOldGone waits until every worker of generation gen has exited.
func wkWaitOldGone(t *testing.T, c *wkCluster, gen int) {
	t.Helper()
	for _, m := range c.all(0, "worker started") {
		if m["generation"] == float64(gen) {
			c.wait(0, 15*time.Second, "worker exited", "pid", m["pid"])
		}
	}
}

// checkAll requests url 200 times on new connections (spread over the
// workers) and fails unless every answer is want.
func wkCheckAll(t *testing.T, url, want string) {
	t.Helper()
	bad := 0
	for range 200 {
		if b, err := wkGetOnce(url, 5*time.Second); err != nil || b != want {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of 200 answers were not %q", bad, want)
	}
}

func TestWorkersUpgradeUnderLoad(t *testing.T) {
	c := wkStart(t, wkSite(2, "", "v1"), "--no-watch")
	base := c.ready()
	oldMaster := c.cmd.Process.Pid
	l := wkStartLoad(base+"/pid", 4, 0)
	time.Sleep(300 * time.Millisecond)
	from := c.mark()
	c.signal(syscall.SIGUSR2)
	ready, _ := c.wait(from, 15*time.Second, "master ready")
	newMaster := int(ready["pid"].(float64))
	if newMaster == oldMaster {
		t.Fatalf("master ready from the old master")
	}
	if code := c.exitCode(20 * time.Second); code != 0 {
		t.Errorf("old master exit code %d", code)
	}
	time.Sleep(500 * time.Millisecond)
	l.wait(true)
	l.report(t, "load across USR2")
	if f := l.failed.Load(); f != 0 {
		t.Errorf("%d requests failed: %v", f, l.errs)
	}
	for _, m := range c.all(0, "worker started") {
		pid := int(m["pid"].(float64))
		if m["generation"] == float64(1) && wkAlive(pid) && wkPPID(pid) == oldMaster {
			t.Errorf("old worker %d still runs", pid)
		}
	}
	// Everything now answers from the new master's workers.
	for range 50 {
		b, err := wkGetOnce(base+"/pid", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(b)
		if ppid := wkPPID(pid); ppid != newMaster {
			t.Fatalf("pid %d (parent %d) answered; want a worker of %d", pid, ppid, newMaster)
		}
	}
	if err := syscall.Kill(newMaster, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wkWaitNoProcs(t, c, 20*time.Second)
}

func TestSingleProcessUpgradeUnderLoad(t *testing.T) {
	c := wkStart(t, wkSite(0, "", "v1"), "--no-watch")
	ln, _ := c.wait(0, 15*time.Second, "listening")
	base := "http://" + ln["address"].(string)
	oldPID := c.cmd.Process.Pid
	l := wkStartLoad(base+"/pid", 4, 0)
	time.Sleep(300 * time.Millisecond)
	from := c.mark()
	c.signal(syscall.SIGUSR2)
	done, _ := c.wait(from, 15*time.Second, "upgrade complete: the new process serves; draining")
	newPID := int(done["new_pid"].(float64))
	if code := c.exitCode(20 * time.Second); code != 0 {
		t.Errorf("old process exit code %d", code)
	}
	time.Sleep(300 * time.Millisecond)
	l.wait(true)
	l.report(t, "load across USR2 (single process)")
	if f := l.failed.Load(); f != 0 {
		t.Errorf("%d requests failed: %v", f, l.errs)
	}
	if wkAlive(oldPID) {
		t.Errorf("old process %d still runs", oldPID)
	}
	if b, err := wkGetOnce(base+"/pid", 5*time.Second); err != nil || b != strconv.Itoa(newPID) {
		t.Errorf("answer %q %v, want the new pid %d", b, err, newPID)
	}
	t.Logf("pid %d handed over to %d; answers by pid: %v", oldPID, newPID, l.bodies)
	if err := syscall.Kill(newPID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wkWaitNoProcs(t, c, 20*time.Second)
}

// waitNoProcs waits until no process runs the cluster's config.
func wkWaitNoProcs(t *testing.T, c *wkCluster, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pids := c.procs()
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left: %v", pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestWorkersTERMDrainsAndLeavesNoOrphans(t *testing.T) {
	c := wkStart(t, wkSite(2, "", "v1"), "--no-watch")
	base := c.ready()
	workers := c.all(0, "worker started")
	results := make(chan string, 6)
	for range 6 {
		go func() {
			b, err := wkGetOnce(base+"/slow", 10*time.Second)
			if err != nil {
				b = "error: " + err.Error()
			}
			results <- b
		}()
	}
	time.Sleep(250 * time.Millisecond) // the requests reach the apps
	c.signal(syscall.SIGTERM)
	for range 6 {
		if got := <-results; got != "slow done" {
			t.Errorf("in-flight request during shutdown: %q", got)
		}
	}
	if code := c.exitCode(20 * time.Second); code != 0 {
		t.Errorf("master exit code %d", code)
	}
	for _, m := range workers {
		if code := c.count(0, "worker exited", "pid", m["pid"], "code", 0); code != 1 {
			t.Errorf("worker %v did not log a clean exit", m["pid"])
		}
	}
	wkWaitNoProcs(t, c, 2*time.Second)
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Error("port still open after exit")
	}
}

func TestWorkersLifespanFailureExitsMaster(t *testing.T) {
	c := wkStart(t, `server {
  log_format = "json"
  workers = 2
}
listener "web" {
  address = "127.0.0.1:0"
}
site "s" {
  route "/" {
    lifespan_fail { message = "cannot reach the database" }
  }
}
`, "--no-watch")
	if code := c.exitCode(20 * time.Second); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	m, _ := c.wait(0, time.Second, "every worker failed to start; exiting")
	if !strings.Contains(fmt.Sprint(m["reason"]), "cannot reach the database") {
		t.Errorf("the master's reason %v lacks the app's message", m["reason"])
	}
	if n := c.count(0, "worker started"); n != 2 {
		t.Errorf("%d workers started; failed ones must not be respawned in a loop", n)
	}
	wkWaitNoProcs(t, c, 2*time.Second)
}

func TestWorkersTTINTTOU(t *testing.T) {
	c := wkStart(t, wkSite(2, "", "v1"), "--no-watch")
	c.ready()
	from := c.mark()
	c.signal(syscall.SIGTTIN)
	c.wait(from, 10*time.Second, "worker ready", "worker", 3)
	// One at a time: signals sent together merge into one.
	from = c.mark()
	c.signal(syscall.SIGTTOU)
	c.wait(from, 10*time.Second, "worker exited", "worker", 3)
	c.signal(syscall.SIGTTOU)
	c.wait(from, 10*time.Second, "worker exited", "worker", 2)
	c.signal(syscall.SIGTTOU) // refused: one worker stays
	time.Sleep(500 * time.Millisecond)
	if n := c.count(from, "worker exited"); n != 2 {
		t.Errorf("%d workers exited after 3 × TTOU from 3; want 2", n)
	}
	if n := len(c.procs()); n != 2 {
		t.Errorf("%d processes (master and workers) left; want 2", n)
	}
	c.signal(syscall.SIGTERM)
	if code := c.exitCode(20 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestSocketActivation passes a listening socket the way systemd does
// (LISTEN_FDS, LISTEN_PID, fd 3) to a single process and to a master.
func TestSocketActivation(t *testing.T) {
	for _, workers := range []int{0, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			f, err := ln.(*net.TCPListener).File()
			if err != nil {
				t.Fatal(err)
			}
			ln.Close()
			defer f.Close()
			hcl := strings.Replace(wkSite(workers, "", "v1"), "127.0.0.1:0", ln.Addr().String(), 1)
			path := filepath.Join(t.TempDir(), "site.hcl")
			if err := os.WriteFile(path, []byte(hcl), 0o644); err != nil {
				t.Fatal(err)
			}
			// LISTEN_PID must be the pid of pagi itself: a shell that
			// execs it knows that pid.
			// With workers, no LISTEN_FDNAMES: the socket is matched by
			// its address.
			names := "LISTEN_FDNAMES=web"
			if workers > 0 {
				names = ""
			}
			cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 `+names+` exec "$0" run --no-watch "$1"`,
				binary(t, "testpagi"), path)
			cmd.ExtraFiles = []*os.File{f}
			c := wkStartCmd(t, path, cmd)
			m, _ := c.wait(0, 15*time.Second, "using inherited socket")
			if m["from"] != "systemd" || m["address"] != ln.Addr().String() {
				t.Errorf("inherited socket line %v", m)
			}
			if workers > 0 {
				c.wait(0, 15*time.Second, "master ready")
			} else {
				c.wait(0, 15*time.Second, "pagi is serving")
			}
			if b, err := wkGetOnce("http://"+ln.Addr().String()+"/v", 5*time.Second); err != nil || b != "v1" {
				t.Errorf("answer %q %v", b, err)
			}
			c.signal(syscall.SIGTERM)
			if code := c.exitCode(20 * time.Second); code != 0 {
				t.Errorf("exit code %d", code)
			}
		})
	}
}

// TestWorkersReusePort: each worker binds its own SO_REUSEPORT socket on
// the port the master reserved, and the kernel spreads new connections
// over them.
func TestWorkersReusePort(t *testing.T) {
	c := wkStart(t, wkSite(2, "reuse_port = true", "v1"), "--no-watch")
	ln, _ := c.wait(0, 15*time.Second, "listening", "master", true, "reuse_port", true)
	c.wait(0, 15*time.Second, "master ready")
	base := "http://" + ln["address"].(string)
	pids := map[string]int{}
	for range 200 {
		b, err := wkGetOnce(base+"/pid", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		pids[b]++
	}
	t.Logf("200 new connections by worker pid: %v", pids)
	if len(pids) != 2 {
		t.Errorf("%d workers answered; want both", len(pids))
	}
	// A reload keeps the reserved port; the new workers bind beside the
	// old ones.
	from := c.mark()
	if err := os.WriteFile(c.path, []byte(wkSite(2, "reuse_port = true", "v2")), 0o644); err != nil {
		t.Fatal(err)
	}
	c.signal(syscall.SIGHUP)
	c.wait(from, 15*time.Second, "reloaded", "generation", 2)
	wkWaitOldGone(t, c, 1)
	wkCheckAll(t, base+"/v", "v2")
	c.signal(syscall.SIGTERM)
	if code := c.exitCode(20 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	wkWaitNoProcs(t, c, 2*time.Second)
}
