package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/gorilla/websocket"
	"github.com/pagihq/pagi"
)

// WebSocketOptions tune the WebSocket sessions of a route.
type WebSocketOptions struct {
	// Compression negotiates permessage-deflate when the client offers it.
	Compression bool
	// MaxMessageBytes bounds one incoming message (all its frames); a larger
	// one closes the session with 1009.
	MaxMessageBytes int64
	// MaxQueue bounds the messages received but not yet taken by the app; a
	// longer queue closes the session with 1008 (queue_overflow).
	MaxQueue int
}

// DefaultWebSocketOptions are used where a route sets none.
var DefaultWebSocketOptions = WebSocketOptions{MaxMessageBytes: 1 << 20, MaxQueue: 1000}

// closeGrace is how long a server-initiated close waits for the peer's
// Close frame before dropping the connection.
const closeGrace = 2 * time.Second

// wsSession adapts one WebSocket handshake and session to a PAGI websocket
// scope, on top of gorilla/websocket.
//
// Concurrency: the app's receive and send may run on two goroutines; a
// reader goroutine (started at accept) turns frames into queued events; the
// keepalive goroutine pings. gorilla allows one concurrent reader and one
// writer, plus WriteControl from anywhere: writes of data messages and the
// close frame go through writeMu; all other state is under mu.
type wsSession struct {
	rt   *route
	w    http.ResponseWriter
	r    *http.Request
	opts WebSocketOptions

	connectSent bool

	mu         sync.Mutex
	conn       *websocket.Conn
	accepted   bool
	denied     bool // denial start sent
	denyStatus int
	denyBody   bytes.Buffer
	finished   bool // denial sent or 403 answered or the session closed
	closing    bool // the app (or the server) sent a Close frame
	queue      []pagi.Event
	wake       chan struct{} // signalled when queue grows or the session ends
	end        *pagi.WebSocketDisconnect
	peerClosed chan struct{} // closed when the reader goroutine ends
	keepStop   chan struct{}

	writeMu     sync.Mutex
	deadlineSet time.Time // when the write deadline was last armed (under writeMu)

	// upgraded is closed once the connection is hijacked: serveWebSocket
	// may return, and w and r are no longer used (they are cleared, so the
	// session does not keep net/http's request state alive).
	upgraded chan struct{}
}

// serveWebSocket runs the app of a websocket scope. The app runs on a
// goroutine of its own, and ServeHTTP returns as soon as the handshake is
// accepted: net/http's per-connection state (its goroutine, buffers, the
// request and response) is then released, so an open session costs only
// what the session itself holds. Until then ServeHTTP waits, because
// answers other than the accept (a denial, a 403, a 500) are written
// through its ResponseWriter.
func (rt *route) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	ws := &wsSession{rt: rt, w: w, r: r, opts: rt.ws, wake: make(chan struct{}, 1), upgraded: make(chan struct{})}
	s := &pagi.Scope{}
	var headers pagi.Headers
	var params pagi.Params
	rt.fillScope(s, r, connInfoFrom(r.Context()), pagi.ScopeWebSocket, &headers, &params)
	s.Subprotocols = subprotocolsOf(r)
	s.Extensions.WebSocketHTTPResponse = true
	s.ReceiveReady = ws.wake
	// The session outlives r's context, which net/http cancels when
	// ServeHTTP returns; until the handshake is answered, a client that goes
	// away cancels it (see the wait below).
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	rt.inflight.Add(1) // the pipeline stays in use while the session runs
	done := make(chan struct{})
	var appErr error
	go func() {
		defer close(done)
		defer cancel()
		defer rt.inflight.Add(-1)
		appErr = ws.run(ctx, s)
	}()
	select {
	case <-ws.upgraded:
		return
	case <-done:
	case <-r.Context().Done():
		// An upgrade that completed as the client left is a session, and
		// its end is reported by the session itself: do not cancel it.
		select {
		case <-ws.upgraded:
			return
		default:
		}
		cancel()
		select {
		case <-ws.upgraded:
			return
		case <-done:
		}
	}
	ws.mu.Lock()
	accepted, finished, denied := ws.accepted, ws.finished, ws.denied
	ws.mu.Unlock()
	switch {
	case accepted:
	case denied && !finished:
		panic(http.ErrAbortHandler) // a denial whose body never finished
	case !finished && appErr != nil:
		rejectStatus(w, http.StatusInternalServerError, "Internal Server Error")
	case !finished:
		rejectStatus(w, http.StatusForbidden, "Forbidden")
	}
}

// run calls the app and, after an accepted session, closes it when the app
// returns. A panic, even net/http's ErrAbortHandler, is the app's error:
// this goroutine is not net/http's.
func (ws *wsSession) run(ctx context.Context, s *pagi.Scope) (err error) {
	rt := ws.rt
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
		if err != nil {
			rt.log.Error("app error", "site", rt.site, "route", rt.pattern, "path", s.Path, "err", err)
		}
		ws.mu.Lock()
		accepted := ws.accepted
		ws.mu.Unlock()
		if accepted {
			ws.closeSession(websocket.CloseNormalClosure, "")
		}
	}()
	return rt.call(ctx, s, ws.receive, ws.send)
}

func (ws *wsSession) receive(ctx context.Context) (pagi.Event, error) {
	if !ws.connectSent {
		ws.connectSent = true
		return &pagi.WebSocketConnect{}, nil
	}
	for {
		ws.mu.Lock()
		if len(ws.queue) > 0 {
			ev := ws.queue[0]
			ws.queue[0] = nil
			ws.queue = ws.queue[1:]
			more := len(ws.queue) > 0 || ws.end != nil
			ws.mu.Unlock()
			if more {
				ws.signal() // keep Scope.ReceiveReady's promise
			}
			return ev, nil
		}
		if ws.end != nil {
			ev := *ws.end
			ws.mu.Unlock()
			ws.signal()
			return &ev, nil
		}
		if !ws.accepted {
			// accept clears ws.r: take what is needed under the lock.
			gone := ws.r.Context().Done()
			ws.mu.Unlock()
			// Before accept there is nothing to receive but the client
			// leaving.
			select {
			case <-gone:
				return &pagi.WebSocketDisconnect{Code: 1006, Reason: pagi.ReasonClientClosed}, nil
			case <-ws.wake:
				continue
			case <-ctx.Done():
				// The client leaving cancels ctx too (serveWebSocket): it
				// is reported as the event, not as an error.
				select {
				case <-gone:
					return &pagi.WebSocketDisconnect{Code: 1006, Reason: pagi.ReasonClientClosed}, nil
				default:
				}
				return nil, ctx.Err()
			}
		}
		ws.mu.Unlock()
		select {
		case <-ws.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (ws *wsSession) send(ctx context.Context, ev pagi.Event) error {
	switch e := ev.(type) {
	case *pagi.WebSocketAccept:
		return ws.accept(e)
	case *pagi.WebSocketSend:
		return ws.sendMessage(e)
	case *pagi.WebSocketClose:
		return ws.appClose(e)
	case *pagi.WebSocketKeepalive:
		return ws.keepalive(e)
	case *pagi.WebSocketHTTPResponseStart:
		return ws.denyStart(e)
	case *pagi.WebSocketHTTPResponseBody:
		return ws.denyFinish(e)
	case nil:
		return fmt.Errorf("%w: nil event", pagi.ErrInvalidEvent)
	}
	return fmt.Errorf("%w: %s on a websocket scope", pagi.ErrUnexpectedEvent, ev.Type())
}

func (ws *wsSession) accept(e *pagi.WebSocketAccept) error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.accepted || ws.denied || ws.finished {
		return fmt.Errorf("%w: websocket.accept after the handshake was answered", pagi.ErrUnexpectedEvent)
	}
	if err := e.Headers.Validate(); err != nil {
		return err
	}
	h := http.Header{}
	setHeaders(h, e.Headers)
	for _, k := range []string{"Upgrade", "Connection", "Sec-Websocket-Accept", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol"} {
		delete(h, k)
	}
	if e.Subprotocol != "" {
		if !isToken(e.Subprotocol) || !offered(ws.r, e.Subprotocol) {
			return fmt.Errorf("%w: subprotocol %q was not offered by the client", pagi.ErrInvalidEvent, e.Subprotocol)
		}
		h["Sec-Websocket-Protocol"] = []string{e.Subprotocol}
	}
	up := websocket.Upgrader{
		CheckOrigin:       func(*http.Request) bool { return true }, // origin policy is middleware's job
		EnableCompression: ws.opts.Compression,
		WriteBufferPool:   wsWriteBufferPool,
		// A read buffer of its own lets net/http's 4 KiB one go with the
		// rest of its connection state; larger reads bypass the buffer.
		ReadBufferSize:   wsReadBufferSize,
		HandshakeTimeout: 10 * time.Second,
	}
	conn, err := up.Upgrade(ws.w, ws.r, h)
	if err != nil {
		ws.finished = true // gorilla has answered the client with an error status
		return fmt.Errorf("websocket handshake: %w", err)
	}
	conn.SetReadLimit(ws.opts.MaxMessageBytes)
	ws.conn, ws.accepted = conn, true
	ws.w, ws.r = nil, nil
	ws.peerClosed = make(chan struct{})
	go ws.readLoop()
	close(ws.upgraded)
	return nil
}

// wsReadBufferSize is the read buffer of a session: enough for the frame
// headers and small messages that make up most traffic.
const wsReadBufferSize = 1024

// wsWriteBufferPool shares write buffers between idle sessions, so an idle
// connection holds none.
var wsWriteBufferPool = &sync.Pool{}

// readLoop turns incoming messages into queued events until the session
// ends, then records the disconnect.
func (ws *wsSession) readLoop() {
	defer close(ws.peerClosed)
	for {
		typ, data, err := ws.conn.ReadMessage()
		if err != nil {
			ws.endWith(disconnectFor(err))
			return
		}
		var ev pagi.Event
		if typ == websocket.TextMessage {
			if !utf8.Valid(data) {
				ws.failClose(websocket.CloseInvalidFramePayloadData, "invalid UTF-8", pagi.ReasonProtocolError)
				return
			}
			// data is a fresh slice gorilla will not touch again: share it
			// as the string instead of copying it.
			ev = &pagi.WebSocketReceive{Text: unsafe.String(unsafe.SliceData(data), len(data))}
		} else {
			ev = &pagi.WebSocketReceive{Bytes: data, Binary: true}
		}
		ws.mu.Lock()
		if ws.opts.MaxQueue > 0 && len(ws.queue) >= ws.opts.MaxQueue {
			ws.mu.Unlock()
			ws.failClose(websocket.ClosePolicyViolation, "Message queue overflow", pagi.ReasonQueueOverflow)
			return
		}
		ws.queue = append(ws.queue, ev)
		ws.mu.Unlock()
		ws.signal()
	}
}

// disconnectFor maps a read error to the spec's disconnect code and reason.
func disconnectFor(err error) *pagi.WebSocketDisconnect {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
		// gorilla reports a dropped connection as a 1006 "close".
		return &pagi.WebSocketDisconnect{Code: ce.Code, Reason: pagi.ReasonClientClosed}
	case errors.As(err, &ce):
		return &pagi.WebSocketDisconnect{Code: ce.Code, Reason: ce.Text}
	case errors.Is(err, websocket.ErrReadLimit):
		return &pagi.WebSocketDisconnect{Code: websocket.CloseMessageTooBig, Reason: pagi.ReasonProtocolError}
	}
	if msg := err.Error(); len(msg) > 11 && msg[:11] == "websocket: " {
		// gorilla found a protocol violation and sent Close 1002 itself.
		return &pagi.WebSocketDisconnect{Code: websocket.CloseProtocolError, Reason: pagi.ReasonProtocolError}
	}
	return &pagi.WebSocketDisconnect{Code: websocket.CloseAbnormalClosure, Reason: pagi.ReasonClientClosed}
}

// failClose closes the session from the server side because of the peer.
func (ws *wsSession) failClose(code int, text, reason string) {
	ws.writeMu.Lock()
	_ = ws.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	ws.writeMu.Unlock()
	ws.endWith(&pagi.WebSocketDisconnect{Code: code, Reason: reason})
	_ = ws.conn.Close()
}

// endWith records how the session ended (first cause wins) and wakes
// receivers.
func (ws *wsSession) endWith(d *pagi.WebSocketDisconnect) {
	ws.mu.Lock()
	if ws.end == nil {
		if ws.closing && d.Reason == pagi.ReasonClientClosed && d.Code == websocket.CloseAbnormalClosure {
			d = &pagi.WebSocketDisconnect{Code: websocket.CloseNormalClosure}
		}
		ws.end = d
	}
	ws.stopKeepaliveLocked()
	ws.mu.Unlock()
	ws.signal()
}

func (ws *wsSession) signal() {
	select {
	case ws.wake <- struct{}{}:
	default:
	}
}

func (ws *wsSession) sendMessage(e *pagi.WebSocketSend) error {
	ws.mu.Lock()
	conn, accepted, ended, closing := ws.conn, ws.accepted, ws.end != nil, ws.closing
	ws.mu.Unlock()
	switch {
	case !accepted:
		return fmt.Errorf("%w: websocket.send before websocket.accept", pagi.ErrUnexpectedEvent)
	case ended || closing:
		return nil // the peer is gone or going: a silent no-op
	}
	typ, data := websocket.BinaryMessage, e.Bytes
	if !e.Binary {
		if !utf8.ValidString(e.Text) {
			return fmt.Errorf("%w: websocket.send text is not valid UTF-8", pagi.ErrInvalidEvent)
		}
		// WriteMessage only reads data: no copy of the string is needed.
		typ, data = websocket.TextMessage, unsafe.Slice(unsafe.StringData(e.Text), len(e.Text))
	}
	ws.writeMu.Lock()
	defer ws.writeMu.Unlock()
	if t := ws.rt.ln.limits.RequestTimeout.D(); t > 0 {
		// The stall deadline is re-armed when half of it has passed, not
		// on every message.
		if now := time.Now(); now.Sub(ws.deadlineSet) > t/2 {
			ws.deadlineSet = now
			_ = conn.SetWriteDeadline(now.Add(t))
		}
	}
	if err := conn.WriteMessage(typ, data); err != nil {
		ws.endWith(&pagi.WebSocketDisconnect{Code: websocket.CloseAbnormalClosure, Reason: pagi.ReasonWriteError})
		_ = conn.Close()
	}
	return nil
}

func (ws *wsSession) appClose(e *pagi.WebSocketClose) error {
	ws.mu.Lock()
	if !ws.accepted {
		if ws.finished || ws.denied {
			ws.mu.Unlock()
			return fmt.Errorf("%w: websocket.close after the handshake was answered", pagi.ErrUnexpectedEvent)
		}
		ws.finished = true
		ws.mu.Unlock()
		rejectStatus(ws.w, http.StatusForbidden, "Forbidden")
		return nil
	}
	ws.mu.Unlock()
	code := e.Code
	if code == 0 {
		code = websocket.CloseNormalClosure
	}
	if !validCloseCode(code) || !utf8.ValidString(e.Reason) || len(e.Reason) > 123 {
		return fmt.Errorf("%w: close code %d or reason not allowed", pagi.ErrInvalidEvent, code)
	}
	ws.closeSession(code, e.Reason)
	return nil
}

// closeSession sends a Close frame (once), waits a little for the peer's,
// and releases the connection.
func (ws *wsSession) closeSession(code int, reason string) {
	ws.mu.Lock()
	if ws.closing || ws.conn == nil {
		ws.mu.Unlock()
		return
	}
	ws.closing = true
	ws.stopKeepaliveLocked()
	conn, ended := ws.conn, ws.end != nil
	ws.mu.Unlock()
	if !ended {
		ws.writeMu.Lock()
		err := conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		ws.writeMu.Unlock()
		if err == nil {
			select {
			case <-ws.peerClosed:
			case <-time.After(closeGrace):
			}
		}
	}
	_ = conn.Close()
	<-ws.peerClosed
	ws.endWith(&pagi.WebSocketDisconnect{Code: code, Reason: reason})
}

func (ws *wsSession) keepalive(e *pagi.WebSocketKeepalive) error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if !ws.accepted {
		return fmt.Errorf("%w: websocket.keepalive before websocket.accept", pagi.ErrUnexpectedEvent)
	}
	ws.stopKeepaliveLocked()
	if e.Interval <= 0 || ws.end != nil {
		return nil
	}
	stop := make(chan struct{})
	ws.keepStop = stop
	conn := ws.conn
	timeout := e.Timeout
	var lastPong time.Time
	var pongMu sync.Mutex
	conn.SetPongHandler(func(string) error {
		pongMu.Lock()
		lastPong = time.Now()
		pongMu.Unlock()
		return nil
	})
	go func() {
		t := time.NewTicker(e.Interval)
		defer t.Stop()
		for {
			sent := time.Now()
			if err := conn.WriteControl(websocket.PingMessage, nil, sent.Add(time.Second)); err != nil {
				return
			}
			if timeout > 0 {
				select {
				case <-stop:
					return
				case <-time.After(timeout):
				}
				// Stopped (a new keepalive, or the session closing) while
				// the timer ran: this pong no longer counts.
				ws.mu.Lock()
				current := ws.keepStop == stop
				ws.mu.Unlock()
				pongMu.Lock()
				late := lastPong.Before(sent)
				pongMu.Unlock()
				if late && current {
					ws.endWith(&pagi.WebSocketDisconnect{Code: websocket.CloseAbnormalClosure, Reason: pagi.ReasonKeepaliveTimeout})
					_ = conn.Close()
					return
				}
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

func (ws *wsSession) stopKeepaliveLocked() {
	if ws.keepStop != nil {
		close(ws.keepStop)
		ws.keepStop = nil
	}
}

func (ws *wsSession) denyStart(e *pagi.WebSocketHTTPResponseStart) error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.accepted || ws.denied || ws.finished {
		return fmt.Errorf("%w: websocket.http.response.start after the handshake was answered", pagi.ErrUnexpectedEvent)
	}
	if e.Status < 200 || e.Status > 599 {
		return fmt.Errorf("%w: status %d outside 200..599", pagi.ErrInvalidEvent, e.Status)
	}
	if err := e.Headers.Validate(); err != nil {
		return err
	}
	setHeaders(ws.w.Header(), e.Headers)
	ws.denied, ws.denyStatus = true, e.Status
	return nil
}

func (ws *wsSession) denyFinish(e *pagi.WebSocketHTTPResponseBody) error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if !ws.denied || ws.finished {
		return fmt.Errorf("%w: websocket.http.response.body without an open denial", pagi.ErrUnexpectedEvent)
	}
	ws.denyBody.Write(e.Body)
	if e.More {
		return nil
	}
	ws.finished = true
	h := ws.w.Header()
	h["Content-Length"] = []string{strconv.Itoa(ws.denyBody.Len())}
	h["Connection"] = []string{"close"}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	ws.w.WriteHeader(ws.denyStatus)
	_, _ = ws.w.Write(ws.denyBody.Bytes())
	return nil
}

// validCloseCode reports whether an app may send code in a Close frame.
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011, code >= 3000 && code <= 4999:
		return true
	}
	return false
}

func offered(r *http.Request, proto string) bool {
	for _, p := range subprotocolsOf(r) {
		if p == proto {
			return true
		}
	}
	return false
}

// isToken reports whether s is an HTTP token ([\w.-]+ in the spec's words).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}
