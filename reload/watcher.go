// Package reload tells its caller when the configuration files it loaded may
// have changed, so that the caller can re-read, validate and swap them.
//
// # Why directories, not files
//
// A watch on a file is a watch on one inode. Most ways of saving a file
// replace that inode instead of writing into it: vim renames the original to
// a backup and writes a new file, `sed -i` and most IDEs write a temporary
// file and rename it over the original, and a Kubernetes ConfigMap update
// never touches the file at all but atomically re-points a `..data` symlink
// at a new directory. A file watch sees one REMOVE or RENAME and then nothing
// ever again. So a [Watcher] watches the directories that hold the files, and
// the directories of every symlink on the way from a file's path to its real
// location, and keeps only events whose path is one of those files, one of
// those symlinks, or a directory above one of them. Editors' scratch files
// (vim's `4913`, `name~`, `.name.swp`, emacs's `.#name`, sed's `sedXXXXXX`)
// live in the same directories and are ignored because their names never
// match.
//
// # What a fire means
//
// A value on [Watcher.C] means "re-read the files now": one save produces
// several events (truncate then write, rename then create then chmod), so
// events are debounced and a fire comes only once the files have been quiet
// for Options.Debounce, or at the latest Options.MaxDelay after the first
// event, so that a file written continuously is still picked up. If a file
// that existed at the previous fire is missing when the quiet time ends (a
// save by rename caught half way, a delete followed by a re-create), the fire
// waits for it until MaxDelay; a file that stays deleted therefore fires too,
// and fires again when it comes back. Chmod-only events never fire.
//
// A fire may be spurious (a save with no change, a backup rename): callers
// compare [Hash] of the files with the hash of what they loaded and do
// nothing when it is unchanged. Hashing every referenced file (includes,
// certificates) is what makes a renewed certificate reload even though the
// main file is unchanged.
//
// # Limits
//
// A file bind-mounted on its own into a container pins the inode: a host
// editor that saves by rename creates a new inode the container never sees,
// and no watcher can notice (mount the directory instead; logging the loaded
// Hash makes this diagnosable). In-place writes to such a file, writes
// through a hard link in another directory, and changes on NFS and some FUSE
// file systems made elsewhere produce no event in the watched directory; set
// Options.Poll to also compare the files' content hash periodically. A move of a directory above a watched
// directory (not part of a symlink chain) is noticed at the next event in it,
// or at the next Poll.
package reload

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Default timings, used when the corresponding Options field is zero.
const (
	// DefaultDebounce is the default Options.Debounce.
	DefaultDebounce = 100 * time.Millisecond
	// DefaultMaxDelay is the default Options.MaxDelay.
	DefaultMaxDelay = time.Second
)

const (
	// dirRetryInterval is how often a watched directory that does not exist
	// (removed, not yet created, or unwatchable) is tried again.
	dirRetryInterval = 250 * time.Millisecond
	// errorLogInterval is the least time between two log lines about errors
	// reported by fsnotify; errors in between are counted, not logged.
	errorLogInterval = 5 * time.Second
	// maxHops bounds symlink resolution, as the kernel's MAXSYMLINKS does.
	maxHops = 40
)

// ErrClosed is returned by [Watcher.SetFiles] after [Watcher.Close].
var ErrClosed = errors.New("reload: watcher is closed")

// Options configure a Watcher. The zero value is ready to use.
type Options struct {
	// Debounce is the quiet time after the last relevant event before C
	// fires. Zero or negative means DefaultDebounce (100ms).
	Debounce time.Duration
	// MaxDelay caps the wait: a steady stream of writes still fires this
	// long after the first event of a batch. Zero or negative means
	// DefaultMaxDelay (1s); a value below Debounce is raised to Debounce.
	MaxDelay time.Duration
	// Poll, if positive, also hashes the files' contents every Poll and
	// treats a difference as a change, for file systems that deliver no
	// events (NFS, some FUSE mounts, single-file bind mounts). Zero
	// disables polling.
	Poll time.Duration
	// Logger receives warnings (a watched directory is missing, fsnotify
	// errors, rate-limited) and debug lines about events. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Watcher watches a set of files (by watching their directories) and sends
// on C when their content may have changed.
//
// Concurrency: C, SetFiles and Close may be called from any goroutine,
// concurrently. Everything else is owned by one internal goroutine, which
// never blocks on the consumer of C: a fire that finds C full is merged with
// the one already waiting there. From New until Close returns, a Watcher runs
// exactly two goroutines (its own and fsnotify's reader); Close stops both,
// removes every watch and closes C.
type Watcher struct {
	fw     *fsnotify.Watcher
	c      chan struct{}
	setReq chan setRequest
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when run has returned

	closeOnce sync.Once
	closeErr  error // fw.Close's result, written by run before exited is closed

	st *state // owned by the run goroutine once it has started
}

type setRequest struct {
	files []string
	reply chan error // buffered; receives exactly one value
}

// state is everything the run goroutine owns.
type state struct {
	fw   *fsnotify.Watcher
	c    chan struct{}
	log  *slog.Logger
	opts Options

	files   []string            // absolute, in the caller's order
	present []bool              // files[i] existed at the last fire (or at New/SetFiles)
	names   map[string]struct{} // relevant paths: files, every symlink hop, real targets
	dirs    map[string]struct{} // directories that should be watched
	watched map[string]os.FileInfo
	missing map[string]bool // desired directories that could not be watched

	pending     bool
	first, last time.Time
	timer       *time.Timer
	retry       *time.Ticker // non-nil while missing is not empty
	poll        *time.Ticker // non-nil if opts.Poll > 0
	lastHash    string

	errLast       time.Time
	errSuppressed int
}

// New starts watching files and returns the Watcher. Relative paths are made
// absolute against the current directory. Files and directories that do not
// exist yet are not an error: their directories are retried every 250ms. New
// fails if fsnotify cannot be started or an existing directory cannot be
// watched (for example the inotify watch limit is reached or permission is
// denied).
func New(files []string, opts Options) (*Watcher, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.MaxDelay < opts.Debounce {
		opts.MaxDelay = opts.Debounce
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	abs, err := absPaths(files)
	if err != nil {
		return nil, err
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("reload: starting file watcher: %w", err)
	}
	st := &state{
		fw:      fw,
		c:       make(chan struct{}, 1),
		log:     opts.Logger,
		opts:    opts,
		watched: make(map[string]os.FileInfo),
		missing: make(map[string]bool),
		timer:   time.NewTimer(time.Hour),
	}
	st.timer.Stop()
	if err := st.setFiles(abs); err != nil {
		st.stop()
		return nil, err
	}
	if opts.Poll > 0 {
		st.poll = time.NewTicker(opts.Poll)
	}
	w := &Watcher{
		fw:     fw,
		c:      st.c,
		setReq: make(chan setRequest),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		st:     st,
	}
	go w.run()
	return w, nil
}

// C returns the channel that receives one value per debounced batch of
// changes. It has a buffer of one: if the consumer is slow, pending fires
// collapse into one. C is closed when Close has stopped the Watcher.
func (w *Watcher) C() <-chan struct{} { return w.c }

// SetFiles replaces the set of watched files, typically after a reload whose
// includes or certificates differ from the previous one. Directories no
// longer needed are unwatched, new ones watched; a batch already pending is
// kept. Changes made to newly added files before SetFiles returns are not
// reported: a caller that must not miss them compares Hash afterwards with
// the hash of what it loaded. The error reports directories that exist but
// could not be watched; they are retried every 250ms and the rest of the set
// is watched regardless. After Close, SetFiles returns ErrClosed.
func (w *Watcher) SetFiles(files []string) error {
	abs, err := absPaths(files)
	if err != nil {
		return err
	}
	req := setRequest{files: abs, reply: make(chan error, 1)}
	select {
	case w.setReq <- req:
		return <-req.reply // run replies to every request it receives
	case <-w.done:
		return ErrClosed
	}
}

// Close stops the Watcher: it removes every watch, stops its goroutines and
// timers, waits for them to return and closes C. It is safe to call more than
// once and from several goroutines; later calls return the first result.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.done)
		<-w.exited
	})
	return w.closeErr
}

// run is the Watcher's goroutine: it owns w.st and is the only sender on C.
func (w *Watcher) run() {
	st := w.st
	defer close(w.exited)
	defer func() { w.closeErr = st.stop() }()

	events, errs := st.fw.Events, st.fw.Errors
	for {
		var retryC, pollC <-chan time.Time
		if st.retry != nil {
			retryC = st.retry.C
		}
		if st.poll != nil {
			pollC = st.poll.C
		}
		select {
		case <-w.done:
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			st.event(ev)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			st.fsError(err)
		case <-st.timer.C:
			// Events that arrived while this goroutine was not running
			// belong to the batch: take them before deciding to fire, or a
			// busy machine would split one save into two fires.
			for drained := false; !drained; {
				select {
				case ev, ok := <-events:
					if !ok {
						events = nil
						drained = true
						continue
					}
					st.event(ev)
				default:
					drained = true
				}
			}
			st.deadline()
		case <-retryC:
			if changed, _ := st.reconcile(); changed {
				st.touch()
			}
		case <-pollC:
			st.pollTick()
		case req := <-w.setReq:
			req.reply <- st.setFiles(req.files)
		}
	}
}

// stop releases everything st holds and closes C. Only run (or New, before
// run exists) calls it.
func (st *state) stop() error {
	st.timer.Stop()
	if st.retry != nil {
		st.retry.Stop()
	}
	if st.poll != nil {
		st.poll.Stop()
	}
	err := st.fw.Close() // removes all watches and waits for fsnotify's reader
	close(st.c)
	return err
}

// setFiles makes files the watched set. The error reports directories that
// exist but could not be watched.
func (st *state) setFiles(files []string) error {
	st.files = files
	st.present = make([]bool, len(files))
	for i, f := range files {
		st.present[i] = exists(f)
	}
	_, err := st.reconcile()
	if st.opts.Poll > 0 {
		st.lastHash = st.hash()
	}
	return err
}

// event handles one fsnotify event.
func (st *state) event(ev fsnotify.Event) {
	if ev.Op&^fsnotify.Chmod == 0 {
		return // chmod (or touch) alone changes no content
	}
	name := filepath.Clean(ev.Name)
	if !st.relevant(name) {
		return
	}
	st.log.Debug("config file event", "path", name, "op", ev.Op.String())
	if ev.Op.Has(fsnotify.Create) || ev.Op.Has(fsnotify.Remove) || ev.Op.Has(fsnotify.Rename) {
		st.reconcile() // a symlink chain may now lead elsewhere, a directory may be gone
	}
	st.touch()
}

// relevant reports whether an event on name can change a watched file: name
// is a watched file, a symlink on the way to one, the real file, or a
// directory above any of those.
func (st *state) relevant(name string) bool {
	if _, ok := st.names[name]; ok {
		return true
	}
	prefix := name + string(filepath.Separator)
	for n := range st.names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// touch records a relevant event and (re)arms the timer.
func (st *state) touch() {
	now := time.Now()
	if !st.pending {
		st.pending = true
		st.first = now
	}
	st.last = now
	at := st.last.Add(st.opts.Debounce)
	if limit := st.first.Add(st.opts.MaxDelay); at.After(limit) {
		at = limit
	}
	st.timer.Reset(time.Until(at))
}

// deadline runs when the timer expires: it fires, or keeps waiting for a file
// that vanished during the batch.
func (st *state) deadline() {
	if !st.pending {
		return
	}
	now := time.Now()
	limit := st.first.Add(st.opts.MaxDelay)
	if now.Before(limit) {
		if quiet := st.last.Add(st.opts.Debounce); now.Before(quiet) {
			st.timer.Reset(quiet.Sub(now))
			return
		}
		if st.vanished() {
			st.timer.Reset(limit.Sub(now))
			return
		}
	}
	if len(st.missing) > 0 {
		// A directory that is back must be watched before the caller reads,
		// or the next change in it would be lost (and the retry would fire
		// a second time for this same batch).
		st.reconcile()
	}
	st.fire()
}

// vanished reports whether a file that existed at the last fire is missing.
func (st *state) vanished() bool {
	for i, f := range st.files {
		if st.present[i] && !exists(f) {
			return true
		}
	}
	return false
}

// fire ends the batch and signals C without blocking.
func (st *state) fire() {
	st.pending = false
	for i, f := range st.files {
		st.present[i] = exists(f)
	}
	if st.opts.Poll > 0 {
		st.lastHash = st.hash()
	}
	select {
	case st.c <- struct{}{}:
	default: // a fire is already waiting; this one merges with it
	}
}

// pollTick compares the files' hash with the last one seen (Options.Poll).
func (st *state) pollTick() {
	changed, _ := st.reconcile()
	if h := st.hash(); h != st.lastHash {
		st.lastHash = h
		changed = true
	}
	if changed {
		st.touch()
	}
}

func (st *state) hash() string {
	h, err := Hash(st.files)
	if err != nil {
		return "error: " + err.Error()
	}
	return h
}

// fsError logs an error from fsnotify, at most once per errorLogInterval.
// Watching continues. A queue overflow means events were lost, so it counts
// as a change.
func (st *state) fsError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		st.reconcile()
		st.touch()
	}
	now := time.Now()
	if !st.errLast.IsZero() && now.Sub(st.errLast) < errorLogInterval {
		st.errSuppressed++
		return
	}
	if st.errSuppressed > 0 {
		st.log.Warn("config watch error", "error", err, "suppressed", st.errSuppressed)
	} else {
		st.log.Warn("config watch error", "error", err)
	}
	st.errLast = now
	st.errSuppressed = 0
}

// reconcile resolves every file's symlink chain, then makes the set of
// watched directories match it: unneeded ones are removed, missing ones
// added, and ones that were replaced (same path, new inode: removed and
// re-created) watched again. It reports whether a directory came back or was
// replaced, since changes inside it may have gone unseen. Directories that
// cannot be watched are logged once and retried every dirRetryInterval; the
// error lists those that exist (so the failure is not just "not yet there").
func (st *state) reconcile() (changed bool, err error) {
	r := resolver{names: make(map[string]struct{}), dirs: make(map[string]struct{})}
	for _, f := range st.files {
		r.resolve(f, true)
		if real, err := filepath.EvalSymlinks(f); err == nil {
			r.add(real)
		}
	}
	st.names, st.dirs = r.names, r.dirs

	for d := range st.watched {
		if _, ok := st.dirs[d]; !ok {
			_ = st.fw.Remove(d) // may already be gone with the directory
			delete(st.watched, d)
		}
	}
	for d := range st.missing {
		if _, ok := st.dirs[d]; !ok {
			delete(st.missing, d)
		}
	}
	have := make(map[string]bool)
	for _, p := range st.fw.WatchList() {
		have[p] = true
	}
	var errs []error
	for d := range st.dirs {
		fi, err := os.Stat(d)
		if err == nil && !fi.IsDir() {
			err = fmt.Errorf("%w: not a directory", fs.ErrNotExist)
		}
		old, wasWatched := st.watched[d]
		if err == nil && wasWatched && have[d] && os.SameFile(old, fi) {
			continue
		}
		if wasWatched {
			_ = st.fw.Remove(d)
			delete(st.watched, d)
			changed = true
		}
		if err == nil {
			if err = st.fw.Add(d); err != nil {
				errs = append(errs, fmt.Errorf("reload: watching %s: %w", d, err))
			}
		}
		if err == nil {
			st.watched[d] = fi
			if st.missing[d] {
				delete(st.missing, d)
				st.log.Info("watching config directory again", "dir", d)
				changed = true
			}
			continue
		}
		if !st.missing[d] {
			st.missing[d] = true
			st.log.Warn("cannot watch config directory; retrying every 250ms", "dir", d, "error", err)
		}
	}
	st.updateRetry()
	return changed, errors.Join(errs...)
}

// updateRetry runs the retry ticker exactly while a directory is missing.
func (st *state) updateRetry() {
	switch {
	case len(st.missing) > 0 && st.retry == nil:
		st.retry = time.NewTicker(dirRetryInterval)
	case len(st.missing) == 0 && st.retry != nil:
		st.retry.Stop()
		st.retry = nil
	}
}

// resolver follows symlink chains and collects what must be watched.
type resolver struct {
	names map[string]struct{} // every path whose change changes what a file is
	dirs  map[string]struct{} // the (real) directories holding those paths
	hops  int
}

func (r *resolver) add(p string) {
	r.names[p] = struct{}{}
	r.dirs[filepath.Dir(p)] = struct{}{}
}

// resolve returns the real path of p, resolving symlinks component by
// component. Every symlink met on the way is recorded (its own path, in its
// real directory), and so is the final path if final is set. Components that
// do not exist are kept as they are, so a missing file or directory is still
// watched for from the nearest real place.
func (r *resolver) resolve(p string, final bool) string {
	parent := filepath.Dir(p)
	if parent == p {
		return p // root
	}
	dir := r.resolve(parent, false)
	q := filepath.Join(dir, filepath.Base(p))
	if r.hops < maxHops {
		if fi, err := os.Lstat(q); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if target, err := os.Readlink(q); err == nil {
				r.hops++
				r.add(q)
				if !filepath.IsAbs(target) {
					target = filepath.Join(dir, target) // dir is real, so ".." is exact
				}
				return r.resolve(filepath.Clean(target), final)
			}
		}
	}
	if final {
		r.add(q)
	}
	return q
}

// Hash returns a sha256 hex digest of the contents of files in order. A
// missing file (or a dangling symlink) hashes as a marker distinct from any
// content, including empty content, and is not an error; other errors
// (permission denied, a directory, a pipe) are. Use it to tell a save that changed
// nothing from a real change, and include every file the config references.
func Hash(files []string) (string, error) {
	outer := sha256.New()
	for _, f := range files {
		sum, ok, err := hashFile(f)
		if err != nil {
			return "", err
		}
		if !ok {
			outer.Write([]byte{0})
			continue
		}
		outer.Write([]byte{1})
		outer.Write(sum)
	}
	return hex.EncodeToString(outer.Sum(nil)), nil
}

// hashFile returns the sha256 of f's content, or ok == false if f is missing.
func hashFile(f string) (sum []byte, ok bool, err error) {
	file, err := os.Open(f)
	if err != nil {
		if notExist(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("reload: hashing %s: %w", f, err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("reload: hashing %s: %w", f, err)
	}
	if !fi.Mode().IsRegular() {
		// A directory fails to read; a pipe or device could block forever.
		return nil, false, fmt.Errorf("reload: hashing %s: not a regular file", f)
	}
	h := sha256.New()
	if _, err := io.Copy(h, file); err != nil {
		return nil, false, fmt.Errorf("reload: hashing %s: %w", f, err)
	}
	return h.Sum(nil), true, nil
}

func exists(f string) bool {
	_, err := os.Stat(f)
	return err == nil
}

func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func absPaths(files []string) ([]string, error) {
	out := make([]string, len(files))
	for i, f := range files {
		a, err := filepath.Abs(f)
		if err != nil {
			return nil, fmt.Errorf("reload: %s: %w", f, err)
		}
		out[i] = a
	}
	return out, nil
}
