// Command reloadlat measures live reload latency: the time from saving a
// config file to the first request answered by the new config.
//
//	go build -o /tmp/pagi ./cmd/pagi
//	go run ./bench/reloadlat -bin /tmp/pagi -n 100
//
// It runs `pagi run` (watching) on a config with one respond route, then
// rewrites the config n times, each time with a new body, and after each
// save polls GET every -poll (1ms) on a keep-alive connection until the body
// is the new one. It reports the median, p90, p99 and max of that latency,
// and of the "took" of each "reloaded" log line (load, compile and swap,
// without the watcher's debounce). The latency includes the 100 ms debounce.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "", "path of the pagi binary (required)")
	n := flag.Int("n", 100, "number of saves")
	poll := flag.Duration("poll", time.Millisecond, "pause between two polls")
	save := flag.String("save", "write", "how to save: write (truncate and write in place) or rename (temp file renamed over)")
	routes := flag.Int("routes", 0, "extra respond routes in the config, to see how its size weighs")
	logPath := flag.String("log", "", "write pagi's log (at debug level) to this file")
	flag.Parse()
	if *bin == "" || *n < 1 || (*save != "write" && *save != "rename") {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*bin, *n, *poll, *save, *routes, *logPath); err != nil {
		fmt.Fprintln(os.Stderr, "reloadlat:", err)
		os.Exit(1)
	}
}

// logLevel is the config's log_level: debug with -log.
var logLevel = "info"

func config(port int, token string, routes int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "server {\n  log_format = \"json\"\n  log_level  = %q\n}\n\n", logLevel)
	fmt.Fprintf(&b, "listener \"web\" {\n  address = \"127.0.0.1:%d\"\n}\n\nsite \"bench\" {\n", port)
	fmt.Fprintf(&b, "  route \"GET /token\" {\n    respond { body = %q }\n  }\n", token)
	for i := range routes {
		fmt.Fprintf(&b, "  route \"GET /r%d\" {\n    respond { body = \"%d\" }\n  }\n", i, i)
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func writeConfig(path string, data []byte, style string) error {
	if style == "rename" {
		tmp := filepath.Join(filepath.Dir(path), ".site.hcl.tmp")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, path)
	}
	return os.WriteFile(path, data, 0o644)
}

func run(bin string, n int, poll time.Duration, style string, routes int, logPath string) error {
	var logFile io.Writer = io.Discard
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return err
		}
		defer f.Close()
		logFile = f
		logLevel = "debug"
	}
	dir, err := os.MkdirTemp("", "reloadlat")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "site.hcl")
	if err := os.WriteFile(path, config(port, "t0", routes), 0o644); err != nil {
		return err
	}

	cmd := exec.Command(bin, "run", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		_ = cmd.Process.Kill()
		os.Exit(130)
	}()

	// Log lines: "pagi is serving" once, then one "reloaded" (or a failure)
	// per save.
	serving := make(chan struct{})
	reloads := make(chan map[string]any, n+10)
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				fmt.Fprintln(os.Stderr, sc.Text())
				continue
			}
			switch msg, _ := m["msg"].(string); {
			case msg == "pagi is serving" && !once:
				once = true
				close(serving)
			case msg == "reloaded" || strings.HasPrefix(msg, "reload failed"):
				reloads <- m
			}
		}
		close(reloads)
	}()
	select {
	case <-serving:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("pagi did not start")
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 5 * time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/token", port)
	get := func() (string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if _, err := get(); err != nil {
		return err
	}

	var lat, took []time.Duration
	polls := 0
	for i := 1; i <= n; i++ {
		token := fmt.Sprintf("t%d-%d", i, time.Now().UnixNano())
		data := config(port, token, routes)
		saved := time.Now() // before the write: a stall after it must not shorten the figure
		if err := writeConfig(path, data, style); err != nil {
			return err
		}
		for {
			body, err := get()
			polls++
			if err != nil {
				return fmt.Errorf("save %d: %w", i, err)
			}
			if body == token {
				lat = append(lat, time.Since(saved))
				break
			}
			if time.Since(saved) > 10*time.Second {
				return fmt.Errorf("save %d: the new body never appeared", i)
			}
			time.Sleep(poll)
		}
		select {
		case m, ok := <-reloads:
			if !ok {
				return fmt.Errorf("pagi exited")
			}
			if m["msg"] != "reloaded" {
				return fmt.Errorf("save %d: %v", i, m)
			}
			if s, _ := m["took"].(string); s != "" {
				if d, err := time.ParseDuration(s); err == nil {
					took = append(took, d)
				}
			}
		case <-time.After(5 * time.Second):
			return fmt.Errorf("save %d: no reload log line", i)
		}
	}

	fmt.Printf("pagi live reload: %d saves (%s), config with %d routes, polling every %s (%d polls)\n",
		n, style, routes+1, poll, polls)
	fmt.Printf("%-36s %9s %9s %9s %9s %9s\n", "", "min", "median", "p90", "p99", "max")
	report("save → first new response", lat)
	report("took (load + compile + swap)", took)
	return nil
}

func report(name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
	fmt.Printf("%-36s %9s %9s %9s %9s %9s\n", name, ms(ds[0]), ms(pct(ds, 0.5)), ms(pct(ds, 0.9)), ms(pct(ds, 0.99)), ms(ds[len(ds)-1]))
}

// pct is the nearest-rank percentile of sorted ds.
func pct(ds []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}
