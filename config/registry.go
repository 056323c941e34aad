package config

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
)

// Kind says where a block type may appear in a config.
type Kind int

const (
	// KindHandler blocks end a route: exactly one per route.
	KindHandler Kind = iota + 1
	// KindMiddleware blocks wrap a handler: in named chains, sites and
	// routes, applied in the order written, outermost first.
	KindMiddleware
)

// String returns "handler" or "middleware".
func (k Kind) String() string {
	switch k {
	case KindHandler:
		return "handler"
	case KindMiddleware:
		return "middleware"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// BlockType describes one handler or middleware block type, the way Caddy
// describes a module: its name in HCL, its kind, and a constructor for its
// config struct. Register one from an init function of the package that
// implements it.
type BlockType struct {
	// Name is the block's type name in HCL, for example "static".
	Name string
	// Kind says whether the block is a handler or a middleware.
	Kind Kind
	// Doc is a one-line description for `pagi validate` messages and docs.
	Doc string
	// New returns a fresh pointer to the module's config struct, with its
	// defaults filled in. The loader decodes the block into it (see Decode
	// for the struct tags) and then calls Validate when the module
	// implements Validator. Handlers must implement HandlerModule and
	// middleware MiddlewareModule.
	New func() any
}

// Validator is implemented by modules that check their decoded values. It
// returns every problem at once, each with the range of the attribute at
// fault (see ValidateContext.AttrRange).
type Validator interface {
	Validate(ctx *ValidateContext) hcl.Diagnostics
}

// HandlerModule is a decoded handler block that builds its PAGI app. Build
// happens once per config generation; all per-request decisions should be
// made here.
type HandlerModule interface {
	BuildApp(ctx *BuildContext) (pagi.App, error)
}

// MiddlewareModule is a decoded middleware block that builds its middleware.
type MiddlewareModule interface {
	BuildMiddleware(ctx *BuildContext) (pagi.Middleware, error)
}

// WebSocketTuner is implemented by handler modules that set the WebSocket
// options of their route (the engine uses defaults otherwise).
type WebSocketTuner interface {
	WebSocketOptions() WebSocketOptions
}

// WebSocketOptions are the per-route WebSocket settings a handler may ask
// for. Zero values mean the engine's defaults.
type WebSocketOptions struct {
	// Compression negotiates permessage-deflate.
	Compression bool
	// MaxMessageBytes bounds one incoming message (close 1009 above).
	MaxMessageBytes int64
	// MaxQueue bounds received messages not yet taken by the app (close
	// 1008 above).
	MaxQueue int
}

// Cleaner is implemented by built apps or modules that hold resources; the
// engine calls Cleanup when the pipeline that used them is retired.
type Cleaner interface {
	Cleanup() error
}

// ValidateContext is what a module's Validate sees besides its own fields.
type ValidateContext struct {
	// Dir is the directory of the file the block is in; relative paths in
	// the block are relative to it.
	Dir string
	// Block is the block being validated (its DefRange is the block header).
	Block *hcl.Block
	// Route is the route the block belongs to, or nil in a named chain.
	Route *Route
	// Workers is server.workers, for modules whose meaning depends on it.
	Workers int
	// PubSub is the config's pubsub block, or nil.
	PubSub *PubSub
	attrs  hcl.Attributes
}

// NewValidateContext returns a ValidateContext for block, whose decoded
// attributes are attrs.
func NewValidateContext(dir string, block *hcl.Block, attrs hcl.Attributes, route *Route) *ValidateContext {
	return &ValidateContext{Dir: dir, Block: block, Route: route, attrs: attrs}
}

// AttrRange returns the range of the value of attribute name, or the block's
// header range when the attribute was not written.
func (c *ValidateContext) AttrRange(name string) *hcl.Range {
	if a, ok := c.attrs[name]; ok {
		r := a.Expr.Range()
		return &r
	}
	if c.Block != nil {
		r := c.Block.DefRange
		return &r
	}
	return nil
}

// Has reports whether attribute name was written in the block.
func (c *ValidateContext) Has(name string) bool {
	_, ok := c.attrs[name]
	return ok
}

// Error returns an error diagnostic at attribute attr (or the block header
// when attr is "" or absent).
func (c *ValidateContext) Error(attr, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: c.AttrRange(attr)}
}

// Warning returns a warning diagnostic at attribute attr.
func (c *ValidateContext) Warning(attr, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: detail, Subject: c.AttrRange(attr)}
}

// BuildContext is what a module's BuildApp or BuildMiddleware sees.
type BuildContext struct {
	// Logger is the server's logger, with site and route attributes set.
	Logger *slog.Logger
	// Dir is the directory of the file the block is in.
	Dir string
	// Route is the route being built, or nil for a site-level middleware.
	Route *Route
	// Site is the site being built.
	Site *Site
	// Services holds shared resources of the pipeline by name (for example
	// "pubsub", a pubsub.Broker). Modules type-assert what they need.
	Services map[string]any
}

var registry = struct {
	sync.RWMutex
	types map[string]BlockType
}{types: map[string]BlockType{}}

// Register adds a block type to the registry. It panics when the name is
// empty or taken, or New is nil: those are programming errors found at init.
func Register(bt BlockType) {
	if bt.Name == "" || bt.New == nil || (bt.Kind != KindHandler && bt.Kind != KindMiddleware) {
		panic(fmt.Sprintf("config.Register: incomplete block type %+v", bt))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.types[bt.Name]; dup {
		panic(fmt.Sprintf("config.Register: block type %q registered twice", bt.Name))
	}
	registry.types[bt.Name] = bt
}

// Lookup returns the registered block type called name.
func Lookup(name string) (BlockType, bool) {
	registry.RLock()
	defer registry.RUnlock()
	bt, ok := registry.types[name]
	return bt, ok
}

// BlockTypes returns every registered block type of kind k (0 for all),
// sorted by name.
func BlockTypes(k Kind) []BlockType {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]BlockType, 0, len(registry.types))
	for _, bt := range registry.types {
		if k == 0 || bt.Kind == k {
			out = append(out, bt)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
