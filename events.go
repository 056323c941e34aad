package pagi

import (
	"os"
	"time"
)

// Event is one PAGI event. Type returns its type string, for example
// "http.response.start".
type Event interface {
	Type() string
}

// Event type strings of PAGI 0.3.
const (
	TypeHTTPRequest          = "http.request"
	TypeHTTPDisconnect       = "http.disconnect"
	TypeHTTPResponseStart    = "http.response.start"
	TypeHTTPResponseBody     = "http.response.body"
	TypeHTTPResponseTrailers = "http.response.trailers"
	TypeHTTPFullFlush        = "http.fullflush"

	TypeWebSocketConnect           = "websocket.connect"
	TypeWebSocketAccept            = "websocket.accept"
	TypeWebSocketReceive           = "websocket.receive"
	TypeWebSocketSend              = "websocket.send"
	TypeWebSocketClose             = "websocket.close"
	TypeWebSocketDisconnect        = "websocket.disconnect"
	TypeWebSocketKeepalive         = "websocket.keepalive"
	TypeWebSocketHTTPResponseStart = "websocket.http.response.start"
	TypeWebSocketHTTPResponseBody  = "websocket.http.response.body"
	TypeSSERequest                 = "sse.request"
	TypeSSEStart                   = "sse.start"
	TypeSSESend                    = "sse.send"
	TypeSSEComment                 = "sse.comment"
	TypeSSEKeepalive               = "sse.keepalive"
	TypeSSEClose                   = "sse.close"
	TypeSSEDisconnect              = "sse.disconnect"
	TypeSSEHTTPResponseStart       = "sse.http.response.start"
	TypeSSEHTTPResponseBody        = "sse.http.response.body"
	TypeLifespanStartup            = "lifespan.startup"
	TypeLifespanStartupComplete    = "lifespan.startup.complete"
	TypeLifespanStartupFailed      = "lifespan.startup.failed"
	TypeLifespanShutdown           = "lifespan.shutdown"
	TypeLifespanShutdownComplete   = "lifespan.shutdown.complete"
	TypeLifespanShutdownFailed     = "lifespan.shutdown.failed"
)

// ---- http scope ----

// HTTPRequest (in) carries one chunk of the request body. A request without
// a body produces one event with an empty Body and More false.
type HTTPRequest struct {
	Body []byte
	More bool
}

// HTTPDisconnect (in) says the client has gone, or the request is over and
// receive was called again.
type HTTPDisconnect struct {
	// Reason is the disconnect reason (one of the Reason* constants) when
	// the end was abnormal, "" otherwise.
	Reason string
}

// HTTPResponseStart (out) starts the response. The server may hold it and
// send it with the first body chunk.
type HTTPResponseStart struct {
	Status  int
	Headers Headers
	// Trailers announces a final *HTTPResponseTrailers event.
	Trailers bool
}

// HTTPResponseBody (out) sends response content: exactly one of Body, File
// or FH. File is a path the server opens and closes; FH is an open file the
// app owns (close it after Send returns). Offset and Length select a part of
// a file; file bodies are always final. More says more body events follow.
type HTTPResponseBody struct {
	Body   []byte
	File   string
	FH     *os.File
	Offset int64
	// Length is the number of file bytes to send; 0 or less means to the
	// end of the file.
	Length int64
	More   bool
}

// HTTPResponseTrailers (out) ends a response whose start had Trailers set.
type HTTPResponseTrailers struct {
	Headers Headers
}

// HTTPFullFlush (out) asks the server to push buffered bytes to the socket
// now. Only valid when Scope.Extensions.FullFlush is true.
type HTTPFullFlush struct{}

// ---- websocket scope ----

// WebSocketConnect (in) is always the first event of a websocket scope; the
// handshake waits for the app's accept, close or denial.
type WebSocketConnect struct{}

// WebSocketAccept (out) completes the handshake.
type WebSocketAccept struct {
	// Subprotocol is the chosen subprotocol, one of Scope.Subprotocols.
	Subprotocol string
	Headers     Headers
}

// WebSocketReceive (in) is one whole message from the client. Binary says
// which of Bytes or Text holds it.
type WebSocketReceive struct {
	Text   string
	Bytes  []byte
	Binary bool
}

// WebSocketSend (out) sends one message. Binary says which of Bytes or Text
// holds it.
type WebSocketSend struct {
	Text   string
	Bytes  []byte
	Binary bool
}

// WebSocketClose (out) closes the session: before accept the server answers
// 403; after accept it sends a Close frame with Code (default 1000) and
// Reason.
type WebSocketClose struct {
	Code   int
	Reason string
}

// WebSocketDisconnect (in) says the session ended; see the spec's pairing
// table for Code and Reason.
type WebSocketDisconnect struct {
	Code   int
	Reason string
}

// WebSocketKeepalive (out) makes the server ping every Interval (0 stops) and
// close the session when no pong arrives within Timeout.
type WebSocketKeepalive struct {
	Interval time.Duration
	Timeout  time.Duration
}

// WebSocketHTTPResponseStart (out) denies the handshake with an HTTP
// response (the websocket.http.response extension).
type WebSocketHTTPResponseStart struct {
	Status  int
	Headers Headers
}

// WebSocketHTTPResponseBody (out) is the body of a denial response.
type WebSocketHTTPResponseBody struct {
	Body []byte
	More bool
}

// ---- sse scope ----

// SSERequest (in) carries one chunk of the request body of an SSE scope.
type SSERequest struct {
	Body []byte
	More bool
}

// SSEStart (out) starts the event stream. The server adds content-type
// text/event-stream and cache-control no-cache when absent.
type SSEStart struct {
	Status  int
	Headers Headers
}

// SSESend (out) sends one event. Data is split into lines, one data: field
// each; Event and ID must not contain CR or LF; Retry, when positive, is
// sent as the retry: field in milliseconds.
type SSESend struct {
	Data  string
	Event string
	ID    string
	Retry time.Duration
}

// SSEComment (out) sends a comment (each line prefixed with ':').
type SSEComment struct {
	Comment string
}

// SSEKeepalive (out) makes the server send Comment every Interval (0 stops).
type SSEKeepalive struct {
	Interval time.Duration
	Comment  string
}

// SSEClose (out) ends the stream now; later stream events fail.
type SSEClose struct {
	Reason string
}

// SSEDisconnect (in) says the stream ended.
type SSEDisconnect struct {
	Reason string
}

// SSEHTTPResponseStart (out) declines the stream with a plain HTTP response;
// only before SSEStart.
type SSEHTTPResponseStart struct {
	Status  int
	Headers Headers
}

// SSEHTTPResponseBody (out) is the body of a decline response.
type SSEHTTPResponseBody struct {
	Body []byte
	More bool
}

// ---- lifespan scope ----

// LifespanStartup (in) is sent before the server accepts connections.
type LifespanStartup struct{}

// LifespanStartupComplete (out) lets the server start serving.
type LifespanStartupComplete struct{}

// LifespanStartupFailed (out) aborts startup; the server never listens.
type LifespanStartupFailed struct {
	Message string
}

// LifespanShutdown (in) is sent after the listeners stopped and connections
// drained.
type LifespanShutdown struct{}

// LifespanShutdownComplete (out) lets the server exit.
type LifespanShutdownComplete struct{}

// LifespanShutdownFailed (out) is logged, then the server exits.
type LifespanShutdownFailed struct {
	Message string
}

// Type implementations.

func (*HTTPRequest) Type() string                { return TypeHTTPRequest }
func (*HTTPDisconnect) Type() string             { return TypeHTTPDisconnect }
func (*HTTPResponseStart) Type() string          { return TypeHTTPResponseStart }
func (*HTTPResponseBody) Type() string           { return TypeHTTPResponseBody }
func (*HTTPResponseTrailers) Type() string       { return TypeHTTPResponseTrailers }
func (*HTTPFullFlush) Type() string              { return TypeHTTPFullFlush }
func (*WebSocketConnect) Type() string           { return TypeWebSocketConnect }
func (*WebSocketAccept) Type() string            { return TypeWebSocketAccept }
func (*WebSocketReceive) Type() string           { return TypeWebSocketReceive }
func (*WebSocketSend) Type() string              { return TypeWebSocketSend }
func (*WebSocketClose) Type() string             { return TypeWebSocketClose }
func (*WebSocketDisconnect) Type() string        { return TypeWebSocketDisconnect }
func (*WebSocketKeepalive) Type() string         { return TypeWebSocketKeepalive }
func (*WebSocketHTTPResponseStart) Type() string { return TypeWebSocketHTTPResponseStart }
func (*WebSocketHTTPResponseBody) Type() string  { return TypeWebSocketHTTPResponseBody }
func (*SSERequest) Type() string                 { return TypeSSERequest }
func (*SSEStart) Type() string                   { return TypeSSEStart }
func (*SSESend) Type() string                    { return TypeSSESend }
func (*SSEComment) Type() string                 { return TypeSSEComment }
func (*SSEKeepalive) Type() string               { return TypeSSEKeepalive }
func (*SSEClose) Type() string                   { return TypeSSEClose }
func (*SSEDisconnect) Type() string              { return TypeSSEDisconnect }
func (*SSEHTTPResponseStart) Type() string       { return TypeSSEHTTPResponseStart }
func (*SSEHTTPResponseBody) Type() string        { return TypeSSEHTTPResponseBody }
func (*LifespanStartup) Type() string            { return TypeLifespanStartup }
func (*LifespanStartupComplete) Type() string    { return TypeLifespanStartupComplete }
func (*LifespanStartupFailed) Type() string      { return TypeLifespanStartupFailed }
func (*LifespanShutdown) Type() string           { return TypeLifespanShutdown }
func (*LifespanShutdownComplete) Type() string   { return TypeLifespanShutdownComplete }
func (*LifespanShutdownFailed) Type() string     { return TypeLifespanShutdownFailed }
