//go:build !linux

package cli

import (
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
