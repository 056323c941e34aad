//go:build unix

package engine

import (
	"net"
	"os"
	"syscall"
)

// rawRead is fillNow's callback: one read(2) of the non-blocking socket
// into buf[wpos:]. A positive count goes to nowN; the end of input and
// errors are recorded as fill records them (eof, rerr), because the kernel
// reports a socket error such as ECONNRESET only once and the next read
// would see a plain end of input instead. An empty socket (EAGAIN) and an
// interrupted call record nothing. It never asks the poller to wait.
func (c *guardConn) rawRead(fd uintptr) bool {
	n, err := syscall.Read(int(fd), c.buf[c.wpos:])
	switch {
	case n > 0:
		c.nowN = n
	case err == syscall.EAGAIN || err == syscall.EINTR:
	case err == nil:
		c.eof = true
	default:
		c.rerr = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(),
			Err: os.NewSyscallError("read", err)}
	}
	return true
}
