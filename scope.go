package pagi

// ScopeType says what kind of connection a Scope describes.
type ScopeType string

// The scope types of PAGI 0.3.
const (
	ScopeHTTP      ScopeType = "http"
	ScopeWebSocket ScopeType = "websocket"
	ScopeSSE       ScopeType = "sse"
	ScopeLifespan  ScopeType = "lifespan"
)

// Addr is a network endpoint as the spec writes it: [host, port] for TCP.
// For a Unix socket Host holds the socket path and Port is -1 (the spec's
// nil); the spec omits client addresses on Unix sockets, and so does pagi
// (Scope.Client is nil there).
type Addr struct {
	Host string
	Port int
}

// IsUnix reports whether a is a Unix socket endpoint.
func (a *Addr) IsUnix() bool { return a != nil && a.Port < 0 }

// Param is one route parameter: the name of a {wildcard} in the route's
// pattern and the value it matched (decoded).
type Param struct {
	Name  string
	Value string
}

// Params is the list of route parameters of a scope, in pattern order.
type Params []Param

// Get returns the value of the parameter named name and whether it exists.
func (p Params) Get(name string) (string, bool) {
	for i := range p {
		if p[i].Name == name {
			return p[i].Value, true
		}
	}
	return "", false
}

// TLSInfo is the spec's "tls" extension: details of a TLS connection. It is
// present in Scope.Extensions only on TLS connections.
type TLSInfo struct {
	// ServerCert is the PEM of the certificate the server presented, or "".
	ServerCert string
	// ClientCertChain holds the PEM of each client certificate, leaf first.
	ClientCertChain []string
	// ClientCertName is the RFC 4514 distinguished name of the client leaf
	// certificate, or "" without one.
	ClientCertName string
	// ClientCertError is "" when the client certificate verified or was
	// absent, and the verification error otherwise.
	ClientCertError string
	// TLSVersion is the negotiated version (0x0303 = TLS 1.2, 0x0304 = 1.3).
	TLSVersion uint16
	// CipherSuite is the negotiated IANA cipher suite number.
	CipherSuite uint16
}

// Extensions lists the capabilities a server advertises on a scope (the
// spec's "extensions" hash). A nil pointer or false means absent.
type Extensions struct {
	// TLS is present on TLS connections only.
	TLS *TLSInfo
	// FullFlush is true when the app may send *HTTPFullFlush.
	FullFlush bool
	// WebSocketHTTPResponse is true on websocket scopes where the app may
	// deny the handshake with *WebSocketHTTPResponseStart / Body.
	WebSocketHTTPResponse bool
}

// Scope describes one connection scope. The engine builds a new Scope for
// every request, WebSocket session, SSE stream and lifespan run; middleware
// that changes a field works on Clone() and passes the copy inward.
type Scope struct {
	// Type is the scope type.
	Type ScopeType
	// HTTPVersion is "1.0", "1.1" or "2".
	HTTPVersion string
	// Method is the upper-case request method (http and sse scopes).
	Method string
	// Scheme is http or https (ws or wss on websocket scopes).
	Scheme string
	// Path is the percent-decoded request path, relative to RootPath.
	Path string
	// RawPath is the original, still-encoded path (before any '?'), not
	// adjusted by mounts.
	RawPath string
	// QueryString is the raw query after '?', still percent-encoded.
	QueryString string
	// RootPath is the mount prefix the route matched ("" at the root).
	RootPath string
	// Headers are the request headers with lower-case names. Values of one
	// name keep their order; Cookie headers are joined with "; ".
	Headers Headers
	// Client is the peer's address, nil on Unix sockets.
	Client *Addr
	// Server is the local address ([path, -1] on Unix sockets).
	Server *Addr
	// State is a shallow copy of the lifespan state: top-level keys are
	// private to this scope, the values they hold are shared.
	State map[string]any
	// Extensions lists what the server supports on this scope.
	Extensions Extensions
	// Subprotocols are the WebSocket subprotocols the client offered.
	Subprotocols []string
	// Params are the route's parameters (PAGI-Tools' "path_params").
	Params Params
	// Route is the route pattern that matched, as written in the config.
	Route string
	// Connection is the per-request connection handle (http scopes; the
	// spec's pagi.connection). Nil on other scope types.
	Connection Connection
	// Transport is the outbound flow-control handle (the spec's
	// pagi.transport), or nil when the server offers none.
	Transport Transport
	// ReceiveReady, a Go extension, lets one goroutine wait for the client
	// and for other sources at once. When it is not nil, taking a value
	// from it means the next receive returns without blocking (an event is
	// queued, or the session ended):
	//
	//	select {
	//	case <-s.ReceiveReady:
	//		ev, err := receive(ctx) // does not block
	//	case m := <-messages:
	//		err := send(ctx, ...)
	//	}
	//
	// pagi sets it on websocket scopes, and on sse scopes of requests
	// without a body (where the disconnect is all that is left to
	// receive). Apps that take from it must call receive only after taking
	// a value. A middleware that wraps receive must pass on a scope with
	// ReceiveReady nil unless its receive keeps the same promise.
	ReceiveReady <-chan struct{}
	// IsWorker and WorkerNum describe the process on lifespan scopes:
	// WorkerNum is 1..N in a multi-process server and 0 otherwise.
	IsWorker  bool
	WorkerNum int
	// Values holds keys beyond the core spec (for example "pagi.session" set
	// by middleware). Namespace third-party keys ("myapp.user").
	Values map[string]any
}

// Clone returns a shallow copy of s: a new top-level struct whose maps and
// slices are shared until the caller replaces them. State and Values are
// copied one level deep so a middleware may add keys without touching the
// outer scope.
func (s *Scope) Clone() *Scope {
	c := *s
	if s.State != nil {
		c.State = make(map[string]any, len(s.State))
		for k, v := range s.State {
			c.State[k] = v
		}
	}
	if s.Values != nil {
		c.Values = make(map[string]any, len(s.Values))
		for k, v := range s.Values {
			c.Values[k] = v
		}
	}
	return &c
}

// Value returns s.Values[key], or nil.
func (s *Scope) Value(key string) any {
	return s.Values[key]
}

// SetValue sets s.Values[key], creating the map when needed. Call it on a
// clone when s came from an outer middleware or the server.
func (s *Scope) SetValue(key string, v any) {
	if s.Values == nil {
		s.Values = make(map[string]any, 4)
	}
	s.Values[key] = v
}

// Header returns the first value of the request header name (lower-case).
func (s *Scope) Header(name string) string {
	v, _ := s.Headers.Get(name)
	return v
}
