package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaries are built once for all process tests.
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binary returns the path of a freshly built pagi (name "pagi") or the
// test build with extra handler types (name "testpagi").
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "pagi-bin")
		if buildErr != nil {
			return
		}
		for pkg, out := range map[string]string{".": "pagi", "./testdata/testpagi": "testpagi"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, out), pkg)
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, name)
}

// proc is a running pagi process whose JSON log lines are collected.
type proc struct {
	cmd    *exec.Cmd
	lines  chan map[string]any
	stderr *strings.Builder
	mu     sync.Mutex
	done   chan error
}

// startProc runs `BIN run FILE` with the config hcl written in a temp dir.
func startProc(t *testing.T, bin, hcl string) *proc {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "site.hcl")
	if err := os.WriteFile(path, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	return startProcFile(t, bin, path)
}

// startProcFile runs `BIN run --no-watch PATH` with extra environment
// variables (NAME=value).
func startProcFile(t *testing.T, bin, path string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "run", "--no-watch", path)
	cmd.Env = append(os.Environ(), env...)
	return startCmd(t, cmd)
}

// startCmd starts cmd (a pagi run command line) and collects its log.
func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan map[string]any, 100), stderr: &strings.Builder{}, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case p.lines <- m:
				default:
				}
			}
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	return p
}

// waitFor returns the first log line whose msg is msg.
func (p *proc) waitFor(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-p.lines:
			if !ok {
				t.Fatalf("process ended before logging %q:\n%s", msg, p.log())
			}
			if m["msg"] == msg {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q log line:\n%s", msg, p.log())
		}
	}
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// exitCode waits for the process to end and returns its exit code.
func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(15 * time.Second):
		t.Fatalf("process did not exit:\n%s", p.log())
	}
	return -1
}

const jsonServer = `server {
  log_format = "json"
  graceful_timeout = "5s"
}
`

func TestRunServesAndDrainsOnSIGTERM(t *testing.T) {
	p := startProc(t, binary(t, "testpagi"), jsonServer+`
listener "web" {
  address = "127.0.0.1:0"
}
site "s" {
  route "GET /hello" {
    respond { body = "hello" }
  }
  route "GET /slow" {
    slow { delay = "700ms" }
  }
}
`)
	addr := p.waitFor(t, "listening")["address"].(string)
	resp, err := http.Get("http://" + addr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello" {
		t.Fatalf("body %q", b)
	}
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	time.Sleep(200 * time.Millisecond) // let the slow request reach the app
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := <-slow; got != "slow done" {
		t.Errorf("in-flight request during shutdown: %q", got)
	}
	if code := p.exitCode(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM:\n%s", code, p.log())
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("port still open after exit")
	}
}

func TestRunLifespanFailureExitsNonZero(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := startProc(t, binary(t, "testpagi"), jsonServer+`
listener "web" {
  address = "`+addr+`"
}
site "s" {
  route "/" {
    lifespan_fail { message = "cannot reach the database" }
  }
}
`)
	if code := p.exitCode(t); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(p.log(), "cannot reach the database") {
		t.Errorf("the app's message is not in the output:\n%s", p.log())
	}
	if strings.Contains(p.log(), `"listening"`) {
		t.Error("server listened despite failed startup")
	}
}

func TestRunInvalidConfigExitsWithDiagnostics(t *testing.T) {
	p := startProc(t, binary(t, "pagi"), `listener "web" {
  address = "127.0.0.1:0"
}
site "s" {
  route "/" {
    statik { root = "." }
  }
}
`)
	if code := p.exitCode(t); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if out := p.log(); !strings.Contains(out, "site.hcl:6:5") || !strings.Contains(out, `"static"`) {
		t.Errorf("diagnostic lacks position or suggestion:\n%s", out)
	}
}

// TestRunCPUProfile: `pagi run --cpuprofile FILE` writes a CPU profile of
// the run that pprof can read (bench/pgo.sh builds default.pgo with it),
// and a profile path that cannot be created is an error before serving.
func TestRunCPUProfile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "site.hcl")
	if err := os.WriteFile(cfg, []byte(jsonServer+`
listener "web" {
  address = "127.0.0.1:0"
}
site "s" {
  route "GET /hello" {
    respond { body = "hello" }
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := binary(t, "pagi")
	prof := filepath.Join(dir, "cpu.pgo")
	cmd := exec.Command(bin, "run", "--no-watch", "--cpuprofile", prof, cfg)
	p := startCmd(t, cmd)
	addr := p.waitFor(t, "listening")["address"].(string)
	for range 200 {
		resp, err := http.Get("http://" + addr + "/hello")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, p.log())
	}
	if out, err := exec.Command("go", "tool", "pprof", "-top", bin, prof).CombinedOutput(); err != nil {
		t.Fatalf("go tool pprof cannot read the profile: %v\n%s", err, out)
	}

	bad := exec.Command(bin, "run", "--no-watch", "--cpuprofile", filepath.Join(dir, "missing", "cpu.pgo"), cfg)
	out, err := bad.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "cpu profile") {
		t.Fatalf("unwritable profile path: err %v, output:\n%s", err, out)
	}
}
