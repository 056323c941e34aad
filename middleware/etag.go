package middleware

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "etag", Kind: config.KindMiddleware,
		Doc: "adds ETags to dynamic responses and answers If-None-Match with 304",
		New: func() any { return &ETag{MaxSize: 1 << 20} },
	})
}

// ETag is the etag middleware: it gives dynamic 200 responses to GET and
// HEAD an ETag computed from their body, and answers 304 Not Modified when
// the request's If-None-Match matches it.
//
//	etag {
//	  max_size = "1MiB"   # larger bodies are streamed on without an ETag
//	  weak     = false    # true: W/"..." tags
//	}
//
// The tag is the first 16 bytes of the body's SHA-256, base64url-encoded:
// "q2ld7ksQ6ZBvoEKEPKhyeA". A single final body is hashed where it lies;
// a body sent in several events is buffered until it ends, so clients get
// it at once, with its tag. Once the buffered body passes max_size, what
// was buffered goes out and the rest streams on without an ETag; long-lived
// streams (long polls, event streams over plain HTTP) should therefore not
// pass through this middleware, and text/event-stream responses always
// pass untouched.
//
// If-None-Match is compared weakly (RFC 9110 §13.1.2): a match, or "*",
// answers 304 with no body, keeping Cache-Control, Content-Location, Date,
// Expires and Vary. Responses that already have an ETag, statuses other
// than 200, responses announcing trailers and file bodies (File/FH: the
// static handler makes its own tags) pass untouched. Put etag after
// compress in a chain so it hashes the uncompressed body; compress then
// weakens the tag of what it compresses, which still matches If-None-Match.
type ETag struct {
	// MaxSize is the largest body buffered and tagged.
	MaxSize config.Size `hcl:"max_size,optional"`
	// Weak makes the tags weak validators.
	Weak bool `hcl:"weak,optional"`
}

var (
	_ config.Validator        = (*ETag)(nil)
	_ config.MiddlewareModule = (*ETag)(nil)
)

// Validate checks that max_size is positive.
func (e *ETag) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	if e.MaxSize <= 0 {
		return hcl.Diagnostics{ctx.Error("max_size", "Invalid size", "max_size must be positive")}
	}
	return nil
}

// BuildMiddleware returns the middleware.
func (e *ETag) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	m := &etagMW{max: int(e.MaxSize), weak: e.Weak}
	m.pool.New = func() any {
		r := &etagResp{m: m}
		r.sendFn = r.send
		return r
	}
	return m.middleware, nil
}

// etagMW is a built etag middleware.
type etagMW struct {
	max  int
	weak bool
	pool sync.Pool // of *etagResp
}

func (m *etagMW) middleware(next pagi.App) pagi.App {
	return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP || (s.Method != http.MethodGet && s.Method != http.MethodHead) {
			return next(ctx, s, receive, send)
		}
		r := m.pool.Get().(*etagResp)
		r.next, r.s = send, s
		err := next(ctx, s, receive, r.sendFn)
		if r.phase == etagHold || r.phase == etagBuffer {
			// The app returned before its final body: hand on what it sent.
			if ferr := r.flush(ctx); err == nil {
				err = ferr
			}
		}
		r.release()
		m.pool.Put(r)
		return err
	}
}

// Phases of an etagResp.
const (
	etagWaitStart uint8 = iota
	etagHold            // start held, no body yet
	etagBuffer          // start held, body chunks buffered
	etagPass            // everything goes on untouched
)

// etagResp is the per-response state of the etag middleware, pooled with
// its buffers.
type etagResp struct {
	m      *etagMW
	s      *pagi.Scope
	next   pagi.Send
	sendFn pagi.Send
	phase  uint8
	start  pagi.HTTPResponseStart
	hdrs   pagi.Headers
	body   pagi.HTTPResponseBody
	buf    []byte
}

func (r *etagResp) release() {
	clear(r.hdrs)
	r.hdrs = r.hdrs[:0]
	if cap(r.buf) > 256<<10 {
		r.buf = nil
	}
	r.buf = r.buf[:0]
	r.s, r.next, r.phase = nil, nil, etagWaitStart
	r.start = pagi.HTTPResponseStart{}
	r.body = pagi.HTTPResponseBody{}
}

func (r *etagResp) send(ctx context.Context, ev pagi.Event) error {
	switch e := ev.(type) {
	case *pagi.HTTPResponseStart:
		if r.phase != etagWaitStart {
			break
		}
		r.phase = etagPass
		ct, _ := e.Headers.Get("content-type")
		if e.Status != http.StatusOK || e.Trailers || e.Headers.Has("etag") ||
			strings.EqualFold(sbMediaType(ct), "text/event-stream") {
			break
		}
		if err := e.Headers.Validate(); err != nil {
			return err
		}
		r.start = *e
		r.hdrs = append(r.hdrs[:0], e.Headers...)
		r.start.Headers = r.hdrs
		r.phase = etagHold
		return nil
	case *pagi.HTTPResponseBody:
		switch r.phase {
		case etagHold:
			if sbIsFile(e) {
				r.phase = etagPass
				if err := r.next(ctx, &r.start); err != nil {
					return err
				}
				break
			}
			if !e.More {
				r.phase = etagPass
				if len(e.Body) > r.m.max {
					if err := r.next(ctx, &r.start); err != nil {
						return err
					}
					break
				}
				return r.finish(ctx, e.Body)
			}
			r.phase = etagBuffer
			return r.add(ctx, e)
		case etagBuffer:
			if sbIsFile(e) {
				if err := r.flush(ctx); err != nil {
					return err
				}
				break
			}
			return r.add(ctx, e)
		}
	}
	return r.next(ctx, ev)
}

// add buffers one body chunk; past max_size it gives up on the tag and
// streams.
func (r *etagResp) add(ctx context.Context, e *pagi.HTTPResponseBody) error {
	if len(r.buf)+len(e.Body) > r.m.max {
		if err := r.flush(ctx); err != nil {
			return err
		}
		return r.next(ctx, e)
	}
	r.buf = append(r.buf, e.Body...)
	if e.More {
		return nil
	}
	r.phase = etagPass
	return r.finish(ctx, r.buf)
}

// flush sends the held start and the buffered body, untagged, and passes
// everything after.
func (r *etagResp) flush(ctx context.Context) error {
	held := r.phase == etagBuffer
	r.phase = etagPass
	if err := r.next(ctx, &r.start); err != nil {
		return err
	}
	if !held {
		return nil
	}
	r.body = pagi.HTTPResponseBody{Body: r.buf, More: true}
	return r.next(ctx, &r.body)
}

// finish tags the complete body and sends it, or 304 when the client has
// it already.
func (r *etagResp) finish(ctx context.Context, body []byte) error {
	if len(body) == 0 && r.s.Method == http.MethodHead {
		// A HEAD response without its body cannot be hashed.
		if n, ok := sbContentLength(r.hdrs); ok && n > 0 {
			if err := r.next(ctx, &r.start); err != nil {
				return err
			}
			r.body = pagi.HTTPResponseBody{}
			return r.next(ctx, &r.body)
		}
	}
	tag := etagOf(body, r.m.weak)
	if etagRequested(r.s.Headers, tag) {
		h := r.hdrs[:0]
		for _, f := range r.hdrs {
			switch f.Name {
			case "cache-control", "content-location", "date", "expires", "vary":
				h = append(h, f)
			}
		}
		r.hdrs = append(h, pagi.Header{Name: "etag", Value: tag})
		r.start.Status = http.StatusNotModified
		r.start.Headers = r.hdrs
		if err := r.next(ctx, &r.start); err != nil {
			return err
		}
		r.body = pagi.HTTPResponseBody{}
		return r.next(ctx, &r.body)
	}
	r.hdrs = append(r.hdrs, pagi.Header{Name: "etag", Value: tag})
	r.start.Headers = r.hdrs
	if err := r.next(ctx, &r.start); err != nil {
		return err
	}
	r.body = pagi.HTTPResponseBody{Body: body}
	return r.next(ctx, &r.body)
}

// etagOf returns the quoted tag of body: 16 bytes of its SHA-256 in
// unpadded base64url, W/-prefixed when weak.
func etagOf(body []byte, weak bool) string {
	sum := sha256.Sum256(body)
	var b [2 + 2 + 22]byte
	n := 0
	if weak {
		n = copy(b[:], `W/`)
	}
	b[n] = '"'
	base64.RawURLEncoding.Encode(b[n+1:], sum[:16])
	b[n+23] = '"'
	return string(b[:n+24])
}

// etagRequested reports whether any If-None-Match field of the request
// matches tag.
func etagRequested(h pagi.Headers, tag string) bool {
	for i := range h {
		if h[i].Name == "if-none-match" && etagMatches(h[i].Value, tag) {
			return true
		}
	}
	return false
}

// etagMatches compares an If-None-Match value with tag weakly: "*" or any
// listed tag with the same opaque part.
func etagMatches(inm, tag string) bool {
	tag = strings.TrimPrefix(tag, "W/")
	for v := inm; ; {
		v = strings.TrimLeft(v, " \t,")
		if v == "" {
			return false
		}
		if v[0] == '*' {
			return true
		}
		v = strings.TrimPrefix(v, "W/")
		if v == "" || v[0] != '"' {
			return false // malformed: no match rather than a guess
		}
		end := strings.IndexByte(v[1:], '"')
		if end < 0 {
			return false
		}
		if v[:end+2] == tag {
			return true
		}
		v = v[end+2:]
	}
}
