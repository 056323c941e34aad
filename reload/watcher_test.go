package reload

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// fireWithin is how long a change may take to fire. Generous: the
	// machine running the tests may be busy.
	fireWithin = 2 * time.Second
	// quietAfter is how long no second fire may follow the first.
	quietAfter = 300 * time.Millisecond
)

// TestMain raises -test.parallel (unless given): these tests spend their
// time waiting for timers, not computing, and running them two at a time (the
// default on a 2-core machine) would make the package take ~15s.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", "32"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// testOpts are the timings of most tests. Debounce is above the default so
// that a test goroutine descheduled between two steps of one save (on a busy
// machine) does not split the save into two batches.
var testOpts = Options{Debounce: 200 * time.Millisecond, MaxDelay: time.Second}

// logRecorder is a slog.Handler that keeps every message.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

func (l *logRecorder) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// start creates a Watcher on files, closed when the test ends.
func start(t *testing.T, files []string, opts Options) (*Watcher, *logRecorder) {
	t.Helper()
	rec := &logRecorder{}
	if opts.Logger == nil {
		opts.Logger = slog.New(rec)
	}
	w, err := New(files, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w, rec
}

func waitFire(t *testing.T, w *Watcher, within time.Duration, what string) {
	t.Helper()
	select {
	case _, ok := <-w.C():
		if !ok {
			t.Fatalf("%s: C closed", what)
		}
	case <-time.After(within):
		t.Fatalf("%s: no fire within %v", what, within)
	}
}

func noFire(t *testing.T, w *Watcher, during time.Duration, what string) {
	t.Helper()
	select {
	case <-w.C():
		t.Fatalf("%s: unexpected fire", what)
	case <-time.After(during):
	}
}

// exactlyOne asserts one fire within fireWithin and none in the next quietAfter.
func exactlyOne(t *testing.T, w *Watcher, what string) {
	t.Helper()
	waitFire(t, w, fireWithin, what)
	noFire(t, w, quietAfter, what+" (second fire)")
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newSite creates dir/site.hcl with some content and returns its path.
func newSite(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "site.hcl")
	write(t, p, "server {}\n")
	return p
}

// Each save style: exactly one fire, the file's final content visible when
// it fires, and the watch still working afterwards.
func TestSaveStyles(t *testing.T) {
	styles := []struct {
		name string
		save func(t *testing.T, path, content string)
	}{
		{"in-place write", func(t *testing.T, path, content string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte(content), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncate then write", func(t *testing.T, path, content string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(0); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // a reader here would see an empty file
			if _, err := f.WriteAt([]byte(content), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"vim rename save", func(t *testing.T, path, content string) {
			// vim's default on Linux: swap file during the edit, probe the
			// directory with "4913", rename the original to the backup,
			// write a new file, drop the backup and the swap file.
			dir, base := filepath.Split(path)
			swp := filepath.Join(dir, "."+base+".swp")
			write(t, swp, "swap")
			write(t, swp, "swap 2")
			probe := filepath.Join(dir, "4913")
			write(t, probe, "")
			must(t, os.Remove(probe))
			backup := path + "~"
			must(t, os.Rename(path, backup))
			write(t, path, content)
			must(t, os.Chmod(path, 0o644))
			must(t, os.Remove(backup))
			must(t, os.Remove(swp))
		}},
		{"backup written then renamed over", func(t *testing.T, path, content string) {
			tmp := path + "~"
			write(t, tmp, content)
			must(t, os.Rename(tmp, path))
		}},
		{"sed -i", func(t *testing.T, path, content string) {
			// GNU sed: a sedXXXXXX temp file in the same directory,
			// permissions copied, renamed over the original.
			f, err := os.CreateTemp(filepath.Dir(path), "sed")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(content); err != nil {
				t.Fatal(err)
			}
			must(t, f.Chmod(0o644))
			must(t, f.Close())
			must(t, os.Rename(f.Name(), path))
		}},
		{"atomic replace", func(t *testing.T, path, content string) {
			f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(content); err != nil {
				t.Fatal(err)
			}
			must(t, f.Sync())
			must(t, f.Close())
			must(t, os.Rename(f.Name(), path))
		}},
		{"delete then re-create", func(t *testing.T, path, content string) {
			must(t, os.Remove(path))
			time.Sleep(20 * time.Millisecond)
			write(t, path, content)
		}},
	}
	for _, s := range styles {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			path := newSite(t)
			w, _ := start(t, []string{path}, testOpts)
			for i := 1; i <= 2; i++ {
				want := fmt.Sprintf("server { # save %d }\n", i)
				s.save(t, path, want)
				exactlyOne(t, w, fmt.Sprintf("save %d", i))
				if got := mustRead(t, path); got != want {
					t.Fatalf("save %d: content %q, want %q", i, got, want)
				}
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A delete alone fires (so the caller reports the missing file), and the
// file's return fires again.
func TestDeleteAloneFiresAndReturnFiresAgain(t *testing.T) {
	t.Parallel()
	path := newSite(t)
	w, _ := start(t, []string{path}, Options{Debounce: 100 * time.Millisecond, MaxDelay: 500 * time.Millisecond})
	must(t, os.Remove(path))
	exactlyOne(t, w, "delete")
	if exists(path) {
		t.Fatal("file exists after delete")
	}
	write(t, path, "back\n")
	exactlyOne(t, w, "re-create")
	write(t, path, "again\n")
	exactlyOne(t, w, "write after re-create")
}

// kubeSwap does what the kubelet's atomic writer does to update a mounted
// ConfigMap: new timestamped directory, new ..data symlink renamed over the
// old one, old directory removed.
func kubeSwap(t *testing.T, dir, oldTS, newTS, content string) {
	t.Helper()
	must(t, os.Mkdir(filepath.Join(dir, newTS), 0o755))
	write(t, filepath.Join(dir, newTS, "site.hcl"), content)
	must(t, os.Symlink(newTS, filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	must(t, os.RemoveAll(filepath.Join(dir, oldTS)))
}

func TestConfigMapDataSwap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// /etc/config/site.hcl -> ..data/site.hcl, ..data -> ..2026_11_27_10_00_00.1
	ts1, ts2, ts3 := "..2026_11_27_10_00_00.1", "..2026_11_27_10_05_00.2", "..2026_11_27_10_10_00.3"
	must(t, os.Mkdir(filepath.Join(dir, ts1), 0o755))
	write(t, filepath.Join(dir, ts1, "site.hcl"), "v1\n")
	write(t, filepath.Join(dir, ts1, "other.hcl"), "x\n")
	must(t, os.Symlink(ts1, filepath.Join(dir, "..data")))
	must(t, os.Symlink(filepath.Join("..data", "site.hcl"), filepath.Join(dir, "site.hcl")))
	must(t, os.Symlink(filepath.Join("..data", "other.hcl"), filepath.Join(dir, "other.hcl")))
	path := filepath.Join(dir, "site.hcl")

	w, _ := start(t, []string{path}, testOpts)
	kubeSwap(t, dir, ts1, ts2, "v2\n")
	exactlyOne(t, w, "first swap")
	if got := mustRead(t, path); got != "v2\n" {
		t.Fatalf("content %q after swap", got)
	}
	// The new real directory is watched (a hop of the chain).
	write(t, filepath.Join(dir, ts2, "site.hcl"), "v2 edited\n")
	exactlyOne(t, w, "write to the real file")
	// ...but not an unrelated key beside it.
	write(t, filepath.Join(dir, ts2, "other.hcl"), "y\n")
	noFire(t, w, testOpts.Debounce+quietAfter, "other key")
	kubeSwap(t, dir, ts2, ts3, "v3\n")
	exactlyOne(t, w, "second swap")
	if got := mustRead(t, path); got != "v3\n" {
		t.Fatalf("content %q after second swap", got)
	}
}

// A symlink to a file in another directory: both directories count.
func TestSymlinkToOtherDirectory(t *testing.T) {
	t.Parallel()
	real := newSite(t)
	link := filepath.Join(t.TempDir(), "site.hcl")
	must(t, os.Symlink(real, link))
	w, _ := start(t, []string{link}, testOpts)
	write(t, real, "edited\n")
	exactlyOne(t, w, "write to the target")
	real2 := newSite(t)
	must(t, os.Remove(link))
	must(t, os.Symlink(real2, link))
	exactlyOne(t, w, "link re-pointed")
	write(t, real2, "edited too\n")
	exactlyOne(t, w, "write to the new target")
	write(t, real, "old target\n")
	noFire(t, w, testOpts.Debounce+quietAfter, "old target")
}

func TestDirectoryRemovedAndRecreated(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "conf")
	must(t, os.Mkdir(dir, 0o755))
	path := filepath.Join(dir, "site.hcl")
	write(t, path, "v1\n")
	w, rec := start(t, []string{path}, Options{Debounce: 200 * time.Millisecond, MaxDelay: 1500 * time.Millisecond})

	must(t, os.RemoveAll(dir))
	// Let the watcher retry (every 250ms) a few times while it is gone.
	time.Sleep(600 * time.Millisecond)
	must(t, os.Mkdir(dir, 0o755))
	write(t, path, "v2\n")
	exactlyOne(t, w, "directory re-created")
	if n := rec.count("cannot watch config directory"); n != 1 {
		t.Errorf("missing directory logged %d times, want once", n)
	}
	write(t, path, "v3\n")
	exactlyOne(t, w, "write after re-create")

	// Removed and re-created faster than the watcher can look.
	must(t, os.RemoveAll(dir))
	must(t, os.Mkdir(dir, 0o755))
	write(t, path, "v4\n")
	exactlyOne(t, w, "quick re-create")
	write(t, path, "v5\n")
	exactlyOne(t, w, "write after quick re-create")
}

// The config's directory does not exist yet when watching starts.
func TestDirectoryCreatedLater(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "site.hcl")
	w, _ := start(t, []string{path}, testOpts)
	must(t, os.Mkdir(dir, 0o755))
	write(t, path, "v1\n")
	exactlyOne(t, w, "created")
	write(t, path, "v2\n")
	exactlyOne(t, w, "written")
}

// A dangling symlink does not stop New (it broke Traefik's startup); the
// target appearing fires.
func TestDanglingSymlink(t *testing.T) {
	t.Parallel()
	target := filepath.Join(t.TempDir(), "real.hcl")
	link := filepath.Join(t.TempDir(), "site.hcl")
	must(t, os.Symlink(target, link))
	w, _ := start(t, []string{link}, testOpts)
	write(t, target, "now it exists\n")
	exactlyOne(t, w, "target created")
	write(t, target, "edited\n")
	exactlyOne(t, w, "target edited")
}

func TestUnrelatedFilesDoNotFire(t *testing.T) {
	t.Parallel()
	path := newSite(t)
	dir := filepath.Dir(path)
	w, _ := start(t, []string{path}, testOpts)
	for _, name := range []string{"other.hcl", "4913", "site.hcl~", ".site.hcl.swp", ".#site.hcl", "sedAbc123", "site.hcl.bak"} {
		p := filepath.Join(dir, name)
		write(t, p, "x")
		write(t, p, "y")
		must(t, os.Rename(p, p+".moved"))
		must(t, os.Remove(p+".moved"))
	}
	must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	noFire(t, w, testOpts.Debounce+quietAfter, "unrelated files")
	write(t, path, "changed\n")
	exactlyOne(t, w, "watched file after unrelated ones")
}

func TestChmodDoesNotFire(t *testing.T) {
	t.Parallel()
	path := newSite(t)
	w, _ := start(t, []string{path}, testOpts)
	must(t, os.Chmod(path, 0o600))
	must(t, os.Chmod(path, 0o644))
	now := time.Now()
	must(t, os.Chtimes(path, now, now))
	must(t, os.Chmod(filepath.Dir(path), 0o755))
	noFire(t, w, testOpts.Debounce+quietAfter, "chmod")
	write(t, path, "changed\n")
	exactlyOne(t, w, "write after chmod")
}

func TestDebounceCoalesces(t *testing.T) {
	t.Parallel()
	path := newSite(t)
	// MaxDelay well above the burst so only Debounce is under test.
	const debounce = 300 * time.Millisecond
	w, _ := start(t, []string{path}, Options{Debounce: debounce, MaxDelay: 5 * time.Second})
	var maxGap time.Duration
	prev := time.Now()
	for i := range 20 {
		write(t, path, fmt.Sprintf("write %d\n", i))
		now := time.Now()
		maxGap = max(maxGap, now.Sub(prev))
		prev = now
		time.Sleep(10 * time.Millisecond)
	}
	if maxGap >= debounce {
		// The premise (writes closer than Debounce) did not hold.
		t.Skipf("machine too busy: two writes were %v apart", maxGap)
	}
	exactlyOne(t, w, "20 writes")
}

func TestMaxDelayCapsSteadyWrites(t *testing.T) {
	t.Parallel()
	path := newSite(t)
	w, _ := start(t, []string{path}, Options{Debounce: 200 * time.Millisecond, MaxDelay: 500 * time.Millisecond})
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		end := time.Now().Add(1500 * time.Millisecond)
		for i := 0; time.Now().Before(end); i++ {
			if err := os.WriteFile(path, []byte(fmt.Sprint(i)), 0o644); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	fires := 0
	for stopped := false; !stopped; {
		select {
		case <-w.C():
			fires++
		case <-stop:
			stopped = true
		}
	}
	if fires < 2 {
		t.Fatalf("%d fires during 1.5s of writes every 50ms, want at least 2", fires)
	}
}

// A slow consumer gets one pending value, not a backlog, and the watcher
// goes on working while nobody reads.
func TestSlowConsumerCoalesces(t *testing.T) {
	t.Parallel()
	path := newSite(t)
	w, _ := start(t, []string{path}, Options{Debounce: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond})
	for i := range 3 {
		write(t, path, fmt.Sprint(i))
		time.Sleep(200 * time.Millisecond) // each write is its own batch
	}
	waitFire(t, w, fireWithin, "pending")
	noFire(t, w, quietAfter, "backlog")
}

func TestSetFiles(t *testing.T) {
	t.Parallel()
	a := newSite(t)
	b := filepath.Join(t.TempDir(), "other.hcl")
	write(t, b, "b\n")
	w, _ := start(t, []string{a}, testOpts)
	must(t, w.SetFiles([]string{b}))
	if got, want := w.fw.WatchList(), []string{filepath.Dir(b)}; !slices.Equal(got, want) {
		t.Errorf("watching %v, want %v", got, want)
	}
	write(t, a, "a changed\n")
	noFire(t, w, testOpts.Debounce+quietAfter, "old file")
	write(t, b, "b changed\n")
	exactlyOne(t, w, "new file")

	// Both, in two directories; a missing include is fine.
	must(t, w.SetFiles([]string{a, b, filepath.Join(filepath.Dir(a), "missing.hcl")}))
	write(t, a, "a again\n")
	exactlyOne(t, w, "first of two")
	write(t, b, "b again\n")
	exactlyOne(t, w, "second of two")
}

func TestCloseStopsEverything(t *testing.T) {
	// Not parallel: counts goroutines. Parallel tests start only after all
	// sequential ones have finished.
	before := runtime.NumGoroutine()
	path := newSite(t)
	missing := filepath.Join(t.TempDir(), "nope", "site.hcl") // keeps the retry ticker running
	w, err := New([]string{path, missing}, Options{Debounce: 20 * time.Millisecond, Poll: 50 * time.Millisecond, Logger: slog.New(&logRecorder{})})
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, "changed\n")
	waitFire(t, w, fireWithin, "before close")
	write(t, path, "pending at close\n")
	must(t, w.Close())
	must(t, w.Close()) // idempotent
	if _, ok := <-w.C(); ok {
		// A fire may have been waiting; after it C must be closed.
		if _, ok := <-w.C(); ok {
			t.Fatal("C not closed after Close")
		}
	}
	if err := w.SetFiles([]string{path}); err != ErrClosed {
		t.Fatalf("SetFiles after Close: %v, want ErrClosed", err)
	}
	if l := w.fw.WatchList(); len(l) != 0 {
		t.Fatalf("watches left after Close: %v", l)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Options.Poll finds changes that produce no event in the watched directory,
// as on NFS or a bind mount: here the file is written through a hard link in
// another directory, which inotify reports only to that directory.
func TestPollFindsChangesWithoutEvents(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	must(t, os.Mkdir(filepath.Join(root, "conf"), 0o755))
	must(t, os.Mkdir(filepath.Join(root, "elsewhere"), 0o755))
	path := filepath.Join(root, "conf", "site.hcl")
	hard := filepath.Join(root, "elsewhere", "site.hcl")
	write(t, path, "v1\n")
	must(t, os.Link(path, hard))

	quiet, _ := start(t, []string{path}, Options{Debounce: 20 * time.Millisecond})
	polled, _ := start(t, []string{path}, Options{Debounce: 20 * time.Millisecond, Poll: 100 * time.Millisecond})
	noFire(t, polled, quietAfter, "poll without change")
	write(t, hard, "v2\n")
	exactlyOne(t, polled, "poll")
	noFire(t, quiet, 50*time.Millisecond, "without Poll (the limitation Poll exists for)")
}

func TestFSErrorsRateLimited(t *testing.T) {
	rec := &logRecorder{}
	st := &state{log: slog.New(rec)}
	for range 100 {
		st.fsError(fmt.Errorf("boom"))
	}
	if n := rec.count("config watch error"); n != 1 {
		t.Fatalf("%d error lines for 100 errors, want 1", n)
	}
	if st.errSuppressed != 99 {
		t.Fatalf("suppressed %d, want 99", st.errSuppressed)
	}
}

func TestHash(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	missing := filepath.Join(dir, "missing")
	write(t, a, "alpha")
	write(t, b, "beta")
	hash := func(files ...string) string {
		t.Helper()
		h, err := Hash(files)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h1 := hash(a, b)
	if len(h1) != 64 {
		t.Fatalf("hash %q is not sha256 hex", h1)
	}
	if hash(a, b) != h1 {
		t.Fatal("hash not stable")
	}
	write(t, a, "alpha") // a save with no change
	if hash(a, b) != h1 {
		t.Fatal("hash changed on an identical rewrite")
	}
	if hash(b, a) == h1 {
		t.Fatal("hash ignores order")
	}
	write(t, a, "alpha2")
	if hash(a, b) == h1 {
		t.Fatal("hash did not change with content")
	}
	write(t, a, "alpha")
	if hash(a, b) != h1 {
		t.Fatal("hash not restored with content")
	}
	// Boundaries count: "ab"+"c" differs from "a"+"bc".
	write(t, a, "ab")
	write(t, b, "c")
	hab := hash(a, b)
	write(t, a, "a")
	write(t, b, "bc")
	if hash(a, b) == hab {
		t.Fatal("hash ignores file boundaries")
	}
	// Missing is a marker, not an error, and differs from empty.
	hm := hash(a, missing)
	write(t, missing, "")
	if hash(a, missing) == hm {
		t.Fatal("missing file hashes like an empty one")
	}
	must(t, os.Remove(missing))
	if hash(a, missing) != hm {
		t.Fatal("missing marker not stable")
	}
	if _, err := Hash([]string{dir}); err == nil {
		t.Fatal("hashing a directory: no error")
	}
	if _, err := Hash([]string{os.DevNull}); err == nil {
		t.Fatal("hashing a device: no error")
	}
}
