package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/pubsub"
)

// Server runs a compiled pipeline on its listeners with net/http, and
// swaps in new pipelines on Reload.
//
// The current Pipeline is read from an atomic pointer once per request, so
// each request finishes on the pipeline it started on. Listening sockets
// belong to acceptors keyed by address, so a reload keeps the sockets of
// addresses that stay, binds new ones before anything changes, and closes
// removed ones only after the swap.
//
// Start, Reload and Shutdown are serialised; Addr and Pipeline may be called
// at any time.
type Server struct {
	log      *slog.Logger
	pipeline atomic.Pointer[Pipeline]
	shutting atomic.Bool

	opts     Options
	requests atomic.Int64

	mu        sync.Mutex
	acceptors map[string]*acceptor
	retiring  sync.WaitGroup
	gen       int
}

// Options are the settings of a Server that do not come from the config:
// how it runs inside a process manager.
type Options struct {
	// Inherited returns an already-open listening socket for a listener
	// (a worker's socket inherited from its master, a systemd-activated
	// socket, a socket handed over by a binary upgrade), or nil to bind
	// one. The Server owns what it returns.
	Inherited func(lc *config.Listener) net.Listener
	// MaxRequests, when positive, calls OnMaxRequests once, after that many
	// requests have started (worker recycling).
	MaxRequests   int64
	OnMaxRequests func()
	// WorkerNum is the worker number shown in lifespan scopes (0 in a
	// single-process server).
	WorkerNum int
}

// New compiles cfg into a Server; nothing is bound until Start.
func New(cfg *config.Config, log *slog.Logger) (*Server, error) {
	return NewWithOptions(cfg, log, Options{})
}

// NewWithOptions is New with process settings.
func NewWithOptions(cfg *config.Config, log *slog.Logger, opts Options) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log, acceptors: map[string]*acceptor{}, gen: 1, opts: opts}
	p, err := s.compile(cfg, nil)
	if err != nil {
		return nil, err
	}
	s.pipeline.Store(p)
	return s, nil
}

// compile builds a pipeline for cfg, reusing the broker of prev when the
// pubsub block did not change.
func (s *Server) compile(cfg *config.Config, prev *Pipeline) (*Pipeline, error) {
	var broker pubsub.Broker
	ownBroker := false
	if prev != nil && samePubSub(prev.Config.PubSub, cfg.PubSub) {
		broker = prev.broker
	} else {
		b, err := newBroker(cfg.PubSub, s.log)
		if err != nil {
			return nil, err
		}
		broker, ownBroker = b, true
	}
	p, err := Compile(cfg, CompileOptions{Logger: s.log, Services: map[string]any{"pubsub": broker}, shutting: &s.shutting})
	if err != nil {
		if ownBroker {
			_ = broker.Close()
		}
		return nil, err
	}
	p.broker = broker
	p.life = &lifespan{log: s.log, mode: cfg.Server.Lifespan, timeout: cfg.Server.LifespanStartupTimeout.D()}
	return p, nil
}

// samePubSub reports whether two pubsub blocks ask for the same broker
// (where the block is written does not matter).
func samePubSub(a, b *config.PubSub) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Backend == b.Backend && a.URL == b.URL && reflect.DeepEqual(a.Options, b.Options)
}

// Pipeline returns the pipeline currently serving.
func (s *Server) Pipeline() *Pipeline { return s.pipeline.Load() }

// Start runs lifespan startup, then binds every listener and serves them in
// the background. A failed startup or bind leaves nothing bound.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pipeline.Load()
	state, err := p.life.startup(ctx, p.apps, s.opts.WorkerNum)
	if err != nil {
		return err
	}
	p.state.m = state.m
	plan, err := s.plan(p)
	if err != nil {
		p.life.shutdownWithin(ctx) // the apps started: end them again
		return err
	}
	plan.commit(s)
	for _, a := range s.acceptors {
		t := a.target.Load()
		s.log.Info("listening", "listener", t.name, "address", a.ln.Addr().String(),
			"tls", t.tls != nil, "http2", t.srv.Protocols.HTTP2() || t.srv.Protocols.UnencryptedHTTP2())
	}
	return nil
}

// Addr returns the bound address of the listener called name (useful with
// port 0), or nil.
func (s *Server) Addr(name string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.acceptors {
		if t := a.target.Load(); t != nil && t.name == name {
			return a.ln.Addr()
		}
	}
	return nil
}

// listenerKey identifies a socket across configs.
func listenerKey(lc *config.Listener) string { return lc.Network + " " + lc.Addr }

// bindPlan is what applying a pipeline's listeners takes: sockets to open,
// targets to assign, sockets to close. Nothing is visible until commit; a
// failed plan is undone with abort.
type bindPlan struct {
	p         *Pipeline
	opened    map[string]*acceptor // new sockets by key
	assign    map[*acceptor]*target
	keep      map[string]bool // keys of the running sockets the new config uses
	certSwaps []string        // listeners whose certificate changed
}

// plan prepares p's listeners against the running sockets.
func (s *Server) plan(p *Pipeline) (*bindPlan, error) {
	pl := &bindPlan{p: p, opened: map[string]*acceptor{}, assign: map[*acceptor]*target{}, keep: map[string]bool{}}
	for _, lc := range p.Config.Listeners {
		key := listenerKey(lc)
		info := p.infos[lc.Name]
		a := s.findAcceptor(lc)
		if a == nil {
			var raw net.Listener
			var err error
			if s.opts.Inherited != nil {
				raw = s.opts.Inherited(lc)
			}
			if raw == nil {
				raw, err = Listen(lc)
			}
			if err != nil {
				pl.abort()
				return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
			}
			if lc.Network == "tcp" {
				// Port 0 names no socket in particular: identify the
				// socket by the address the kernel gave it.
				key = "tcp " + raw.Addr().String()
			}
			a = newAcceptor(key, raw, s.log)
			pl.opened[key] = a
		}
		pl.keep[a.key] = true
		if cur := a.target.Load(); cur != nil && sameListener(cur.cfg, lc) && sameClientCA(cur, lc) {
			changed, err := cur.reloadCert()
			if err != nil {
				pl.abort()
				return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
			}
			if changed {
				pl.certSwaps = append(pl.certSwaps, lc.Name)
			}
			info.serverCert = cur.certPEM
			continue
		}
		t, err := s.newTarget(a, lc, info)
		if err != nil {
			pl.abort()
			return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
		}
		pl.assign[a] = t
	}
	return pl, nil
}

// findAcceptor returns the running socket for lc's address. Sockets are
// known by the address they are bound to, so a config naming port 0 always
// gets a new socket.
func (s *Server) findAcceptor(lc *config.Listener) *acceptor {
	if a := s.acceptors[listenerKey(lc)]; a != nil {
		return a
	}
	if lc.Network != "tcp" {
		return nil
	}
	// "localhost:8080" and "127.0.0.1:8080" name the same socket.
	want, err := net.ResolveTCPAddr("tcp", lc.Addr)
	if err != nil || want.Port == 0 {
		return nil
	}
	for _, a := range s.acceptors {
		got, ok := a.ln.Addr().(*net.TCPAddr)
		if !ok || got.Port != want.Port {
			continue
		}
		if got.IP.Equal(want.IP) || (got.IP.IsUnspecified() && (want.IP == nil || want.IP.IsUnspecified())) {
			return a
		}
	}
	return nil
}

// abort undoes a plan that will not be committed.
func (pl *bindPlan) abort() {
	for _, t := range pl.assign {
		_ = t.srv.Close()
		t.stopSweeper()
	}
	for _, a := range pl.opened {
		_ = a.ln.Close()
	}
}

// commit makes a plan live: new targets take over their sockets, new
// sockets start accepting, sockets the config no longer names close. Old
// targets drain in the background.
func (pl *bindPlan) commit(s *Server) {
	for a, t := range pl.assign {
		if old := a.target.Swap(t); old != nil {
			s.retireTarget(old, pl.p.Config.Server.GracefulTimeout.D())
		}
	}
	for key, a := range pl.opened {
		s.acceptors[key] = a
		go a.run()
	}
	for key, a := range s.acceptors {
		if !pl.keep[key] {
			delete(s.acceptors, key)
			a.close()
			if t := a.target.Load(); t != nil {
				s.retireTarget(t, pl.p.Config.Server.GracefulTimeout.D())
			}
		}
	}
}

// sameListener reports whether a running target can serve lc unchanged
// (its certificate files may still have new content).
func sameListener(a, b *config.Listener) bool {
	if a.Name != b.Name || a.HTTP2 != b.HTTP2 || a.Limits != b.Limits || a.Mode != b.Mode {
		return false
	}
	if !reflect.DeepEqual(a.ProxyProtocol, b.ProxyProtocol) {
		return false
	}
	if (a.TLS == nil) != (b.TLS == nil) {
		return false
	}
	return a.TLS == nil || (a.TLS.Cert == b.TLS.Cert && a.TLS.Key == b.TLS.Key &&
		a.TLS.MinVersion == b.TLS.MinVersion && a.TLS.ClientCA == b.TLS.ClientCA)
}

// sameClientCA reports whether a TLS target's client CA file still holds
// what the target trusts (a rotated CA file needs a new target).
func sameClientCA(t *target, lc *config.Listener) bool {
	if lc.TLS == nil || lc.TLS.ClientCA == "" {
		return true
	}
	pem, err := os.ReadFile(lc.TLS.ClientCA)
	return err == nil && bytes.Equal(pem, t.caPEM)
}

// newTarget builds and starts the http.Server that serves lc's connections
// from acceptor a.
func (s *Server) newTarget(a *acceptor, lc *config.Listener, info *listenerInfo) (*target, error) {
	lim := lc.Limits
	t := &target{name: lc.Name, cfg: lc, conns: newConnQueue(a.ln.Addr()), maxConns: int64(lim.MaxConnections),
		served: make(chan error, 1), certPEM: &atomicString{}}
	if lc.ProxyProtocol != nil {
		t.proxy = lc.ProxyProtocol.Trusted
	}
	// Every HTTP/1.x connection, cleartext or TLS, goes through the
	// request-head guard (TLS ones after the handshake, see dispatch).
	t.guard = newGuardConfig(GuardOptions{
		MaxRequestLine: int(lim.MaxRequestLine), MaxHeaderBytes: int(lim.MaxHeaderBytes),
		MaxHeaderCount: lim.MaxHeaderCount, MaxBodyBytes: int64(lim.MaxBodyBytes),
	})
	t.handshakeTimeout = lim.ReadHeaderTimeout.D()
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	if lc.HTTP2 {
		if lc.TLS != nil {
			protos.SetHTTP2(true)
		} else {
			protos.SetUnencryptedHTTP2(true)
		}
	}
	t.headTimeout = lim.ReadHeaderTimeout.D()
	idle := lim.IdleTimeout.D()
	// HTTP/1 only: a sweeper applies both timeouts and the write stall
	// timeout (deadlines would arm timers on every request) and the guard
	// times partial heads; net/http gets none.
	sweep := !lc.HTTP2 && (t.headTimeout > 0 || idle > 0 || lim.RequestTimeout > 0)
	srvHead, srvIdle := t.headTimeout, idle
	if sweep {
		srvHead, srvIdle = 0, 0
	}
	t.srv = &http.Server{
		Handler:           &listenerHandler{srv: s, name: lc.Name},
		ReadHeaderTimeout: srvHead,
		IdleTimeout:       srvIdle,
		// The guard enforces the exact limits; net/http's own check must
		// not fire first.
		MaxHeaderBytes: int(lim.MaxHeaderBytes + lim.MaxRequestLine + 4096),
		ConnContext:    connContext(lc.Network == "unix", lc.Addr),
		ConnState:      a.connState,
		Protocols:      protos,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if lc.TLS != nil {
		if _, err := t.reloadCert(); err != nil {
			return nil, err
		}
		cfg, err := tlsConfig(lc, t)
		if err != nil {
			return nil, err
		}
		cfg.NextProtos = []string{"http/1.1"}
		if lc.HTTP2 {
			cfg.NextProtos = []string{"h2", "http/1.1"}
		}
		t.tls = cfg
		// The acceptor does the handshakes; net/http gets *tls.Conn for h2
		// and guarded connections for HTTP/1.1. The NextProtos above tell
		// Serve to set up h2.
		t.srv.TLSConfig = cfg
	}
	info.serverCert = t.certPEM
	if sweep {
		t.sweeper = newConnSweeper(idle, t.headTimeout, lim.RequestTimeout.D())
	}
	go func() {
		err := t.srv.Serve(t.conns)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		t.served <- err
	}()
	return t, nil
}

// reloadCert (re)reads a TLS target's certificate and key; it reports
// whether they changed. New handshakes use the new pair; established
// connections keep theirs.
func (t *target) reloadCert() (changed bool, err error) {
	if t.cfg.TLS == nil {
		return false, nil
	}
	cert, err := tls.LoadX509KeyPair(t.cfg.TLS.Cert, t.cfg.TLS.Key)
	if err != nil {
		return false, fmt.Errorf("tls certificate: %w", err)
	}
	if old := t.cert.Load(); old != nil && reflect.DeepEqual(old.Certificate, cert.Certificate) {
		return false, nil
	}
	changed = t.cert.Load() != nil
	t.cert.Store(&cert)
	t.certPEM.Store(serverCertPEM(&cert))
	return changed, nil
}

// retireTarget shuts a target down in the background: it stops taking
// connections and closes idle ones at once. Requests still running after
// grace (SSE streams, long polls) are left to finish on their own, as
// WebSocket sessions are: a reload does not cut a live stream. The server's
// own Shutdown is what closes everything.
func (s *Server) retireTarget(t *target, grace time.Duration) {
	s.retiring.Add(1)
	go func() {
		defer s.retiring.Done()
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := t.srv.Shutdown(ctx); err != nil {
			s.log.Debug("old listener settings still serving long requests", "listener", t.name)
		}
		<-t.served
		t.stopSweeper()
	}()
}

// secureCipherSuites are the TLS 1.2 suites offered: ECDHE with AEAD only,
// no CBC (TLS 1.3 suites are not configurable and all sound).
var secureCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

func tlsConfig(lc *config.Listener, t *target) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:   max(lc.TLS.MinVersion, tls.VersionTLS12),
		CipherSuites: secureCipherSuites,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return t.cert.Load(), nil
		},
	}
	if lc.TLS.ClientCA != "" {
		pem, err := os.ReadFile(lc.TLS.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls client_ca: %w", err)
		}
		t.caPEM = pem
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls client_ca %s: no PEM certificates", lc.TLS.ClientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Listen binds a TCP address or a Unix socket (removing a stale socket file
// nobody listens on, and applying the configured mode).
func Listen(lc *config.Listener) (net.Listener, error) {
	if lc.Network != "unix" {
		return net.Listen("tcp", lc.Addr)
	}
	if fi, err := os.Lstat(lc.Addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.DialTimeout("unix", lc.Addr, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("unix socket %s is in use", lc.Addr)
		}
		if err := os.Remove(lc.Addr); err != nil {
			return nil, fmt.Errorf("remove stale unix socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", lc.Addr)
	if err != nil {
		return nil, err
	}
	if lc.Mode != 0 {
		if err := os.Chmod(lc.Addr, lc.Mode); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("chmod unix socket: %w", err)
		}
	}
	return ln, nil
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends
// (then closes what is left), runs lifespan shutdown and releases the
// pipeline's resources.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutting.Store(true)
	var targets []*target
	for key, a := range s.acceptors {
		a.close()
		if t := a.target.Load(); t != nil {
			targets = append(targets, t)
		}
		delete(s.acceptors, key)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(targets))
	for i, t := range targets {
		wg.Go(func() {
			if err := t.srv.Shutdown(ctx); err != nil {
				_ = t.srv.Close()
				errs[i] = fmt.Errorf("listener %q: %w", t.name, err)
			}
			<-t.served
			t.stopSweeper()
		})
	}
	wg.Wait()
	s.retiring.Wait()
	lifeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if p := s.pipeline.Load(); p != nil {
		p.life.shutdown(lifeCtx)
		errs = append(errs, p.Cleanup())
		if p.broker != nil {
			errs = append(errs, p.broker.Close())
		}
	}
	return errors.Join(errs...)
}

// listenerHandler is the http.Handler of one listener: it answers guard
// rejections, then hands the request to the listener's mux in the current
// pipeline.
type listenerHandler struct {
	srv  *Server
	name string
	// last caches the mux of the pipeline seen last, sparing a map lookup
	// by name per request.
	last atomic.Pointer[pipelineMux]
}

// pipelineMux is a pipeline and its mux for one listener.
type pipelineMux struct {
	p    *Pipeline
	mux  *http.ServeMux
	fast *fastRouter
}

// muxOf returns p's routing for the listener; its mux is nil when p does
// not serve the listener.
func (h *listenerHandler) muxOf(p *Pipeline) *pipelineMux {
	if c := h.last.Load(); c != nil && c.p == p {
		return c
	}
	c := &pipelineMux{p: p, mux: p.muxes[h.name], fast: p.fast[h.name]}
	h.last.Store(c)
	return c
}

func (h *listenerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if status, reason, bad := guardRejection(r.Context()); bad {
		rejectStatus(w, status, reason)
		return
	}
	if max := h.srv.opts.MaxRequests; max > 0 && h.srv.requests.Add(1) == max {
		go h.srv.opts.OnMaxRequests()
	}
	p := h.srv.pipeline.Load()
	for {
		// Count the request on its pipeline, then make sure that pipeline is
		// still current: a reload that swapped it in between retires it only
		// after seeing this request's count.
		p.inflight.Add(1)
		if cur := h.srv.pipeline.Load(); cur != p {
			p.inflight.Add(-1)
			p = cur
			continue
		}
		break
	}
	defer p.inflight.Add(-1)
	m := h.muxOf(p)
	if m.mux == nil {
		rejectStatus(w, http.StatusMisdirectedRequest, "listener not configured")
		return
	}
	if rt := m.fast.route(r); rt != nil {
		rt.ServeHTTP(w, r)
		return
	}
	m.mux.ServeHTTP(w, r)
}

// atomicString is a string that may be read while another goroutine sets it.
type atomicString struct{ v atomic.Pointer[string] }

// Load returns the string ("" for a nil receiver or before any Store).
func (a *atomicString) Load() string {
	if a == nil {
		return ""
	}
	if p := a.v.Load(); p != nil {
		return *p
	}
	return ""
}

// Store sets the string.
func (a *atomicString) Store(s string) { a.v.Store(&s) }
