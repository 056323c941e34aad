package middleware

// Helpers shared by the compress, timeout, body_limit, rate_limit, xsendfile
// and etag middleware. Every name here starts with "sb" so it cannot clash
// with the helpers of other files of the package.

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pagihq/pagi"
)

// sbReply is a response a middleware makes itself (413, 408, 503, ...): its
// status, its body and the headers of an http scope, built once.
type sbReply struct {
	status int
	body   []byte
	// headers for HTTP/1.x (with connection: close) and HTTP/2 (without:
	// connection-specific fields are not allowed there).
	h1, h2 pagi.Headers
}

// sbNewReply builds the reply for status with the body "<status> <text>\n"
// and extra headers appended to the fixed ones.
func sbNewReply(status int, extra ...pagi.Header) *sbReply {
	body := []byte(strconv.Itoa(status) + " " + strings.ToLower(http.StatusText(status)) + "\n")
	h2 := pagi.Headers{
		{Name: "content-type", Value: "text/plain; charset=utf-8"},
		{Name: "x-content-type-options", Value: "nosniff"},
		{Name: "content-length", Value: strconv.Itoa(len(body))},
	}
	h2 = append(h2, extra...)
	h1 := append(h2.Clone(), pagi.Header{Name: "connection", Value: "close"})
	return &sbReply{status: status, body: body, h1: h1, h2: h2}
}

// Replies sent by the middleware of this package.
var (
	sbReply408 = sbNewReply(http.StatusRequestTimeout)
	sbReply413 = sbNewReply(http.StatusRequestEntityTooLarge)
	sbReply503 = sbNewReply(http.StatusServiceUnavailable)
)

// send answers on any request scope. On http scopes the body goes out as a
// streamed chunk followed by an empty final one: the engine flushes a
// streamed chunk at once, so the client gets the whole reply (its length is
// declared) even while the app is still running, and the connection is
// closed after it (HTTP/1.x), since the request body may be unread. Other
// scope types get pagi.Respond's decline or denial.
func (r *sbReply) send(ctx context.Context, s *pagi.Scope, send pagi.Send) error {
	if s.Type != pagi.ScopeHTTP {
		return pagi.Respond(ctx, s, send, r.status, r.h2, r.body)
	}
	h := r.h1
	if s.HTTPVersion == "2" {
		h = r.h2
	}
	if err := send(ctx, &pagi.HTTPResponseStart{Status: r.status, Headers: h}); err != nil {
		return err
	}
	if err := send(ctx, &pagi.HTTPResponseBody{Body: r.body, More: true}); err != nil {
		return err
	}
	return send(ctx, &pagi.HTTPResponseBody{})
}

// sbDisconnect returns the disconnect event of a scope type with reason.
func sbDisconnect(t pagi.ScopeType, reason string) pagi.Event {
	switch t {
	case pagi.ScopeSSE:
		return &pagi.SSEDisconnect{Reason: reason}
	case pagi.ScopeWebSocket:
		return &pagi.WebSocketDisconnect{Code: 1006, Reason: reason}
	}
	return &pagi.HTTPDisconnect{Reason: reason}
}

// sbHasToken reports whether any field called name (lower-case) holds token
// in its comma-separated list, compared case-insensitively and ignoring
// parameters ("no-transform" in "public, no-transform").
func sbHasToken(h pagi.Headers, name, token string) bool {
	for i := range h {
		if h[i].Name != name {
			continue
		}
		for v := h[i].Value; v != ""; {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			elem, _, _ = strings.Cut(elem, ";")
			if strings.EqualFold(strings.TrimSpace(elem), token) {
				return true
			}
		}
	}
	return false
}

// sbContentLength returns the value of the content-length header and
// whether there was a valid one.
func sbContentLength(h pagi.Headers) (int64, bool) {
	v, ok := h.Get("content-length")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// sbMediaType returns the media type of a content-type value: the part
// before any parameter, without surrounding spaces, in its original case.
func sbMediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.TrimSpace(mt)
}

// sbIsFile reports whether a response body event sends a file.
func sbIsFile(e *pagi.HTTPResponseBody) bool {
	return e.File != "" || e.FH != nil
}

// sbResolve returns p relative to dir (the config file's directory) unless
// it is absolute.
func sbResolve(dir, p string) string {
	if filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}
