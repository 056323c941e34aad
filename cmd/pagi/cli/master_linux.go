//go:build linux

package cli

import "syscall"

// workerSysProcAttr makes a worker receive SIGTERM when the master dies,
// however it dies, so no worker outlives it.
func workerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// selfExe is the master's own executable, even if its file was replaced
// since it started: workers always run the master's code. (An upgrade,
// SIGUSR2, starts the file at the path instead.)
func selfExe() string { return "/proc/self/exe" }
