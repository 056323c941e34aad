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
	"sort"
	"strconv"
	"sync"
	"syscall"

	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/engine"
)

// A binary upgrade (SIGUSR2) starts the executable at this process's path
// again, same arguments, handing it the listening sockets:
//
//	fd 3                 a pipe: the new process writes "ready" once it
//	                     serves (a master: once all its workers are ready)
//	fd 4…                the sockets, in the order of PAGI_INHERIT_FDS
//	PAGI_UPGRADE_FD=3
//	PAGI_INHERIT_FDS     their keys ("tcp 127.0.0.1:8080,unix /run/x.sock")
//
// On "ready" the old process stops like on SIGTERM (draining in-flight
// requests) but leaves Unix socket files in place. If the new process
// exits first, the upgrade failed and the old one keeps serving.

// startUpgradeProcess starts the new process with the given sockets and
// returns it and the read end of its ready pipe.
func startUpgradeProcess(args []string, keys []string, files []*os.File, stdout, stderr io.Writer) (*exec.Cmd, *os.File, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = childEnv(nil, envUpgradeFD+"=3", envInheritFDs+"="+encodeKeys(keys))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.ExtraFiles = append([]*os.File{w}, files...)
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return cmd, r, nil
}

// waitUpgrade reads the ready pipe: it reports "ready", or "failed" (and
// reaps the process) when the new process exits without being ready.
func waitUpgrade(cmd *exec.Cmd, r *os.File, log *slog.Logger) string {
	defer r.Close()
	sc := bufio.NewScanner(r)
	if sc.Scan() && sc.Text() == "ready" {
		return "ready"
	}
	err := cmd.Wait()
	log.Error("upgrade failed: the new process exited before serving; this one keeps serving",
		"pid", cmd.Process.Pid, "err", fmt.Sprint(err))
	return "failed"
}

// startUpgrade (master) starts a new master with every socket.
func (m *master) startUpgrade() {
	if m.upgrading != nil {
		m.log.Warn("SIGUSR2 ignored: an upgrade is already under way", "new_pid", m.upgrading.Process.Pid)
		return
	}
	var keys []string
	var files []*os.File
	for k, s := range m.socks {
		if s.reuseAddr != "" {
			continue // the new master reserves the port beside this one
		}
		keys = append(keys, k)
		files = append(files, s.file)
	}
	cmd, r, err := startUpgradeProcess(m.args, keys, files, m.stdout, m.stderr)
	if err != nil {
		m.log.Error("upgrade failed", "err", err)
		return
	}
	m.upgrading = cmd
	m.log.Info("upgrade started", "new_pid", cmd.Process.Pid)
	go func() { m.events <- event{upgrade: waitUpgrade(cmd, r, m.log)} }()
}

// upgradeEvent (master) reacts to the new master's outcome.
func (m *master) upgradeEvent(what string) {
	cmd := m.upgrading
	m.upgrading = nil
	if what != "ready" || cmd == nil {
		return
	}
	m.handedTo = cmd.Process.Pid
	m.log.Info("upgrade complete: the new master serves; draining", "new_pid", m.handedTo)
	m.shutting = true
}

// soloUpgrade is the socket bookkeeping of a single-process server: it
// gives the engine inherited sockets (systemd, upgrade) or binds them,
// remembers them, and on SIGUSR2 hands them to a new process.
type soloUpgrade struct {
	log            *slog.Logger
	args           []string
	stdout, stderr io.Writer
	inh            *inheritedSet
	sig            chan os.Signal
	handed         chan struct{}
	done           chan struct{} // closed by stop

	mu    sync.Mutex
	socks map[*trackedListener]bool
}

// newSoloUpgrade takes the inherited sockets and starts listening for
// SIGUSR2. args is the command line to run again (without the program).
func newSoloUpgrade(log *slog.Logger, args []string, stdout, stderr io.Writer) *soloUpgrade {
	u := &soloUpgrade{log: log, args: args, stdout: stdout, stderr: stderr, inh: loadInherited(log),
		sig: make(chan os.Signal, 1), handed: make(chan struct{}), done: make(chan struct{}),
		socks: map[*trackedListener]bool{}}
	signal.Notify(u.sig, syscall.SIGUSR2)
	go u.loop()
	return u
}

// inherited is the engine's Options.Inherited.
func (u *soloUpgrade) inherited(lc *config.Listener) net.Listener {
	ln := u.inh.take(lc)
	if ln == nil {
		var err error
		if ln, err = engine.Listen(lc); err != nil {
			return nil // the engine binds again and reports the error
		}
	}
	clock := &clockedListener{Listener: ln}
	t := &trackedListener{Listener: clock, clock: clock, key: socketKey(lc), u: u}
	u.mu.Lock()
	u.socks[t] = true
	u.mu.Unlock()
	return t
}

// serving is called once the server serves: unclaimed inherited sockets
// close, and an upgrading parent and systemd learn that this process is
// ready.
func (u *soloUpgrade) serving() {
	u.inh.closeRest()
	u.inh.tellReady()
	sdNotify("READY=1\nMAINPID=" + strconv.Itoa(os.Getpid()))
}

// handedOver is closed when a new process serves in this one's place.
func (u *soloUpgrade) handedOver() <-chan struct{} { return u.handed }

// stop stops listening for SIGUSR2.
func (u *soloUpgrade) stop() {
	signal.Stop(u.sig)
	close(u.done)
}

func (u *soloUpgrade) loop() {
	for {
		select {
		case <-u.sig:
			if u.upgrade() {
				return
			}
		case <-u.done:
			return
		}
	}
}

// upgrade starts the new process and waits for it; it reports whether the
// new process took over.
func (u *soloUpgrade) upgrade() bool {
	u.mu.Lock()
	var socks []*trackedListener
	for t := range u.socks {
		socks = append(socks, t)
	}
	u.mu.Unlock()
	sort.Slice(socks, func(i, j int) bool { return socks[i].key < socks[j].key })
	var keys []string
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, t := range socks {
		f, err := listenerFile(t.clock.Listener)
		if err != nil {
			u.log.Error("upgrade failed", "err", err)
			return false
		}
		keys = append(keys, t.key)
		files = append(files, f)
	}
	cmd, r, err := startUpgradeProcess(u.args, keys, files, u.stdout, u.stderr)
	if err != nil {
		u.log.Error("upgrade failed", "err", err)
		return false
	}
	u.log.Info("upgrade started", "new_pid", cmd.Process.Pid)
	if waitUpgrade(cmd, r, u.log) != "ready" {
		return false
	}
	u.log.Info("upgrade complete: the new process serves; draining", "new_pid", cmd.Process.Pid)
	// The socket files are the new process's now: stopAccepting keeps them.
	lns := make([]*clockedListener, len(socks))
	for i, t := range socks {
		lns[i] = t.clock
	}
	stopAccepting(lns)
	close(u.handed)
	return true
}

// trackedListener is a listening socket the engine owns and soloUpgrade
// can hand over while it is open.
type trackedListener struct {
	net.Listener
	clock *clockedListener // the same listener
	key   string
	u     *soloUpgrade
}

func (t *trackedListener) Close() error {
	t.u.mu.Lock()
	delete(t.u.socks, t)
	t.u.mu.Unlock()
	return t.Listener.Close()
}
