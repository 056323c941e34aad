package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "timeout", Kind: config.KindMiddleware,
		Doc: "bounds the time of a whole request and of reading its body",
		New: func() any {
			return &Timeout{Request: config.Duration(30 * time.Second), Body: config.Duration(10 * time.Second)}
		},
	})
}

// ErrRequestTimeout is the cause of the context cancellation of an app that
// passed the timeout middleware's request limit, and what its sends return
// from then on.
var ErrRequestTimeout = errors.New("request timeout")

// errBodyTimeout cancels the context of an app whose body read passed the
// body limit, once the middleware answered 408.
var errBodyTimeout = errors.New("request body timeout")

// Timeout is the timeout middleware.
//
//	timeout {
//	  request = "30s"   # the whole request, until the response is complete (0: no limit)
//	  body    = "10s"   # reading the request body, counted from the request's start (0: no limit)
//	  streams = false   # true: apply to WebSocket and SSE scopes too
//	}
//
// When the request limit passes before the app completed its response, the
// app's context is cancelled (cause ErrRequestTimeout) and its later sends
// are dropped and return ErrRequestTimeout; the client gets 503 when no
// response had started, and otherwise the connection is closed once the app
// returns (the middleware then returns ErrRequestTimeout, so the server
// logs the request and cuts the truncated response).
//
// When the app is still reading the request body once the body limit has
// passed, its receive returns http.disconnect (reason client_timeout) at
// once, and the client gets 408 when no response had started (the app's
// context is then cancelled as well). An inner body read that is blocked
// on a silent client ends when bytes arrive, the client leaves, or the
// listener's request_timeout (the stall timeout) fires; the app does not
// wait for it.
//
// The middleware's own 503 and 408 are flushed to the client as soon as
// they are sent, with "Connection: close" on HTTP/1.x; the app keeps
// running until it returns, which a well-behaved app does once its context
// is done. WebSocket and SSE scopes are left alone unless streams is true;
// then request bounds the whole session.
type Timeout struct {
	// Request bounds the whole request; 0 disables it.
	Request config.Duration `hcl:"request,optional"`
	// Body bounds reading the request body; 0 disables it.
	Body config.Duration `hcl:"body,optional"`
	// Streams applies the limits to WebSocket and SSE scopes.
	Streams bool `hcl:"streams,optional"`
}

var (
	_ config.Validator        = (*Timeout)(nil)
	_ config.MiddlewareModule = (*Timeout)(nil)
)

// Validate checks that the durations are not negative.
func (t *Timeout) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if t.Request < 0 {
		diags = append(diags, ctx.Error("request", "Invalid duration", "request must not be negative"))
	}
	if t.Body < 0 {
		diags = append(diags, ctx.Error("body", "Invalid duration", "body must not be negative"))
	}
	return diags
}

// BuildMiddleware returns the middleware; with both limits at 0 it passes
// every request straight through.
func (t *Timeout) BuildMiddleware(ctx *config.BuildContext) (pagi.Middleware, error) {
	m := &timeoutMW{request: t.Request.D(), body: t.Body.D(), streams: t.Streams, log: ctx.Logger}
	m.pool.New = func() any {
		r := &timeoutReq{m: m, results: make(chan timeoutResult, 1)}
		r.sendFn, r.recvFn = r.send, r.receive
		r.timer = time.AfterFunc(time.Hour, r.expire)
		r.timer.Stop()
		r.bodyTimer = time.NewTimer(time.Hour)
		r.bodyTimer.Stop()
		return r
	}
	if m.request <= 0 && m.body <= 0 {
		return func(next pagi.App) pagi.App { return next }, nil
	}
	return m.middleware, nil
}

// timeoutMW is a built timeout middleware.
type timeoutMW struct {
	request, body time.Duration
	streams       bool
	log           *slog.Logger
	pool          sync.Pool // of *timeoutReq
}

func (m *timeoutMW) middleware(next pagi.App) pagi.App {
	return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		switch s.Type {
		case pagi.ScopeHTTP:
		case pagi.ScopeSSE, pagi.ScopeWebSocket:
			if !m.streams {
				return next(ctx, s, receive, send)
			}
		default:
			return next(ctx, s, receive, send)
		}
		r := m.pool.Get().(*timeoutReq)
		err := r.run(ctx, s, next, receive, send)
		m.pool.Put(r)
		return err
	}
}

// timeoutResult is the outcome of one inner receive.
type timeoutResult struct {
	ev  pagi.Event
	err error
}

// timeoutReq is the per-request state of the timeout middleware, pooled
// with its timers.
//
// Sends of the app and of the middleware (its 503 or 408) are serialised by
// sendMu, so the server never sees two at once. The request timer runs
// expire on its own goroutine; run waits for it before returning. Body
// reads run on a helper goroutine so a receive can return at the body
// deadline; run waits for a read still in progress before returning, so
// nothing touches the scope after the app call ends.
type timeoutReq struct {
	m      *timeoutMW
	s      *pagi.Scope
	next   pagi.Send
	recv   pagi.Receive
	sendFn pagi.Send
	recvFn pagi.Receive
	cancel context.CancelCauseFunc

	timer  *time.Timer // request deadline: runs expire
	firing sync.WaitGroup

	started  atomic.Bool // a response start was accepted by the server
	complete atomic.Bool // the response (or the scope's exchange) is over
	expired  atomic.Bool // the request deadline passed before completion

	sendMu   sync.Mutex
	answered bool // the middleware sent its own response (guarded by sendMu)
	trailers bool // the start announced trailers (guarded by sendMu)

	// Receive side, used by the app's receiving goroutine only.
	bodyTimer    *time.Timer
	bodyDeadline time.Time
	bodyDone     bool // the final body event was delivered
	bodyExpired  bool // the body deadline passed: receives report a disconnect
	pending      bool // an inner receive is still running
	results      chan timeoutResult
}

// run calls the app under the limits and returns what the server should
// see.
func (r *timeoutReq) run(ctx context.Context, s *pagi.Scope, next pagi.App, receive pagi.Receive, send pagi.Send) error {
	r.s, r.next, r.recv = s, send, receive
	// http scopes always get a first http.request event, which tells
	// whether more follows; sse scopes get sse.request events only when
	// the request has a body.
	r.bodyDone = r.m.body <= 0 || s.Type == pagi.ScopeWebSocket ||
		(s.Type == pagi.ScopeSSE && !timeoutHasBody(s.Headers))
	if !r.bodyDone {
		r.bodyDeadline = time.Now().Add(r.m.body)
	}
	ctx, r.cancel = context.WithCancelCause(ctx)
	if r.m.request > 0 {
		r.firing.Add(1)
		r.timer.Reset(r.m.request)
	}
	err := next(ctx, s, r.recvFn, r.sendFn)
	if r.m.request > 0 {
		if r.timer.Stop() {
			r.firing.Done()
		}
		r.firing.Wait()
	}
	if r.pending {
		<-r.results
	}
	r.cancel(nil)
	r.sendMu.Lock()
	answered := r.answered
	r.sendMu.Unlock()
	switch {
	case answered:
		if err != nil && r.m.log != nil {
			r.m.log.Debug("app error after the timeout middleware answered", "err", err)
		}
		err = nil
	case r.expired.Load() && r.started.Load() && !r.complete.Load():
		err = fmt.Errorf("timeout: response not complete after %s: %w", r.m.request, ErrRequestTimeout)
	}
	r.reset()
	return err
}

// reset makes r ready for the pool.
func (r *timeoutReq) reset() {
	r.s, r.next, r.recv, r.cancel = nil, nil, nil, nil
	r.started.Store(false)
	r.complete.Store(false)
	r.expired.Store(false)
	r.answered, r.trailers = false, false
	r.bodyDone, r.bodyExpired, r.pending = false, false, false
}

// expire runs on the timer's goroutine when the request limit passes.
func (r *timeoutReq) expire() {
	defer r.firing.Done()
	if r.complete.Load() {
		return // only work after the response is left; let it finish
	}
	r.expired.Store(true)
	r.cancel(ErrRequestTimeout)
	if r.started.Load() {
		return // the connection is closed when the app returns
	}
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	if r.started.Load() || r.answered {
		return
	}
	r.answered = true
	_ = sbReply503.send(context.Background(), r.s, r.next)
}

// send is the app's send: it tracks the response and drops everything once
// the request expired or the middleware answered.
func (r *timeoutReq) send(ctx context.Context, ev pagi.Event) error {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	if r.answered || r.expired.Load() {
		return ErrRequestTimeout
	}
	if err := r.next(ctx, ev); err != nil {
		return err
	}
	switch e := ev.(type) {
	case *pagi.HTTPResponseStart:
		r.trailers = e.Trailers
		r.started.Store(true)
	case *pagi.HTTPResponseBody:
		if (!e.More || sbIsFile(e)) && !r.trailers {
			r.complete.Store(true)
		}
	case *pagi.HTTPResponseTrailers:
		r.complete.Store(true)
	case *pagi.SSEHTTPResponseStart, *pagi.WebSocketHTTPResponseStart, *pagi.SSEStart, *pagi.WebSocketAccept:
		r.started.Store(true)
	case *pagi.SSEHTTPResponseBody:
		if !e.More {
			r.complete.Store(true)
		}
	case *pagi.WebSocketHTTPResponseBody:
		if !e.More {
			r.complete.Store(true)
		}
	case *pagi.WebSocketClose:
		if !r.started.Load() {
			r.started.Store(true)
			r.complete.Store(true) // a refused handshake is a complete answer
		}
	}
	return nil
}

// receive is the app's receive: body reads are bounded by the body
// deadline; after the request deadline every receive reports a disconnect.
func (r *timeoutReq) receive(ctx context.Context) (pagi.Event, error) {
	if r.expired.Load() || r.bodyExpired {
		return sbDisconnect(r.s.Type, pagi.ReasonClientTimeout), nil
	}
	if r.bodyDone && !r.pending {
		return r.recv(ctx)
	}
	wait := time.Until(r.bodyDeadline)
	if wait <= 0 {
		return r.bodyTimeout(), nil
	}
	if !r.pending {
		r.pending = true
		go func() {
			ev, err := r.recv(ctx)
			r.results <- timeoutResult{ev, err}
		}()
	}
	r.bodyTimer.Reset(wait)
	select {
	case res := <-r.results:
		r.bodyTimer.Stop()
		r.pending = false
		return r.delivered(res)
	case <-r.bodyTimer.C:
		return r.bodyTimeout(), nil
	case <-ctx.Done():
		// The read goes on; the next receive (or the end of run) takes
		// its result.
		r.bodyTimer.Stop()
		if r.expired.Load() {
			return sbDisconnect(r.s.Type, pagi.ReasonClientTimeout), nil
		}
		return nil, ctx.Err()
	}
}

// delivered notes the end of the body in an inner receive's result.
func (r *timeoutReq) delivered(res timeoutResult) (pagi.Event, error) {
	switch e := res.ev.(type) {
	case *pagi.HTTPRequest:
		r.bodyDone = !e.More
	case *pagi.SSERequest:
		r.bodyDone = !e.More
	case nil:
	default:
		r.bodyDone = true // a disconnect
	}
	return res.ev, res.err
}

// bodyTimeout handles a body read past the body deadline: 408 when no
// response started, and a disconnect for the app.
func (r *timeoutReq) bodyTimeout() pagi.Event {
	r.bodyExpired = true
	r.sendMu.Lock()
	if !r.started.Load() && !r.answered && !r.expired.Load() {
		r.answered = true
		_ = sbReply408.send(context.Background(), r.s, r.next)
		r.cancel(errBodyTimeout)
	}
	r.sendMu.Unlock()
	return sbDisconnect(r.s.Type, pagi.ReasonClientTimeout)
}

// timeoutHasBody reports whether an sse request announces a body. The
// server drops Transfer-Encoding from the scope's headers, so only a
// declared length tells; a chunked SSE request body is not bounded.
func timeoutHasBody(h pagi.Headers) bool {
	n, ok := sbContentLength(h)
	return ok && n > 0
}
