// HTTP/1.x request-head guard.
//
// net/http parses request heads itself and gives us no hook into that
// parsing, and in a few places it is more forgiving than a server sitting
// behind (or beside) other HTTP implementations can afford to be:
//
//   - A request carrying both Transfer-Encoding: chunked and Content-Length is
//     accepted: the Content-Length is quietly dropped and the connection stays
//     open, which is exactly the ambiguity request smuggling feeds on.
//   - Several Content-Length fields with the same value are merged instead of
//     refused.
//   - A Content-Length too large for an int64 is a plain 400, where we want
//     413, and there is no notion of a maximum body size at parse time.
//   - There is no limit of its own on the request line (we want 414 above
//     max_request_line), the header limit is Server.MaxHeaderBytes plus 4096
//     bytes of slack for the whole head rather than an exact 431 for the
//     header block, and the number of header fields is not limited at all.
//   - Transfer-Encoding on an HTTP/1.0 request is ignored rather than refused,
//     so an intermediary that honours it and net/http frame the body
//     differently.
//
// The guard closes those gaps without forking net/http: GuardListener wraps
// the listener, and each connection runs a small incremental HTTP/1.x framing
// parser over the bytes before net/http reads them. A request head is
// buffered until it is complete, validated, and only then handed over;
// bodies are passed through while the guard follows their framing
// (Content-Length count, or chunk sizes, data, CRLFs and trailers), so it
// always knows where the next pipelined head starts.
//
// On a violation the guard never writes to the socket (a response to an
// earlier pipelined request may still be on its way). It substitutes a small
// synthetic request that net/http parses without complaint, records the
// status and reason on the connection, and after those bytes reports EOF for
// good. The top-level handler asks GuardRejection first and answers the
// recorded status with Connection: close. A violation inside a chunked body
// (the head was already handed over) makes the body's Read fail instead; the
// handler sees a body read error, and GuardRejection reports the status.
//
// Two more rules keep the guard out of the way of protocols that are not
// HTTP/1.x: a connection that starts with the HTTP/2 prior-knowledge preface
// is passed through untouched, and so is everything read after a handler
// hijacks the connection (WebSocket, CONNECT tunnels). The guard detects the
// hijack itself rather than trusting Upgrade/CONNECT request headers, so a
// request that merely claims to upgrade but is answered as ordinary HTTP does
// not switch the guard off for the rest of the connection.
//
// The guard is for cleartext connections: net/http needs to see *tls.Conn
// itself for TLS, and a guard under TLS would see only ciphertext.

package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pagihq/pagi/internal/wordscan"
)

// GuardOptions are the limits the guard enforces. A zero or negative field
// takes its default.
type GuardOptions struct {
	// MaxRequestLine is the longest request line accepted, in bytes without
	// its line terminator; longer lines get 414. Default 8192.
	MaxRequestLine int
	// MaxHeaderBytes is the largest header block accepted: the header field
	// lines with their terminators, excluding the request line and the blank
	// line that ends the head. Larger blocks get 431. It also bounds a chunked
	// body's trailer section. Default 16384.
	MaxHeaderBytes int
	// MaxHeaderCount is the largest number of header fields accepted (also
	// applied to trailer fields); more get 431. Default 100.
	MaxHeaderCount int
	// MaxBodyBytes, when positive, is the largest request body accepted: a
	// larger Content-Length, or chunk sizes adding up to more, get 413.
	// Zero means unlimited.
	MaxBodyBytes int64
}

const (
	guardDefaultRequestLine = 8192
	guardDefaultHeaderBytes = 16384
	guardDefaultHeaderCount = 100

	guardInitialBuffer = 4096     // per-connection buffer to start with
	guardDirectMin     = 512      // smallest read that may skip the guard's buffer (see readHeadDirect)
	guardMinBufferCap  = 64 << 10 // the buffer may grow to max(this, limits+slack)
	guardBufferSlack   = 4096

	// guardMaxChunkLine matches net/http's own limit on a chunk-size line.
	guardMaxChunkLine = 4096
	// guardMaxCLDigits: more Content-Length digits than this are 413.
	guardMaxCLDigits = 18
	// guardMaxChunkDigits: more chunk-size hex digits than this are 413.
	guardMaxChunkDigits = 16

	// After a rejection the connection is half-closed and its input drained
	// for a while before the close, so that unread request bytes do not turn
	// the close into a TCP reset that destroys the response in flight.
	guardLingerTime  = 500 * time.Millisecond
	guardLingerBytes = 256 << 10
)

// guardSynthetic is the request net/http is given in place of a rejected
// head.
const guardSynthetic = "GET / HTTP/1.1\r\nHost: pagi-guard\r\nConnection: close\r\n\r\n"

// guardH2Preface starts every HTTP/2 prior-knowledge connection.
const guardH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Rejection reasons. They are constants so recording one never allocates.
const (
	grBadRequestLine   = "malformed request line"
	grBadVersion       = "malformed HTTP version"
	grRequestLineLong  = "request line too long"
	grHeaderTooLarge   = "request header fields too large"
	grTooManyHeaders   = "too many header fields"
	grObsFold          = "obsolete line folding in header"
	grSpaceBeforeColon = "whitespace between header name and colon"
	grBadHeaderName    = "invalid header field name"
	grNoColon          = "header line without colon"
	grEmptyName        = "empty header field name"
	grBadHeaderValue   = "invalid character in header field value"
	grDupCL            = "duplicate Content-Length"
	grBadCL            = "invalid Content-Length"
	grCLTooLarge       = "Content-Length too large"
	grBodyTooLarge     = "request body too large"
	grTEAndCL          = "both Transfer-Encoding and Content-Length"
	grTEHTTP10         = "Transfer-Encoding in an HTTP/1.0 request"
	grChunkedNotLast   = "chunked is not the final transfer coding"
	grEmptyTE          = "empty Transfer-Encoding"
	grUnsupportedTE    = "unsupported transfer coding"
	grIncompleteHead   = "incomplete request head"
	grLeadingBlank     = "too many blank lines before the request line"
	grBadChunkSize     = "invalid chunk size"
	grChunkTooLarge    = "chunk size too large"
	grBadChunkExt      = "invalid chunk extension"
	grChunkLineLong    = "chunk line too long"
	grChunkLineEnd     = "chunk line not terminated by CRLF"
	grChunkDataEnd     = "missing CRLF after chunk data"
	grTrailerLineEnd   = "trailer line not terminated by CRLF"
	grTrailerField     = "framing field in trailer section"
)

var errGuardBufferFull = errors.New("engine: guard buffer full")

// guardConfig is the normalised GuardOptions shared by a listener's conns.
type guardConfig struct {
	maxLine, maxHdr, maxCount int
	maxBody                   int64
	bufCap                    int
}

func newGuardConfig(o GuardOptions) *guardConfig {
	c := &guardConfig{
		maxLine:  o.MaxRequestLine,
		maxHdr:   o.MaxHeaderBytes,
		maxCount: o.MaxHeaderCount,
		maxBody:  o.MaxBodyBytes,
	}
	if c.maxLine <= 0 {
		c.maxLine = guardDefaultRequestLine
	}
	if c.maxHdr <= 0 {
		c.maxHdr = guardDefaultHeaderBytes
	}
	if c.maxCount <= 0 {
		c.maxCount = guardDefaultHeaderCount
	}
	if c.maxBody < 0 {
		c.maxBody = 0
	}
	c.bufCap = max(c.maxLine+c.maxHdr+guardBufferSlack, guardMinBufferCap)
	return c
}

// GuardListener wraps l so that every accepted connection runs the HTTP/1.x
// request guard described in this file's top comment. Serve it with an
// http.Server whose ConnContext is GuardConnContext (or calls it) and whose
// handler consults GuardRejection first. Use it for cleartext listeners only.
func GuardListener(l net.Listener, opts GuardOptions) net.Listener {
	return &guardListener{Listener: l, cfg: newGuardConfig(opts)}
}

type guardListener struct {
	net.Listener
	cfg *guardConfig
}

// Accept wraps the next connection of the inner listener in a guard.
func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c, cfg: l.cfg}, nil
}

type guardCtxKey struct{}

// GuardConnContext is meant for http.Server.ConnContext: it stores the guard
// connection in the context so GuardRejection can find it. It also picks up
// the server's ReadHeaderTimeout (or ReadTimeout) from the context, because a
// head the guard is still collecting is invisible to net/http's own header
// timer on keep-alive connections; the guard applies that timeout itself.
// Connections that are not guarded leave ctx unchanged.
func GuardConnContext(ctx context.Context, c net.Conn) context.Context {
	gc := findGuardConn(c)
	if gc == nil {
		return ctx
	}
	gc.configure(ctx)
	return context.WithValue(ctx, guardCtxKey{}, gc)
}

// configure takes the head timeout from the server in ctx (see
// GuardConnContext).
func (c *guardConn) configure(ctx context.Context) {
	if c.headTimeout > 0 {
		return // set by the engine
	}
	if srv, ok := ctx.Value(http.ServerContextKey).(*http.Server); ok && srv != nil {
		d := srv.ReadHeaderTimeout
		if d == 0 {
			d = srv.ReadTimeout
		}
		if d > 0 {
			c.headTimeout = d
		}
	}
}

// findGuardConn returns the guard under c, following NetConn unwrapping.
func findGuardConn(c net.Conn) *guardConn {
	for range 8 {
		switch t := c.(type) {
		case *guardConn:
			return t
		case interface{ NetConn() net.Conn }:
			c = t.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// GuardRejection reports, for the request being served on ctx's connection,
// the status the guard decided (400, 413, 414, 431, 501) and a short reason;
// ok is false when the request is fine (or the connection is not guarded).
// The handler should answer the status with Connection: close. It is also
// the way to classify a request body Read error: when the guard stopped a
// chunked body, GuardRejection reports why.
func GuardRejection(ctx context.Context) (status int, reason string, ok bool) {
	gc, _ := ctx.Value(guardCtxKey{}).(*guardConn)
	return gc.rejection()
}

// rejection is GuardRejection for a known guard (nil: none).
func (gc *guardConn) rejection() (status int, reason string, ok bool) {
	if gc == nil {
		return 0, "", false
	}
	s := gc.status.Load()
	if s == 0 {
		return 0, "", false
	}
	return int(s), gc.reason, true
}

// guardState is where the connection's byte stream is.
type guardState uint8

const (
	gsStart     guardState = iota // first bytes: HTTP/2 preface or a head
	gsHead                        // collecting and validating a head
	gsBody                        // Content-Length body; remain bytes left
	gsChunkLine                   // chunk-size line
	gsChunkData                   // chunk data; remain bytes left
	gsChunkCRLF                   // CRLF after chunk data
	gsTrailer                     // trailer section
	gsBoundary                    // a request fully read, the next not begun
	gsPass                        // not HTTP/1.x any more: pass everything
	gsRejected                    // synthetic request, then EOF
	gsFailed                      // body framing violation: Read fails
)

// guardHead is the per-head parse state, reset for every head.
type guardHead struct {
	off      int // bytes (from c.rel) already searched for LF
	line     int // start of the current line (from c.rel)
	hdrStart int // start of the header fields (from c.rel); -1 before the request line
	skipped  int // blank-line bytes dropped before the request line
	fields   int
	major    byte
	minor    byte
	hasCL    bool
	hasTE    bool
	teItems  int
	teChunk  bool // "chunked" seen (it must be the last coding)
	teOther  bool // a coding other than chunked seen
	timed    bool // the head timer was considered for this head
	cl       int64
}

// guardConn is one guarded connection. Read runs the framing parser; every
// other method passes through to the inner connection.
//
// Buffer layout: buf[rpos:rel] has been checked and is handed to net/http
// next; buf[rel:wpos] has been read from the network but not yet checked.
type guardConn struct {
	net.Conn
	cfg *guardConfig

	buf             []byte
	rpos, rel, wpos int
	st              guardState
	h               guardHead
	scan            int   // chunk/trailer line: bytes (from rel) already searched for LF
	remain          int64 // Content-Length or chunk data bytes left
	total           int64 // sum of chunk sizes so far
	tBytes, tCount  int   // trailer section size and field count
	synthOff        int
	failErr         error
	rerr            error // inner read error held back behind data
	eof             bool
	idled           bool    // the one background read of this boundary was served
	one             [1]byte // idleRead's buffer

	headTimeout time.Duration // from the server, via GuardConnContext, or set by the engine
	timerSet    bool          // inner read deadline currently the head timer

	// rdSet and wdSet are false while the inner connection's read and
	// write deadlines are known to be clear (see setInnerRead). Every
	// deadline of the inner connection is set through setInnerRead and
	// setInnerWrite, the sweeper's included.
	rdSet, wdSet atomic.Bool

	// fillNow's raw access to the socket: raw and its read callback are
	// made on first use (noRaw: the connection has none); nowN is what
	// the callback read.
	raw       syscall.RawConn
	rawReadFn func(fd uintptr) bool
	nowN      int
	noRaw     bool

	// sweeper, when set, times this connection between requests (see
	// connSweeper); phase and since are what it looks at.
	sweeper *connSweeper
	phase   atomic.Int32
	since   atomic.Int64
	// writeSince is the sweeper's clock when the write in progress began
	// (UnixNano; 0 while none is; -1 once the sweeper has found it
	// stalled), for the write stall timeout; writeExpired is set after
	// such a stall, and fails every later write.
	writeSince   atomic.Int64
	writeExpired atomic.Bool

	readDL    atomic.Int64 // read deadline net/http last set (UnixNano, 0 none)
	hijacked  atomic.Bool
	status    atomic.Int32
	reason    string // written before status is stored
	lingering atomic.Bool
	// inBody is set while a request body is still arriving (the guard has
	// not yet seen its end on the wire): closing then would reset the
	// connection under the client's writes, so Close lingers. Only body
	// state changes touch it, so requests without a body never do.
	inBody atomic.Bool
}

// guardError is the body Read error after a framing violation in a body.
type guardError struct {
	status int
	reason string
}

func (e *guardError) Error() string {
	return "engine: request rejected (" + strconv.Itoa(e.status) + "): " + e.reason
}

// NetConn returns the wrapped connection.
func (c *guardConn) NetConn() net.Conn { return c.Conn }

// SetDeadline forwards to the inner connection. A zero deadline set through
// SetDeadline is how net/http's Hijack hands a connection over (net/http
// itself never calls SetDeadline otherwise), so it also switches the guard to
// pass-through for good.
func (c *guardConn) SetDeadline(t time.Time) error {
	c.storeReadDeadline(t)
	if t.IsZero() {
		c.hijacked.Store(true)
	}
	set := !t.IsZero()
	c.rdSet.Store(set)
	c.wdSet.Store(set)
	err := c.Conn.SetDeadline(t)
	if set {
		c.rdSet.Store(true)
		c.wdSet.Store(true)
	}
	return err
}

// SetReadDeadline forwards to the inner connection and remembers the
// deadline, so the guard's head timer can be lifted again.
func (c *guardConn) SetReadDeadline(t time.Time) error {
	c.storeReadDeadline(t)
	return c.setInnerRead(t)
}

// SetWriteDeadline forwards to the inner connection.
func (c *guardConn) SetWriteDeadline(t time.Time) error { return c.setInnerWrite(t) }

// setInnerRead sets the inner connection's read deadline. Clearing a
// deadline that is known to be clear already is skipped: net/http clears
// the read deadline three times and the write deadline once per keep-alive
// request (about 300 instructions each in the runtime's poller), and on
// connections the sweeper times they are clear already. Every setter of a
// non-zero deadline marks it set before and again after the call, so once
// the calls are done the mark is set whenever the deadline may be (a
// concurrent clear can leave it set on a clear deadline, which costs one
// call later). The only goroutine besides the connection's that sets a
// deadline is the sweeper, and only to end the connection; a clear that
// falls between its call and its second mark is skipped and leaves that
// ending in place, as a clear just before its call would.
func (c *guardConn) setInnerRead(t time.Time) error { return c.setInner(&c.rdSet, t, true) }

// setInnerWrite is setInnerRead for the write deadline.
func (c *guardConn) setInnerWrite(t time.Time) error { return c.setInner(&c.wdSet, t, false) }

// setInner sets the inner read (read true) or write deadline under its
// mark, as setInnerRead says.
func (c *guardConn) setInner(mark *atomic.Bool, t time.Time, read bool) error {
	if t.IsZero() {
		if !mark.Load() {
			return nil
		}
		mark.Store(false)
		return c.innerDeadline(t, read)
	}
	mark.Store(true)
	err := c.innerDeadline(t, read)
	mark.Store(true)
	return err
}

func (c *guardConn) innerDeadline(t time.Time, read bool) error {
	if read {
		return c.Conn.SetReadDeadline(t)
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *guardConn) storeReadDeadline(t time.Time) {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	c.readDL.Store(n)
}

func (c *guardConn) userReadDeadline() time.Time {
	if n := c.readDL.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// CloseWrite half-closes the inner connection when it supports that.
func (c *guardConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("engine: connection does not support CloseWrite")
}

// Write writes to the inner connection. Writes are not guarded, only timed
// when a sweeper bounds them (see connSweeper).
func (c *guardConn) Write(p []byte) (int, error) {
	if !c.sweeper.timesWrites() {
		return c.Conn.Write(p)
	}
	if err := c.beginWrite(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	return n, c.endWrite(err)
}

// beginWrite notes the start of a write for the sweeper; after a write
// stalled past the timeout, every later one fails at once.
func (c *guardConn) beginWrite() error {
	if c.writeExpired.Load() {
		return os.ErrDeadlineExceeded
	}
	c.writeSince.Store(max(c.sweeper.now.Load(), 1))
	return nil
}

// endWrite ends a write begun with beginWrite. A write the sweeper claimed
// as stalled (writeSince -1) fails the connection for later writes, even
// when it managed to finish: the sweeper's deadline may still land.
func (c *guardConn) endWrite(err error) error {
	if c.writeSince.Swap(0) == -1 {
		c.writeExpired.Store(true)
	}
	return err
}

// ReadFrom writes r's content to the inner connection. net/http's response
// writer only uses sendfile/splice when its connection implements
// io.ReaderFrom (it does not unwrap), so without this method wrapping would
// turn every file response into a user-space copy. Like Write, it is timed
// when a sweeper bounds writes.
func (c *guardConn) ReadFrom(r io.Reader) (int64, error) {
	if !c.sweeper.timesWrites() {
		return c.readFrom(r)
	}
	if err := c.beginWrite(); err != nil {
		return 0, err
	}
	n, err := c.readFrom(r)
	return n, c.endWrite(err)
}

func (c *guardConn) readFrom(r io.Reader) (int64, error) {
	if fa, ok := r.(*fileAt); ok {
		if tc := tcpConnOf(c.Conn); tc != nil {
			if n, err, handled := sendFileAt(tc, fa); handled {
				return n, err
			}
		}
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(guardWriterOnly{c.Conn}, r)
}

// tcpConnOf returns the TCP connection under c when writing to it directly
// is the same as writing to c: c itself, or under a PROXY protocol
// connection (which only buffers reads). TLS and anything else: nil.
func tcpConnOf(c net.Conn) *net.TCPConn {
	if pc, ok := c.(*proxiedConn); ok {
		c = pc.Conn
	}
	tc, _ := c.(*net.TCPConn)
	return tc
}

// guardWriterOnly hides every method but Write, so io.Copy cannot recurse
// into ReadFrom.
type guardWriterOnly struct{ io.Writer }

// Close closes the connection. After a rejection, or while a request body
// is still arriving (an answer that did not read it, on a connection that
// does not stay open), it half-closes first and drains input briefly in the
// background, so the response is not destroyed by a reset caused by request
// bytes nobody read.
func (c *guardConn) Close() error {
	if (c.status.Load() != 0 || c.inBody.Load()) && c.lingering.CompareAndSwap(false, true) {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			go c.linger()
			return nil
		}
	}
	return c.Conn.Close()
}

func (c *guardConn) linger() {
	_ = c.setInnerRead(time.Now().Add(guardLingerTime))
	_, _ = io.CopyN(io.Discard, c.Conn, guardLingerBytes)
	_ = c.Conn.Close()
}

// record stores the first rejection of the connection.
func (c *guardConn) record(status int, reason string) {
	if c.status.Load() != 0 {
		return
	}
	c.reason = reason
	c.status.Store(int32(status))
}

// reject replaces the head being parsed (and everything after it) with the
// synthetic request.
func (c *guardConn) reject(status int, reason string) {
	c.record(status, reason)
	c.wpos = c.rel
	c.st = gsRejected
	c.synthOff = 0
	c.restoreDeadline()
}

// fail stops a body: bytes already checked are still delivered, then Read
// returns an error.
func (c *guardConn) fail(status int, reason string) {
	c.record(status, reason)
	c.wpos = c.rel
	c.st = gsFailed
	c.failErr = &guardError{status: status, reason: reason}
}

func (c *guardConn) beginHead() {
	c.st = gsHead
	c.h = guardHead{hdrStart: -1}
	c.idled = false
}

// Read hands net/http checked bytes only.
func (c *guardConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.rpos == c.wpos && len(p) >= guardDirectMin && (c.st == gsStart || c.st == gsBoundary) &&
		c.rerr == nil && !c.eof && !c.hijacked.Load() {
		if n, err := c.readHeadDirect(p); n > 0 || err != nil {
			return n, err
		}
	}
	for {
		if c.rpos < c.rel {
			n := copy(p, c.buf[c.rpos:c.rel])
			c.rpos += n
			if c.rpos == c.wpos {
				c.rpos, c.rel, c.wpos = 0, 0, 0
				c.releaseBuf()
			}
			return n, nil
		}
		if c.st < gsPass && c.hijacked.Load() {
			c.st = gsPass
			c.rel = c.wpos
			c.restoreDeadline()
			continue
		}
		switch c.st {
		case gsPass:
			if c.rel < c.wpos {
				c.rel = c.wpos
				continue
			}
			if c.rerr != nil || c.eof {
				return 0, c.takeErr()
			}
			// Nothing is buffered any more and nothing will be parsed:
			// let the buffer go (long-lived upgraded connections).
			c.releaseBuf()
			c.buf = nil
			return c.Conn.Read(p)
		case gsRejected:
			if c.synthOff < len(guardSynthetic) {
				n := copy(p, guardSynthetic[c.synthOff:])
				c.synthOff += n
				return n, nil
			}
			if len(p) == 1 && !c.idled && !c.eof {
				c.idled = true
				return c.idleRead()
			}
			return 0, io.EOF
		case gsFailed:
			return 0, c.failErr
		case gsBoundary:
			// net/http reads one byte in the background while a handler
			// runs, to notice a client going away (once per request).
			// Bytes after a request are not looked at until the request is
			// over: they may belong to a hijacked stream, and a rejection
			// must not be recorded while the previous request is still
			// being served. The next read is net/http's (or, after a
			// hijack, the handler's) and goes ahead.
			if len(p) == 1 && !c.idled {
				c.idled = true
				return c.idleRead()
			}
			c.beginHead()
		}

		c.step()
		if c.rpos < c.rel || c.st >= gsBoundary {
			continue
		}
		// The parser needs more input.
		if c.wpos == c.rel && (c.st == gsBody || c.st == gsChunkData) && c.rerr == nil && !c.eof {
			return c.directRead(p)
		}
		if c.st <= gsHead && c.wpos > c.rel && !c.h.timed {
			if err := c.claimHead(); err != nil {
				return 0, err
			}
			if c.fillNow() {
				continue
			}
			if c.rerr == nil && !c.eof {
				c.armHeadTimer()
			}
		}
		if err := c.fill(); err != nil {
			switch {
			case err == io.EOF && c.st <= gsHead && c.wpos > c.rel:
				c.reject(http.StatusBadRequest, grIncompleteHead)
				continue
			case err == errGuardBufferFull && c.st <= gsHead:
				c.reject(http.StatusRequestHeaderFieldsTooLarge, grHeaderTooLarge)
				continue
			case err == errGuardBufferFull:
				c.fail(http.StatusBadRequest, grChunkLineLong)
				continue
			}
			return 0, err
		}
	}
}

// claimHead tells the connection sweeper that a head has begun on a
// connection it holds idle: from here the head timer times it, not the idle
// timeout, which bounds only the wait for a request (as net/http lifts its
// idle deadline once a head's first bytes are in). The claim and the
// sweeper's expiry are one compare-and-swap each on the phase, so exactly
// one of them wins; when the sweeper has won, claimHead returns a timeout
// error, as the read would have a moment later under the past deadline the
// sweeper sets. Read claims when a head's bytes come straight from the
// socket (readHeadDirect) and before it waits for the rest of a head; a
// head it finds whole in its buffer goes to net/http unclaimed, at once.
func (c *guardConn) claimHead() error {
	if c.sweeper == nil {
		return nil
	}
	if c.phase.Load() == phaseIdle && c.phase.CompareAndSwap(phaseIdle, phaseActive) {
		return nil
	}
	if c.phase.Load() == phaseExpired {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// readHeadDirect is Read's common case: nothing is buffered and a new head
// begins, so the guard reads into net/http's own buffer p and validates the
// bytes where they are. What checks out is handed over without a copy; what
// cannot be checked yet (a head cut short by the read, say) moves to the
// guard's buffer, where Read's general loop carries on with it. So the
// guard's buffer is needed only for split or pipelined heads, and a
// keep-alive connection that never sends one never allocates it. A zero
// count with a nil error means the caller's loop takes over.
func (c *guardConn) readHeadDirect(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n == 0 {
		if err == io.EOF {
			c.eof = true
		}
		return 0, err
	}
	if cerr := c.claimHead(); cerr != nil {
		return 0, cerr
	}
	switch {
	case err == io.EOF:
		c.eof = true
	case err != nil:
		c.rerr = err // delivered after the data, as fill does
	}
	if c.st == gsBoundary {
		c.beginHead()
	}
	own := c.buf
	c.buf, c.rpos, c.rel, c.wpos = p[:n], 0, 0, n
	c.step()
	start, done, rest := c.rpos, c.rel, c.wpos-c.rel
	c.buf = own
	if rest > 0 {
		if len(c.buf) < rest {
			c.releaseBuf()
			if rest <= guardInitialBuffer {
				c.buf = guardBufPool.Get().(*[guardInitialBuffer]byte)[:]
			} else {
				c.buf = make([]byte, rest)
			}
		}
		copy(c.buf, p[done:n])
	}
	c.rpos, c.rel, c.wpos = 0, 0, rest
	c.releaseBuf() // when nothing was left over
	if start > 0 && done > start {
		copy(p, p[start:done]) // blank lines before a request line were dropped
	}
	return done - start, nil
}

// directRead reads body data straight into p when nothing is buffered.
func (c *guardConn) directRead(p []byte) (int, error) {
	c.rpos, c.rel, c.wpos = 0, 0, 0
	if int64(len(p)) > c.remain {
		p = p[:c.remain]
	}
	n, err := c.Conn.Read(p)
	c.remain -= int64(n)
	if c.remain == 0 {
		if c.st == gsBody {
			c.st = gsBoundary
			c.inBody.Store(false)
		} else {
			c.st = gsChunkCRLF
		}
	}
	if err == io.EOF {
		c.eof = true
		if n > 0 {
			err = nil
		}
	}
	return n, err
}

// idleRead serves a one-byte read while no request is being parsed: it waits
// for input (honouring deadlines) without handing any over.
func (c *guardConn) idleRead() (int, error) {
	if c.st == gsBoundary && c.wpos > c.rel {
		return 0, nil
	}
	if c.st == gsBoundary && c.buf == nil && c.rerr == nil && !c.eof {
		// Usually nothing comes before net/http calls the wait off: wait
		// with a one-byte read and take a buffer only for a byte.
		n, err := c.Conn.Read(c.one[:])
		if n == 1 {
			c.buf = guardBufPool.Get().(*[guardInitialBuffer]byte)[:]
			c.buf[0] = c.one[0]
			c.rpos, c.rel, c.wpos = 0, 0, 1
		}
		switch {
		case err == io.EOF:
			c.eof = true
			if n == 1 {
				err = nil
			}
		case err != nil && n == 1:
			c.rerr, err = err, nil
		}
		return 0, err
	}
	err := c.fill()
	if c.st == gsRejected {
		c.wpos = c.rel // nothing after a rejected head is kept
	}
	if err == errGuardBufferFull {
		err = nil
	}
	return 0, err
}

func (c *guardConn) takeErr() error {
	if c.rerr != nil {
		err := c.rerr
		c.rerr = nil
		return err
	}
	return io.EOF
}

// fill reads more input into buf[wpos:].
func (c *guardConn) fill() error {
	if c.rerr != nil || c.eof {
		return c.takeErr()
	}
	if err := c.makeRoom(); err != nil {
		return err
	}
	n, err := c.Conn.Read(c.buf[c.wpos:])
	c.wpos += n
	if err == nil {
		return nil
	}
	if err == io.EOF {
		c.eof = true
	}
	if n > 0 {
		// Deliver the data first; the error comes with the next fill.
		if err != io.EOF {
			c.rerr = err
		}
		return nil
	}
	return err
}

// fillNow adds to buf[wpos:] what the socket already holds, without
// waiting, and reports whether it added anything. An empty socket or a
// connection that is not a plain TCP socket report false and are left to
// fill; so do the end of input and an error, which it records for fill to
// return (see rawRead). Read uses it before arming the head timer: when a
// head's first bytes came alone (the background one-byte read between
// keep-alive requests takes the next request's first byte), the rest is
// usually there already, and arming and lifting the timer for it would cost
// two runtime timer operations.
func (c *guardConn) fillNow() bool {
	if c.rerr != nil || c.eof || c.noRaw {
		return false
	}
	if c.raw == nil {
		// Only a bare TCP socket: tcpConnOf would also unwrap a PROXY
		// protocol connection, whose own buffer may hold bytes that come
		// before the socket's.
		tc, ok := c.Conn.(*net.TCPConn)
		if !ok {
			c.noRaw = true
			return false
		}
		raw, err := tc.SyscallConn()
		if err != nil {
			c.noRaw = true
			return false
		}
		c.raw, c.rawReadFn = raw, c.rawRead
	}
	if c.makeRoom() != nil {
		return false
	}
	c.nowN = 0
	// The descriptor is non-blocking: rawRead makes one read(2) and never
	// waits. A passed read deadline stops it before the call.
	_ = c.raw.Read(c.rawReadFn)
	c.wpos += c.nowN
	return c.nowN > 0
}

// makeRoom makes sure buf has space after wpos: it takes a pooled buffer,
// moves unread bytes to the front, or grows the buffer up to the head cap.
func (c *guardConn) makeRoom() error {
	if c.buf == nil {
		c.buf = guardBufPool.Get().(*[guardInitialBuffer]byte)[:]
	}
	if c.rpos > 0 && (c.rpos == c.wpos || len(c.buf)-c.wpos < len(c.buf)/4) {
		n := copy(c.buf, c.buf[c.rpos:c.wpos])
		c.rel -= c.rpos
		c.wpos = n
		c.rpos = 0
	}
	if c.wpos == len(c.buf) {
		if len(c.buf) >= c.cfg.bufCap {
			return errGuardBufferFull
		}
		nb := make([]byte, min(2*len(c.buf), c.cfg.bufCap))
		copy(nb, c.buf[:c.wpos])
		if len(c.buf) == guardInitialBuffer {
			guardBufPool.Put((*[guardInitialBuffer]byte)(c.buf))
		}
		c.buf = nb
	}
	return nil
}

// guardBufPool holds the guards' initial buffers. A guard needs its buffer
// only while it holds bytes net/http has not taken yet (a split or
// pipelined head, input that arrived during a request), so it takes one for
// that time and gives it back once empty: idle keep-alive connections hold
// none, and busy ones share a few warm buffers.
var guardBufPool = sync.Pool{New: func() any { return new([guardInitialBuffer]byte) }}

// releaseBuf gives the guard's buffer back to guardBufPool when it is empty
// and of the pooled size (a grown buffer is left to the collector).
func (c *guardConn) releaseBuf() {
	if c.rpos != c.wpos || c.buf == nil {
		return
	}
	if len(c.buf) == guardInitialBuffer {
		guardBufPool.Put((*[guardInitialBuffer]byte)(c.buf))
	}
	c.buf = nil
	c.rpos, c.rel, c.wpos = 0, 0, 0
}

// armHeadTimer bounds how long a partly received head may take. net/http
// starts its header timer only after the first bytes of a keep-alive request
// reach it, and the guard hands nothing over before the head is complete.
func (c *guardConn) armHeadTimer() {
	c.h.timed = true
	if c.headTimeout <= 0 {
		return
	}
	dl := time.Now().Add(c.headTimeout)
	if u := c.readDL.Load(); u != 0 && u <= dl.UnixNano() {
		return
	}
	_ = c.setInnerRead(dl)
	c.timerSet = true
}

func (c *guardConn) restoreDeadline() {
	if c.timerSet {
		c.timerSet = false
		_ = c.setInnerRead(c.userReadDeadline())
	}
}

// step advances the framing parser over buf[rel:wpos] as far as it can.
func (c *guardConn) step() {
	for c.rel < c.wpos {
		switch c.st {
		case gsStart:
			avail := c.wpos - c.rel
			n := min(avail, len(guardH2Preface))
			if string(c.buf[c.rel:c.rel+n]) != guardH2Preface[:n] {
				c.beginHead()
				continue
			}
			if n < len(guardH2Preface) {
				return
			}
			c.st = gsPass
			c.rel = c.wpos
			c.restoreDeadline()
			return
		case gsHead:
			if !c.parseHead() {
				return
			}
		case gsBody:
			k := c.wpos - c.rel
			if int64(k) >= c.remain {
				k = int(c.remain)
				c.st = gsBoundary
				c.inBody.Store(false)
			}
			c.rel += k
			c.remain -= int64(k)
		case gsChunkData:
			k := c.wpos - c.rel
			if int64(k) >= c.remain {
				k = int(c.remain)
				c.st = gsChunkCRLF
			}
			c.rel += k
			c.remain -= int64(k)
		case gsChunkCRLF:
			b := c.buf[c.rel:c.wpos]
			if b[0] != '\r' || (len(b) > 1 && b[1] != '\n') {
				c.fail(http.StatusBadRequest, grChunkDataEnd)
				return
			}
			if len(b) < 2 {
				return
			}
			c.rel += 2
			c.st = gsChunkLine
			c.scan = 0
		case gsChunkLine:
			if !c.chunkLine() {
				return
			}
		case gsTrailer:
			if !c.trailerLine() {
				return
			}
		default:
			return
		}
	}
}

// parseHead validates complete lines of the head in buf[rel:wpos]. It
// reports whether it finished (handed the head over or rejected it).
func (c *guardConn) parseHead() bool {
	h := &c.h
	cfg := c.cfg
	for {
		b := c.buf[c.rel:c.wpos]
		i := bytes.IndexByte(b[h.off:], '\n')
		if i < 0 {
			h.off = len(b)
			n := len(b) - h.line
			if n > 0 && b[len(b)-1] == '\r' {
				n--
			}
			if h.hdrStart < 0 {
				if n > cfg.maxLine {
					c.reject(http.StatusRequestURITooLong, grRequestLineLong)
					return true
				}
			} else if h.line-h.hdrStart+n > cfg.maxHdr {
				c.reject(http.StatusRequestHeaderFieldsTooLarge, grHeaderTooLarge)
				return true
			}
			return false
		}
		lf := h.off + i
		h.off = lf + 1
		line := b[h.line:lf]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if h.hdrStart < 0 {
			if len(line) == 0 {
				// RFC 9112 §2.2: blank lines before the request line are
				// ignored. They are dropped, never handed to net/http.
				h.skipped += lf + 1
				if h.skipped > cfg.maxLine {
					c.reject(http.StatusBadRequest, grLeadingBlank)
					return true
				}
				c.rel += lf + 1
				c.rpos = c.rel
				h.off, h.line = 0, 0
				continue
			}
			if len(line) > cfg.maxLine {
				c.reject(http.StatusRequestURITooLong, grRequestLineLong)
				return true
			}
			if reason := c.requestLine(line); reason != "" {
				c.reject(http.StatusBadRequest, reason)
				return true
			}
			h.hdrStart = lf + 1
			h.line = lf + 1
			continue
		}
		if len(line) == 0 {
			return c.finishHead(lf + 1)
		}
		h.fields++
		if h.fields > cfg.maxCount {
			c.reject(http.StatusRequestHeaderFieldsTooLarge, grTooManyHeaders)
			return true
		}
		if lf+1-h.hdrStart > cfg.maxHdr {
			c.reject(http.StatusRequestHeaderFieldsTooLarge, grHeaderTooLarge)
			return true
		}
		if status, reason := c.headerField(line, false); status != 0 {
			c.reject(status, reason)
			return true
		}
		h.line = lf + 1
	}
}

// requestLine checks method SP request-target SP HTTP-version.
func (c *guardConn) requestLine(line []byte) string {
	i := 0
	for i < len(line) && guardClass[line[i]]&gcTchar != 0 {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ' ' {
		return grBadRequestLine
	}
	i++
	j := i
	for j < len(line) && line[j] > ' ' && line[j] != 0x7f {
		j++
	}
	if j == i || j == len(line) || line[j] != ' ' {
		return grBadRequestLine
	}
	v := line[j+1:]
	if len(v) != 8 || string(v[:5]) != "HTTP/" || !guardDigit(v[5]) || v[6] != '.' || !guardDigit(v[7]) {
		return grBadVersion
	}
	c.h.major, c.h.minor = v[5]-'0', v[7]-'0'
	return ""
}

// headerField checks one field line (without its terminator) and, in a
// head, records Content-Length and Transfer-Encoding.
func (c *guardConn) headerField(line []byte, trailer bool) (int, string) {
	if line[0] == ' ' || line[0] == '\t' {
		return http.StatusBadRequest, grObsFold
	}
	colon := -1
	for i, ch := range line {
		if guardClass[ch]&gcTchar != 0 {
			continue
		}
		if ch == ':' {
			colon = i
			break
		}
		if ch == ' ' || ch == '\t' {
			return http.StatusBadRequest, grSpaceBeforeColon
		}
		return http.StatusBadRequest, grBadHeaderName
	}
	if colon < 0 {
		return http.StatusBadRequest, grNoColon
	}
	if colon == 0 {
		return http.StatusBadRequest, grEmptyName
	}
	name, value := line[:colon], line[colon+1:]
	if !guardValueOK(value) {
		return http.StatusBadRequest, grBadHeaderValue
	}
	isCL := guardNameIs(name, "content-length")
	isTE := !isCL && guardNameIs(name, "transfer-encoding")
	if !isCL && !isTE {
		return 0, ""
	}
	if trailer {
		return http.StatusBadRequest, grTrailerField
	}
	value = guardTrimOWS(value)
	if isCL {
		return c.contentLength(value)
	}
	return c.transferEncoding(value)
}

func (c *guardConn) contentLength(v []byte) (int, string) {
	h := &c.h
	if h.hasCL {
		return http.StatusBadRequest, grDupCL
	}
	h.hasCL = true
	if len(v) == 0 {
		return http.StatusBadRequest, grBadCL
	}
	for _, ch := range v {
		if !guardDigit(ch) {
			return http.StatusBadRequest, grBadCL
		}
	}
	if len(v) > guardMaxCLDigits {
		return http.StatusRequestEntityTooLarge, grCLTooLarge
	}
	var n int64
	for _, ch := range v {
		n = n*10 + int64(ch-'0')
	}
	if c.cfg.maxBody > 0 && n > c.cfg.maxBody {
		return http.StatusRequestEntityTooLarge, grBodyTooLarge
	}
	h.cl = n
	return 0, ""
}

func (c *guardConn) transferEncoding(v []byte) (int, string) {
	h := &c.h
	h.hasTE = true
	for len(v) > 0 {
		item := v
		if k := bytes.IndexByte(v, ','); k >= 0 {
			item, v = v[:k], v[k+1:]
		} else {
			v = nil
		}
		item = guardTrimOWS(item)
		if len(item) == 0 {
			continue
		}
		h.teItems++
		if h.teChunk {
			return http.StatusBadRequest, grChunkedNotLast
		}
		if guardNameIs(item, "chunked") {
			h.teChunk = true
		} else {
			h.teOther = true
		}
	}
	return 0, ""
}

// finishHead applies the whole-head rules and hands the head over.
func (c *guardConn) finishHead(end int) bool {
	h := &c.h
	if h.hasTE {
		switch {
		case h.major < 1 || (h.major == 1 && h.minor == 0):
			c.reject(http.StatusBadRequest, grTEHTTP10)
			return true
		case h.hasCL:
			c.reject(http.StatusBadRequest, grTEAndCL)
			return true
		case h.teItems == 0:
			c.reject(http.StatusBadRequest, grEmptyTE)
			return true
		case !h.teChunk || h.teOther:
			c.reject(http.StatusNotImplemented, grUnsupportedTE)
			return true
		}
	}
	c.rel += end
	c.restoreDeadline()
	switch {
	case h.hasTE:
		c.st = gsChunkLine
		c.scan = 0
		c.total = 0
		c.inBody.Store(true)
	case h.cl > 0:
		c.st = gsBody
		c.remain = h.cl
		c.inBody.Store(true)
	default:
		c.st = gsBoundary
	}
	return true
}

// chunkLine checks a chunk-size line. It reports whether it finished.
func (c *guardConn) chunkLine() bool {
	b := c.buf[c.rel:c.wpos]
	i := bytes.IndexByte(b[c.scan:], '\n')
	if i < 0 {
		c.scan = len(b)
		if len(b) > guardMaxChunkLine+1 {
			c.fail(http.StatusBadRequest, grChunkLineLong)
			return true
		}
		// Fail early on a chunk size that can only be too long.
		if len(b) > guardMaxChunkDigits && guardHexRun(b) > guardMaxChunkDigits {
			c.fail(http.StatusRequestEntityTooLarge, grChunkTooLarge)
			return true
		}
		return false
	}
	lf := c.scan + i
	c.scan = 0
	if lf == 0 || b[lf-1] != '\r' {
		c.fail(http.StatusBadRequest, grChunkLineEnd)
		return true
	}
	line := b[:lf-1]
	if len(line) >= guardMaxChunkLine {
		c.fail(http.StatusBadRequest, grChunkLineLong)
		return true
	}
	size, status, reason := guardChunkSize(line)
	if status != 0 {
		c.fail(status, reason)
		return true
	}
	if size > math.MaxInt64-c.total || (c.cfg.maxBody > 0 && c.total+size > c.cfg.maxBody) {
		c.fail(http.StatusRequestEntityTooLarge, grBodyTooLarge)
		return true
	}
	c.total += size
	c.rel += lf + 1
	if size == 0 {
		c.st = gsTrailer
		c.tBytes, c.tCount = 0, 0
	} else {
		c.st = gsChunkData
		c.remain = size
	}
	return true
}

// guardChunkSize parses chunk-size [OWS] [";" chunk-ext]. Whitespace before
// the extension is tolerated; net/http is stricter there, so such a line is
// rewritten in place (the bytes after the size become spaces, which net/http
// trims) — extensions are ignored by net/http anyway.
func guardChunkSize(line []byte) (int64, int, string) {
	var n uint64
	i := 0
	for ; i < len(line); i++ {
		v := guardHexVal(line[i])
		if v < 0 {
			break
		}
		if i == guardMaxChunkDigits {
			return 0, http.StatusRequestEntityTooLarge, grChunkTooLarge
		}
		n = n<<4 | uint64(v)
	}
	if i == 0 {
		return 0, http.StatusBadRequest, grBadChunkSize
	}
	digits := i
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if i < len(line) {
		if line[i] != ';' {
			return 0, http.StatusBadRequest, grBadChunkSize
		}
		for _, ch := range line[i+1:] {
			if guardClass[ch]&gcValue == 0 {
				return 0, http.StatusBadRequest, grBadChunkExt
			}
		}
		if i > digits {
			for k := digits; k < len(line); k++ {
				line[k] = ' '
			}
		}
	}
	if n > math.MaxInt64 {
		return 0, http.StatusRequestEntityTooLarge, grChunkTooLarge
	}
	return int64(n), 0, ""
}

// guardHexRun is the number of leading hex digits in b.
func guardHexRun(b []byte) int {
	i := 0
	for i < len(b) && guardHexVal(b[i]) >= 0 {
		i++
	}
	return i
}

// trailerLine checks one trailer line (CRLF required, like net/http wants
// for everything in a chunked body). It reports whether it finished.
func (c *guardConn) trailerLine() bool {
	b := c.buf[c.rel:c.wpos]
	i := bytes.IndexByte(b[c.scan:], '\n')
	if i < 0 {
		c.scan = len(b)
		n := len(b)
		if b[n-1] == '\r' {
			n--
		}
		if c.tBytes+n > c.cfg.maxHdr {
			c.fail(http.StatusRequestHeaderFieldsTooLarge, grHeaderTooLarge)
			return true
		}
		return false
	}
	lf := c.scan + i
	c.scan = 0
	if lf == 0 || b[lf-1] != '\r' {
		c.fail(http.StatusBadRequest, grTrailerLineEnd)
		return true
	}
	line := b[:lf-1]
	if len(line) == 0 {
		c.rel += lf + 1
		c.st = gsBoundary
		c.inBody.Store(false)
		return true
	}
	c.tCount++
	c.tBytes += lf + 1
	if c.tCount > c.cfg.maxCount {
		c.fail(http.StatusRequestHeaderFieldsTooLarge, grTooManyHeaders)
		return true
	}
	if c.tBytes > c.cfg.maxHdr {
		c.fail(http.StatusRequestHeaderFieldsTooLarge, grHeaderTooLarge)
		return true
	}
	if status, reason := c.headerField(line, true); status != 0 {
		c.fail(status, reason)
		return true
	}
	c.rel += lf + 1
	return true
}

// Character classes.
const (
	gcTchar = 1 << iota // token character (RFC 9110 §5.6.2)
	gcValue             // allowed in a field value: HTAB, SP, VCHAR, obs-text
)

var guardClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			t[c] |= gcTchar
		case bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), byte(c)) >= 0:
			t[c] |= gcTchar
		}
		if c == '\t' || (c >= ' ' && c != 0x7f) {
			t[c] |= gcValue
		}
	}
	return t
}()

// guardValueOK reports whether every byte of v may appear in a field value
// (no CTL but HTAB, no DEL). It tests eight bytes at a time and looks at
// single bytes only in words that may hold a bad one (or a tab).
func guardValueOK(v []byte) bool {
	for len(v) >= 8 {
		x := binary.LittleEndian.Uint64(v)
		// Some byte below 0x20 or DEL?
		if wordscan.HasLess(x, 0x20)|wordscan.HasZero(x^(wordscan.Ones*0x7f)) != 0 {
			for _, ch := range v[:8] {
				if guardClass[ch]&gcValue == 0 {
					return false
				}
			}
		}
		v = v[8:]
	}
	for _, ch := range v {
		if guardClass[ch]&gcValue == 0 {
			return false
		}
	}
	return true
}

func guardDigit(c byte) bool { return c >= '0' && c <= '9' }

func guardHexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// guardNameIs compares b, made of token characters, with the lower-case
// ASCII name, ignoring case.
func guardNameIs(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

func guardTrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
