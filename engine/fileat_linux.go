package engine

import (
	"io"
	"net"
	"os"
	"syscall"
)

// sendFileAt sends r to tc with sendfile(2) from r's offset, waiting on
// the network poller (and so honouring write deadlines) when the socket is
// full. It reports handled false when it could not start, for the caller
// to copy instead, also when the file is one sendfile cannot read. A file
// shorter than r says ends the send with io.ErrUnexpectedEOF.
func sendFileAt(tc *net.TCPConn, r *fileAt) (written int64, err error, handled bool) {
	src, err := r.f.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	dst, err := tc.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	var serr error
	fallback := false
	rerr := src.Read(func(sfd uintptr) bool {
		werr := dst.Write(func(dfd uintptr) bool {
			for r.n > 0 {
				// The kernel advances r.off itself.
				k, e := syscall.Sendfile(int(dfd), int(sfd), &r.off, int(min(r.n, 1<<30)))
				if k > 0 {
					written += int64(k)
					r.n -= int64(k)
				}
				switch {
				case e == syscall.EINTR:
				case e == syscall.EAGAIN:
					return false // wait until the socket takes more
				case e != nil && written == 0 && (e == syscall.EINVAL || e == syscall.ENOSYS || e == syscall.EOPNOTSUPP):
					// sendfile cannot read this file (some pseudo and FUSE
					// file systems): the caller copies instead.
					fallback = true
					return true
				case e != nil:
					serr = os.NewSyscallError("sendfile", e)
					return true
				case k == 0:
					serr = io.ErrUnexpectedEOF
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
		return true
	})
	if fallback {
		return 0, nil, false
	}
	if serr == nil {
		serr = rerr
	}
	return written, serr, true
}
