package engine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// proxyV2Signature starts every PROXY protocol version 2 header.
var proxyV2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// proxyHeaderTimeout bounds how long a trusted peer may take to send its
// PROXY header.
const proxyHeaderTimeout = 5 * time.Second

// readProxyHeader reads a PROXY protocol header (version 1 text or version 2
// binary) from c and returns a connection whose RemoteAddr and LocalAddr
// are the ones the header names. A LOCAL (v2) or UNKNOWN (v1) header keeps
// the real addresses. A missing or malformed header is an error: the caller
// closes the connection.
func readProxyHeader(c net.Conn) (net.Conn, error) {
	_ = c.SetReadDeadline(time.Now().Add(proxyHeaderTimeout))
	defer c.SetReadDeadline(time.Time{})
	br := bufio.NewReaderSize(c, 256)
	pc := &proxiedConn{Conn: c, r: br, remote: c.RemoteAddr(), local: c.LocalAddr()}
	sig, err := br.Peek(len(proxyV2Signature))
	if err != nil {
		return nil, fmt.Errorf("proxy protocol: %w", err)
	}
	if bytes.Equal(sig, proxyV2Signature) {
		err = pc.readV2()
	} else {
		err = pc.readV1()
	}
	if err != nil {
		return nil, fmt.Errorf("proxy protocol: %w", err)
	}
	return pc, nil
}

func (pc *proxiedConn) readV1() error {
	line, err := pc.r.ReadSlice('\n')
	if err != nil || len(line) > 107 || !bytes.HasSuffix(line, []byte("\r\n")) {
		return errors.New("malformed v1 header")
	}
	f := strings.Fields(string(line[:len(line)-2]))
	if len(f) < 2 || f[0] != "PROXY" {
		return errors.New("malformed v1 header")
	}
	if f[1] == "UNKNOWN" {
		return nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return errors.New("malformed v1 header")
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sport, err3 := strconv.ParseUint(f[4], 10, 16)
	dport, err4 := strconv.ParseUint(f[5], 10, 16)
	if err := errors.Join(err1, err2, err3, err4); err != nil || src.Is4() != (f[1] == "TCP4") {
		return errors.New("malformed v1 addresses")
	}
	pc.remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, uint16(sport)))
	pc.local = net.TCPAddrFromAddrPort(netip.AddrPortFrom(dst, uint16(dport)))
	return nil
}

func (pc *proxiedConn) readV2() error {
	hdr := make([]byte, 16)
	if _, err := io.ReadFull(pc.r, hdr); err != nil {
		return err
	}
	verCmd, fam := hdr[12], hdr[13]
	n := int(binary.BigEndian.Uint16(hdr[14:16]))
	if verCmd>>4 != 2 || n > 512 {
		return errors.New("malformed v2 header")
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(pc.r, body); err != nil {
		return err
	}
	if verCmd&0xf == 0 { // LOCAL: health checks from the proxy itself
		return nil
	}
	var ip net.IP
	var size int
	switch fam >> 4 {
	case 1:
		size = 4
	case 2:
		size = 16
	default:
		return nil // AF_UNIX or unspecified: keep the real addresses
	}
	if len(body) < 2*size+4 {
		return errors.New("short v2 address block")
	}
	ip = net.IP(body[:size])
	dst := net.IP(body[size : 2*size])
	pc.remote = &net.TCPAddr{IP: ip, Port: int(binary.BigEndian.Uint16(body[2*size:]))}
	pc.local = &net.TCPAddr{IP: dst, Port: int(binary.BigEndian.Uint16(body[2*size+2:]))}
	return nil
}

// proxiedConn is a connection after its PROXY header: reads come from the
// buffer that read the header first, addresses are the proxied ones.
type proxiedConn struct {
	net.Conn
	r             *bufio.Reader
	remote, local net.Addr
}

func (pc *proxiedConn) Read(p []byte) (int, error) { return pc.r.Read(p) }
func (pc *proxiedConn) RemoteAddr() net.Addr       { return pc.remote }
func (pc *proxiedConn) LocalAddr() net.Addr        { return pc.local }

// NetConn returns the underlying connection.
func (pc *proxiedConn) NetConn() net.Conn { return pc.Conn }

// ReadFrom lets sendfile reach the TCP connection.
func (pc *proxiedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := pc.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(pc.Conn, r)
}

// CloseWrite half-closes the underlying connection when it can.
func (pc *proxiedConn) CloseWrite() error {
	if cw, ok := pc.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// trustedPeer reports whether c comes from one of the prefixes.
func trustedPeer(c net.Conn, prefixes []netip.Prefix) bool {
	ta, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return false
	}
	a, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
