package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pagihq/pagi/config"
)

// acceptor owns one listening socket for as long as some config uses its
// address. It accepts connections, applies the connection cap and (on
// cleartext listeners) the request-head guard, and hands each connection to
// the http.Server currently assigned to the socket. A reload that changes
// a listener's settings assigns a new http.Server (a new target); the socket
// itself never closes, so no connection is refused during a reload.
//
// Concurrency: the accept loop runs on its own goroutine; setTarget may be
// called from any goroutine; close once.
type acceptor struct {
	key    string // network + " " + address, what identifies a socket across configs
	ln     net.Listener
	log    *slog.Logger
	active atomic.Int64 // open connections, for max_connections
	target atomic.Pointer[target]
	done   chan struct{}
}

// target is the http.Server that serves an acceptor's connections under one
// listener configuration.
type target struct {
	name    string
	cfg     *config.Listener
	cert    atomic.Pointer[tls.Certificate]
	certPEM *atomicString
	caPEM   []byte // the client CA file content the target trusts
	srv     *http.Server
	conns   *connQueue
	guard   *guardConfig   // the request-head guard's limits (every HTTP/1.x connection)
	tls     *tls.Config    // nil on cleartext listeners
	proxy   []netip.Prefix // peers that send a PROXY header; nil: none
	// handshakeTimeout bounds a TLS handshake (read_header_timeout).
	handshakeTimeout time.Duration
	maxConns         int64
	served           chan error
	// sweeper times idle connections and the first request's head in place
	// of net/http's per-connection deadlines (HTTP/1-only targets); nil
	// otherwise. headTimeout is the guard's timer for partial heads.
	sweeper     *connSweeper
	headTimeout time.Duration
}

// guardConn wraps an HTTP/1 connection of t in the request-head guard.
func (t *target) guardConn(c net.Conn) *guardConn {
	gc := &guardConn{Conn: c, cfg: t.guard, headTimeout: t.headTimeout}
	if t.sweeper != nil {
		t.sweeper.add(gc)
	}
	return gc
}

// stopSweeper ends the sweeper once net/http is done with the target.
func (t *target) stopSweeper() {
	if t.sweeper != nil {
		t.sweeper.close()
	}
}

func newAcceptor(key string, ln net.Listener, log *slog.Logger) *acceptor {
	return &acceptor{key: key, ln: ln, log: log, done: make(chan struct{})}
}

// run accepts until the socket closes. Temporary errors (such as running
// out of file descriptors) pause accepting with a growing delay, logged once
// per episode.
func (a *acceptor) run() {
	defer close(a.done)
	var delay time.Duration
	for {
		c, err := a.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if delay == 0 {
				delay = 5 * time.Millisecond
				a.log.Warn("accept failed; pausing", "address", a.ln.Addr().String(), "err", err)
			} else {
				delay = min(2*delay, time.Second)
			}
			time.Sleep(delay)
			continue
		}
		delay = 0
		if t := a.target.Load(); t != nil && t.proxy != nil && trustedPeer(c, t.proxy) {
			// Reading the PROXY header must not hold up the accept loop.
			go func() {
				pc, err := readProxyHeader(c)
				if err != nil {
					a.log.Debug("closing connection", "peer", c.RemoteAddr().String(), "err", err)
					_ = c.Close()
					return
				}
				a.dispatch(pc)
			}()
			continue
		}
		a.dispatch(c)
	}
}

// dispatch hands c to the current target, or refuses it over the cap.
func (a *acceptor) dispatch(c net.Conn) {
	for {
		t := a.target.Load()
		if t == nil {
			_ = c.Close()
			return
		}
		if t.maxConns > 0 && a.active.Add(1) > t.maxConns {
			a.active.Add(-1)
			go refuse(c, t.tls)
			return
		}
		if t.maxConns <= 0 {
			a.active.Add(1)
		}
		if t.tls != nil {
			// The handshake runs on its own goroutine, never in the accept
			// loop.
			go a.handshake(t, c)
			return
		}
		if t.conns.push(t.guardConn(c)) {
			return
		}
		a.active.Add(-1) // the target closed between Load and push: try the next one
		if a.target.Load() == t {
			_ = c.Close()
			return
		}
	}
}

// handshake runs the TLS handshake of a connection to a TLS target, then
// hands it over: an h2 connection as the *tls.Conn net/http needs, an
// HTTP/1.1 one behind the request-head guard like a cleartext connection.
func (a *acceptor) handshake(t *target, c net.Conn) {
	tc := tls.Server(c, t.tls)
	timeout := t.handshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		a.log.Debug("TLS handshake failed", "peer", c.RemoteAddr().String(), "err", err)
		_ = tc.Close()
		a.active.Add(-1)
		return
	}
	var conn net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		conn = t.guardConn(tc)
	}
	if !t.conns.push(conn) {
		_ = tc.Close()
		a.active.Add(-1)
	}
}

// connState is the ConnState hook of every target's http.Server.
func (a *acceptor) connState(c net.Conn, st http.ConnState) {
	connStateForSweeper(c, st)
	if st == http.StateClosed || st == http.StateHijacked {
		a.active.Add(-1)
	}
}

// close stops accepting; connections already handed over are the targets'.
func (a *acceptor) close() {
	_ = a.ln.Close()
	<-a.done
}

// connQueue is a net.Listener fed by an acceptor: http.Server.Serve takes
// connections from it. Closing it (http.Server.Shutdown does) makes push
// refuse further connections.
type connQueue struct {
	addr   net.Addr
	ch     chan net.Conn
	mu     sync.Mutex
	closed chan struct{}
	once   sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

// push hands c to Accept; it reports false when the queue is closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case <-q.closed:
		return false
	default:
	}
	select {
	case q.ch <- c:
		return true
	case <-q.closed:
		return false
	}
}

// Accept implements net.Listener.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

// Addr implements net.Listener.
func (q *connQueue) Addr() net.Addr { return q.addr }
