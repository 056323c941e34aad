//go:build !linux

package engine

import "net"

// sendFileAt is sendfile at an offset, which only the Linux build does;
// elsewhere file parts are copied through Read.
func sendFileAt(*net.TCPConn, *fileAt) (int64, error, bool) { return 0, nil, false }
