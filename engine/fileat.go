package engine

import (
	"io"
	"os"
)

// fileAt is n bytes of an open file from offset off, read at explicit
// offsets: sending it never moves the file's own position, so a file body
// needs no seek first. guardConn.ReadFrom sends it with sendfile(2) where
// the platform allows (see sendFileAt); anything else reads it with Read.
type fileAt struct {
	f      *os.File
	off, n int64
}

// Read reads the next bytes of the part; io.EOF at its end.
func (r *fileAt) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	k, err := r.f.ReadAt(p, r.off)
	r.off += int64(k)
	r.n -= int64(k)
	if err == io.EOF && k > 0 {
		err = nil // the next Read reports it
	}
	return k, err
}
