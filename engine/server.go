package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pagihq/pagi/config"
)

// Server runs a compiled pipeline on its listeners with net/http.
//
// Start binds and serves; Shutdown drains. The current Pipeline is read
// from an atomic pointer once per request, so a reload can swap it while
// requests run: each request finishes on the pipeline it started on.
type Server struct {
	log      *slog.Logger
	pipeline atomic.Pointer[Pipeline]
	shutting atomic.Bool
	life     *lifespan

	mu        sync.Mutex
	listeners []*serverListener
}

// serverListener is one bound listener and the http.Server serving it.
type serverListener struct {
	cfg    *config.Listener
	ln     net.Listener
	limit  *limitListener
	srv    *http.Server
	cert   atomic.Pointer[tls.Certificate]
	served chan error
}

// New compiles cfg into a Server; nothing is bound until Start.
func New(cfg *config.Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log}
	p, err := Compile(cfg, CompileOptions{Logger: log, shutting: &s.shutting})
	if err != nil {
		return nil, err
	}
	s.pipeline.Store(p)
	s.life = &lifespan{log: log, mode: cfg.Server.Lifespan, timeout: cfg.Server.LifespanStartupTimeout.D()}
	return s, nil
}

// Pipeline returns the pipeline currently serving.
func (s *Server) Pipeline() *Pipeline { return s.pipeline.Load() }

// Start runs lifespan startup, then binds every listener and serves them in
// the background. A failed startup or bind leaves nothing bound.
func (s *Server) Start(ctx context.Context) error {
	p := s.pipeline.Load()
	state, err := s.life.startup(ctx, p.apps, 0)
	if err != nil {
		return err
	}
	p.state.m = state.m
	var bound []*serverListener
	for _, lc := range p.Config.Listeners {
		sl, err := s.bind(lc, p.infos[lc.Name])
		if err != nil {
			for _, b := range bound {
				_ = b.ln.Close()
			}
			return err
		}
		bound = append(bound, sl)
	}
	s.mu.Lock()
	s.listeners = bound
	s.mu.Unlock()
	for _, sl := range bound {
		go func() { sl.served <- s.serve(sl) }()
		s.log.Info("listening", "listener", sl.cfg.Name, "address", sl.ln.Addr().String(),
			"tls", sl.cfg.TLS != nil, "http2", sl.cfg.HTTP2)
	}
	return nil
}

// Addr returns the bound address of the listener called name (useful with
// port 0), or nil.
func (s *Server) Addr(name string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sl := range s.listeners {
		if sl.cfg.Name == name {
			return sl.ln.Addr()
		}
	}
	return nil
}

// bind opens one listener: TCP or Unix socket, the connection cap, the
// HTTP/1 request-head guard (cleartext), and the http.Server with its
// limits, TLS and protocols.
func (s *Server) bind(lc *config.Listener, info *listenerInfo) (*serverListener, error) {
	raw, err := listen(lc)
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
	}
	sl := &serverListener{cfg: lc, served: make(chan error, 1)}
	lim := lc.Limits
	var ln net.Listener = raw
	if lc.TLS == nil && os.Getenv("NOGUARD") == "" {
		ln = GuardListener(ln, GuardOptions{
			MaxRequestLine: int(lim.MaxRequestLine), MaxHeaderBytes: int(lim.MaxHeaderBytes),
			MaxHeaderCount: lim.MaxHeaderCount, MaxBodyBytes: int64(lim.MaxBodyBytes),
		})
	}
	sl.limit = &limitListener{Listener: ln, max: int64(lim.MaxConnections)}
	sl.ln = sl.limit
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	if lc.HTTP2 {
		if lc.TLS != nil {
			protos.SetHTTP2(true)
		} else {
			protos.SetUnencryptedHTTP2(true)
		}
	}
	sl.srv = &http.Server{
		Handler:           &listenerHandler{srv: s, name: lc.Name},
		ReadHeaderTimeout: lim.ReadHeaderTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		// The guard enforces the exact limits; net/http's own check must not
		// fire first.
		MaxHeaderBytes: int(lim.MaxHeaderBytes + lim.MaxRequestLine + 4096),
		ConnContext:    connContext(info),
		ConnState:      sl.limit.connState,
		Protocols:      protos,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if lc.TLS != nil {
		cfg, err := s.tlsConfig(lc, sl, info)
		if err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
		}
		sl.srv.TLSConfig = cfg
	}
	return sl, nil
}

func (s *Server) serve(sl *serverListener) error {
	var err error
	if sl.cfg.TLS != nil {
		err = sl.srv.ServeTLS(sl.ln, "", "")
	} else {
		err = sl.srv.Serve(sl.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	if err != nil {
		s.log.Error("listener stopped", "listener", sl.cfg.Name, "err", err)
	}
	return err
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

func (s *Server) tlsConfig(lc *config.Listener, sl *serverListener, info *listenerInfo) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(lc.TLS.Cert, lc.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("tls certificate: %w", err)
	}
	sl.cert.Store(&cert)
	info.serverCert.Store(serverCertPEM(&cert))
	cfg := &tls.Config{
		MinVersion:   max(lc.TLS.MinVersion, tls.VersionTLS12),
		CipherSuites: secureCipherSuites,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return sl.cert.Load(), nil
		},
	}
	if lc.TLS.ClientCA != "" {
		pem, err := os.ReadFile(lc.TLS.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls client_ca %s: no PEM certificates", lc.TLS.ClientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// listen binds a TCP address or a Unix socket (removing a stale socket file
// nobody listens on, and applying the configured mode).
func listen(lc *config.Listener) (net.Listener, error) {
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
	s.shutting.Store(true)
	s.mu.Lock()
	lns := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(lns))
	for i, sl := range lns {
		wg.Go(func() {
			if err := sl.srv.Shutdown(ctx); err != nil {
				_ = sl.srv.Close()
				errs[i] = fmt.Errorf("listener %q: %w", sl.cfg.Name, err)
			}
			<-sl.served
		})
	}
	wg.Wait()
	lifeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.life.shutdown(lifeCtx)
	if p := s.pipeline.Load(); p != nil {
		errs = append(errs, p.Cleanup())
	}
	return errors.Join(errs...)
}

// listenerHandler is the http.Handler of one listener: it answers guard
// rejections, then hands the request to the listener's mux in the current
// pipeline.
type listenerHandler struct {
	srv  *Server
	name string
}

func (h *listenerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if status, reason, bad := GuardRejection(r.Context()); bad {
		rejectStatus(w, status, reason)
		return
	}
	p := h.srv.pipeline.Load()
	mux := p.muxes[h.name]
	if mux == nil {
		rejectStatus(w, http.StatusMisdirectedRequest, "listener not configured")
		return
	}
	p.inflight.Add(1)
	defer p.inflight.Add(-1)
	mux.ServeHTTP(w, r)
}

// atomicString is a string that may be read while another goroutine sets it.
type atomicString struct{ v atomic.Pointer[string] }

func (a *atomicString) Load() string {
	if p := a.v.Load(); p != nil {
		return *p
	}
	return ""
}

func (a *atomicString) Store(s string) { a.v.Store(&s) }
