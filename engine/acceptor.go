package engine

import (
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
	name     string
	cfg      *config.Listener
	cert     atomic.Pointer[tls.Certificate]
	certPEM  *atomicString
	srv      *http.Server
	conns    *connQueue
	guard    *guardConfig   // nil on TLS listeners
	tls      *tls.Config    // nil on cleartext listeners
	proxy    []netip.Prefix // peers that send a PROXY header; nil: none
	maxConns int64
	served   chan error
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
		var conn net.Conn = c
		if t.guard != nil {
			conn = &guardConn{Conn: c, cfg: t.guard}
		}
		if t.conns.push(conn) {
			return
		}
		a.active.Add(-1) // the target closed between Load and push: try the next one
		if a.target.Load() == t {
			_ = c.Close()
			return
		}
	}
}

// connState is the ConnState hook of every target's http.Server.
func (a *acceptor) connState(_ net.Conn, st http.ConnState) {
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
