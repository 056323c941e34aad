//go:build !linux

package cli

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// workerSysProcAttr: without Linux's parent-death signal, a worker notices
// a dead master when its heartbeat write fails.
func workerSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// selfExe is the master's executable.
func selfExe() string {
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}

// reservePort: SO_REUSEPORT sockets are Linux-only here.
func reservePort(string) (*os.File, *net.TCPAddr, error) {
	return nil, nil, errors.New("reuse_port is supported on Linux only")
}

func setReusePort(uintptr) error { return errors.New("reuse_port is supported on Linux only") }
