package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pagihq/pagi"
)

// chunkSize is the largest request body chunk one http.request event holds,
// and the step in which files are sent when a stall timeout is set.
const chunkSize = 64 << 10

// fileStep is how much of a file goes out per sendfile call when a stall
// timeout is set, so the write deadline measures progress, not total time.
const fileStep = 4 << 20

// smallFile is the largest file part (a body with FH or File and a Length)
// that is read into memory and written with the response head instead of
// being sent with sendfile(2); see exchange.sendSmallFile.
const smallFile = 32 << 10

// exchange adapts one net/http request to a PAGI http scope: it owns the
// Scope handed to the app and implements its Receive and Send. Exchanges
// are pooled; the Scope and everything it points to must not be used after
// the app returns (see package pagi).
//
// Concurrency: receive is called by at most one goroutine at a time, send by
// at most one; the two may overlap, so they touch disjoint fields (receive:
// body*, send: the response fields) and share only the ConnState, which is
// safe for concurrent use.
type exchange struct {
	w  http.ResponseWriter
	r  *http.Request
	rt *route
	rc *http.ResponseController

	scope   pagi.Scope
	headers pagi.Headers
	params  pagi.Params
	conn    pagi.ConnState
	flow    *pagi.FlowControl

	// Method values bound once per pooled exchange, so handing them to the
	// app allocates nothing.
	recv   pagi.Receive
	send   pagi.Send
	probe  func() string
	watch  func()
	stopAF func() bool

	// receive side
	bodyDone      bool  // the final http.request event was delivered
	bodyRemaining int64 // bytes left to read; -1: unknown (chunked)
	rejected      int   // status the server owes for a bad body (413, 400), 0 if none

	// send side
	status       int
	startSeen    bool
	trailersDecl bool
	appCL        bool
	wroteHeader  bool
	bodyFinal    bool
	complete     bool
	deadlineSet  bool
	// sweptWrites: the connection's sweeper times writes (see
	// armWriteDeadline); looked up once per request.
	sweptWrites bool
}

var exchangePool = sync.Pool{New: func() any {
	x := &exchange{flow: pagi.NewFlowControl(64<<10, 16<<10)}
	x.recv = x.receive
	x.send = x.sendEvent
	x.probe = x.probePeer
	x.watch = x.watchPeer
	return x
}}

func getExchange(rt *route, w http.ResponseWriter, r *http.Request, ci *connInfo) *exchange {
	x := exchangePool.Get().(*exchange)
	x.w, x.r, x.rt = w, r, rt
	x.conn.Reset()
	x.conn.Probe, x.conn.Watch = x.probe, x.watch
	if ci != nil && ci.guard != nil {
		x.sweptWrites = ci.guard.sweeper.timesWrites()
	} else {
		x.sweptWrites = false
	}
	x.bodyDone = false
	x.bodyRemaining = r.ContentLength
	if r.Body == nil || r.Body == http.NoBody {
		x.bodyRemaining = 0
	}
	if x.bodyRemaining != 0 && r.ProtoMajor == 1 {
		// Let the app stream its response while it still reads the body
		// (net/http otherwise stops body reads once the response starts).
		_ = x.controller().EnableFullDuplex()
	}
	return x
}

func putExchange(x *exchange) {
	x.w, x.r, x.rt, x.rc, x.stopAF = nil, nil, nil, nil, nil
	x.scope = pagi.Scope{}
	clear(x.headers)
	x.headers = x.headers[:0]
	x.params = x.params[:0]
	x.status, x.startSeen, x.trailersDecl, x.appCL, x.rejected = 0, false, false, false, 0
	x.wroteHeader, x.bodyFinal, x.complete, x.deadlineSet = false, false, false, false
	x.flow.Release()
	exchangePool.Put(x)
}

// controller returns the request's ResponseController, made on first use.
func (x *exchange) controller() *http.ResponseController {
	if x.rc == nil {
		x.rc = http.NewResponseController(x.w)
	}
	return x.rc
}

// probePeer reports why the client is gone, or "" while it is there.
func (x *exchange) probePeer() string {
	if x.r.Context().Err() == nil {
		return ""
	}
	if x.rt.ln.shuttingDown() {
		return pagi.ReasonServerShutdown
	}
	return pagi.ReasonClientClosed
}

// watchPeer starts watching the request context for the client's departure;
// it runs only for requests whose app registered interest.
func (x *exchange) watchPeer() {
	x.stopAF = context.AfterFunc(x.r.Context(), func() {
		if r := x.probePeer(); r != "" {
			x.conn.Disconnect(r)
		}
	})
}

// ---- receive ----

func (x *exchange) receive(ctx context.Context) (pagi.Event, error) {
	if x.bodyDone {
		return x.waitDisconnect(ctx)
	}
	if x.bodyRemaining == 0 {
		x.bodyDone = true
		return &pagi.HTTPRequest{}, nil
	}
	size := int64(chunkSize)
	if x.bodyRemaining >= 0 && x.bodyRemaining < size {
		size = x.bodyRemaining
	}
	buf := make([]byte, size)
	if t := x.rt.ln.limits.RequestTimeout.D(); t > 0 {
		_ = x.controller().SetReadDeadline(time.Now().Add(t))
	}
	var n int
	var err error
	for n == 0 && err == nil {
		n, err = x.r.Body.Read(buf)
	}
	if x.bodyRemaining >= 0 {
		x.bodyRemaining -= int64(n)
		if x.bodyRemaining == 0 && err == nil {
			err = io.EOF
		}
	}
	switch {
	case err == nil:
		return &pagi.HTTPRequest{Body: buf[:n], More: true}, nil
	case errors.Is(err, io.EOF):
		x.endBody()
		return &pagi.HTTPRequest{Body: buf[:n]}, nil
	}
	x.endBody()
	reason := pagi.ReasonClientClosed
	var mbe *http.MaxBytesError
	var ne net.Error
	if status, _, bad := guardRejection(x.r.Context()); bad {
		// The request-head guard found a broken or oversized body.
		x.rejected = status
		reason = pagi.ReasonProtocolError
		if status == http.StatusRequestEntityTooLarge {
			reason = pagi.ReasonBodyTooLarge
		}
	} else if errors.As(err, &mbe) {
		reason = pagi.ReasonBodyTooLarge
		x.rejected = http.StatusRequestEntityTooLarge
	} else if errors.As(err, &ne) && ne.Timeout() {
		reason = pagi.ReasonClientTimeout
	}
	x.conn.Disconnect(reason)
	return &pagi.HTTPDisconnect{Reason: reason}, nil
}

// endBody marks the request body finished and lifts the stall deadline, so
// net/http's wait for the next request is not cut short by it.
func (x *exchange) endBody() {
	x.bodyDone = true
	if x.rt.ln.limits.RequestTimeout > 0 {
		_ = x.controller().SetReadDeadline(time.Time{})
	}
}

// waitDisconnect is receive after the body: it returns http.disconnect at
// once when the response is complete or the client is gone, and otherwise
// waits for the client to leave.
func (x *exchange) waitDisconnect(ctx context.Context) (pagi.Event, error) {
	if x.complete {
		return &pagi.HTTPDisconnect{}, nil
	}
	if !x.conn.IsConnected() {
		return &pagi.HTTPDisconnect{Reason: x.conn.DisconnectReason()}, nil
	}
	select {
	case <-x.conn.Disconnected():
	case <-ctx.Done():
		// The app's context is usually the request's: its end is the
		// client's departure, which receive reports as an event.
		if x.conn.IsConnected() {
			return nil, ctx.Err()
		}
	}
	return &pagi.HTTPDisconnect{Reason: x.conn.DisconnectReason()}, nil
}

// ---- send ----

func (x *exchange) sendEvent(ctx context.Context, ev pagi.Event) error {
	switch e := ev.(type) {
	case *pagi.HTTPResponseStart:
		return x.start(e)
	case *pagi.HTTPResponseBody:
		return x.body(e)
	case *pagi.HTTPResponseTrailers:
		return x.trailers(e)
	case nil:
		return fmt.Errorf("%w: nil event", pagi.ErrInvalidEvent)
	default:
		return fmt.Errorf("%w: %s on an http scope", pagi.ErrUnexpectedEvent, ev.Type())
	}
}

func (x *exchange) start(e *pagi.HTTPResponseStart) error {
	if x.startSeen {
		return fmt.Errorf("%w: second http.response.start", pagi.ErrUnexpectedEvent)
	}
	if e.Status < 200 || e.Status > 599 {
		return fmt.Errorf("%w: status %d outside 200..599", pagi.ErrInvalidEvent, e.Status)
	}
	if err := e.Headers.Validate(); err != nil {
		return err
	}
	h := x.w.Header()
	// One backing array for all the values: one allocation, not one per
	// header (a repeated name grows its own slice).
	vals := make([]string, len(e.Headers))
	// A name seen before is found by comparing with the keys set so far
	// while there are few (cheaper than a map lookup per field); the map
	// is asked only when it held entries before or the list is long.
	var set [8]string
	nset := 0
	lookup := len(h) > 0 || len(e.Headers) > len(set)
	hasDate := false
	for i, f := range e.Headers {
		key := canonicalKey(f.Name)
		switch key {
		case "Transfer-Encoding":
			continue // framing is the server's job
		case "Content-Length":
			x.appCL = true
		case "Date":
			hasDate = true
		}
		var seen bool
		if lookup {
			_, seen = h[key]
		} else if seen = slices.Contains(set[:nset], key); !seen {
			set[nset] = key
			nset++
		}
		if seen {
			h[key] = append(h[key], f.Value)
			continue
		}
		vals[i] = f.Value
		h[key] = vals[i : i+1 : i+1]
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // no content sniffing: the app said what it sent
	}
	if lookup && !hasDate {
		_, hasDate = h["Date"]
	}
	if !hasDate {
		h["Date"] = x.rt.ln.date.field() // cached: net/http would format it anew
	}
	x.status, x.trailersDecl, x.startSeen = e.Status, e.Trailers, true
	x.conn.MarkStarted()
	return nil
}

func (x *exchange) writeHeader() {
	x.wroteHeader = true
	x.w.WriteHeader(x.status)
	if x.trailersDecl {
		// Commit to chunked framing now, or net/http would give a short
		// body a Content-Length and drop the trailers.
		_ = x.controller().Flush()
	}
}

func (x *exchange) body(e *pagi.HTTPResponseBody) error {
	if !x.startSeen {
		return fmt.Errorf("%w: http.response.body before http.response.start", pagi.ErrUnexpectedEvent)
	}
	if x.bodyFinal {
		return fmt.Errorf("%w: http.response.body after the final body", pagi.ErrResponseComplete)
	}
	isFile := e.File != "" || e.FH != nil
	if isFile && (len(e.Body) > 0 || (e.File != "" && e.FH != nil)) {
		return fmt.Errorf("%w: http.response.body needs exactly one of body, file and fh", pagi.ErrInvalidEvent)
	}
	if e.Offset < 0 || e.Length < 0 {
		return fmt.Errorf("%w: negative offset or length", pagi.ErrInvalidEvent)
	}
	if isFile {
		return x.sendFile(e)
	}
	final := !e.More
	if !x.conn.IsConnected() {
		x.bodyFinal = final
		return nil // the spec: sending to a gone client is a silent no-op
	}
	if !x.wroteHeader {
		// Small final bodies get their Content-Length from net/http itself;
		// larger ones would otherwise be chunked.
		if final && !x.trailersDecl && !x.appCL && len(e.Body) > 2048 {
			x.w.Header()["Content-Length"] = []string{strconv.Itoa(len(e.Body))}
		}
		x.writeHeader()
	}
	if len(e.Body) > 0 {
		if e.More || len(e.Body) > chunkSize {
			x.armWriteDeadline()
		}
		x.flow.Add(len(e.Body))
		_, err := x.w.Write(e.Body)
		x.flow.Done(len(e.Body))
		if err != nil {
			x.writeFailed(err)
			return nil
		}
	}
	if e.More {
		if err := x.controller().Flush(); err != nil {
			x.writeFailed(err)
		}
		return nil
	}
	x.bodyFinal = true
	if !x.trailersDecl {
		x.markComplete()
	}
	return nil
}

func (x *exchange) sendFile(e *pagi.HTTPResponseBody) error {
	f := e.FH
	if e.File != "" {
		var err error
		if f, err = os.Open(e.File); err != nil {
			return fmt.Errorf("pagi: http.response.body file: %w", err)
		}
		defer f.Close()
	}
	if e.Length > 0 && e.Length <= smallFile {
		return x.sendSmallFile(f, e.Offset, e.Length)
	}
	// A stated length from the start of the file is trusted, which saves a
	// stat: a file shorter than that ends the response early, and net/http
	// closes the connection rather than let the client wait for the rest.
	// Otherwise the size decides (an offset past the end sends nothing).
	off, n := int64(0), e.Length
	if e.Offset > 0 || e.Length == 0 {
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("pagi: http.response.body file: %w", err)
		}
		off = min(e.Offset, fi.Size())
		n = fi.Size() - off
		if e.Length > 0 && e.Length < n {
			n = e.Length
		}
	}
	if !x.fileHead(n) {
		return nil
	}
	if n > 0 && x.r.Method != http.MethodHead {
		if err := x.copyFile(f, off, n); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				// The client is fine; the file was shorter than the length
				// stated. The response is cut (net/http closes the
				// connection), and the app hears why.
				return fmt.Errorf("pagi: http.response.body file: shorter than the %d bytes stated", n)
			}
			x.writeFailed(err)
			return nil
		}
	}
	if !x.trailersDecl {
		x.markComplete()
	}
	return nil
}

// sendSmallFile sends up to length bytes of f from off by reading them into
// a pooled buffer and writing them like a bytes body, so a small response
// leaves in one write together with its head. For small files the system
// calls are the cost, not the copy: this saves the separate head write and
// sendfile call of the general path. A file shorter than asked sends what
// it has (the general path trusts a length stated from offset 0 instead).
func (x *exchange) sendSmallFile(f *os.File, off, length int64) error {
	bp := smallFilePool.Get().(*[]byte)
	defer smallFilePool.Put(bp)
	n, err := f.ReadAt((*bp)[:length], off)
	if err != nil && err != io.EOF {
		return fmt.Errorf("pagi: http.response.body file: %w", err)
	}
	if !x.fileHead(int64(n)) {
		return nil
	}
	if n > 0 && x.r.Method != http.MethodHead {
		x.flow.Add(n)
		_, err := x.w.Write((*bp)[:n])
		x.flow.Done(n)
		if err != nil {
			x.writeFailed(err)
			return nil
		}
	}
	if !x.trailersDecl {
		x.markComplete()
	}
	return nil
}

// fileHead marks a file body final and writes the response head, with a
// Content-Length of n unless the app set one or trailers follow. It reports
// false when the client is gone and nothing is to be sent.
func (x *exchange) fileHead(n int64) bool {
	x.bodyFinal = true
	if !x.conn.IsConnected() {
		return false
	}
	if !x.wroteHeader {
		if !x.appCL && !x.trailersDecl {
			x.w.Header()["Content-Length"] = []string{strconv.FormatInt(n, 10)}
		}
		x.writeHeader()
	}
	return true
}

// smallFilePool holds the buffers of sendSmallFile.
var smallFilePool = sync.Pool{New: func() any {
	b := make([]byte, smallFile)
	return &b
}}

// copyFile sends n bytes of f from offset off, without moving f's own
// position. On plain TCP HTTP/1 connections net/http hands the part to
// guardConn.ReadFrom, which sends it with sendfile(2).
func (x *exchange) copyFile(f *os.File, off, n int64) error {
	step := n
	if x.rt.ln.limits.RequestTimeout > 0 {
		step = fileStep
	}
	for n > 0 {
		c := min(step, n)
		x.armWriteDeadline()
		x.flow.Add(int(c))
		w, err := io.Copy(x.w, &fileAt{f: f, off: off, n: c})
		x.flow.Done(int(c))
		if err == nil && w < c {
			err = io.ErrUnexpectedEOF // the file is shorter than stated
		}
		if err != nil {
			return err
		}
		off += w
		n -= w
	}
	return nil
}

func (x *exchange) trailers(e *pagi.HTTPResponseTrailers) error {
	if !x.startSeen || !x.trailersDecl {
		return fmt.Errorf("%w: http.response.trailers without trailers announced in the start", pagi.ErrUnexpectedEvent)
	}
	if x.complete {
		return fmt.Errorf("%w: http.response.trailers after the response ended", pagi.ErrResponseComplete)
	}
	if err := e.Headers.Validate(); err != nil {
		return err
	}
	if !x.wroteHeader {
		x.writeHeader()
	}
	h := x.w.Header()
	for _, f := range e.Headers {
		key := http.TrailerPrefix + canonicalKey(f.Name)
		h[key] = append(h[key], f.Value)
	}
	x.bodyFinal = true
	x.markComplete()
	return nil
}

func (x *exchange) markComplete() {
	x.complete = true
	x.conn.MarkComplete()
}

// armWriteDeadline bounds the next write by the stall timeout, unless the
// connection's sweeper times its writes already (HTTP/1 listeners; see
// connSweeper): a deadline arms a runtime timer, the sweeper does not.
func (x *exchange) armWriteDeadline() {
	if t := x.rt.ln.limits.RequestTimeout.D(); t > 0 && !x.sweptWrites {
		x.deadlineSet = true
		_ = x.controller().SetWriteDeadline(time.Now().Add(t))
	}
}

// writeFailed records a failed write as the client's departure.
func (x *exchange) writeFailed(err error) {
	reason := pagi.ReasonWriteError
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		reason = pagi.ReasonWriteTimeout
	} else if x.r.Context().Err() != nil {
		reason = pagi.ReasonClientClosed
	}
	x.conn.Disconnect(reason)
}
