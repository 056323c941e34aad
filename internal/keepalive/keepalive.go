// Package keepalive drives HTTP/1.1 keep-alive requests from benchmarks
// with a client that allocates nothing per request, so allocs/op measure
// the server.
package keepalive

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strconv"
	"testing"
)

// Request returns a GET request for path as wrk sends it, with extra header
// lines ("Name: value") added.
func Request(path string, headers ...string) []byte {
	var b bytes.Buffer
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// Drive sends b.N copies of req over one keep-alive connection to addr,
// reading each response (which must carry Content-Length) before the next.
func Drive(b *testing.B, addr string, req []byte) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	for range 100 { // warm the pools
		if err := roundTrip(c, br, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := roundTrip(c, br, req); err != nil {
			b.Fatal(err)
		}
	}
}

var clKey = []byte("content-length:")

// roundTrip writes req and reads one response, which must carry
// Content-Length.
func roundTrip(c net.Conn, br *bufio.Reader, req []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > len(clKey) && bytes.EqualFold(line[:len(clKey)], clKey) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(clKey):])))
		}
	}
	if length < 0 {
		return errors.New("response without content-length")
	}
	_, err := br.Discard(length)
	return err
}

// DriveParallel sends b.N copies of req over several keep-alive
// connections at once (b.RunParallel, parallelism 16 per CPU), so the
// figure is CPU per request rather than round-trip latency.
func DriveParallel(b *testing.B, addr string, req []byte) {
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 64<<10)
		for pb.Next() {
			if err := roundTrip(c, br, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
