package engine

import (
	"crypto/tls"
	"net"
	"time"
)

const capacityResponse = "HTTP/1.1 503 Service Unavailable\r\n" +
	"Retry-After: 5\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Content-Length: 19\r\n\r\nserver at capacity\n"

// refuse answers a connection over max_connections with a short 503 and
// closes it, without involving net/http.
func refuse(c net.Conn, tlsCfg *tls.Config) {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if tlsCfg != nil {
		// Answer over TLS (the handshake happens on the first write), so the
		// client can read the 503.
		c = tls.Server(c, tlsCfg)
	}
	_, _ = c.Write([]byte(capacityResponse))
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.Close()
}
