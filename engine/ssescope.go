package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pagihq/pagi"
)

// sseStream adapts one request to a PAGI sse scope.
//
// Concurrency: receive runs on the app's reading goroutine; send on its
// writing goroutine; the keepalive ticker writes from its own goroutine.
// Every write to the response goes through mu.
type sseStream struct {
	rt *route
	w  http.ResponseWriter
	r  *http.Request
	rc *http.ResponseController

	mu        sync.Mutex
	started   bool // sse.start sent
	declined  bool // sse.http.response.start sent
	declineSt int
	declineBd bytes.Buffer
	closed    bool // sse.close sent or the decline finished
	gone      string
	keepStop  chan struct{}
	buf       []byte
	// deadlineSet is when the write deadline was last armed.
	deadlineSet time.Time

	bodyDone bool
}

func (rt *route) serveSSE(w http.ResponseWriter, r *http.Request) {
	st := &sseStream{rt: rt, w: w, r: r, rc: http.NewResponseController(w)}
	st.bodyDone = r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
	var s pagi.Scope
	var headers pagi.Headers
	var params pagi.Params
	rt.fillScope(&s, r, connInfoFrom(r.Context()), pagi.ScopeSSE, &headers, &params)
	if st.bodyDone {
		// Without a request body, the only event left to receive is the
		// disconnect, which comes when the request's context ends.
		s.ReceiveReady = r.Context().Done()
	} else {
		// The body is read while the stream runs: without full duplex,
		// net/http would discard it when the stream starts.
		_ = st.rc.EnableFullDuplex()
	}
	err := rt.call(r.Context(), &s, st.receive, st.send)
	st.mu.Lock()
	st.stopKeepaliveLocked()
	started, declined, closed := st.started, st.declined, st.closed
	st.closed = true
	st.mu.Unlock()
	if err != nil {
		rt.log.Error("app error", "site", rt.site, "route", rt.pattern, "path", r.URL.Path, "err", err)
	}
	switch {
	case !started && !declined:
		if r.Context().Err() == nil {
			if err == nil {
				rt.log.Error("app returned without starting the stream", "site", rt.site, "route", rt.pattern)
			}
			rejectStatus(w, http.StatusInternalServerError, "Internal Server Error")
		}
	case declined && !closed:
		panic(http.ErrAbortHandler) // a decline whose body never finished
	}
}

func (st *sseStream) receive(ctx context.Context) (pagi.Event, error) {
	if !st.bodyDone {
		buf := make([]byte, chunkSize)
		n, err := st.r.Body.Read(buf)
		switch {
		case err == nil:
			return &pagi.SSERequest{Body: buf[:n], More: true}, nil
		case errors.Is(err, io.EOF):
			st.bodyDone = true
			return &pagi.SSERequest{Body: buf[:n]}, nil
		}
		st.bodyDone = true
		return &pagi.SSEDisconnect{Reason: pagi.ReasonClientClosed}, nil
	}
	select {
	case <-st.r.Context().Done():
	case <-ctx.Done():
		// The app's context is usually the request's: its end is the
		// client's departure, which receive reports as an event.
		if st.r.Context().Err() == nil {
			return nil, ctx.Err()
		}
	}
	reason := pagi.ReasonClientClosed
	if st.rt.ln.shuttingDown() {
		reason = pagi.ReasonServerShutdown
	}
	return &pagi.SSEDisconnect{Reason: reason}, nil
}

func (st *sseStream) send(ctx context.Context, ev pagi.Event) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch e := ev.(type) {
	case *pagi.SSEStart:
		return st.start(e)
	case *pagi.SSESend:
		if err := st.streamOK(ev); err != nil {
			return err
		}
		if strings.ContainsAny(e.Event, "\r\n") || strings.ContainsAny(e.ID, "\r\n\x00") {
			return fmt.Errorf("%w: sse.send event or id contains CR, LF or NUL", pagi.ErrInvalidEvent)
		}
		if e.Retry < 0 {
			return fmt.Errorf("%w: negative retry", pagi.ErrInvalidEvent)
		}
		return st.write(appendSSEEvent(st.buf[:0], e))
	case *pagi.SSEComment:
		if err := st.streamOK(ev); err != nil {
			return err
		}
		return st.write(appendSSEComment(st.buf[:0], e.Comment))
	case *pagi.SSEKeepalive:
		if err := st.streamOK(ev); err != nil {
			return err
		}
		st.stopKeepaliveLocked()
		if e.Interval > 0 {
			st.startKeepaliveLocked(e.Interval, e.Comment)
		}
		return nil
	case *pagi.SSEClose:
		if !st.started {
			return fmt.Errorf("%w: sse.close before sse.start", pagi.ErrUnexpectedEvent)
		}
		st.stopKeepaliveLocked()
		st.closed = true
		return nil
	case *pagi.SSEHTTPResponseStart:
		if st.started || st.declined {
			return fmt.Errorf("%w: sse.http.response.start after the response started", pagi.ErrUnexpectedEvent)
		}
		if e.Status < 200 || e.Status > 599 {
			return fmt.Errorf("%w: status %d outside 200..599", pagi.ErrInvalidEvent, e.Status)
		}
		if err := e.Headers.Validate(); err != nil {
			return err
		}
		setHeaders(st.w.Header(), e.Headers)
		st.declined, st.declineSt = true, e.Status
		return nil
	case *pagi.SSEHTTPResponseBody:
		if !st.declined || st.closed {
			return fmt.Errorf("%w: sse.http.response.body without an open decline", pagi.ErrUnexpectedEvent)
		}
		st.declineBd.Write(e.Body)
		if e.More {
			return nil
		}
		st.closed = true
		h := st.w.Header()
		h["Content-Length"] = []string{strconv.Itoa(st.declineBd.Len())}
		if _, ok := h["Content-Type"]; !ok {
			h["Content-Type"] = nil
		}
		st.w.WriteHeader(st.declineSt)
		_, _ = st.w.Write(st.declineBd.Bytes())
		return nil
	case nil:
		return fmt.Errorf("%w: nil event", pagi.ErrInvalidEvent)
	}
	return fmt.Errorf("%w: %s on an sse scope", pagi.ErrUnexpectedEvent, ev.Type())
}

func (st *sseStream) start(e *pagi.SSEStart) error {
	if st.started || st.declined {
		return fmt.Errorf("%w: second sse.start or sse.start after a decline", pagi.ErrUnexpectedEvent)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 200 || status > 599 {
		return fmt.Errorf("%w: status %d outside 200..599", pagi.ErrInvalidEvent, status)
	}
	if err := e.Headers.Validate(); err != nil {
		return err
	}
	h := st.w.Header()
	setHeaders(h, e.Headers)
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = []string{"text/event-stream"}
	}
	if _, ok := h["Cache-Control"]; !ok {
		h["Cache-Control"] = []string{"no-cache"}
	}
	h["X-Accel-Buffering"] = []string{"no"}
	delete(h, "Content-Length")
	st.started = true
	st.w.WriteHeader(status)
	return st.flush()
}

// streamOK checks that stream events may be sent now.
func (st *sseStream) streamOK(ev pagi.Event) error {
	switch {
	case st.declined:
		return fmt.Errorf("%w: %s after a decline", pagi.ErrUnexpectedEvent, ev.Type())
	case !st.started:
		return fmt.Errorf("%w: %s before sse.start", pagi.ErrUnexpectedEvent, ev.Type())
	case st.closed:
		return fmt.Errorf("%w: %s after sse.close", pagi.ErrResponseComplete, ev.Type())
	}
	return nil
}

// write sends b and flushes; a failed write marks the client gone and, as
// the spec says for a departed peer, is not an error.
func (st *sseStream) write(b []byte) error {
	st.buf = b[:0]
	if st.gone != "" || st.r.Context().Err() != nil {
		return nil
	}
	if t := st.rt.ln.limits.RequestTimeout.D(); t > 0 {
		// Re-armed when half of it has passed, not on every event.
		if now := time.Now(); now.Sub(st.deadlineSet) > t/2 {
			st.deadlineSet = now
			_ = st.rc.SetWriteDeadline(now.Add(t))
		}
	}
	if _, err := st.w.Write(b); err != nil {
		st.gone = pagi.ReasonWriteError
		return nil
	}
	return st.flush()
}

func (st *sseStream) flush() error {
	if err := st.rc.Flush(); err != nil {
		st.gone = pagi.ReasonWriteError
	}
	return nil
}

func (st *sseStream) startKeepaliveLocked(every time.Duration, comment string) {
	stop := make(chan struct{})
	st.keepStop = stop
	line := appendSSEComment(nil, comment)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-st.r.Context().Done():
				return
			case <-t.C:
				st.mu.Lock()
				if st.keepStop == stop {
					_ = st.write(append(st.buf[:0], line...))
				}
				st.mu.Unlock()
			}
		}
	}()
}

func (st *sseStream) stopKeepaliveLocked() {
	if st.keepStop != nil {
		close(st.keepStop)
		st.keepStop = nil
	}
}

// appendSSEEvent formats one event in the text/event-stream wire format.
func appendSSEEvent(b []byte, e *pagi.SSESend) []byte {
	if e.Event != "" {
		b = append(append(append(b, "event: "...), e.Event...), '\n')
	}
	data := e.Data
	for {
		i := indexLineBreak(data)
		if i < 0 {
			b = append(append(append(b, "data: "...), data...), '\n')
			break
		}
		b = append(append(append(b, "data: "...), data[:i]...), '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	if e.ID != "" {
		b = append(append(append(b, "id: "...), e.ID...), '\n')
	}
	if e.Retry > 0 {
		b = append(strconv.AppendInt(append(b, "retry: "...), e.Retry.Milliseconds(), 10), '\n')
	}
	return append(b, '\n')
}

// indexLineBreak returns the index of the first CR or LF in s, or -1.
func indexLineBreak(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return i
		}
	}
	return -1
}

// appendSSEComment formats a comment: every line starts with ':'.
func appendSSEComment(b []byte, comment string) []byte {
	for line := range strings.Lines(comment) {
		line = strings.TrimRight(line, "\r\n")
		if !strings.HasPrefix(line, ":") {
			b = append(b, ':')
		}
		b = append(append(b, line...), '\n')
	}
	if comment == "" {
		b = append(b, ":\n"...)
	}
	return append(b, '\n')
}

// setHeaders copies PAGI headers (already validated) into a response header
// map, leaving framing headers to the server.
func setHeaders(h http.Header, hs pagi.Headers) {
	for _, f := range hs {
		key := canonicalKey(f.Name)
		if key == "Transfer-Encoding" {
			continue
		}
		h[key] = append(h[key], f.Value)
	}
}
