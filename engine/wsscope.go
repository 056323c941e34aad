package engine

import "net/http"

// serveWebSocket runs a websocket scope. WebSocket support (gorilla/websocket
// adapter) is not built yet; until it is, upgrade requests are refused
// with 501 so no client mistakes them for a handshake.
func (rt *route) serveWebSocket(w http.ResponseWriter, _ *http.Request) {
	rejectStatus(w, http.StatusNotImplemented, "websocket scopes are not supported yet")
}
