//go:build linux

package cli

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// workerSysProcAttr makes a worker receive SIGTERM when the master dies,
// however it dies, so no worker outlives it.
func workerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// selfExe is the master's own executable, even if its file was replaced
// since it started: workers always run the master's code. (An upgrade,
// SIGUSR2, starts the file at the path instead.)
func selfExe() string { return "/proc/self/exe" }

// reservePort binds (without listening) a TCP socket with SO_REUSEPORT to
// addr, so that the port is the server's and workers can bind their own
// SO_REUSEPORT listening sockets to it. A socket that does not listen gets
// no connections. It returns the socket and the address it is bound to
// (with the port the kernel chose for port 0).
func reservePort(addr string) (*os.File, *net.TCPAddr, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	family, sa := syscall.AF_INET6, syscall.Sockaddr(nil)
	switch ip4 := ta.IP.To4(); {
	case ta.IP == nil || ta.IP.IsUnspecified():
		// All addresses, both families, as net.Listen does.
		sa = &syscall.SockaddrInet6{Port: ta.Port}
	case ip4 != nil:
		family = syscall.AF_INET
		s4 := &syscall.SockaddrInet4{Port: ta.Port}
		copy(s4.Addr[:], ip4)
		sa = s4
	default:
		s6 := &syscall.SockaddrInet6{Port: ta.Port}
		copy(s6.Addr[:], ta.IP.To16())
		sa = s6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socket", err)
	}
	fail := func(what string, err error) (*os.File, *net.TCPAddr, error) {
		syscall.Close(fd)
		return nil, nil, fmt.Errorf("reserve %s: %w", addr, os.NewSyscallError(what, err))
	}
	if err := setReusePort(uintptr(fd)); err != nil {
		return fail("setsockopt", err)
	}
	if family == syscall.AF_INET6 && (ta.IP == nil || ta.IP.IsUnspecified()) {
		if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	got, err := syscall.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	bound := &net.TCPAddr{IP: ta.IP}
	switch g := got.(type) {
	case *syscall.SockaddrInet4:
		bound.Port = g.Port
	case *syscall.SockaddrInet6:
		bound.Port = g.Port
	}
	return os.NewFile(uintptr(fd), "reserved "+bound.String()), bound, nil
}

// setReusePort sets SO_REUSEADDR and SO_REUSEPORT on a socket.
func setReusePort(fd uintptr) error {
	if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return err
	}
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
