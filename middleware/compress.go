package middleware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/hashicorp/hcl/v2"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
)

func init() {
	config.Register(config.BlockType{
		Name: "compress", Kind: config.KindMiddleware,
		Doc: "compresses responses with zstd, br or gzip, as the client accepts",
		New: func() any {
			return &Compress{
				Encodings: []string{"zstd", "br", "gzip"},
				MinSize:   1024,
				Types:     append([]string(nil), CompressDefaultTypes...),
				Level:     "default",
			}
		},
	})
}

// CompressDefaultTypes are the media types the compress middleware
// compresses when its block sets no types: text and the common textual
// application formats. A pattern ending in "/*" matches every subtype.
var CompressDefaultTypes = []string{
	"text/*",
	"application/json",
	"application/javascript",
	"application/xml",
	"application/xhtml+xml",
	"application/rss+xml",
	"application/atom+xml",
	"application/ld+json",
	"application/geo+json",
	"application/manifest+json",
	"application/wasm",
	"image/svg+xml",
	"image/x-icon",
	"font/ttf",
	"font/otf",
}

// Compress is the compress middleware: it compresses response bodies with
// the best content coding the client accepts.
//
//	compress {
//	  encodings = ["zstd", "br", "gzip"]  # offered codings, preferred first
//	  min_size  = "1KiB"                  # smaller bodies of known size go out as they are
//	  types     = ["text/*", "application/json", "image/svg+xml"]
//	  level     = "default"               # fastest | default | best
//	}
//
// The coding is negotiated with Accept-Encoding (RFC 9110 §12.5.3): the
// offered coding with the highest q-value wins, ties going to the order of
// encodings; "*" stands for codings the client does not name; "identity;q=0"
// (or "*;q=0" without identity) makes even bodies under min_size go out
// compressed. A compressed response gets Content-Encoding, loses its
// Content-Length, gets "Vary: Accept-Encoding" added to any Vary it had, and
// its ETag, when strong, is weakened (W/"...") as nginx does, so
// conditional requests handled behind the middleware still match.
//
// Each body event with More set flushes the compressor and sends what it
// produced, so streamed responses stay streamed. Bodies under min_size
// (a Content-Length below it, or a single final body below it) are not
// compressed; streams of unknown length are.
//
// Never compressed: HEAD requests, statuses 204, 206 and 304, responses
// with Content-Range, Content-Encoding or "Cache-Control: no-transform",
// other media types, SSE and WebSocket scopes, and file bodies (File/FH):
// those keep the sendfile path, and static files are best compressed
// ahead of time as sidecars, which the static handler serves (its
// precompressed attribute). Encoders are pooled per coding and level.
type Compress struct {
	// Encodings are the offered content codings (zstd, br, gzip) in the
	// server's order of preference.
	Encodings []string `hcl:"encodings,optional"`
	// MinSize is the smallest body compressed when its size is known.
	MinSize config.Size `hcl:"min_size,optional"`
	// Types are the media types compressed: exact ("application/json") or
	// a major type with "/*" ("text/*").
	Types []string `hcl:"types,optional"`
	// Level is fastest, default or best.
	Level string `hcl:"level,optional"`
}

var (
	_ config.Validator        = (*Compress)(nil)
	_ config.MiddlewareModule = (*Compress)(nil)
)

// compressEncoder is what the pooled gzip, brotli and zstd writers have in
// common.
type compressEncoder interface {
	io.Writer
	Flush() error
	Close() error
	Reset(io.Writer)
}

// compressCoding is one offered content coding with its encoder pool.
type compressCoding struct {
	token string
	pool  sync.Pool
}

// compressNewEncoder returns a constructor of pooled encoders for a coding
// and level, after checking that it works.
func compressNewEncoder(coding, level string) (func() compressEncoder, error) {
	var mk func() (compressEncoder, error)
	switch coding {
	case "gzip":
		lvl := map[string]int{"fastest": gzip.BestSpeed, "default": gzip.DefaultCompression, "best": gzip.BestCompression}[level]
		mk = func() (compressEncoder, error) { return gzip.NewWriterLevel(io.Discard, lvl) }
	case "br":
		// Quality 4 is the usual choice for compressing on the fly: close to
		// gzip's speed with better ratios; 11 is for content compressed once.
		q := map[string]int{"fastest": brotli.BestSpeed, "default": 4, "best": brotli.BestCompression}[level]
		mk = func() (compressEncoder, error) { return brotli.NewWriterLevel(io.Discard, q), nil }
	case "zstd":
		lvl := map[string]zstd.EncoderLevel{"fastest": zstd.SpeedFastest, "default": zstd.SpeedDefault, "best": zstd.SpeedBestCompression}[level]
		mk = func() (compressEncoder, error) {
			return zstd.NewWriter(nil,
				zstd.WithEncoderLevel(lvl),
				zstd.WithEncoderConcurrency(1), // synchronous: no goroutines per encoder
				zstd.WithWindowSize(compressZstdWindow),
				zstd.WithZeroFrames(true), // an empty body is still a valid frame
			)
		}
	default:
		return nil, fmt.Errorf("unknown encoding %q", coding)
	}
	if _, err := mk(); err != nil {
		return nil, fmt.Errorf("%s encoder: %w", coding, err)
	}
	return func() compressEncoder {
		e, _ := mk() // checked above
		return e
	}, nil
}

// compressZstdWindow bounds the zstd window, and with it each pooled
// encoder's memory; responses rarely gain from more.
const compressZstdWindow = 512 << 10

// compressChunk is the size at which compressed output is sent on while a
// large body is still being compressed, bounding the buffer.
const compressChunk = 32 << 10

// Validate checks the encodings, the types and the level.
func (c *Compress) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if len(c.Encodings) == 0 {
		diags = append(diags, ctx.Error("encodings", "No encodings", "list at least one of zstd, br, gzip"))
	}
	seen := map[string]bool{}
	for _, e := range c.Encodings {
		switch e {
		case "zstd", "br", "gzip":
		default:
			diags = append(diags, ctx.Error("encodings", "Unknown encoding", fmt.Sprintf("%q is not one of zstd, br, gzip", e)))
			continue
		}
		if seen[e] {
			diags = append(diags, ctx.Error("encodings", "Duplicate encoding", fmt.Sprintf("%q is listed twice", e)))
		}
		seen[e] = true
	}
	if c.MinSize < 0 {
		diags = append(diags, ctx.Error("min_size", "Invalid size", "min_size must not be negative"))
	}
	for _, t := range c.Types {
		if !compressValidType(t) {
			diags = append(diags, ctx.Error("types", "Invalid media type",
				fmt.Sprintf("%q must be type/subtype or type/*, without parameters", t)))
		}
	}
	switch c.Level {
	case "fastest", "default", "best":
	default:
		diags = append(diags, ctx.Error("level", "Unknown level", fmt.Sprintf("level must be fastest, default or best, got %q", c.Level)))
	}
	return diags
}

// compressValidType reports whether t is a usable media type pattern.
func compressValidType(t string) bool {
	major, minor, ok := strings.Cut(t, "/")
	if !ok || major == "" || minor == "" || major == "*" || strings.Contains(minor, "/") {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c <= ' ' || c >= 0x7f || c == ';' || c == ',' || c == '"' {
			return false
		}
	}
	return true
}

// BuildMiddleware builds the encoder pools and the type matcher once.
func (c *Compress) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	m, err := c.build()
	if err != nil {
		return nil, err
	}
	return m.middleware, nil
}

// build makes the compressMW of c.
func (c *Compress) build() (*compressMW, error) {
	m := &compressMW{minSize: int64(c.MinSize)}
	for _, e := range c.Encodings {
		mk, err := compressNewEncoder(e, c.Level)
		if err != nil {
			return nil, fmt.Errorf("compress: %w", err)
		}
		cd := &compressCoding{token: e}
		cd.pool.New = func() any { return mk() }
		m.codings = append(m.codings, cd)
	}
	if len(m.codings) > len(compressQ{}) {
		return nil, errors.New("compress: too many encodings")
	}
	for _, t := range c.Types {
		t = strings.ToLower(t)
		if strings.HasSuffix(t, "/*") {
			m.prefixes = append(m.prefixes, strings.TrimSuffix(t, "*"))
		} else {
			m.exact = append(m.exact, t)
		}
	}
	m.common = make(map[string]compressChoice, len(compressCommonAccept))
	for _, v := range compressCommonAccept {
		idx, refused := m.negotiateFields(pagi.Headers{{Name: "accept-encoding", Value: v}})
		m.common[v] = compressChoice{idx, refused}
	}
	m.resps.New = func() any {
		r := &compressResp{m: m}
		r.send = r.sendEvent
		return r
	}
	return m, nil
}

// compressMW is a built compress middleware.
type compressMW struct {
	codings  []*compressCoding // offered codings, preferred first
	minSize  int64
	prefixes []string // "text/" for "text/*"
	exact    []string
	// common holds the negotiation's outcome for the Accept-Encoding values
	// browsers and tools send, worked out once when the middleware is built.
	common map[string]compressChoice
	resps  sync.Pool // of *compressResp
}

// compressChoice is what negotiate returns.
type compressChoice struct {
	idx     int
	refused bool
}

// compressCommonAccept are the Accept-Encoding values of today's browsers,
// HTTP libraries and load tools, answered without parsing.
var compressCommonAccept = []string{
	"gzip", "br", "zstd", "deflate", "identity", "*",
	"gzip, deflate", "gzip,deflate", "deflate, gzip",
	"gzip, deflate, br", "gzip, deflate, br, zstd", "br, gzip", "gzip, br", "br;q=1.0, gzip;q=0.8, *;q=0.1",
	"gzip, deflate, zstd", "zstd, br, gzip", "gzip, compress, deflate, br",
}

func (m *compressMW) middleware(next pagi.App) pagi.App {
	return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
		if s.Type != pagi.ScopeHTTP || s.Method == http.MethodHead {
			return next(ctx, s, receive, send)
		}
		idx, identityRefused := m.negotiate(s.Headers)
		r := m.resps.Get().(*compressResp)
		r.next = send
		if idx >= 0 {
			r.coding = m.codings[idx]
			r.force = identityRefused
		}
		err := next(ctx, s, receive, r.send)
		if r.phase == compressHold {
			// The app returned after its start without a body: hand the
			// start on, so the server reports what really happened.
			if serr := send(ctx, &r.start); err == nil {
				err = serr
			}
		}
		r.release()
		m.resps.Put(r)
		return err
	}
}

// compressQ holds one q-value per offered coding, in thousandths; -1 when
// the client did not name the coding.
type compressQ [3]int

// negotiate picks the coding for a request's Accept-Encoding: the index in
// m.codings of the acceptable coding with the highest q-value (ties go to
// the server's order), or -1 when none is acceptable or the header is
// absent; and whether the client refuses the identity coding.
func (m *compressMW) negotiate(h pagi.Headers) (int, bool) {
	value, fields := "", 0
	for i := range h {
		if h[i].Name == "accept-encoding" {
			value = h[i].Value
			fields++
		}
	}
	if fields == 0 {
		return -1, false
	}
	if fields == 1 {
		if c, ok := m.common[value]; ok {
			return c.idx, c.refused
		}
	}
	return m.negotiateFields(h)
}

// negotiateFields is negotiate worked out from the fields themselves.
func (m *compressMW) negotiateFields(h pagi.Headers) (int, bool) {
	q := compressQ{-1, -1, -1}
	star, ident := -1, -1
	present := false
	for i := range h {
		if h[i].Name != "accept-encoding" {
			continue
		}
		present = true
		for v := h[i].Value; v != ""; {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			tok, params, _ := strings.Cut(elem, ";")
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			qv := sbParseQ(params)
			switch {
			case tok == "*":
				star = qv
			case strings.EqualFold(tok, "identity"):
				ident = qv
			default:
				for j, c := range m.codings {
					if strings.EqualFold(tok, c.token) || (c.token == "gzip" && strings.EqualFold(tok, "x-gzip")) {
						q[j] = qv
					}
				}
			}
		}
	}
	if !present {
		return -1, false
	}
	best, bestQ := -1, 0
	for j := range m.codings {
		qj := q[j]
		if qj < 0 {
			qj = max(star, 0)
		}
		if qj > bestQ {
			best, bestQ = j, qj
		}
	}
	return best, ident == 0 || (ident < 0 && star == 0)
}

// sbParseQ returns the q parameter of an Accept-* element's parameters in
// thousandths: 1000 without one, 0 for a malformed one (what cannot be
// read is not taken as acceptable).
func sbParseQ(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, val, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		val = strings.TrimSpace(val)
		if val == "" || (val[0] != '0' && val[0] != '1') {
			return 0
		}
		n := int(val[0]-'0') * 1000
		rest := val[1:]
		if rest == "" {
			return n
		}
		if rest[0] != '.' || len(rest) > 4 {
			return 0
		}
		scale := 100
		for i := 1; i < len(rest); i++ {
			c := rest[i]
			if c < '0' || c > '9' {
				return 0
			}
			n += int(c-'0') * scale
			scale /= 10
		}
		return min(n, 1000)
	}
	return 1000
}

// typeMatches reports whether a content-type value names a compressed
// media type.
func (m *compressMW) typeMatches(ct string) bool {
	mt := sbMediaType(ct)
	if mt == "" {
		return false
	}
	for _, p := range m.prefixes {
		if len(mt) > len(p) && strings.EqualFold(mt[:len(p)], p) {
			return true
		}
	}
	for _, e := range m.exact {
		if strings.EqualFold(mt, e) {
			return true
		}
	}
	return false
}

// eligible reports whether a response with this status and these headers
// may be compressed at all (size aside).
func (m *compressMW) eligible(status int, h pagi.Headers) bool {
	switch {
	case status < 200, status == http.StatusNoContent, status == http.StatusPartialContent, status == http.StatusNotModified:
		return false
	}
	ct := ""
	for i := range h {
		switch h[i].Name {
		case "content-encoding", "content-range":
			return false
		case "content-type":
			ct = h[i].Value
		}
	}
	return m.typeMatches(ct) && !sbHasToken(h, "cache-control", "no-transform")
}

// Phases of a compressResp.
const (
	compressWaitStart uint8 = iota // no start yet
	compressHold                   // start held until the first body decides
	compressPass                   // the response goes out untouched
	compressActive                 // compressing
	compressDone                   // compressed response complete
)

// compressResp is the per-response state of the compress middleware,
// pooled with its buffers; it is also the io.Writer the encoder writes to.
type compressResp struct {
	m      *compressMW
	next   pagi.Send
	send   pagi.Send // r.sendEvent, bound once
	ctx    context.Context
	coding *compressCoding // nil: the client accepts none of the codings
	force  bool            // identity refused: compress below min_size too
	phase  uint8
	dirty  bool // bytes written since the last flush
	enc    compressEncoder
	start  pagi.HTTPResponseStart
	hdrs   pagi.Headers
	body   pagi.HTTPResponseBody
	buf    []byte
}

// release makes r ready for the pool.
func (r *compressResp) release() {
	if r.enc != nil {
		r.coding.pool.Put(r.enc)
		r.enc = nil
	}
	clear(r.hdrs)
	r.hdrs = r.hdrs[:0]
	if cap(r.buf) > 4*compressChunk {
		r.buf = nil
	}
	r.buf = r.buf[:0]
	r.next, r.ctx, r.coding, r.force, r.phase, r.dirty = nil, nil, nil, false, compressWaitStart, false
	r.start = pagi.HTTPResponseStart{}
	r.body = pagi.HTTPResponseBody{}
}

func (r *compressResp) sendEvent(ctx context.Context, ev pagi.Event) error {
	switch e := ev.(type) {
	case *pagi.HTTPResponseStart:
		if r.phase == compressWaitStart {
			return r.onStart(ctx, e)
		}
	case *pagi.HTTPResponseBody:
		switch r.phase {
		case compressHold:
			return r.onFirstBody(ctx, e)
		case compressActive:
			return r.onBody(ctx, e)
		}
	}
	return r.next(ctx, ev)
}

// onStart decides what it can from the start: responses that can never be
// compressed go on at once; the others are held until the first body.
func (r *compressResp) onStart(ctx context.Context, e *pagi.HTTPResponseStart) error {
	r.phase = compressPass
	if e.Status < 200 || e.Status > 599 || !r.m.eligible(e.Status, e.Headers) {
		return r.next(ctx, e)
	}
	if err := e.Headers.Validate(); err != nil {
		return err // as the server would: the start is refused
	}
	cl, known := sbContentLength(e.Headers)
	small := known && cl < r.m.minSize
	if r.coding == nil {
		// Nothing to compress for this client, but the response would be
		// compressed for others: caches must know it varies.
		if small || sbHasToken(e.Headers, "vary", "accept-encoding") || sbHasToken(e.Headers, "vary", "*") {
			return r.next(ctx, e)
		}
		r.start = *e
		r.hdrs = append(append(r.hdrs[:0], e.Headers...), pagi.Header{Name: "vary", Value: "Accept-Encoding"})
		r.start.Headers = r.hdrs
		return r.next(ctx, &r.start)
	}
	if small && !r.force {
		return r.next(ctx, e)
	}
	r.start = *e
	r.hdrs = append(r.hdrs[:0], e.Headers...)
	r.start.Headers = r.hdrs
	r.phase = compressHold
	return nil
}

// onFirstBody ends the hold: a file body, or a single final body under
// min_size, goes out untouched with the start; anything else is compressed.
func (r *compressResp) onFirstBody(ctx context.Context, e *pagi.HTTPResponseBody) error {
	if sbIsFile(e) || (!e.More && int64(len(e.Body)) < r.m.minSize && !r.force) {
		r.phase = compressPass
		if err := r.next(ctx, &r.start); err != nil {
			return err
		}
		return r.next(ctx, e)
	}
	h := r.hdrs.Del("content-length")
	for i := range h {
		if h[i].Name == "etag" && strings.HasPrefix(h[i].Value, `"`) {
			h[i].Value = "W/" + h[i].Value
		}
	}
	h = append(h, pagi.Header{Name: "content-encoding", Value: r.coding.token})
	if !sbHasToken(h, "vary", "accept-encoding") && !sbHasToken(h, "vary", "*") {
		h = append(h, pagi.Header{Name: "vary", Value: "Accept-Encoding"})
	}
	r.hdrs = h
	r.start.Headers = h
	if err := r.next(ctx, &r.start); err != nil {
		r.phase = compressPass
		return err
	}
	r.enc = r.coding.pool.Get().(compressEncoder)
	r.enc.Reset(r)
	r.phase = compressActive
	return r.onBody(ctx, e)
}

// onBody compresses one body event: a streamed chunk is flushed through
// the encoder and sent on; the final body closes the stream.
func (r *compressResp) onBody(ctx context.Context, e *pagi.HTTPResponseBody) error {
	r.ctx = ctx
	if sbIsFile(e) {
		if err := r.compressFile(e); err != nil {
			return err
		}
	} else if len(e.Body) > 0 {
		if _, err := r.enc.Write(e.Body); err != nil {
			return err
		}
		r.dirty = true
	}
	if e.More && !sbIsFile(e) {
		if r.dirty {
			r.dirty = false
			if err := r.enc.Flush(); err != nil {
				return err
			}
		}
		// Sent even when empty: an empty chunk asks the server to flush
		// what it holds (the headers, at the start of a long poll).
		return r.emit(true)
	}
	err := r.enc.Close()
	r.coding.pool.Put(r.enc)
	r.enc = nil
	r.phase = compressDone
	if err != nil {
		return err
	}
	return r.emit(false)
}

// compressFile compresses a file body that follows compressed chunks (a
// first body that is a file is never compressed).
func (r *compressResp) compressFile(e *pagi.HTTPResponseBody) error {
	f := e.FH
	if e.File != "" {
		var err error
		if f, err = os.Open(e.File); err != nil {
			return fmt.Errorf("compress: %w", err)
		}
		defer f.Close()
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("compress: %w", err)
	}
	off := min(e.Offset, fi.Size())
	n := fi.Size() - off
	if e.Length > 0 && e.Length < n {
		n = e.Length
	}
	if _, err := io.Copy(r.enc, io.NewSectionReader(f, off, n)); err != nil {
		return err
	}
	return nil
}

// Write receives the encoder's output; past compressChunk bytes it sends
// them on as a streamed chunk, so a large body is never held whole.
func (r *compressResp) Write(p []byte) (int, error) {
	r.buf = append(r.buf, p...)
	if len(r.buf) >= compressChunk {
		if err := r.emit(true); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// emit sends the buffered output as one body event.
func (r *compressResp) emit(more bool) error {
	r.body = pagi.HTTPResponseBody{Body: r.buf, More: more}
	err := r.next(r.ctx, &r.body)
	r.body.Body = nil
	r.buf = r.buf[:0]
	return err
}
