//go:build unix

package engine

import "syscall"

// rawRead is fillNow's callback: one read(2) of the non-blocking socket
// into buf[wpos:], recording a positive count in nowN. It never asks the
// poller to wait.
func (c *guardConn) rawRead(fd uintptr) bool {
	if n, err := syscall.Read(int(fd), c.buf[c.wpos:]); err == nil && n > 0 {
		c.nowN = n
	}
	return true
}
