package cli

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/pagihq/pagi/config"
)

// Listening sockets reach a pagi process in three ways besides binding:
//
//   - systemd socket activation: LISTEN_FDS=n, LISTEN_PID=<our pid> and
//     optionally LISTEN_FDNAMES=a:b:…; fds 3…3+n-1 are listening sockets,
//     matched to configured listeners by name (FileDescriptorName= equal to
//     the listener's label) or else by the address the socket is bound to.
//   - a binary upgrade (SIGUSR2): PAGI_INHERIT_FDS lists socket keys, the
//     first at fd inheritFirstFD; keys match listeners exactly.
//   - a worker's sockets from its master (see worker.go).
//
// The variables are removed from the environment once read, so children
// do not take the descriptors for theirs.

const (
	envListenFDs     = "LISTEN_FDS"
	envListenPID     = "LISTEN_PID"
	envListenFDNames = "LISTEN_FDNAMES"
	envInheritFDs    = "PAGI_INHERIT_FDS" // keys of the sockets of an upgrade
	envUpgradeFD     = "PAGI_UPGRADE_FD"  // the pipe to the old process of an upgrade
)

// sdFirstFD is the first descriptor systemd passes.
const sdFirstFD = 3

// socketKey names a listening socket across configs and processes: the
// network and the address as configured ("tcp 127.0.0.1:8080",
// "unix /run/pagi.sock"). It is the engine's own key for a listener.
func socketKey(lc *config.Listener) string { return lc.Network + " " + lc.Addr }

// encodeKeys joins socket keys for an environment variable.
func encodeKeys(keys []string) string {
	esc := strings.NewReplacer("%", "%25", ",", "%2C")
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = esc.Replace(k)
	}
	return strings.Join(out, ",")
}

// decodeKeys splits what encodeKeys joined.
func decodeKeys(s string) []string {
	if s == "" {
		return nil
	}
	unesc := strings.NewReplacer("%2C", ",", "%25", "%")
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = unesc.Replace(p)
	}
	return parts
}

// inheritedSock is one socket this process was given.
type inheritedSock struct {
	ln     net.Listener
	key    string // the key it was handed over with (upgrade), or ""
	name   string // its systemd FileDescriptorName, or ""
	origin string // "systemd" or "upgrade"
}

// inheritedSet holds the sockets given to this process until listeners
// claim them.
type inheritedSet struct {
	log   *slog.Logger
	socks []*inheritedSock
	// upgradePipe is the pipe to the process that started this one for a
	// binary upgrade (nil otherwise): write "ready" to it once serving.
	upgradePipe *os.File
}

// loadInherited takes the sockets passed by systemd or by an upgrading
// parent, and clears the variables that described them.
func loadInherited(log *slog.Logger) *inheritedSet {
	s := &inheritedSet{log: log}
	if v := os.Getenv(envListenFDs); v != "" {
		pid, _ := strconv.Atoi(os.Getenv(envListenPID))
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 0:
			log.Warn("ignoring malformed LISTEN_FDS", "value", v)
		case pid != os.Getpid():
			log.Debug("LISTEN_FDS is for another process", "listen_pid", pid)
		default:
			names := strings.Split(os.Getenv(envListenFDNames), ":")
			for i := range n {
				fd := sdFirstFD + i
				name := ""
				if i < len(names) {
					name = names[i]
				}
				ln, err := fileListener(fd, "systemd:"+name)
				if err != nil {
					log.Warn("systemd passed a descriptor that is not a listening socket", "fd", fd, "err", err)
					continue
				}
				s.socks = append(s.socks, &inheritedSock{ln: ln, name: name, origin: "systemd"})
			}
		}
	}
	if v := os.Getenv(envUpgradeFD); v != "" {
		if fd, err := strconv.Atoi(v); err == nil {
			syscall.CloseOnExec(fd)
			s.upgradePipe = os.NewFile(uintptr(fd), "upgrade-pipe")
			for i, key := range decodeKeys(os.Getenv(envInheritFDs)) {
				ln, err := fileListener(fd+1+i, key)
				if err != nil {
					log.Warn("inherited descriptor is not a listening socket", "fd", fd+1+i, "key", key, "err", err)
					continue
				}
				if ul, ok := ln.(*net.UnixListener); ok {
					// The path is ours (we were handed it by the
					// previous pagi), so remove it when we stop.
					ul.SetUnlinkOnClose(true)
				}
				s.socks = append(s.socks, &inheritedSock{ln: ln, key: key, origin: "upgrade"})
			}
		}
	}
	for _, k := range []string{envListenFDs, envListenPID, envListenFDNames, envInheritFDs, envUpgradeFD} {
		_ = os.Unsetenv(k)
	}
	return s
}

// fileListener turns descriptor fd into a net.Listener (a duplicate; fd
// itself is closed).
func fileListener(fd int, name string) (net.Listener, error) {
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		return nil, fmt.Errorf("bad descriptor %d", fd)
	}
	defer f.Close()
	return net.FileListener(f)
}

// take returns (and forgets) the inherited socket for lc, or nil.
func (s *inheritedSet) take(lc *config.Listener) net.Listener {
	if s == nil {
		return nil
	}
	key := socketKey(lc)
	// Upgrade sockets match by key; systemd's by name and address, then
	// by address (one socket unit names all its sockets alike), then by
	// name alone.
	matchers := []func(*inheritedSock) bool{
		func(is *inheritedSock) bool { return is.key != "" && is.key == key },
		func(is *inheritedSock) bool {
			return is.key == "" && is.name == lc.Name && addrMatches(lc, is.ln.Addr())
		},
		func(is *inheritedSock) bool { return is.key == "" && addrMatches(lc, is.ln.Addr()) },
		func(is *inheritedSock) bool { return is.key == "" && is.name != "" && is.name == lc.Name },
	}
	pick := -1
	for _, match := range matchers {
		if pick = slices.IndexFunc(s.socks, match); pick >= 0 {
			break
		}
	}
	if pick < 0 {
		return nil
	}
	is := s.socks[pick]
	s.socks = append(s.socks[:pick], s.socks[pick+1:]...)
	s.log.Info("using inherited socket", "listener", lc.Name, "address", is.ln.Addr().String(), "from", is.origin)
	return is.ln
}

// closeRest closes the inherited sockets no listener claimed.
func (s *inheritedSet) closeRest() {
	if s == nil {
		return
	}
	for _, is := range s.socks {
		s.log.Warn("closing an inherited socket no listener uses", "address", is.ln.Addr().String(), "from", is.origin)
		if ul, ok := is.ln.(*net.UnixListener); ok && is.origin == "systemd" {
			ul.SetUnlinkOnClose(false)
		}
		_ = is.ln.Close()
	}
	s.socks = nil
}

// tellReady tells the process that started this one for an upgrade that
// this one serves now; it then drains and exits.
func (s *inheritedSet) tellReady() {
	if s == nil || s.upgradePipe == nil {
		return
	}
	_, _ = s.upgradePipe.Write([]byte("ready\n"))
	_ = s.upgradePipe.Close()
	s.upgradePipe = nil
}

// addrMatches reports whether a socket bound to got serves listener lc.
func addrMatches(lc *config.Listener, got net.Addr) bool {
	switch g := got.(type) {
	case *net.TCPAddr:
		if lc.Network != "tcp" {
			return false
		}
		host, port, err := net.SplitHostPort(lc.Addr)
		if err != nil || port != strconv.Itoa(g.Port) {
			return false
		}
		if host == "" {
			return g.IP.IsUnspecified()
		}
		if ip := net.ParseIP(host); ip != nil {
			return ip.Equal(g.IP) || ip.IsUnspecified() && g.IP.IsUnspecified()
		}
		ips, err := net.LookupIP(host)
		if err != nil {
			return false
		}
		for _, ip := range ips {
			if ip.Equal(g.IP) {
				return true
			}
		}
		return false
	case *net.UnixAddr:
		if lc.Network != "unix" {
			return false
		}
		want, err1 := filepath.Abs(lc.Addr)
		have, err2 := filepath.Abs(g.Name)
		return err1 == nil && err2 == nil && want == have
	}
	return false
}

// internalEnv are the variables by which pagi processes talk to each
// other; a child gets only the ones meant for it.
var internalEnv = []string{
	envListenFDs, envListenPID, envListenFDNames, envInheritFDs, envUpgradeFD,
	envWorker, envMasterPID, envWorkerFDs, envWorkerGen, envHeartbeat, envWorkerReuse,
}

// childEnv returns this process's environment without pagi's internal
// variables (and without the names in drop), plus extra.
func childEnv(drop []string, extra ...string) []string {
	skip := map[string]bool{}
	for _, k := range internalEnv {
		skip[k] = true
	}
	for _, k := range drop {
		skip[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !skip[k] {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// sdNotify sends a state to systemd's notification socket when there is
// one (Type=notify units; NotifyAccess=all lets upgraded processes and
// their MAINPID= through).
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}
