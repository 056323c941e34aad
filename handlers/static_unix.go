//go:build unix

package handlers

import (
	"os"
	"syscall"
)

// staticOpenFlags opens files non-blocking: opening a FIFO then returns at once
// (and the handler refuses it) instead of waiting for a writer. Regular
// files and directories ignore the flag.
const staticOpenFlags = os.O_RDONLY | syscall.O_NONBLOCK
