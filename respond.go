package pagi

import (
	"context"
	"fmt"
)

// Respond sends a complete plain HTTP response on any request scope, using
// the event family the scope type calls for: http.response.* on http
// scopes, the sse.http.response.* decline on sse scopes, and the
// websocket.http.response.* denial on websocket scopes (or a bare
// websocket.close, which the server turns into 403, when the denial
// extension is absent). Handlers that answer with a fixed response use it
// so they behave on every scope type.
func Respond(ctx context.Context, s *Scope, send Send, status int, headers Headers, body []byte) error {
	switch s.Type {
	case ScopeHTTP:
		if err := send(ctx, &HTTPResponseStart{Status: status, Headers: headers}); err != nil {
			return err
		}
		return send(ctx, &HTTPResponseBody{Body: body})
	case ScopeSSE:
		if err := send(ctx, &SSEHTTPResponseStart{Status: status, Headers: headers}); err != nil {
			return err
		}
		return send(ctx, &SSEHTTPResponseBody{Body: body})
	case ScopeWebSocket:
		if !s.Extensions.WebSocketHTTPResponse {
			return send(ctx, &WebSocketClose{Code: 1000})
		}
		if err := send(ctx, &WebSocketHTTPResponseStart{Status: status, Headers: headers}); err != nil {
			return err
		}
		return send(ctx, &WebSocketHTTPResponseBody{Body: body})
	}
	return fmt.Errorf("%w: %q", ErrUnsupportedScope, s.Type)
}
