package cli

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/engine"
	"github.com/pagihq/pagi/reload"
)

// The master of `server { workers = N }` opens every listening socket once,
// runs N worker processes (this binary again, see worker.go) that serve on
// those sockets, and serves nothing itself. Everything it does happens on
// one goroutine: the loop in run, fed by signals, by the workers' pipes and
// exits, and by a ticker.
//
// Workers sit in numbered slots (1…N). A slot has its current worker and,
// while that one is being recycled, its replacement; the replacement takes
// over the slot once it reports ready, and only then is the old worker
// told to stop. A reload (SIGHUP, a config edit) starts a whole new
// generation of workers beside the running one and stops the old
// generation only when every new worker is ready; if one fails, the new
// generation is stopped and the old one keeps serving.

const (
	// crashBackoffMin and crashBackoffMax bound the delay before a slot
	// whose worker keeps crashing starts the next one.
	crashBackoffMin = 100 * time.Millisecond
	crashBackoffMax = 10 * time.Second
	// crashReset is how long a worker must have lived for its crash to
	// count as a first one.
	crashReset = 30 * time.Second
	// killMargin is how long past graceful_timeout a stopping worker gets
	// before SIGKILL.
	killMargin = 5 * time.Second
	// masterTick is how often heartbeats, deadlines and delayed respawns
	// are checked.
	masterTick = 100 * time.Millisecond
	// defaultHeartbeatTimeout applies when the config has none.
	defaultHeartbeatTimeout = 10 * time.Second
)

// generation is one validated config and the sockets its workers get.
type generation struct {
	num  int
	cfg  *config.Config
	src  []byte   // the main file's content, handed to workers
	keys []string // socket keys, in the order of the workers' fds
}

// masterSock is one listening socket the master holds for its workers, or
// with reuse_port the port it reserves for them.
type masterSock struct {
	key, name string
	ln        net.Listener // the owner: closing it closes (and unlinks) the socket; nil when reserved
	file      *os.File     // a duplicate, passed to children; with reuse_port the reserving socket
	reuseAddr string       // with reuse_port: the address each worker binds
}

func (s *masterSock) close(unlink bool) {
	if ul, ok := s.ln.(*net.UnixListener); ok && !unlink {
		ul.SetUnlinkOnClose(false)
	}
	_ = s.file.Close()
	if s.ln != nil {
		_ = s.ln.Close()
	}
}

// worker is one worker process as the master sees it.
type worker struct {
	num      int
	gen      *generation
	pid      int
	cmd      *exec.Cmd
	started  time.Time
	beat     time.Time // last message
	ready    bool
	recycle  bool      // asked to be replaced (max_requests)
	detached bool      // no longer holds a slot (stopping, lost, or abandoned)
	stopping bool      // SIGTERM sent
	killed   bool      // SIGKILL sent
	deadline time.Time // when a stopping worker gets SIGKILL
	reason   string    // its "fail" message
}

// slot is a worker number and who serves it.
type slot struct {
	num       int
	cur       *worker // the worker of the slot (starting or ready)
	next      *worker // its replacement while recycling
	backoff   time.Duration
	notBefore time.Time // no start in this slot before then
}

// roll is a generation being started beside the serving one.
type roll struct {
	gen     *generation
	workers []*worker // by slot
	opened  []string  // keys of sockets opened for it
	trigger string
	start   time.Time
}

// event is what the loop reacts to besides signals and the ticker.
type event struct {
	w       *worker
	msg     string // a line from a worker's pipe
	exited  bool
	state   *os.ProcessState
	upgrade string // "ready" or "failed": the new master of a SIGUSR2
}

// master is the state of the master process.
type master struct {
	path           string
	args           []string // the command line of workers and upgrades, without the program
	log            *slog.Logger
	stdout, stderr io.Writer
	inh            *inheritedSet

	cur     *generation
	nextGen int
	files   []string // files of the serving config, for the watcher
	hash    string
	watcher *reload.Watcher

	socks     map[string]*masterSock
	want      int
	slots     []*slot
	procs     map[int]*worker // live worker processes by pid
	roll      *roll
	events    chan event
	hbTimeout time.Duration
	reusePort bool // fixed for the life of the master

	everReady bool
	shutting  bool
	upgrading *exec.Cmd
	handedTo  int // pid of the new master after an upgrade
	fatal     string
}

// runMaster runs the master for the config at path; watch enables
// reloading on file changes. It returns the exit code.
func runMaster(path string, watch bool, args []string, log *slog.Logger, stdout, stderr io.Writer) int {
	m := &master{path: path, args: args, log: log, stdout: stdout, stderr: stderr,
		socks: map[string]*masterSock{}, procs: map[int]*worker{}, events: make(chan event, 256)}
	src, err := os.ReadFile(path)
	if err != nil {
		log.Error("cannot read the config", "err", err)
		return exitError
	}
	res := config.Parse(path, src)
	if res.Diags.HasErrors() {
		_ = res.WriteText(stderr, colorFor(stderr))
		return exitError
	}
	cfg := res.Config
	m.hbTimeout = cfg.Server.HeartbeatTimeout.D()
	if m.hbTimeout <= 0 {
		m.hbTimeout = defaultHeartbeatTimeout
	}
	m.want = max(1, cfg.Server.Workers)
	m.reusePort = cfg.Server.ReusePort
	m.files = cfg.Files
	m.hash, _ = reload.Hash(cfg.Files)

	m.inh = loadInherited(log)
	keys, _, err := m.openSockets(cfg)
	m.inh.closeRest()
	if err != nil {
		log.Error("cannot listen", "err", err)
		m.closeAllSockets(true)
		return exitError
	}
	m.nextGen = 1
	m.cur = m.newGeneration(cfg, src, keys)

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR2)
	defer signal.Stop(sigs)

	var changes <-chan struct{}
	if watch && cfg.Server.Watch {
		w, err := reload.New(cfg.Files, reload.Options{Logger: log})
		if err != nil {
			log.Warn("not watching the config; SIGHUP still reloads", "err", err)
		} else {
			defer w.Close()
			m.watcher = w
			changes = w.C()
		}
	}
	log.Info("master starting", "config", path, "version", Version(), "pid", os.Getpid(), "workers", m.want,
		"heartbeat_timeout", m.hbTimeout.String())
	m.reconcile()

	tick := time.NewTicker(masterTick)
	defer tick.Stop()
	for !m.shutting {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGINT, syscall.SIGTERM:
				m.log.Info("shutting down", "signal", sig.String())
				m.shutting = true
			case syscall.SIGHUP:
				m.reload("SIGHUP", true)
			case syscall.SIGTTIN:
				m.want++
				m.log.Info("adding a worker", "workers", m.want)
			case syscall.SIGTTOU:
				if m.want > 1 {
					m.want--
					m.log.Info("retiring a worker", "workers", m.want)
				}
			case syscall.SIGUSR2:
				m.startUpgrade()
			}
		case <-changes:
			m.reload("file change", false)
		case ev := <-m.events:
			m.handle(ev)
		case <-tick.C:
			m.check()
		}
		if m.fatal != "" {
			break
		}
		m.reconcile()
	}
	return m.stop(tick.C)
}

// openSockets makes sure the master holds a socket for every listener of
// cfg: inherited (systemd, upgrade) or bound now. It returns the keys in
// listener order and the keys it opened.
func (m *master) openSockets(cfg *config.Config) (keys, opened []string, err error) {
	for _, lc := range cfg.Listeners {
		key := socketKey(lc)
		if slices.Contains(keys, key) {
			continue
		}
		keys = append(keys, key)
		if m.socks[key] != nil {
			continue
		}
		ln := m.inh.take(lc)
		if ln == nil && m.reusePort && lc.Network == "tcp" {
			f, addr, err := reservePort(lc.Addr)
			if err != nil {
				m.closeSockets(opened, true)
				return nil, nil, fmt.Errorf("listener %q: %w", lc.Name, err)
			}
			m.socks[key] = &masterSock{key: key, name: lc.Name, file: f, reuseAddr: addr.String()}
			opened = append(opened, key)
			m.log.Info("listening", "listener", lc.Name, "address", addr.String(), "tls", lc.TLS != nil,
				"master", true, "reuse_port", true)
			continue
		}
		if ln == nil {
			ln, err = engine.Listen(lc)
			if err != nil {
				m.closeSockets(opened, true)
				return nil, nil, fmt.Errorf("listener %q: %w", lc.Name, err)
			}
		}
		f, err := listenerFile(ln)
		if err != nil {
			_ = ln.Close()
			m.closeSockets(opened, true)
			return nil, nil, fmt.Errorf("listener %q: %w", lc.Name, err)
		}
		m.socks[key] = &masterSock{key: key, name: lc.Name, ln: ln, file: f}
		opened = append(opened, key)
		m.log.Info("listening", "listener", lc.Name, "address", ln.Addr().String(), "tls", lc.TLS != nil, "master", true)
	}
	return keys, opened, nil
}

// listenerFile returns a duplicate of a listener's descriptor, to pass to
// child processes.
//
// Not (*net.TCPListener).File: exec calls Fd on every file it passes, and
// Fd on a file from File switches the descriptor to blocking mode. The
// mode belongs to the socket, shared by every process that has it, so
// each worker's accept would block in the kernel, deaf to Close: a worker
// told to stop would hang until the next connection. A file made with
// os.NewFile from a non-blocking descriptor stays non-blocking.
func listenerFile(ln net.Listener) (*os.File, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("cannot pass a %T to another process", ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd, derr := -1, error(nil)
	err = rc.Control(func(fd uintptr) {
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		if nfd, derr = syscall.Dup(int(fd)); derr == nil {
			syscall.CloseOnExec(nfd)
		}
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, fmt.Errorf("duplicating the socket of %s: %w", ln.Addr(), err)
	}
	return os.NewFile(uintptr(nfd), ln.Addr().String()), nil
}

// closeAllSockets closes every socket; unlink removes Unix socket files.
func (m *master) closeAllSockets(unlink bool) {
	for _, s := range m.socks {
		s.close(unlink)
	}
	clear(m.socks)
}

// closeSockets closes the sockets with the given keys.
func (m *master) closeSockets(keys []string, unlink bool) {
	for _, k := range keys {
		if s := m.socks[k]; s != nil {
			s.close(unlink)
			delete(m.socks, k)
		}
	}
}

func (m *master) newGeneration(cfg *config.Config, src []byte, keys []string) *generation {
	g := &generation{num: m.nextGen, cfg: cfg, src: src, keys: keys}
	m.nextGen++
	return g
}

// spawn starts worker num of generation g.
func (m *master) spawn(num int, g *generation) (*worker, error) {
	msgR, msgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		msgR.Close()
		msgW.Close()
		return nil, err
	}
	files := []*os.File{msgW, cfgR}
	var fdKeys, reuse []string
	for _, k := range g.keys {
		if s := m.socks[k]; s.reuseAddr != "" {
			reuse = append(reuse, k+"="+s.reuseAddr)
		} else {
			fdKeys = append(fdKeys, k)
			files = append(files, s.file)
		}
	}
	cmd := exec.Command(selfExe(), m.args...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = childEnv([]string{"NOTIFY_SOCKET"},
		envWorker+"="+strconv.Itoa(num),
		envMasterPID+"="+strconv.Itoa(os.Getpid()),
		envWorkerGen+"="+strconv.Itoa(g.num),
		envWorkerFDs+"="+encodeKeys(fdKeys),
		envWorkerReuse+"="+encodeKeys(reuse),
		envHeartbeat+"="+(m.hbTimeout/5).String())
	cmd.Stdout, cmd.Stderr = m.stdout, m.stderr
	cmd.ExtraFiles = files
	cmd.SysProcAttr = workerSysProcAttr()
	err = cmd.Start()
	msgW.Close()
	cfgR.Close()
	if err != nil {
		msgR.Close()
		cfgW.Close()
		return nil, err
	}
	go func() {
		_, _ = cfgW.Write(g.src)
		_ = cfgW.Close()
	}()
	now := time.Now()
	w := &worker{num: num, gen: g, pid: cmd.Process.Pid, cmd: cmd, started: now, beat: now}
	m.procs[w.pid] = w
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(msgR)
		for sc.Scan() {
			m.events <- event{w: w, msg: sc.Text()}
		}
		msgR.Close()
	}()
	go func() {
		_ = cmd.Wait()
		select { // deliver its last messages first
		case <-read:
		case <-time.After(2 * time.Second):
		}
		m.events <- event{w: w, exited: true, state: cmd.ProcessState}
	}()
	m.log.Info("worker started", "worker", num, "pid", w.pid, "generation", g.num)
	return w, nil
}

// slotOf returns the slot w is current or replacement in.
func (m *master) slotOf(w *worker) *slot {
	for _, s := range m.slots {
		if s.cur == w || s.next == w {
			return s
		}
	}
	return nil
}

// handle reacts to a worker's message or exit, or to the upgrade.
func (m *master) handle(ev event) {
	if ev.upgrade != "" {
		m.upgradeEvent(ev.upgrade)
		return
	}
	w := ev.w
	if ev.exited {
		m.exited(w, ev.state)
		return
	}
	w.beat = time.Now()
	verb, arg, _ := strings.Cut(ev.msg, " ")
	switch verb {
	case "hb":
	case "ready":
		m.workerReady(w)
	case "recycle":
		if !w.recycle && !w.stopping {
			w.recycle = true
			m.log.Info("worker recycling", "worker", w.num, "pid", w.pid, "reason", "max_requests")
		}
	case "fail":
		w.reason = arg
	default:
		m.log.Debug("unknown worker message", "worker", w.num, "pid", w.pid, "msg", ev.msg)
	}
}

func (m *master) workerReady(w *worker) {
	if w.ready {
		return
	}
	w.ready = true
	m.log.Info("worker ready", "worker", w.num, "pid", w.pid, "generation", w.gen.num,
		"took", time.Since(w.started).Round(time.Millisecond).String())
	if w.detached {
		return
	}
	if s := m.slotOf(w); s != nil && s.next == w {
		old := s.cur
		s.cur, s.next = w, nil
		if old != nil {
			m.retire(old, "replaced")
		}
	}
	if r := m.roll; r != nil && slices.Contains(r.workers, w) {
		for _, rw := range r.workers {
			if !rw.ready {
				return
			}
		}
		m.commitRoll()
	}
	m.checkReady()
}

// checkReady logs "master ready" the first time every slot serves, and
// tells systemd and an upgrading parent.
func (m *master) checkReady() {
	if m.everReady {
		return
	}
	for _, s := range m.slots {
		if s.cur == nil || !s.cur.ready {
			return
		}
	}
	m.everReady = true
	m.log.Info("master ready", "pid", os.Getpid(), "workers", len(m.slots), "generation", m.cur.num)
	m.inh.tellReady()
	sdNotify(fmt.Sprintf("READY=1\nMAINPID=%d", os.Getpid()))
}

// exited handles the end of a worker process.
func (m *master) exited(w *worker, st *os.ProcessState) {
	delete(m.procs, w.pid)
	code := st.ExitCode()
	attrs := []any{"worker", w.num, "pid", w.pid, "generation", w.gen.num,
		"lived", time.Since(w.started).Round(time.Millisecond).String()}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		attrs = append(attrs, "signal", ws.Signal().String())
	} else {
		attrs = append(attrs, "code", code)
	}
	expected := w.stopping || m.shutting
	switch {
	case expected && code == 0:
		m.log.Info("worker exited", attrs...)
	case code == exitWorkerStartup:
		if w.reason != "" {
			attrs = append(attrs, "reason", w.reason)
		}
		m.log.Error("worker failed to start", attrs...)
	default:
		m.log.Warn("worker exited", attrs...)
	}
	if !w.detached {
		m.lost(w, code == exitWorkerStartup)
	}
	if code == exitWorkerStartup && !m.shutting {
		m.fatalIfNoneServes(w)
	}
}

// fatalIfNoneServes ends the master when a worker failed at startup and
// no worker serves or is starting: every worker failed.
func (m *master) fatalIfNoneServes(w *worker) {
	for _, p := range m.procs {
		if !p.stopping {
			return
		}
	}
	reason := w.reason
	if reason == "" {
		reason = "worker startup failed"
	}
	m.fatal = reason
}

// lost takes w (a crashed or killed worker) out of its slot or roll.
func (m *master) lost(w *worker, atStartup bool) {
	w.detached = true
	if r := m.roll; r != nil && slices.Contains(r.workers, w) {
		reason := w.reason
		if reason == "" {
			reason = "a new worker exited before it was ready"
		}
		m.abortRoll(reason)
		return
	}
	s := m.slotOf(w)
	if s == nil {
		return
	}
	if s.cur == w {
		s.cur, s.next = s.next, nil
	} else {
		s.next = nil
	}
	switch {
	case atStartup:
		s.backoff = crashBackoffMax
	case time.Since(w.started) >= crashReset:
		s.backoff = 0
	default:
		s.backoff = min(max(crashBackoffMin, 2*s.backoff), crashBackoffMax)
	}
	s.notBefore = time.Now().Add(s.backoff)
	if s.backoff > time.Second {
		m.log.Warn("worker keeps failing; waiting before the next start", "worker", s.num, "delay", s.backoff.String())
	}
}

// retire tells w to finish its requests and exit.
func (m *master) retire(w *worker, why string) {
	if w == nil || w.stopping {
		return
	}
	w.detached, w.stopping = true, true
	w.deadline = time.Now().Add(w.gen.cfg.Server.GracefulTimeout.D() + killMargin)
	m.log.Debug("stopping worker", "worker", w.num, "pid", w.pid, "reason", why)
	_ = syscall.Kill(w.pid, syscall.SIGTERM)
}

// kill ends w now.
func (m *master) kill(w *worker, why string) {
	if w.killed {
		return
	}
	w.killed = true
	m.log.Warn("worker killed", "worker", w.num, "pid", w.pid, "reason", why)
	_ = syscall.Kill(w.pid, syscall.SIGKILL)
}

// check enforces heartbeats and stop deadlines.
func (m *master) check() {
	now := time.Now()
	for _, w := range m.procs {
		switch {
		case w.killed:
		case w.stopping:
			if now.After(w.deadline) {
				m.kill(w, "did not stop within graceful_timeout")
			}
		case now.Sub(w.beat) > m.hbTimeout:
			m.kill(w, fmt.Sprintf("no heartbeat for %s", now.Sub(w.beat).Round(time.Millisecond)))
			if !w.detached {
				m.lost(w, false)
			}
		}
	}
}

// reconcile starts and stops workers until every slot is served.
func (m *master) reconcile() {
	if m.shutting || m.fatal != "" {
		return
	}
	for len(m.slots) < m.want {
		m.slots = append(m.slots, &slot{num: len(m.slots) + 1})
	}
	for len(m.slots) > m.want {
		s := m.slots[len(m.slots)-1]
		m.slots = m.slots[:len(m.slots)-1]
		m.retire(s.next, "fewer workers")
		m.retire(s.cur, "fewer workers")
	}
	now := time.Now()
	for _, s := range m.slots {
		if now.Before(s.notBefore) {
			continue
		}
		switch {
		case s.cur == nil:
			w, err := m.spawn(s.num, m.cur)
			if err != nil {
				m.log.Error("cannot start a worker", "worker", s.num, "err", err)
				s.notBefore = now.Add(crashBackoffMax)
				continue
			}
			s.cur = w
		case s.cur.recycle && s.cur.ready && s.next == nil && m.roll == nil:
			w, err := m.spawn(s.num, m.cur)
			if err != nil {
				m.log.Error("cannot start a worker", "worker", s.num, "err", err)
				s.notBefore = now.Add(crashBackoffMax)
				continue
			}
			s.next = w
		}
	}
}

// reload loads the config again and, when it is valid, rolls a new
// generation of workers.
func (m *master) reload(trigger string, force bool) {
	hash, _ := reload.Hash(m.files)
	if !force && hash == m.hash {
		m.log.Debug("config files saved without changes", "trigger", trigger)
		return
	}
	m.hash = hash
	src, err := os.ReadFile(m.path)
	if err != nil {
		m.log.Error("reload failed", "trigger", trigger, "err", err, "serving_generation", m.cur.num)
		return
	}
	res := config.Parse(m.path, src)
	if len(res.Diags) > 0 {
		_ = res.WriteText(m.stderr, colorFor(m.stderr))
	}
	if res.Diags.HasErrors() {
		m.log.Error("reload failed: the config has errors", "trigger", trigger,
			"errors", countErrors(res), "serving_generation", m.cur.num)
		return
	}
	cfg := res.Config
	m.files = cfg.Files
	m.hash, _ = reload.Hash(m.files)
	if m.watcher != nil {
		if err := m.watcher.SetFiles(m.files); err != nil {
			m.log.Warn("cannot watch the new config's files", "err", err)
		}
	}
	if m.roll != nil {
		m.abortRoll("a newer config arrived")
	}
	if cfg.Server.Workers == 0 {
		m.log.Warn("workers = 0 takes effect on restart or upgrade (SIGUSR2); keeping worker processes")
	}
	if cfg.Server.ReusePort != m.reusePort {
		m.log.Warn("a change of reuse_port takes effect on restart", "reuse_port", m.reusePort)
	}
	if cfg.Server.Workers != m.cur.cfg.Server.Workers && cfg.Server.Workers > 0 {
		m.want = cfg.Server.Workers
	}
	keys, opened, err := m.openSockets(cfg)
	if err != nil {
		m.log.Error("reload failed", "trigger", trigger, "err", err, "serving_generation", m.cur.num)
		return
	}
	r := &roll{gen: m.newGeneration(cfg, src, keys), opened: opened, trigger: trigger, start: time.Now()}
	m.roll = r
	for num := 1; num <= m.want; num++ {
		w, err := m.spawn(num, r.gen)
		if err != nil {
			m.abortRoll("cannot start a worker: " + err.Error())
			return
		}
		r.workers = append(r.workers, w)
	}
	m.log.Info("reloading", "trigger", trigger, "generation", r.gen.num, "workers", len(r.workers))
}

// commitRoll makes the new generation the serving one: its workers take
// the slots, the old generation is told to stop, and sockets the new
// config does not use are closed (old workers keep their own copies while
// they drain).
func (m *master) commitRoll() {
	r := m.roll
	m.roll = nil
	prev := m.cur
	m.cur = r.gen
	for i, w := range r.workers {
		if i >= len(m.slots) {
			m.retire(w, "fewer workers")
			continue
		}
		s := m.slots[i]
		m.retire(s.next, "new generation")
		m.retire(s.cur, "new generation")
		s.cur, s.next, s.backoff, s.notBefore = w, nil, 0, time.Time{}
	}
	for _, s := range m.slots[min(len(r.workers), len(m.slots)):] {
		m.retire(s.next, "new generation")
		m.retire(s.cur, "new generation")
		s.cur, s.next = nil, nil
	}
	var gone []string
	for k := range m.socks {
		if !slices.Contains(m.cur.keys, k) {
			gone = append(gone, k)
		}
	}
	m.closeSockets(gone, true)
	m.log.Info("reloaded", "generation", m.cur.num, "previous", prev.num, "trigger", r.trigger,
		"took", time.Since(r.start).Round(time.Millisecond).String(), "workers", len(r.workers))
}

// abortRoll stops a generation that will not serve.
func (m *master) abortRoll(reason string) {
	r := m.roll
	m.roll = nil
	for _, w := range r.workers {
		m.retire(w, "reload aborted")
	}
	m.closeSockets(r.opened, true)
	m.log.Error("reload failed", "trigger", r.trigger, "reason", reason, "serving_generation", m.cur.num)
}

// stop ends every worker (TERM, then KILL past the deadline) and closes
// the sockets; it returns the master's exit code.
func (m *master) stop(tick <-chan time.Time) int {
	m.shutting = true
	sdNotify("STOPPING=1")
	if m.roll != nil {
		for _, w := range m.roll.workers {
			m.retire(w, "shutdown")
		}
		m.roll = nil
	}
	for _, w := range m.procs {
		m.retire(w, "shutdown")
	}
	start := time.Now()
	for len(m.procs) > 0 {
		select {
		case ev := <-m.events:
			if ev.exited {
				m.exited(ev.w, ev.state)
			} else if ev.upgrade != "" {
				m.upgradeEvent(ev.upgrade)
			}
		case <-tick:
			m.check()
		}
	}
	// After a handover the sockets live on in the new master: keep their
	// files.
	m.closeAllSockets(m.handedTo == 0)
	if m.fatal != "" {
		m.log.Error("every worker failed to start; exiting", "reason", m.fatal)
		return exitError
	}
	m.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond).String())
	return exitOK
}
