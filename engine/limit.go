package engine

import (
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// limitListener caps the number of open connections of one listener.
// Connections over the cap get a short 503 with Retry-After and are closed
// without reaching net/http. Accepted connections are returned unwrapped
// (net/http needs to see *tls.Conn for TLS and HTTP/2); they are counted down
// by the server's ConnState hook when they close or are hijacked.
type limitListener struct {
	net.Listener
	max    int64
	active atomic.Int64
}

const capacityResponse = "HTTP/1.1 503 Service Unavailable\r\n" +
	"Retry-After: 5\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Content-Length: 19\r\n\r\nserver at capacity\n"

// Accept returns the next connection under the cap.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.max <= 0 || l.active.Add(1) <= l.max {
			return c, nil
		}
		l.active.Add(-1)
		go refuse(c)
	}
}

// connState is the http.Server ConnState hook that keeps the count.
func (l *limitListener) connState(_ net.Conn, st http.ConnState) {
	if l.max > 0 && (st == http.StateClosed || st == http.StateHijacked) {
		l.active.Add(-1)
	}
}

// refuse answers a connection over the cap and closes it.
func refuse(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Write([]byte(capacityResponse))
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.Close()
}
