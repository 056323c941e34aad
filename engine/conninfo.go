package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"strconv"
	"sync"

	"github.com/pagihq/pagi"
)

// connInfo is what the engine knows about one accepted connection. It is
// built once per connection (by http.Server.ConnContext), so requests on a
// keep-alive or HTTP/2 connection share it and the per-request path does no
// address parsing. Fields are read-only after creation except tlsInfo, which
// is filled once under tlsOnce.
type connInfo struct {
	client    pagi.Addr
	server    pagi.Addr
	hasClient bool
	unix      bool

	// tlsState is the connection's TLS state when net/http does not know
	// it: HTTP/1.1 over TLS reaches net/http behind the request-head guard,
	// so its requests have no r.TLS.
	tlsState *tls.ConnectionState

	tlsOnce sync.Once
	tlsInfo *pagi.TLSInfo

	// guard is the connection's request-head guard, nil when unguarded.
	guard *guardConn
}

// guardRejection is GuardRejection for the connection of ctx.
func guardRejection(ctx context.Context) (status int, reason string, ok bool) {
	if ci := connInfoFrom(ctx); ci != nil {
		return ci.guard.rejection()
	}
	return 0, "", false
}

type connInfoKey struct{}

// connContext is the http.Server ConnContext of every listener: it records
// the connection's addresses and, for guarded connections, the guard.
func connContext(unix bool, addr string) func(ctx context.Context, c net.Conn) context.Context {
	return func(ctx context.Context, c net.Conn) context.Context {
		ci := &connInfo{}
		if unix {
			ci.unix = true
			ci.server = pagi.Addr{Host: addr, Port: -1}
		} else {
			ci.hasClient = splitAddr(c.RemoteAddr(), &ci.client)
			splitAddr(c.LocalAddr(), &ci.server)
		}
		if gc := findGuardConn(c); gc != nil {
			if tc, ok := gc.Conn.(*tls.Conn); ok {
				st := tc.ConnectionState() // the handshake is done: final
				ci.tlsState = &st
			}
			ci.guard = gc // its head timeout comes from the target (see guardConn)
		}
		// One context value per connection: every request looks it up.
		return context.WithValue(ctx, connInfoKey{}, ci)
	}
}

func connInfoFrom(ctx context.Context) *connInfo {
	ci, _ := ctx.Value(connInfoKey{}).(*connInfo)
	return ci
}

// splitAddr fills a from a TCP address; it reports false for anything else.
func splitAddr(na net.Addr, a *pagi.Addr) bool {
	switch t := na.(type) {
	case *net.TCPAddr:
		a.Host, a.Port = t.IP.String(), t.Port
		return true
	case nil:
		return false
	default:
		host, port, err := net.SplitHostPort(na.String())
		if err != nil {
			return false
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return false
		}
		a.Host, a.Port = host, p
		return true
	}
}

// tls returns the scope's tls extension for a TLS connection, computed on
// the connection's first request.
func (ci *connInfo) tls(st *tls.ConnectionState, serverCert string) *pagi.TLSInfo {
	ci.tlsOnce.Do(func() {
		ci.tlsInfo = buildTLSInfo(st)
		ci.tlsInfo.ServerCert = serverCert
	})
	return ci.tlsInfo
}

func buildTLSInfo(st *tls.ConnectionState) *pagi.TLSInfo {
	info := &pagi.TLSInfo{TLSVersion: st.Version, CipherSuite: st.CipherSuite, ClientCertChain: []string{}}
	for _, c := range st.PeerCertificates {
		info.ClientCertChain = append(info.ClientCertChain, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	if len(st.PeerCertificates) > 0 {
		info.ClientCertName = st.PeerCertificates[0].Subject.String()
		if len(st.VerifiedChains) == 0 {
			info.ClientCertError = "client certificate not verified"
		}
	}
	return info
}

// serverCertPEM is used by listeners to fill TLSInfo.ServerCert.
func serverCertPEM(cert *tls.Certificate) string {
	if cert == nil || len(cert.Certificate) == 0 {
		return ""
	}
	if _, err := x509.ParseCertificate(cert.Certificate[0]); err != nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}))
}
