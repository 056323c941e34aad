package config

import (
	"net/netip"
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Duration is a time.Duration written in HCL as a string ("30s", "1m30s",
// "250ms") or a number of seconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count written in HCL as a number or a string with a unit:
// "512", "64KiB", "10MB", "1GiB" (KB/MB/GB are powers of 1000, KiB/MiB/GiB
// of 1024).
type Size int64

// Config is a whole, validated configuration: the result of Load.
type Config struct {
	// Server holds the server block (defaults when it is absent).
	Server Server
	// Listeners in the order written.
	Listeners []*Listener
	// PubSub is the pubsub block, or nil when there is none.
	PubSub *PubSub
	// Chains are the named middleware chains, in the order written.
	Chains []*Chain
	// Sites in the order written.
	Sites []*Site
	// Files lists every file the config was built from: the main file,
	// included files, files read with file(), TLS certificates and keys.
	// Reload watches them; their content hash is Hash.
	Files []string
	// Hash is a digest of the content of every file in Files.
	Hash string
	// Path is the absolute path of the main config file.
	Path string
}

// Server is the server block: process-wide settings and the default limits
// of every listener.
type Server struct {
	LogLevel          string   `hcl:"log_level,optional"`  // debug | info | warn | error (info)
	LogFormat         string   `hcl:"log_format,optional"` // auto | text | json (auto)
	Workers           int      `hcl:"workers,optional"`
	MaxRequests       int      `hcl:"max_requests,optional"`
	MaxRequestsJitter int      `hcl:"max_requests_jitter,optional"`
	GracefulTimeout   Duration `hcl:"graceful_timeout,optional"` // 30s
	// HeartbeatTimeout is how long a worker may stay silent before the
	// master kills and replaces it (30s; workers > 0 only).
	HeartbeatTimeout Duration `hcl:"heartbeat_timeout,optional"`
	// ReusePort makes each worker bind its own SO_REUSEPORT socket instead
	// of sharing the master's (TCP listeners, workers > 0 only).
	ReusePort bool `hcl:"reuse_port,optional"`
	Watch     bool `hcl:"watch,optional"` // true

	// Lifespan is auto | on | off (auto).
	Lifespan               string   `hcl:"lifespan,optional"`
	LifespanStartupTimeout Duration `hcl:"lifespan_startup_timeout,optional"` // 30s

	Limits
	DefRange hcl.Range
}

// Limits are the per-connection limits and timeouts. Set in the server block
// they are the defaults of every listener; a listener may override each.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's header block (10s).
	ReadHeaderTimeout Duration `hcl:"read_header_timeout,optional"`
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection (60s).
	IdleTimeout Duration `hcl:"idle_timeout,optional"`
	// RequestTimeout bounds each stall while reading a body or writing a
	// response (60s; 0 disables).
	RequestTimeout Duration `hcl:"request_timeout,optional"`
	// MaxHeaderBytes bounds the header block; more gets 431 (16KiB; at
	// least 1).
	MaxHeaderBytes Size `hcl:"max_header_bytes,optional"`
	// MaxHeaderCount bounds the number of header fields; more gets 431
	// (100; at least 1).
	MaxHeaderCount int `hcl:"max_header_count,optional"`
	// MaxRequestLine bounds the request line; more gets 414 (8KiB; at
	// least 1).
	MaxRequestLine Size `hcl:"max_request_line,optional"`
	// MaxBodyBytes bounds a request body; more gets 413 (10MB; 0:
	// unlimited).
	MaxBodyBytes Size `hcl:"max_body_bytes,optional"`
	// MaxConnections bounds open connections per listener; more get 503
	// with Retry-After (10000; 0: unlimited).
	MaxConnections int `hcl:"max_connections,optional"`
}

// DefaultLimits are the limits used where a config sets none.
var DefaultLimits = Limits{
	ReadHeaderTimeout: Duration(10 * time.Second),
	IdleTimeout:       Duration(60 * time.Second),
	RequestTimeout:    Duration(60 * time.Second),
	MaxHeaderBytes:    16 << 10,
	MaxHeaderCount:    100,
	MaxRequestLine:    8 << 10,
	MaxBodyBytes:      10_000_000,
	MaxConnections:    10_000,
}

// Listener is a listener block: one address the server accepts on.
type Listener struct {
	Name string
	// Address as written: host:port, [v6]:port or unix:/path.
	Address string
	// Network is "tcp" or "unix"; Addr is host:port or the socket path.
	Network, Addr string
	// Mode is the file mode of a Unix socket (0 keeps the umask's).
	Mode os.FileMode
	// TLS is the tls block, or nil for cleartext.
	TLS *TLS
	// HTTP2 enables h2 over TLS and h2c (prior knowledge) without.
	HTTP2 bool
	// ProxyProtocol, when set, reads a PROXY protocol (v1 or v2) header on
	// connections from trusted peers.
	ProxyProtocol *ProxyProtocol
	// Limits are the server's limits with this listener's overrides.
	Limits   Limits
	DefRange hcl.Range
}

// ProxyProtocol is a listener's proxy_protocol block.
type ProxyProtocol struct {
	// Trusted are the peers whose connections start with a PROXY header;
	// others are served as they are.
	Trusted []netip.Prefix
}

// TLS is a listener's tls block. Paths are absolute.
type TLS struct {
	Cert, Key string
	// MinVersion is tls.VersionTLS12 or tls.VersionTLS13.
	MinVersion uint16
	// ClientCA, when set, makes client certificates required and verified
	// against the CAs in this PEM file.
	ClientCA string
	DefRange hcl.Range
}

// PubSub is the pubsub block.
type PubSub struct {
	Backend string // memory | redis
	URL     string
	// Options holds the other attributes of the block by name: pool_size
	// as an int, attributes ending in _timeout as a time.Duration, any
	// other as a plain Go value (string, bool, int, float64, []any or
	// map[string]any).
	Options  map[string]any
	DefRange hcl.Range
}

// Chain is a named middleware chain.
type Chain struct {
	Name       string
	Middleware []*Use
	DefRange   hcl.Range
}

// Use is one decoded handler or middleware block in place.
type Use struct {
	// Type is the block type name ("static", "access_log").
	Type string
	// Module is the decoded config struct returned by the type's New.
	Module any
	// Chain names the named chain this use came from ("" when inline).
	// The uses a chain expands to in sites and routes are copies that
	// share the chain's Module.
	Chain string
	// Dir is the directory of the file the block was written in.
	Dir string
	// Source is the block's text as written; reloads compare it to tell
	// which blocks changed.
	Source   string
	DefRange hcl.Range
}

// Site is a site block.
type Site struct {
	Name      string
	Listeners []string
	Hosts     []string
	// Middleware is the site's middleware, named chains expanded, outermost
	// first.
	Middleware []*Use
	Routes     []*Route
	DefRange   hcl.Range
}

// Route is a route block.
type Route struct {
	// Pattern is the label as written, in ServeMux syntax.
	Pattern string
	// Method and Host are the pattern's method and host parts ("" if none);
	// Path is its path part.
	Method, Host, Path string
	// Params are the names of the path's {wildcards}, in order.
	Params []string
	// Mount is true when Path ends in "/": the handler is mounted there, the
	// scope's root_path becomes the matched prefix and path the rest.
	Mount bool
	// Middleware is the route's own middleware, outermost first.
	Middleware []*Use
	// Handler is the route's one handler.
	Handler  *Use
	DefRange hcl.Range
}
