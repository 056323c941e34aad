package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

// listenerInfo is what the per-request path needs to know of the listener a
// request came in on; fixed when the pipeline is compiled.
type listenerInfo struct {
	name   string
	unix   bool
	addr   string // host:port or socket path
	tls    bool
	limits config.Limits
	// serverCert is the PEM of the certificate the listener presents,
	// shared with the listener's target (nil for cleartext).
	serverCert *atomicString
	shutting   *atomic.Bool // shared with the Server
	// date is the Date header cache of the pipeline's responses.
	date *dateClock
}

func (ln *listenerInfo) shuttingDown() bool { return ln.shutting != nil && ln.shutting.Load() }

// route is the compiled form of one route on one listener: everything a
// request needs, resolved when the config was compiled.
type route struct {
	app       pagi.App
	pattern   string
	site      string
	params    []string
	mountSegs int // > 0 for a mount: the number of path segments of the prefix
	ln        *listenerInfo
	state     *lifespanState
	log       *slog.Logger
	ws        WebSocketOptions
	// inflight is the pipeline's request count; WebSocket sessions, which
	// outlive their ServeHTTP call, hold it too (see serveWebSocket).
	inflight *atomic.Int64
}

// ServeHTTP runs the route's app for one request.
func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if lim := int64(rt.ln.limits.MaxBodyBytes); lim > 0 {
		if r.ContentLength > lim {
			rejectStatus(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, lim)
		}
	}
	switch scopeTypeOf(r) {
	case pagi.ScopeWebSocket:
		rt.serveWebSocket(w, r)
		return
	case pagi.ScopeSSE:
		rt.serveSSE(w, r)
		return
	}
	ci := connInfoFrom(r.Context())
	x := getExchange(rt, w, r, ci)
	rt.fillScope(&x.scope, r, ci, pagi.ScopeHTTP, &x.headers, &x.params)
	x.scope.Connection = &x.conn
	x.scope.Transport = x.flow
	err := rt.call(r.Context(), &x.scope, x.recv, x.send)
	abort := x.finish(err)
	putExchange(x)
	if abort {
		// Closes the connection so the client sees a truncated response
		// rather than a complete-looking one.
		panic(http.ErrAbortHandler)
	}
}

// fillScope fills the fields common to http, sse and websocket scopes.
// ci is the connection's info from r's context (nil when there is none).
func (rt *route) fillScope(s *pagi.Scope, r *http.Request, ci *connInfo, typ pagi.ScopeType, headers *pagi.Headers, params *pagi.Params) {
	s.Type = typ
	switch {
	case r.ProtoMajor == 2:
		s.HTTPVersion = "2"
	case r.ProtoMinor == 0:
		s.HTTPVersion = "1.0"
	default:
		s.HTTPVersion = "1.1"
	}
	if typ != pagi.ScopeWebSocket {
		s.Method = r.Method
	}
	tlsState := r.TLS
	if tlsState == nil && ci != nil {
		tlsState = ci.tlsState
	}
	secure := tlsState != nil
	switch {
	case typ == pagi.ScopeWebSocket && secure:
		s.Scheme = "wss"
	case typ == pagi.ScopeWebSocket:
		s.Scheme = "ws"
	case secure:
		s.Scheme = "https"
	default:
		s.Scheme = "http"
	}
	s.Path = r.URL.Path
	s.RawPath = rawPathOf(r)
	s.QueryString = r.URL.RawQuery
	if rt.mountSegs > 0 {
		s.RootPath, s.Path = splitMount(s.Path, rt.mountSegs)
	}
	*headers = appendHeaders((*headers)[:0], r)
	s.Headers = *headers
	if ci != nil {
		if ci.hasClient {
			s.Client = &ci.client
		}
		s.Server = &ci.server
		if tlsState != nil {
			s.Extensions.TLS = ci.tls(tlsState, rt.ln.serverCert.Load())
		}
	}
	s.State = rt.state.copy()
	if len(rt.params) > 0 {
		ps := (*params)[:0]
		for _, name := range rt.params {
			ps = append(ps, pagi.Param{Name: name, Value: r.PathValue(name)})
		}
		*params = ps
		s.Params = ps
	}
	s.Route = rt.pattern
}

// call runs the app, turning a panic into an error.
func (rt *route) call(ctx context.Context, s *pagi.Scope, recv pagi.Receive, send pagi.Send) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			rt.log.Debug("app panic stack", "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return rt.app(ctx, s, recv, send)
}

// finish applies the spec's rules for how an app ended and reports whether
// the connection must be aborted.
func (x *exchange) finish(err error) (abort bool) {
	if x.stopAF != nil {
		x.stopAF()
	}
	if x.deadlineSet {
		_ = x.controller().SetWriteDeadline(time.Time{})
	}
	reason := x.conn.DisconnectReason() // "" while the client is there
	if !x.wroteHeader {
		// Nothing is on the wire yet: the server can still answer.
		clear(x.w.Header())
		x.conn.MarkStarted()
		switch {
		case x.rejected != 0:
			rejectStatus(x.w, x.rejected, http.StatusText(x.rejected))
		case reason != "":
			// The client is gone; there is nobody to answer.
		default:
			if err == nil && x.startSeen {
				err = errors.New("app returned without sending the response body")
			} else if err == nil {
				err = errors.New("app returned without sending a response")
			}
			x.logAppError(err)
			rejectStatus(x.w, http.StatusInternalServerError, "Internal Server Error")
			x.conn.Disconnect(pagi.ReasonServerError)
		}
		return false
	}
	if !x.complete {
		if err == nil {
			err = errors.New("app returned before completing the response")
		}
		if reason == "" {
			x.logAppError(err)
			x.conn.Disconnect(pagi.ReasonServerError)
			return true
		}
		return false
	}
	if err != nil {
		x.logAppError(err)
	}
	x.conn.Finish()
	return false
}

func (x *exchange) logAppError(err error) {
	x.rt.log.Error("app error", "site", x.rt.site, "route", x.rt.pattern,
		"method", x.r.Method, "path", x.r.URL.Path, "err", err)
}

// rejectStatus answers a request the server refuses itself, closing the
// connection afterwards.
func rejectStatus(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Connection"] = []string{"close"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
