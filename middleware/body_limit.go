package middleware

import (
	"context"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "body_limit", Kind: config.KindMiddleware,
		Doc: "refuses request bodies larger than a limit with 413",
		New: func() any { return &BodyLimit{Max: 1 << 20} },
	})
}

// BodyLimit is the body_limit middleware.
//
//	body_limit {
//	  max = "1MiB"
//	}
//
// A request whose Content-Length exceeds max gets 413 before the app runs.
// A body of unknown length (chunked, or HTTP/2 without Content-Length) is
// counted as the app receives it: the event that would pass max is not
// delivered; the app gets http.disconnect (reason body_too_large) instead,
// on this and every later receive, and the client gets 413, flushed at
// once, when no response had started. The app's sends after that 413 are
// dropped silently, as sends to a departed client are. The 413 closes the
// connection (HTTP/1.x), since the rest of the body is never read.
//
// Requests with a Content-Length within max are not wrapped at all: the
// server never delivers more than the declared length. SSE scopes with a
// body are limited the same way; WebSocket scopes have no body (the
// websocket handler's max_message_bytes bounds their messages).
type BodyLimit struct {
	// Max is the largest request body accepted, in bytes.
	Max config.Size `hcl:"max,optional"`
}

var (
	_ config.Validator        = (*BodyLimit)(nil)
	_ config.MiddlewareModule = (*BodyLimit)(nil)
)

// Validate checks that max is positive.
func (b *BodyLimit) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	if b.Max <= 0 {
		return hcl.Diagnostics{ctx.Error("max", "Invalid size", "max must be positive")}
	}
	return nil
}

// BuildMiddleware returns the middleware.
func (b *BodyLimit) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	m := &bodyLimitMW{max: int64(b.Max)}
	m.pool.New = func() any {
		r := &bodyLimitReq{m: m}
		r.sendFn, r.recvFn = r.send, r.receive
		return r
	}
	return m.middleware, nil
}

// bodyLimitMW is a built body_limit middleware.
type bodyLimitMW struct {
	max  int64
	pool sync.Pool // of *bodyLimitReq
}

func (m *bodyLimitMW) middleware(next pagi.App) pagi.App {
	return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP && s.Type != pagi.ScopeSSE {
			return next(ctx, s, receive, send)
		}
		if n, ok := sbContentLength(s.Headers); ok {
			if n > m.max {
				return sbReply413.send(ctx, s, send)
			}
			return next(ctx, s, receive, send) // the server stops at n bytes
		}
		r := m.pool.Get().(*bodyLimitReq)
		r.s, r.next, r.recv = s, send, receive
		err := next(ctx, s, r.recvFn, r.sendFn)
		r.mu.Lock()
		answered := r.answered
		r.mu.Unlock()
		if answered {
			err = nil // the client got its 413; whatever the app made of it is moot
		}
		r.s, r.next, r.recv, r.n, r.over, r.started, r.answered = nil, nil, nil, 0, false, false, false
		m.pool.Put(r)
		return err
	}
}

// bodyLimitReq is the per-request state of the body_limit middleware. The
// receive side (n, over) belongs to the app's receiving goroutine; the send
// side (started, answered) is guarded by mu, since the 413 is sent from
// receive, possibly while the app sends on another goroutine.
type bodyLimitReq struct {
	m      *bodyLimitMW
	s      *pagi.Scope
	next   pagi.Send
	recv   pagi.Receive
	sendFn pagi.Send
	recvFn pagi.Receive

	n    int64
	over bool

	mu       sync.Mutex
	started  bool
	answered bool
}

func (r *bodyLimitReq) receive(ctx context.Context) (pagi.Event, error) {
	if r.over {
		return sbDisconnect(r.s.Type, pagi.ReasonBodyTooLarge), nil
	}
	ev, err := r.recv(ctx)
	switch e := ev.(type) {
	case *pagi.HTTPRequest:
		r.n += int64(len(e.Body))
	case *pagi.SSERequest:
		r.n += int64(len(e.Body))
	default:
		return ev, err
	}
	if r.n <= r.m.max {
		return ev, err
	}
	r.over = true
	r.mu.Lock()
	if !r.started {
		r.answered = true
		_ = sbReply413.send(ctx, r.s, r.next)
	}
	r.mu.Unlock()
	return sbDisconnect(r.s.Type, pagi.ReasonBodyTooLarge), nil
}

func (r *bodyLimitReq) send(ctx context.Context, ev pagi.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.answered {
		return nil // the client is gone as far as the app knows
	}
	switch ev.(type) {
	case *pagi.HTTPResponseStart, *pagi.SSEStart, *pagi.SSEHTTPResponseStart:
		r.started = true
	}
	return r.next(ctx, ev)
}
