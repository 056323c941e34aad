package middleware

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "request_id", Kind: config.KindMiddleware,
		Doc: "gives every request an id, in a request header, the response and scope.Values",
		New: func() any { return &RequestID{Header: "x-request-id"} },
	})
}

// RequestID is the request_id middleware: it gives every request an id, a
// random 128-bit number written as 32 hex digits.
//
//	request_id {
//	  header         = "x-request-id"
//	  trust_incoming = false   # true: keep a well-formed id the client (a proxy) sent
//	}
//
// The id is set as the request header (the app sees it), stored in
// scope.Values["pagi.request_id"], and added to the response (the start of
// an http response, an SSE stream or a WebSocket accept, and declines and
// denials) unless the app set that header itself. An incoming id is kept
// only with trust_incoming = true and when it is 1 to 200 characters of
// A-Z a-z 0-9 . _ : -; otherwise a new one replaces it. Put request_id
// before access_log so the log sees the id.
type RequestID struct {
	// Header is the request and response header holding the id.
	Header string `hcl:"header,optional"`
	// TrustIncoming keeps a well-formed id the client sent.
	TrustIncoming bool `hcl:"trust_incoming,optional"`
}

var (
	_ config.Validator        = (*RequestID)(nil)
	_ config.MiddlewareModule = (*RequestID)(nil)
)

// Validate checks the header name.
func (r *RequestID) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	if err := pagi.ValidateHeader(strings.ToLower(r.Header), ""); err != nil {
		return hcl.Diagnostics{ctx.Error("header", "Invalid header name", err.Error())}
	}
	return nil
}

// BuildMiddleware returns the middleware.
func (r *RequestID) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	name := strings.ToLower(r.Header)
	if err := pagi.ValidateHeader(name, ""); err != nil {
		return nil, fmt.Errorf("request_id: %w", err)
	}
	trust := r.TrustIncoming
	return func(next pagi.App) pagi.App {
		return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
			if s.Type == pagi.ScopeLifespan {
				return next(ctx, s, receive, send)
			}
			id := ""
			if trust {
				if v, ok := s.Headers.Get(name); ok && reqIDValid(v) {
					id = v
				}
			}
			if id == "" {
				id = newRequestID()
			}
			c := getCall()
			defer putCall(c)
			s2 := c.editScope(s)
			c.reqHdrs = append(c.reqHdrs[:0], s.Headers...).Set(name, id)
			s2.Headers = c.reqHdrs
			c.setValue("pagi.request_id", id)
			c.one[0] = pagi.Header{Name: name, Value: id}
			c.next, c.onStart, c.add = send, addMissing, c.one[:]
			return next(ctx, s2, receive, c.sendFn)
		}
	}, nil
}

// reqIDValid reports whether an incoming id may be kept: 1 to 200
// characters of A-Z a-z 0-9 . _ : -.
func reqIDValid(v string) bool {
	if v == "" || len(v) > 200 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == ':' || c == '-':
		default:
			return false
		}
	}
	return true
}

// reqIDBatch is a block of random bytes from crypto/rand, used 16 bytes
// (one id) at a time.
type reqIDBatch struct {
	buf [4096]byte
	off int
}

// reqIDPool holds partly used batches. sync.Pool keeps them per P, so ids
// are made without a lock, and one crypto/rand read serves 256 ids: the ids
// stay unpredictable (they come from the OS CSPRNG) at a fraction of a
// read per request. Each byte is handed out once; a batch the GC drops
// only wastes its unused bytes.
var reqIDPool = sync.Pool{New: func() any { return &reqIDBatch{off: 4096} }}

// reqIDHex holds the two lower-case hex digits of every byte value.
var reqIDHex = func() (t [256][2]byte) {
	for i := range t {
		t[i] = [2]byte{"0123456789abcdef"[i>>4], "0123456789abcdef"[i&0xf]}
	}
	return t
}()

// newRequestID returns 32 random hex digits.
func newRequestID() string {
	b := reqIDPool.Get().(*reqIDBatch)
	if b.off+16 > len(b.buf) {
		_, _ = rand.Read(b.buf[:]) // crypto/rand.Read never fails (Go 1.24+)
		b.off = 0
	}
	var out [32]byte
	src := (*[16]byte)(b.buf[b.off : b.off+16])
	for i, c := range src {
		out[2*i], out[2*i+1] = reqIDHex[c][0], reqIDHex[c][1]
	}
	b.off += 16
	reqIDPool.Put(b)
	return string(out[:])
}
